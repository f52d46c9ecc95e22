import {
  type CacheEntry,
  type InvalidationListener,
  type KeyTouch,
  newestTouches,
  type SharedCache,
  storedIsAhead,
  survivesMarks,
} from '../../core/read/cache.ts';
import { partitionKey } from '../../core/read/positions.ts';
import type { Position } from '../../core/types.ts';

/**
 * The shared cache of the embedded default: one process, so "shared" is a map in memory. Same rules as
 * the Redis cache (marks, compare-and-set, epochs, time to live).
 */
export const createMemoryCache = (options: {
  ttlMs: number;
  markTtlMs: number;
  now?: () => number;
}): SharedCache => {
  const now = options.now ?? Date.now;
  const entries = new Map<string, { entry: CacheEntry; epoch: number; expiresAt: number }>();
  const marks = new Map<string, { offsets: Map<string, bigint>; expiresAt: number }>();
  const epochs = new Map<string, number>();
  const progress = new Map<string, Map<string, Position>>();
  const listeners = new Set<InvalidationListener>();
  const id = (projection: string, key: string) => `${projection}\u0000${key}`;
  const marksOf = (k: string) => {
    const m = marks.get(k);
    if (!m) return new Map<string, bigint>();
    if (m.expiresAt <= now()) {
      marks.delete(k);
      return new Map<string, bigint>();
    }
    return m.offsets;
  };
  const epochOf = (projection: string) => epochs.get(projection) ?? 0;
  const current = (projection: string, key: string) => {
    const k = id(projection, key);
    const e = entries.get(k);
    if (!e) return undefined;
    if (e.expiresAt <= now() || e.epoch !== epochOf(projection) || !survivesMarks(e.entry, marksOf(k))) {
      entries.delete(k);
      return undefined;
    }
    return e.entry;
  };

  return {
    get: async (projection, key, generation) => {
      const entry = current(projection, key);
      return entry && entry.generation === generation ? entry : null;
    },
    put: async (projection, key, entry) => {
      const k = id(projection, key);
      if (!survivesMarks(entry, marksOf(k))) return false;
      const existing = current(projection, key);
      // not replaced by an older read: the stored one is ahead somewhere and behind nowhere
      if (existing && existing.generation === entry.generation && storedIsAhead(existing, entry))
        return false;
      entries.set(k, { entry, epoch: epochOf(projection), expiresAt: now() + options.ttlMs });
      return true;
    },
    drop: async (projection, key) => {
      entries.delete(id(projection, key));
    },
    invalidate: async (projection, touches: readonly KeyTouch[], reached: readonly Position[]) => {
      const keys = new Set<string>();
      for (const [key, newest] of newestTouches(touches)) {
        const k = id(projection, key);
        const m = marksOf(k);
        for (const [p, offset] of newest) if ((m.get(p) ?? -1n) < offset) m.set(p, offset);
        marks.set(k, { offsets: m, expiresAt: now() + options.markTtlMs });
        keys.add(key);
      }
      for (const key of keys) current(projection, key); // drops the superseded
      const p = progress.get(projection) ?? new Map<string, Position>();
      for (const r of reached) p.set(partitionKey(r.topic, r.partition), r);
      progress.set(projection, p);
      if (keys.size) for (const l of listeners) l.invalidated(projection, [...keys]);
    },
    bumpEpoch: async (projection) => {
      epochs.set(projection, epochOf(projection) + 1);
    },
    progress: async (projection) => [...(progress.get(projection)?.values() ?? [])],
    subscribe: async (listener) => {
      listeners.add(listener);
      listener.live(true);
      return async () => {
        listeners.delete(listener);
      };
    },
    ping: async () => {},
    close: async () => {
      listeners.clear();
      entries.clear();
    },
  };
};
