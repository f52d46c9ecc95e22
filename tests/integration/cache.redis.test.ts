// What only the Redis cache does: failures inside a pipeline, garbage on the channel, a dead server.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../app/logger.ts';
import { createRedisCache } from '../../connectors/redis/cache.ts';
import { type CacheEntry, createRowCache, type SharedCache } from '../../core/read/cache.ts';
import { startOwnRedis } from '../support/redis-server.ts';
import { services, uniqueId, waitFor } from '../support/services.ts';

const entry = (status: string, next: bigint): CacheEntry => ({
  row: { orderId: 'k', status },
  generation: 1,
  checkpoints: [{ topic: 't', partition: 0, nextOffset: next, lastEventAt: null, caughtUpAt: null }],
});

const open = (url: string, prefix: string) =>
  createRedisCache({ url, prefix, ttlMs: 60_000, markTtlMs: 60_000, logger: createLogger('silent') });

describe('Redis cache', () => {
  const prefix = `t${uniqueId()}:`;
  let cache: SharedCache;
  let raw: Redis;
  beforeAll(async () => {
    cache = await open(services().LOGFRONT_REDIS_URL, prefix);
    raw = new Redis(services().LOGFRONT_REDIS_URL);
  });
  afterAll(async () => {
    await cache?.close();
    raw?.disconnect();
  });

  it('an invalidation whose script fails on the server is an error, not a silent success', async () => {
    await raw.set(`${prefix}{orders}:m:bad`, 'not a hash');
    await expect(
      cache.invalidate('orders', [{ key: 'bad', topic: 't', partition: 0, offset: 1n }], []),
    ).rejects.toThrow(/WRONGTYPE/);
  });

  it('a message it cannot read on the channel tells listeners messages may have been missed', async () => {
    const states: boolean[] = [];
    const unsubscribe = await cache.subscribe({ invalidated: () => {}, live: (l) => states.push(l) });
    await waitFor(async () => states.includes(true), 5000);
    await raw.publish(`${prefix}invalidations`, 'garbage');
    await waitFor(async () => states.length >= 3, 5000);
    expect(states.slice(-2)).toEqual([false, true]);
    await unsubscribe();
    expect(await cache.ping()).toBeUndefined();
  });

  it('with the server gone, commands fail fast and subscribers hear it; close still works', async () => {
    const own = await startOwnRedis();
    const c = await open(own.url, prefix);
    const states: boolean[] = [];
    await c.subscribe({ invalidated: () => {}, live: (l) => states.push(l) });
    await waitFor(async () => states.includes(true), 5000);
    await own.stop();
    await waitFor(async () => states.at(-1) === false, 5000);
    const t = Date.now();
    await expect(c.get('orders', 'k', 1)).rejects.toThrow();
    expect(Date.now() - t).toBeLessThan(1500);
    await c.close();
  });

  it('opening it while the server is down does not fail (reads go to the store until it answers)', async () => {
    const own = await startOwnRedis();
    await own.stop();
    const t = Date.now();
    const c = await open(own.url, prefix);
    expect(Date.now() - t).toBeLessThan(4000);
    await expect(c.ping()).rejects.toThrow();
    await c.close();
  });

  it('Redis restarted empty: a row a lost mark superseded is not cached again from a read begun before', async () => {
    const own = await startOwnRedis();
    const c = await open(own.url, prefix);
    const rows = await createRowCache({ shared: c, lruEntries: 0, lruTtlMs: 1000 });
    try {
      // the row cache stores once its subscription is up
      await waitFor(async () => {
        await rows.store('orders', 'probe', entry('placed', 1n), rows.begin());
        return (await rows.lookup('orders', 'probe', 1)) !== null;
      }, 5000);
      // a slow reader reads the row at offset 5 (placed); the event at 7 (shipped) supersedes it: marked
      const begun = rows.begin();
      await c.invalidate('orders', [{ key: 'k', topic: 't', partition: 0, offset: 7n }], []);
      expect(await c.put('orders', 'k', entry('placed', 5n))).toBe(false); // the mark refuses it
      await own.stop();
      await own.start(); // empty: the mark is gone
      await waitFor(async () => {
        await rows.store('orders', 'probe', entry('placed', 1n), rows.begin());
        return (await rows.lookup('orders', 'probe', 1)) !== null;
      }, 10_000);
      await rows.store('orders', 'k', entry('placed', 5n), begun); // the slow reader's copy
      expect(await rows.lookup('orders', 'k', 1)).toBeNull();
      expect(await c.get('orders', 'k', 1)).toBeNull();
    } finally {
      await rows.close();
      await c.close();
      await own.remove();
    }
  });

  it('Redis back as another server (its data kept, marks maybe not): entries stored before are not served', async () => {
    const own = await startOwnRedis({ keepData: true });
    const c = await open(own.url, prefix);
    const raw = new Redis(own.url);
    try {
      expect(await c.put('orders', 'k', entry('placed', 5n))).toBe(true);
      expect((await c.get('orders', 'k', 1))?.row.status).toBe('placed');
      await own.stop();
      await own.start();
      await waitFor(
        async () =>
          c.ping().then(
            () => true,
            () => false,
          ),
        10_000,
      );
      expect(await raw.exists(`${prefix}{orders}:c:k`)).toBe(1); // the entry came back with the data…
      expect(await c.get('orders', 'k', 1)).toBeNull(); // …under an epoch that was retired
      expect(await c.put('orders', 'k', entry('shipped', 8n))).toBe(true);
      expect((await c.get('orders', 'k', 1))?.row.status).toBe('shipped');
    } finally {
      raw.disconnect();
      await c.close();
      await own.remove();
    }
  });

  it('a connection that drops and comes back to the same server keeps the entries', async () => {
    const own = await startOwnRedis();
    const c = await open(own.url, prefix);
    const raw = new Redis(own.url);
    try {
      expect(await c.put('orders', 'k', entry('placed', 5n))).toBe(true);
      const before = await raw.get(`${prefix}{orders}:epoch`);
      await raw.client('KILL', 'TYPE', 'normal', 'SKIPME', 'yes'); // the cache's connections drop
      await waitFor(
        async () =>
          String(await raw.client('LIST'))
            .split('\n')
            .filter(Boolean).length > 1,
        5000,
      );
      await waitFor(
        async () => (await c.get('orders', 'k', 1).catch(() => null))?.row.status === 'placed',
        5000,
      );
      expect(await raw.get(`${prefix}{orders}:epoch`)).toBe(before);
    } finally {
      raw.disconnect();
      await c.close();
      await own.remove();
    }
  });

  it('an epoch that is gone (evicted, flushed) refuses the next store and is made anew', async () => {
    const p = `gone${uniqueId()}`;
    expect(await cache.put(p, 'k', entry('placed', 5n))).toBe(true);
    await raw.del(`${prefix}{${p}}:epoch`);
    expect(await cache.get(p, 'k', 1)).toBeNull();
    expect(await cache.put(p, 'k', entry('placed', 5n))).toBe(false);
    expect(await raw.exists(`${prefix}{${p}}:epoch`)).toBe(1);
    expect(await cache.put(p, 'k', entry('placed', 5n))).toBe(true);
    expect((await cache.get(p, 'k', 1))?.row.status).toBe('placed');
    await raw.del(`${prefix}{${p}}:c:k`, `${prefix}{${p}}:epoch`);
  });
});
