// The SharedCache contract: Redis and the embedded in-memory cache pass the same suite.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Checkpoint } from '../../core/projection.ts';
import type { CacheEntry, SharedCache } from '../../core/read/cache.ts';
import { uniqueId, waitFor } from '../support/services.ts';

export interface CacheFixture {
  /** a cache whose entries live `ttlMs` */
  open(ttlMs: number): Promise<SharedCache>;
  close(): Promise<void>;
}

const TOPIC = 'orders.events.order';

const checkpoint = (partition: number, nextOffset: bigint): Checkpoint => ({
  topic: TOPIC,
  partition,
  nextOffset,
  lastEventAt: '2026-11-28T10:00:00.000Z',
  caughtUpAt: 1_795_000_000_000,
});

/** a row read when partition 0 had applied up to `next0` (and partition 1 up to `next1`) */
const entry = (value: string, next0: bigint, next1 = 0n, generation = 1): CacheEntry => ({
  row: { orderId: 'o-1', status: value, nested: { n: 1 } },
  generation,
  checkpoints: [checkpoint(0, next0), checkpoint(1, next1)],
});

const touch = (key: string, partition: number, offset: bigint) => ({ key, topic: TOPIC, partition, offset });

export const sharedCacheContract = (name: string, fixture: () => Promise<CacheFixture>) => {
  describe(`SharedCache contract: ${name}`, () => {
    let f: CacheFixture;
    let cache: SharedCache;
    const projection = () => `p${uniqueId()}`;

    beforeAll(async () => {
      f = await fixture();
      cache = await f.open(60_000);
    });
    afterAll(async () => {
      await cache?.close();
      await f?.close();
    });

    it('stores an entry and gives it back, with its checkpoints, for its generation only', async () => {
      const p = projection();
      expect(await cache.put(p, 'k', entry('placed', 5n, 3n))).toBe(true);
      const got = await cache.get(p, 'k', 1);
      expect(got).toEqual(entry('placed', 5n, 3n));
      expect(await cache.get(p, 'k', 2)).toBeNull();
      expect(await cache.get(p, 'other', 1)).toBeNull();
    });

    it('refuses to store a value at or below a mark, and stores one past it', async () => {
      const p = projection();
      await cache.invalidate(p, [touch('k', 0, 5n)], []);
      expect(await cache.put(p, 'k', entry('old', 5n))).toBe(false); // offset 5 not applied
      expect(await cache.get(p, 'k', 1)).toBeNull();
      expect(await cache.put(p, 'k', entry('new', 6n))).toBe(true);
      expect((await cache.get(p, 'k', 1))?.row.status).toBe('new');
    });

    it('a mark on a partition the entry knows nothing of refuses it', async () => {
      const p = projection();
      await cache.invalidate(p, [{ key: 'k', topic: 'other.topic', partition: 0, offset: 0n }], []);
      expect(await cache.put(p, 'k', entry('x', 9n, 9n))).toBe(false);
    });

    it('an invalidation drops the entries it supersedes and keeps the newer ones', async () => {
      const p = projection();
      await cache.put(p, 'a', entry('a', 5n));
      await cache.put(p, 'b', entry('b', 10n));
      await cache.invalidate(p, [touch('a', 0, 7n), touch('b', 0, 7n)], []);
      expect(await cache.get(p, 'a', 1)).toBeNull();
      expect((await cache.get(p, 'b', 1))?.row.status).toBe('b');
    });

    it('marks only move forward: an older touch given again does not lower them', async () => {
      const p = projection();
      await cache.invalidate(p, [touch('k', 0, 9n)], []);
      await cache.invalidate(p, [touch('k', 0, 3n), touch('k', 0, 2n)], []);
      expect(await cache.put(p, 'k', entry('v', 6n))).toBe(false);
      expect(await cache.put(p, 'k', entry('v', 10n))).toBe(true);
    });

    it('marks on several partitions must all be applied', async () => {
      const p = projection();
      await cache.invalidate(p, [touch('k', 0, 4n), touch('k', 1, 8n)], []);
      expect(await cache.put(p, 'k', entry('v', 5n, 8n))).toBe(false);
      expect(await cache.put(p, 'k', entry('v', 5n, 9n))).toBe(true);
    });

    it('does not replace a newer entry with an older one', async () => {
      const p = projection();
      expect(await cache.put(p, 'k', entry('new', 8n, 2n))).toBe(true);
      expect(await cache.put(p, 'k', entry('old', 6n, 2n))).toBe(false);
      expect((await cache.get(p, 'k', 1))?.row.status).toBe('new');
      // another generation replaces it
      expect(await cache.put(p, 'k', entry('g2', 1n, 1n, 2))).toBe(true);
      expect((await cache.get(p, 'k', 2))?.row.status).toBe('g2');
    });

    it('drop forgets an entry', async () => {
      const p = projection();
      await cache.put(p, 'k', entry('v', 2n));
      await cache.drop(p, 'k');
      expect(await cache.get(p, 'k', 1)).toBeNull();
    });

    it('records how far invalidation got, per partition', async () => {
      const p = projection();
      expect(await cache.progress(p)).toEqual([]);
      await cache.invalidate(p, [], [{ topic: TOPIC, partition: 0, offset: 10n }]);
      await cache.invalidate(p, [touch('k', 1, 3n)], [{ topic: TOPIC, partition: 1, offset: 4n }]);
      const reached = (await cache.progress(p)).sort((a, b) => a.partition - b.partition);
      expect(reached).toEqual([
        { topic: TOPIC, partition: 0, offset: 10n },
        { topic: TOPIC, partition: 1, offset: 4n },
      ]);
    });

    it('a new epoch retires every entry stored before it', async () => {
      const p = projection();
      await cache.put(p, 'a', entry('a', 2n));
      await cache.bumpEpoch(p);
      expect(await cache.get(p, 'a', 1)).toBeNull();
      expect(await cache.put(p, 'a', entry('a2', 2n))).toBe(true);
      expect((await cache.get(p, 'a', 1))?.row.status).toBe('a2');
    });

    it('tells subscribers which keys were invalidated', async () => {
      const p = projection();
      const heard: string[] = [];
      let live = false;
      const unsubscribe = await cache.subscribe({
        invalidated: (projectionName, keys) => {
          if (projectionName === p) heard.push(...keys);
        },
        live: (now) => {
          live = now;
        },
      });
      try {
        await waitFor(async () => live, 5000);
        await cache.invalidate(p, [touch('x', 0, 1n), touch('y', 0, 2n), touch('x', 0, 3n)], []);
        await waitFor(async () => heard.length >= 2, 5000);
        expect(heard.sort()).toEqual(['x', 'y']);
      } finally {
        await unsubscribe();
      }
    });

    it('entries expire after their time to live', async () => {
      const short = await f.open(300);
      try {
        const p = projection();
        expect(await short.put(p, 'k', entry('v', 2n))).toBe(true);
        expect(await short.get(p, 'k', 1)).not.toBeNull();
        await new Promise((r) => setTimeout(r, 450));
        expect(await short.get(p, 'k', 1)).toBeNull();
      } finally {
        await short.close();
      }
    });
  });
};
