import {
  ClientGone,
  type Dependency,
  DependencyUnavailable,
  NotFound,
  StalenessBudgetExceeded,
  Unavailable,
  ValidationFailed,
} from '../errors.ts';
import { unstorableText } from '../log/storable.ts';
import type { Logger } from '../logger.ts';
import type { EventLog, ProjectionStore } from '../ports.ts';
import type { Checkpoint, Liveness, ProjectionSpec, Row, RowRead } from '../projection.ts';
import { DEFAULT_TENANT } from '../security/auth.ts';
import { rowId } from '../security/tenancy.ts';
import { enabledOnce, type Span, withSpan } from '../tracing.ts';
import type { Position } from '../types.ts';
import { appliedOf, type CacheEntry, type RowCache, rowChecksum } from './cache.ts';
import { covers, decodePositions, encodePositions, type PositionToken } from './positions.ts';
import { measure, reflectedPositions } from './watermarks.ts';

export interface ReadOptions {
  /** serve only when the projection is at most this stale; otherwise wait up to it */
  maxStalenessMs?: number;
  /** a position token: wait until the projection has applied it */
  after?: string;
  consistency?: 'eventual' | 'strong';
  onStale?: 'error' | 'serve';
  /** the caller went away (its client disconnected): stop waiting */
  signal?: AbortSignal;
  /**
   * the tenant whose rows the read sees (the principal's): another tenant's row is not found. Absent:
   * every tenant's (LOGFRONT_AUTH=none, in-process callers); a key several tenants have is then the
   * default tenant's row, else the first other tenant's by name.
   */
  tenant?: string | undefined;
}

export interface ReadMeta {
  position: PositionToken | null;
  stalenessMs: number;
  lagEvents: number;
  source: 'cache' | 'store';
  stale: boolean;
  generation: number;
}

export interface ListOptions extends ReadOptions {
  filters?: Record<string, string>;
  limit?: number;
  cursor?: string;
}

export interface ReadableProjection extends ProjectionSpec {
  readonly categories: readonly string[];
}

export interface Facade {
  get(projection: string, key: string, options?: ReadOptions): Promise<{ data: Row; meta: ReadMeta }>;
  list(
    projection: string,
    options?: ListOptions,
  ): Promise<{ items: Row[]; next: string | null; meta: ReadMeta }>;
  /** resolves once the projection has applied every position; false when the budget ran out */
  whenApplied(projection: string, positions: readonly Position[], budgetMs: number): Promise<boolean>;
  close(): Promise<void>;
}

const MAX_LIMIT = 500;

/** a key, filter value or cursor no store can hold is the caller's mistake (400), never a database error */
const refuseUnstorable = (values: readonly (readonly [string, string])[]) => {
  const issues = values.flatMap(([path, v]) => {
    const why = unstorableText(v);
    return why ? [{ path, message: why }] : [];
  });
  if (issues.length) throw new ValidationFailed('invalid read', issues);
};

// a page ends at a row: its key, and its tenant unless it is the default one (as cursors were before)
const encodeCursor = (key: string, tenant: string) =>
  Buffer.from(
    JSON.stringify(tenant === DEFAULT_TENANT ? { k: key } : { k: key, t: tenant }),
    'utf8',
  ).toString('base64url');
const decodeCursor = (cursor: string): { key: string; tenant: string } => {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as {
      k?: unknown;
      t?: unknown;
    };
    if (typeof parsed.k === 'string' && (parsed.t === undefined || typeof parsed.t === 'string')) {
      return { key: parsed.k, tenant: parsed.t ?? DEFAULT_TENANT };
    }
  } catch {}
  throw new ValidationFailed('invalid cursor', [
    { path: 'cursor', message: 'not a cursor from a previous page' },
  ]);
};

/** the log's end as known to this process, and when the request for it was sent */
/** a call a read makes to a dependency, tracked: a read past its deadline names the one it waits on */
type Calls = <T>(dependency: Dependency, call: Promise<T>) => Promise<T>;

interface KnownEnds {
  readonly ends: readonly Position[];
  readonly sentAt: number;
}

/** log ends older than this are fetched again for a read that has no budget */
const ENDS_MAX_AGE_MS = 50;
/** the projection's status (generation, liveness) is refreshed when older than this */
const STATUS_MAX_AGE_MS = 250;

