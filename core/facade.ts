import { NotFound, StalenessBudgetExceeded, ValidationFailed } from './errors.ts';
import type { EventLog, ProjectionStore } from './ports.ts';
import { covers, decodePositions, encodePositions, type PositionToken } from './positions.ts';
import type { Checkpoint, Liveness, ProjectionSpec, Row } from './projection.ts';
import type { Position } from './types.ts';
import { measure, reflectedPositions } from './watermarks.ts';

export interface ReadOptions {
  /** serve only when the projection is at most this stale; otherwise wait up to it */
  maxStalenessMs?: number;
  /** a position token: wait until the projection has applied it */
  after?: string;
  consistency?: 'eventual' | 'strong';
  onStale?: 'error' | 'serve';
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

const encodeCursor = (key: string) => Buffer.from(JSON.stringify({ k: key }), 'utf8').toString('base64url');
const decodeCursor = (cursor: string): string => {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { k?: unknown };
    if (typeof parsed.k === 'string') return parsed.k;
  } catch {}
  throw new ValidationFailed('invalid cursor', [
    { path: 'cursor', message: 'not a cursor from a previous page' },
  ]);
};

export const createFacade = (deps: {
  store: ProjectionStore;
  log: EventLog;
  projections: readonly ReadableProjection[];
  /** how long `after` and `consistency=strong` wait when no budget is given */
  defaultWaitMs: number;
  now?: () => number;
}): Facade => {
  const now = deps.now ?? Date.now;
  const specs = new Map(deps.projections.map((p) => [p.name, p]));
  const waiters = new Set<() => void>();
  let unlisten: Promise<() => Promise<void>> | undefined;

  const specOf = (name: string) => {
    const spec = specs.get(name);
    if (!spec) throw new NotFound(`no projection named "${name.slice(0, 100)}"`);
    return spec;
  };
  const topicsOf = (spec: ReadableProjection) => spec.categories.map((c) => deps.log.topicFor(c));

  const nextCheckpoint = (timeoutMs: number) =>
    new Promise<void>((resolve) => {
      unlisten ??= deps.store.onCheckpoint(() => {
        for (const w of [...waiters]) w();
      });
      const done = () => {
        clearTimeout(timer);
        waiters.delete(done);
        resolve();
      };
      // the notification is the fast path; the timer bounds a lost one
      const timer = setTimeout(done, Math.max(1, Math.min(timeoutMs, 250)));
      waiters.add(done);
    });

  // Reads until the answer meets the options, waiting for checkpoints in between.
  const readFresh = async <T>(
    spec: ReadableProjection,
    options: ReadOptions,
    read: () => Promise<{
      value: T;
      checkpoints: readonly Checkpoint[];
      generation: number;
      liveness: Liveness;
    }>,
  ) => {
    const budget = options.maxStalenessMs;
    if (budget !== undefined && (!Number.isFinite(budget) || budget < 0)) {
      throw new ValidationFailed('invalid maxStalenessMs', [
        { path: 'maxStalenessMs', message: 'expected ms ≥ 0' },
      ]);
    }
    const topics = topicsOf(spec);
    let target: Position[] | undefined = options.after ? decodePositions(options.after) : undefined;
    if (options.consistency === 'strong') {
      // the last record of each partition as of now (ends are next offsets; an empty partition has none)
      const ends = (await deps.log.endOffsets(topics))
        .filter((p) => p.offset > 0n)
        .map((p) => ({ ...p, offset: p.offset - 1n }));
      target = [...(target ?? []), ...ends];
    }
    const waitMs = budget ?? (target ? deps.defaultWaitMs : 0);
    const deadline = now() + waitMs;
    for (;;) {
      const [result, ends] = await Promise.all([read(), deps.log.endOffsets(topics)]);
      const t = now();
      const freshness = measure(result.checkpoints, ends, t, result.liveness);
      const reached = !target || covers(freshness.applied, target);
      const fresh = budget === undefined || freshness.stalenessMs <= budget;
      const meta = (stale: boolean): ReadMeta => {
        const reflected = reflectedPositions(result.checkpoints);
        return {
          position: reflected.length ? encodePositions(reflected) : null,
          stalenessMs: freshness.stalenessMs,
          lagEvents: freshness.lagEvents,
          source: 'store',
          stale,
          generation: result.generation,
        };
      };
      if (reached && fresh) return { value: result.value, meta: meta(false) };
      if (t >= deadline) {
        if (options.onStale === 'serve') return { value: result.value, meta: meta(true) };
        throw new StalenessBudgetExceeded(
          spec.name,
          Math.max(freshness.stalenessMs, reached ? 0 : waitMs),
          freshness.lagEvents,
          waitMs,
        );
      }
      await nextCheckpoint(deadline - t);
    }
  };

  return {
    get: async (name, key, options = {}) => {
      const spec = specOf(name);
      const { value, meta } = await readFresh(spec, options, async () => {
        const r = await deps.store.get(spec, key);
        return { value: r.row, checkpoints: r.checkpoints, generation: r.generation, liveness: r.liveness };
      });
      if (!value) throw new NotFound(`no row "${key.slice(0, 200)}" in projection ${name}`);
      return { data: value, meta };
    },
    list: async (name, options = {}) => {
      const spec = specOf(name);
      const limit = options.limit ?? 50;
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
        throw new ValidationFailed('invalid limit', [{ path: 'limit', message: `expected 1…${MAX_LIMIT}` }]);
      }
      const filters = options.filters ?? {};
      const unknown = Object.keys(filters).filter((c) => !(c in spec.columns));
      if (unknown.length) {
        throw new ValidationFailed(
          'unknown filter',
          unknown.map((c) => ({
            path: c,
            message: `no column "${c}"; columns: ${Object.keys(spec.columns).join(', ')}`,
          })),
        );
      }
      const afterKey = options.cursor ? decodeCursor(options.cursor) : null;
      const { value, meta } = await readFresh(spec, options, async () => {
        const r = await deps.store.list(spec, { filters, limit: limit + 1, afterKey });
        return { value: r.rows, checkpoints: r.checkpoints, generation: r.generation, liveness: r.liveness };
      });
      const items = value.slice(0, limit);
      const last = items.at(-1);
      const next = value.length > limit && last ? encodeCursor(String(last[spec.key])) : null;
      return { items, next, meta };
    },
    whenApplied: async (name, positions, budgetMs) => {
      const spec = specOf(name);
      const deadline = now() + budgetMs;
      for (;;) {
        const status = await deps.store.status(spec.name);
        const applied = new Map(
          (status?.checkpoints ?? []).map((c) => [`${c.topic}/${c.partition}`, c.nextOffset]),
        );
        if (covers(applied, positions)) return true;
        const left = deadline - now();
        if (left <= 0) return false;
        await nextCheckpoint(left);
      }
    },
    close: async () => {
      for (const w of [...waiters]) w();
      if (unlisten) await (await unlisten)();
    },
  };
};
