// The read cache: a shared store (Redis; in memory for the embedded default) plus a small LRU in each
// process. Correctness rule (DESIGN §5): every cached row carries the checkpoints it was read at; the
// invalidation consumer marks each key an event touched with that event's position; a value at or
// below a mark is never stored and never served. Whatever order the projection, the readers and the
// invalidation consumer run in, a value an event has superseded is never served from the cache.
import { createHash } from 'node:crypto';
import type { Checkpoint, Row } from '../projection.ts';
import type { Position } from '../types.ts';
import { createLru } from './lru.ts';
import { partitionKey } from './positions.ts';

export interface CacheEntry {
  readonly row: Row;
  /**
   * the row's tenant (absent: the default tenant). Entries are kept by rowId (tenant and key), and a
   * reader checks this too before it serves one: never another tenant's row from the cache.
   */
  readonly tenant?: string;
  readonly generation: number;
  /** the projection's checkpoints, read in the same snapshot as the row */
  readonly checkpoints: readonly Checkpoint[];
}

/** an event at `topic/partition/offset` touched row `key` */
export interface KeyTouch {
  readonly key: string;
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
}

export interface InvalidationListener {
  /** some process invalidated these keys */
  invalidated(projection: string, keys: readonly string[]): void;
  /** false when invalidation messages may be missed (the subscription is down); true when they flow again */
  live(live: boolean): void;
}