/** One request in flight per key; answers younger than the caller's maximum age are reused. */
const singleFlight = <T>(now: () => number, load: (key: string) => Promise<T>) => {
  const known = new Map<string, { value: T; sentAt: number }>();
  const pending = new Map<string, Promise<{ value: T; sentAt: number }>>();
  return async (key: string, maxAgeMs: number, notBefore = 0) => {
    const k = known.get(key);
    const t = now();
    if (k && k.sentAt >= notBefore && t - k.sentAt <= maxAgeMs) return k;
    let p = pending.get(key);
    if (!p) {
      const sentAt = now();
      p = load(key)
        .then((value) => {
          const r = { value, sentAt };
          const prev = known.get(key);
          if (!prev || prev.sentAt <= sentAt) known.set(key, r);
          return r;
        })
        .finally(() => pending.delete(key));
      pending.set(key, p);
    }
    const r = await p;
    // a request sent before `notBefore` does not do: ask again
    if (r.sentAt < notBefore) {
      const sentAt = now();
      return load(key).then((value) => ({ value, sentAt }));
    }
    return r;
  };
};

export interface FacadeEvents {
  /** a strong read found the cached row different from the store's (the store wins) */
  cacheMismatch?(projection: string, key: string): void;
}

interface Candidate<T> {
  readonly value: T;
  readonly checkpoints: readonly Checkpoint[];
  readonly generation: number;
  readonly liveness: Liveness;
  readonly source: 'cache' | 'store';
}

/** what a store read answers, as a candidate answer */
const fromStore = <T>(
  value: T,
  read: { checkpoints: readonly Checkpoint[]; generation: number; liveness: Liveness },
): Candidate<T> => ({
  value,
  checkpoints: read.checkpoints,
  generation: read.generation,
  liveness: read.liveness,
  source: 'store',
});

/** a store read of a row, as the cache keeps it: with its tenant, unless it is the default one */
const entryOf = (read: RowRead): CacheEntry | null =>
  read.row
    ? {
        row: read.row,
        ...(read.tenant === null || read.tenant === DEFAULT_TENANT ? {} : { tenant: read.tenant }),
        generation: read.generation,
        checkpoints: read.checkpoints,
      }
    : null;

/** the tenant of a cached row */
const tenantOfEntry = (entry: CacheEntry) => entry.tenant ?? DEFAULT_TENANT;

