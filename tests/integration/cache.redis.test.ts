// What only the Redis cache does: failures inside a pipeline, garbage on the channel, a dead server.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../app/logger.ts';
import { createRedisCache } from '../../connectors/redis/cache.ts';
import type { SharedCache } from '../../core/read/cache.ts';
import { startOwnRedis } from '../support/redis-server.ts';
import { services, uniqueId, waitFor } from '../support/services.ts';

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
    await raw.set(`${prefix}{orders:bad}:m`, 'not a hash');
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
});