/** The shared cache port: one per deployment, seen by every process. */
export interface SharedCache {
  /** the entry of `key` in `generation`, unless an event at or past its position touched the key */
  get(projection: string, key: string, generation: number): Promise<CacheEntry | null>;
  /** compare-and-set: stores the entry unless a mark is at or past its position; true when stored */
  put(projection: string, key: string, entry: CacheEntry): Promise<boolean>;
  drop(projection: string, key: string): Promise<void>;
  // at-least-once: a batch of touches may be given again after a crash; marks only ever move forward.
  /**
   * marks each touched key with the newest position that touched it, drops the entries that are now
   * superseded, records `progress` (the next offset per partition) and tells every process
   */
  invalidate(projection: string, touches: readonly KeyTouch[], progress: readonly Position[]): Promise<void>;
  /** marks may have been lost (the cache was unreachable while events flowed): no entry stored before is served again */
  bumpEpoch(projection: string): Promise<void>;
  /** where invalidation of `projection` got to: the next offset per partition */
  progress(projection: string): Promise<Position[]>;
  subscribe(listener: InvalidationListener): Promise<() => Promise<void>>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** per partition key, the next offset an entry has applied */
export const appliedOf = (checkpoints: readonly Checkpoint[]) =>
  new Map(checkpoints.map((c) => [partitionKey(c.topic, c.partition), c.nextOffset]));

/** true when the entry has applied every marked position (its value is not superseded by them) */
export const survivesMarks = (entry: CacheEntry, marks: ReadonlyMap<string, bigint>) => {
  const applied = appliedOf(entry.checkpoints);
  for (const [partition, offset] of marks) {
    if ((applied.get(partition) ?? 0n) <= offset) return false;
  }
  return true;
};

/**
 * true when `stored` is newer than `candidate` (of the same generation): ahead of it in some partition
 * and behind it in none. A compare-and-set keeps such an entry rather than replace it with an older read.
 */
export const storedIsAhead = (stored: CacheEntry, candidate: CacheEntry) => {
  const mine = appliedOf(candidate.checkpoints);
  const ahead = stored.checkpoints.map(
    (c) => c.nextOffset - (mine.get(partitionKey(c.topic, c.partition)) ?? -1n),
  );
  return ahead.some((d) => d > 0n) && !ahead.some((d) => d < 0n);
};

/** per touched key, the newest offset that touched it in each partition: the marks the touches set */
export const newestTouches = (touches: readonly KeyTouch[]) => {
  const byKey = new Map<string, Map<string, bigint>>();
  for (const t of touches) {
    const marks = byKey.get(t.key) ?? new Map<string, bigint>();
    const p = partitionKey(t.topic, t.partition);
    if ((marks.get(p) ?? -1n) < t.offset) marks.set(p, t.offset);
    byKey.set(t.key, marks);
  }
  return byKey;
};

/** JSON with sorted keys: the same row always gives the same text */
const canonical = (value: unknown): string => {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const o = value as Record<string, unknown>;
  return `{${Object.keys(o)
    .sort()
    .filter((k) => o[k] !== undefined)
    .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
    .join(',')}}`;
};

export const rowChecksum = (row: Row) => createHash('sha256').update(canonical(row)).digest('base64url');

export const encodeEntry = (entry: CacheEntry) =>
  JSON.stringify({
    r: entry.row,
    ...(entry.tenant === undefined ? {} : { t: entry.tenant }),
    g: entry.generation,
    c: entry.checkpoints.map((c) => [
      c.topic,
      c.partition,
      c.nextOffset.toString(),
      c.lastEventAt,
      c.caughtUpAt,
    ]),
  });

export const decodeEntry = (text: string): CacheEntry => {
  const o = JSON.parse(text) as {
    r: Row;
    t?: string;
    g: number;
    c: [string, number, string, string | null, number | null][];
  };
  return {
    row: o.r,
    ...(o.t === undefined ? {} : { tenant: o.t }),
    generation: o.g,
    checkpoints: o.c.map(([topic, partition, next, lastEventAt, caughtUpAt]) => ({
      topic,
      partition,
      nextOffset: BigInt(next),
      lastEventAt,
      caughtUpAt,
    })),
  };
};

export type CacheTier = 'memory' | 'shared';

export interface CacheStats {
  hit(tier: CacheTier): void;
  miss(): void;
  error(operation: string, error: unknown): void;
}

/** The cache as the facade sees it: the process LRU in front of the shared cache, failures as misses. */
export interface RowCache {
  /** a sequence number to pass to `store`; taken before the store read the entry comes from */
  begin(): number;
  lookup(
    projection: string,
    key: string,
    generation: number,
  ): Promise<{ entry: CacheEntry; tier: CacheTier } | null>;
  /** caches a row read from the store (compare-and-set; ignored when superseded or the cache is down) */
  store(projection: string, key: string, entry: CacheEntry, begun: number): Promise<void>;
  /** forgets a key everywhere (a strong read found it wrong), then stores the store's row, if any */
  repair(projection: string, key: string, entry: CacheEntry | null, begun: number): Promise<void>;
  close(): Promise<void>;
}

export const createRowCache = async (options: {
  shared: SharedCache;
  lruEntries: number;
  lruTtlMs: number;
  stats?: CacheStats;
  now?: () => number;
}): Promise<RowCache> => {
  const { shared } = options;
  const stats = options.stats;
  const lru = createLru<CacheEntry>(options.lruEntries, options.lruTtlMs, options.now);
  // Local sequence of invalidations: an LRU copy is only made when no invalidation of its key arrived
  // since the read it comes from began. `floor` forgets old sequence numbers in one step.
  let seq = 0;
  let floor = 0;
  const invalidatedAt = new Map<string, number>();
  let live = false;
  let connectedAt = 0; // the sequence number when the subscription last went down or came up
  const lruKey = (projection: string, key: string) => `${projection}\u0000${key}`;
  const forget = (k: string) => {
    seq += 1;
    lru.delete(k);
    invalidatedAt.set(k, seq);
    if (invalidatedAt.size > 100_000) {
      invalidatedAt.clear();
      floor = seq;
    }
  };
  const remember = (k: string, entry: CacheEntry, begun: number) => {
    if (!live || begun < floor || (invalidatedAt.get(k) ?? 0) > begun) return;
    lru.set(k, entry);
  };
  const unsubscribe = await shared.subscribe({
    invalidated: (projection, keys) => {
      for (const key of keys) forget(lruKey(projection, key));
    },
    live: (now) => {
      // messages may have been missed while down: nothing process-local can be trusted
      lru.clear();
      seq += 1;
      floor = seq;
      connectedAt = seq;
      live = now;
    },
  });

  const put = async (projection: string, key: string, entry: CacheEntry, begun: number) => {
    // a read begun before the subscription last dropped may predate a loss of the shared cache's state
    // (a Redis restart, a failover): the marks that would refuse its entry may be gone, so it is not stored
    if (begun < connectedAt) return;
    try {
      if (await shared.put(projection, key, entry)) remember(lruKey(projection, key), entry, begun);
    } catch (error) {
      stats?.error('put', error);
    }
  };

  return {
    begin: () => seq,
    lookup: async (projection, key, generation) => {
      const k = lruKey(projection, key);
      const begun = seq;
      const local = live ? lru.get(k) : undefined;
      if (local && local.generation === generation) {
        stats?.hit('memory');
        return { entry: local, tier: 'memory' };
      }
      try {
        const entry = await shared.get(projection, key, generation);
        if (entry) {
          stats?.hit('shared');
          remember(k, entry, begun);
          return { entry, tier: 'shared' };
        }
      } catch (error) {
        stats?.error('get', error);
      }
      stats?.miss();
      return null;
    },
    store: put,
    repair: async (projection, key, entry, begun) => {
      forget(lruKey(projection, key));
      try {
        await shared.drop(projection, key);
      } catch (error) {
        stats?.error('drop', error);
        return;
      }
      if (entry) await put(projection, key, entry, begun);
    },
    close: async () => {
      await unsubscribe();
      lru.clear();
    },
  };
};