export const createFacade = (deps: {
  store: ProjectionStore;
  log: EventLog;
  projections: readonly ReadableProjection[];
  /** how long `after` and `consistency=strong` wait when no budget is given */
  defaultWaitMs: number;
  /** the longest a read waits, whatever its budget (LOGFRONT_MAX_WAIT_MS) */
  maxWaitMs?: number;
  cache?: RowCache | undefined;
  events?: FacadeEvents;
  logger?: Logger;
  now?: () => number;
  /**
   * how long a read may wait on the calls it makes beyond the wait its budget allows
   * (LOGFRONT_READ_TIMEOUT_MS); then 503 dependency_unavailable naming the one that did not answer.
   * Absent: no deadline.
   */
  readTimeoutMs?: number;
  /** the names a late read gives its dependencies (default kafka, postgres, redis) */
  dependencies?: { log: Dependency; store: Dependency; cache: Dependency };
}): Facade => {
  const now = deps.now ?? Date.now;
  const cache = deps.cache;
  const specs = new Map(deps.projections.map((p) => [p.name, p]));
  const waiters = new Set<() => void>();
  let unlisten: Promise<() => Promise<void>> | undefined;

  const named = deps.dependencies ?? { log: 'kafka', store: 'postgres', cache: 'redis' };

  // the longest a read waits for its projection (after=, consistency=strong, a budget)
  const waitOf = (options: ReadOptions) => {
    const budget = options.maxStalenessMs;
    const asked =
      budget !== undefined && Number.isFinite(budget) && budget >= 0
        ? budget
        : options.after || options.consistency === 'strong'
          ? deps.defaultWaitMs
          : 0;
    return Math.min(asked, deps.maxWaitMs ?? Number.POSITIVE_INFINITY);
  };

  /**
   * A read past its deadline (its wait, plus readTimeoutMs for the calls it makes: a dependency that
   * stalls without failing) answers 503 dependency_unavailable naming the dependency it still waits
   * on, with Retry-After; the call goes on unheard.
   */
  const bounded = async <T>(options: ReadOptions, read: (calls: Calls) => Promise<T>): Promise<T> => {
    if (deps.readTimeoutMs === undefined) return read((_, call) => call);
    const pending = new Map<object, Dependency>();
    const calls: Calls = (dependency, call) => {
      const token = {};
      pending.set(token, dependency);
      return call.finally(() => pending.delete(token));
    };
    const ms = waitOf(options) + deps.readTimeoutMs;
    const work = read(calls);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        work.catch(() => {}); // abandoned: its outcome is nobody's
        const [waitingOn] = new Set(pending.values());
        const message = `no answer within the read's deadline of ${ms} ms`;
        reject(
          waitingOn
            ? new DependencyUnavailable(waitingOn, message)
            : new Unavailable(`the read did not finish: ${message}`),
        );
      }, ms);
    });
    try {
      return await Promise.race([work, late]);
    } finally {
      clearTimeout(timer);
    }
  };

  const specOf = (name: string) => {
    const spec = specs.get(name);
    if (!spec) throw new NotFound(`no projection named "${name.slice(0, 100)}"`);
    return spec;
  };
  const topicsOf = (spec: ReadableProjection) => spec.categories.map((c) => deps.log.topicFor(c));
  // the topics a projection reads, made once: a read's `after` is checked against them
  const topicSets = new Map<string, ReadonlySet<string>>();
  const topicSetOf = (spec: ReadableProjection) => {
    const known = topicSets.get(spec.name);
    if (known) return known;
    const set = new Set(topicsOf(spec));
    topicSets.set(spec.name, set);
    return set;
  };
  const endsOf = singleFlight(now, (name) => deps.log.endOffsets(topicsOf(specOf(name))));
  const statusOf = singleFlight(now, (name) => deps.store.status(name));
  const knownEnds = async (spec: ReadableProjection, maxAgeMs: number, notBefore = 0): Promise<KnownEnds> => {
    const r = await endsOf(spec.name, maxAgeMs, notBefore);
    return { ends: r.value, sentAt: r.sentAt };
  };

  // A LISTEN that cannot be opened (the store is down) must not crash the process nor fail the read: the
  // wait's timer bounds it, and the next wait tries to listen again.
  const listenForCheckpoints = () => {
    const listening = deps.store.onCheckpoint(() => {
      for (const w of [...waiters]) w();
    });
    listening.catch((error: unknown) => {
      if (unlisten === listening) unlisten = undefined;
      deps.logger?.warn({ err: error }, 'cannot listen for checkpoints; reads poll until it can');
    });
    return listening;
  };

  const nextCheckpoint = (timeoutMs: number) =>
    new Promise<void>((resolve) => {
      unlisten ??= listenForCheckpoints();
      const done = () => {
        clearTimeout(timer);
        waiters.delete(done);
        resolve();
      };
      // the notification is the fast path; the timer bounds a lost one
      const timer = setTimeout(done, Math.max(1, Math.min(timeoutMs, 250)));
      waiters.add(done);
    });

  const budgetOf = (options: ReadOptions) => {
    const budget = options.maxStalenessMs;
    if (budget !== undefined && (!Number.isFinite(budget) || budget < 0)) {
      throw new ValidationFailed('invalid maxStalenessMs', [
        { path: 'maxStalenessMs', message: 'expected ms ≥ 0' },
      ]);
    }
    return budget;
  };

  // Reads until the answer meets the options, waiting for checkpoints in between. `read(true)` asks
  // the cache (null: a miss); a cached candidate that does not meet the options sends it to the store.
  const readFresh = async <T>(
    spec: ReadableProjection,
    options: ReadOptions,
    calls: Calls,
    read: (fromCache: boolean) => Promise<Candidate<T> | null>,
  ): Promise<{ value: T; meta: ReadMeta; candidate: Candidate<T> }> => {
    const budget = budgetOf(options);
    const begunAt = now();
    let target: Position[] | undefined = options.after ? decodePositions(options.after) : undefined;
    // a position in a topic the projection does not read can never be applied: say so now, not after the wait
    const reads = target && topicSetOf(spec);
    const foreign = reads && target?.find((p) => !reads.has(p.topic));
    if (reads && foreign) {
      throw new ValidationFailed('invalid after', [
        {
          path: 'after',
          message: `a position in ${foreign.topic}, which projection ${spec.name} does not read (it reads ${[...reads].join(', ')})`,
        },
      ]);
    }
    if (options.consistency === 'strong') {
      // the last record of each partition as of now (ends are next offsets; an empty partition has none)
      const { ends } = await calls(named.log, knownEnds(spec, 0, begunAt));
      target = [
        ...(target ?? []),
        ...ends.filter((p) => p.offset > 0n).map((p) => ({ ...p, offset: p.offset - 1n })),
      ];
    }
    const waitMs = Math.min(
      budget ?? (target ? deps.defaultWaitMs : 0),
      deps.maxWaitMs ?? Number.POSITIVE_INFINITY,
    );
    const deadline = begunAt + waitMs;
    // the log's end must be known as of the read's start, less what the budget allows
    const endsMaxAge = budget === undefined ? ENDS_MAX_AGE_MS : Math.min(ENDS_MAX_AGE_MS, budget);
    let fromCache = cache !== undefined;
    for (;;) {
      const [candidate, known] = await Promise.all([
        read(fromCache),
        calls(named.log, knownEnds(spec, endsMaxAge, begunAt - endsMaxAge)),
      ]);
      if (candidate === null) {
        fromCache = false; // a miss: the store answers
        continue;
      }
      const t = now();
      const freshness = measure(candidate.checkpoints, known.ends, t, candidate.liveness);
      const reached = !target || covers(freshness.applied, target);
      // unknown records were appended after the ends were asked for
      const unknownAge = Math.max(0, begunAt - known.sentAt);
      const fresh = budget === undefined || Math.max(freshness.stalenessMs, unknownAge) <= budget;
      const meta = (stale: boolean): ReadMeta => {
        const reflected = reflectedPositions(candidate.checkpoints);
        return {
          position: reflected.length ? encodePositions(reflected) : null,
          stalenessMs: freshness.stalenessMs,
          lagEvents: freshness.lagEvents,
          source: candidate.source,
          stale,
          generation: candidate.generation,
        };
      };
      if (reached && fresh) return { value: candidate.value, meta: meta(false), candidate };
      if (candidate.source === 'cache') {
        fromCache = false; // the store may be further along than the cached copy
        continue;
      }
      if (t >= deadline) {
        if (options.onStale === 'serve') return { value: candidate.value, meta: meta(true), candidate };
        throw new StalenessBudgetExceeded(
          spec.name,
          Math.max(freshness.stalenessMs, reached ? 0 : waitMs),
          freshness.lagEvents,
          waitMs,
        );
      }
      if (options.signal?.aborted) throw new ClientGone();
      await nextCheckpoint(deadline - t);
    }
  };

  // a strong read served from the cache: the store's row must be the same, or the store wins
  const probe = async (
    spec: ReadableProjection,
    key: string,
    tenant: string | undefined,
    cached: Candidate<Row | null>,
    calls: Calls,
  ) => {
    const begun = cache!.begin();
    const r = await calls(named.store, deps.store.get(spec, key, tenant));
    const same =
      r.row !== null &&
      cached.value !== null &&
      r.tenant === (tenant ?? DEFAULT_TENANT) &&
      rowChecksum(r.row) === rowChecksum(cached.value);
    if (same) return cached;
    deps.events?.cacheMismatch?.(spec.name, key);
    deps.logger?.warn(
      { projection: spec.name, generation: cached.generation },
      'cache: a strong read found a cached row that differs from the store; repaired',
    );
    await calls(
      named.cache,
      cache!.repair(
        spec.name,
        rowId(tenant, key),
        r.tenant === (tenant ?? DEFAULT_TENANT) ? entryOf(r) : null,
        begun,
      ),
    );
    return fromStore(r.row, r);
  };

  const getRow = async (
    spec: ReadableProjection,
    key: string,
    options: ReadOptions,
    calls: Calls,
  ): Promise<{ data: Row; meta: ReadMeta }> => {
    const name = spec.name;
    const { tenant } = options;
    // the cache keeps a row by its rowId; a read without a tenant looks for the default tenant's row,
    // the one it prefers
    const cacheKey = rowId(tenant, key);
    const { value, meta, candidate } = await readFresh<Row | null>(
      spec,
      options,
      calls,
      async (fromCache) => {
        if (fromCache && cache) {
          const status = (await calls(named.store, statusOf(name, STATUS_MAX_AGE_MS))).value;
          if (status) {
            const hit = await calls(named.cache, cache.lookup(name, cacheKey, status.generation));
            // never another tenant's row, whatever the cache holds under this name
            if (hit && tenantOfEntry(hit.entry) === (tenant ?? DEFAULT_TENANT)) {
              return {
                value: hit.entry.row,
                checkpoints: hit.entry.checkpoints,
                generation: hit.entry.generation,
                liveness: { state: status.state, heartbeatAt: status.heartbeatAt },
                source: 'cache',
              };
            }
          }
          return null;
        }
        const begun = cache?.begin() ?? 0;
        const r = await calls(named.store, deps.store.get(spec, key, tenant));
        const entry = entryOf(r);
        // kept under the row's own name: its tenant's
        if (cache && entry)
          await calls(named.cache, cache.store(name, rowId(r.tenant ?? undefined, key), entry, begun));
        return fromStore(r.row, r);
      },
    );
    let data = value;
    let answer = meta;
    if (candidate.source === 'cache' && options.consistency === 'strong') {
      const checked = await probe(spec, key, tenant, candidate, calls);
      if (checked !== candidate) {
        data = checked.value;
        // the answer is the store's row: say the position it was read at
        const reflected = reflectedPositions(checked.checkpoints);
        answer = {
          ...meta,
          position: reflected.length ? encodePositions(reflected) : null,
          source: 'store',
          generation: checked.generation,
        };
      }
    }
    if (!data) throw new NotFound(`no row "${key.slice(0, 200)}" in projection ${name}`);
    return { data, meta: answer };
  };

  const listRows = async (spec: ReadableProjection, options: ListOptions, calls: Calls) => {
    const limit = options.limit ?? 50;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
      throw new ValidationFailed('invalid limit', [{ path: 'limit', message: `expected 1…${MAX_LIMIT}` }]);
    }
    const filters = options.filters ?? {};
    const unknown = Object.keys(filters).filter((c) => !Object.hasOwn(spec.columns, c));
    if (unknown.length) {
      throw new ValidationFailed(
        'unknown filter',
        unknown.map((c) => ({
          path: c,
          message: `no column "${c}"; columns: ${Object.keys(spec.columns).join(', ')}`,
        })),
      );
    }
    const after = options.cursor ? decodeCursor(options.cursor) : null;
    refuseUnstorable([
      ...Object.entries(filters),
      ...(after === null ? [] : [['cursor', after.key] as const, ['cursor', after.tenant] as const]),
    ]);
    const { value, meta } = await readFresh(spec, options, calls, async () => {
      const r = await calls(
        named.store,
        deps.store.list(spec, {
          filters,
          limit: limit + 1,
          afterKey: after?.key ?? null,
          afterTenant: after?.tenant,
          tenant: options.tenant,
        }),
      );
      return fromStore(r, r);
    });
    const items = value.rows.slice(0, limit);
    const last = items.at(-1);
    const next =
      value.rows.length > limit && last
        ? encodeCursor(String(last[spec.key]), value.tenants[limit - 1]!)
        : null;
    return { items, next, meta };
  };

  const facade: Facade = {
    get: async (name, key, options = {}) => {
      const spec = specOf(name);
      refuseUnstorable([['key', key]]);
      return bounded(options, (calls) => getRow(spec, key, options, calls));
    },
    list: async (name, options = {}) => {
      const spec = specOf(name);
      return bounded(options, (calls) => listRows(spec, options, calls));
    },
    whenApplied: async (name, positions, budgetMs) => {
      const spec = specOf(name);
      const deadline = now() + budgetMs;
      for (;;) {
        const status = await deps.store.status(spec.name);
        const applied = appliedOf(status?.checkpoints ?? []);
        if (covers(applied, positions)) return true;
        const left = deadline - now();
        if (left <= 0) return false;
        await nextCheckpoint(left);
      }
    },
    close: async () => {
      for (const w of [...waiters]) w();
      const listening = unlisten;
      unlisten = undefined;
      if (listening) await (await listening.catch(() => async () => {}))();
    },
  };
  return traceReads(facade);
};

/** the facade's reads in spans (when tracing is on): the budget asked for, the staleness and source found */
const traceReads = (facade: Facade): Facade => {
  if (!enabledOnce()) return facade;
  const asked = (name: string, options: ReadOptions) => ({
    'logfront.projection': name,
    'logfront.read.consistency': options.consistency ?? 'eventual',
    ...(options.maxStalenessMs !== undefined
      ? { 'logfront.read.max_staleness_ms': options.maxStalenessMs }
      : {}),
    ...(options.after !== undefined ? { 'logfront.read.after': true } : {}),
  });
  const found = (span: Span, meta: ReadMeta) =>
    span.setAttributes({
      'logfront.read.staleness_ms': meta.stalenessMs,
      'logfront.read.lag_events': meta.lagEvents,
      'logfront.read.source': meta.source,
      'logfront.read.stale': meta.stale,
      'logfront.read.generation': meta.generation,
      'cache.hit': meta.source === 'cache',
    });
  return {
    ...facade,
    get: (name, key, options = {}) =>
      withSpan(`read ${name}`, { attributes: asked(name, options) }, async (span) => {
        const r = await facade.get(name, key, options);
        found(span, r.meta);
        return r;
      }),
    list: (name, options = {}) =>
      withSpan(`list ${name}`, { attributes: asked(name, options) }, async (span) => {
        const r = await facade.list(name, options);
        found(span, r.meta);
        span.setAttribute('logfront.read.rows', r.items.length);
        return r;
      }),
  };
};
