// The read cache on the real services: hits, strong-read probes, a stopped runner, Redis going away.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogfront, type Logfront } from '../../app/compose.ts';
import { createHttpServer } from '../../app/http.ts';
import { StalenessBudgetExceeded } from '../../core/errors.ts';
import { decodePositions } from '../../core/read/positions.ts';
import { type Api, startApi } from '../support/api.ts';
import { orderPlaced, orderShipped } from '../support/orders.ts';
import { startOwnRedis } from '../support/redis-server.ts';
import { servicesConfig, uniqueId, waitFor } from '../support/services.ts';

const place = async (lf: Logfront, id = uniqueId()) => ({
  id,
  ...(await lf.append.appendToStream(`order-${id}`, { events: [orderPlaced(id, 2)] })),
});

describe('the read cache (Kafka, Postgres, Redis)', () => {
  let lf: Logfront;
  beforeAll(async () => {
    // no process LRU: every hit is a Redis hit, so what is in Redis is what is served
    lf = await createLogfront(servicesConfig({ LOGFRONT_CACHE_LRU_ENTRIES: '0' }));
    await lf.startRunners();
  }, 60_000);
  afterAll(async () => lf?.close());

  it('a second read is a cache hit with the same row and position; a write is seen with after=', async () => {
    const { id, position } = await place(lf);
    const first = await lf.facade.get('orders', id, { after: position });
    expect(first.meta.source).toBe('store');
    const second = await lf.facade.get('orders', id, { maxStalenessMs: 5000 });
    expect(second.meta.source).toBe('cache');
    expect(second.data).toEqual(first.data);
    expect(second.meta.position).toBe(first.meta.position);
    const shipped = await lf.append.appendToStream(`order-${id}`, { events: [orderShipped(id)] });
    const third = await lf.facade.get('orders', id, { after: shipped.position });
    expect(third.data).toMatchObject({ status: 'shipped', version: 2 });
    // the invalidation consumer marks the row; the old value is never served again
    await waitFor(async () => {
      const r = await lf.facade.get('orders', id, { maxStalenessMs: 60_000 });
      return r.meta.source === 'cache' && r.data.status === 'shipped';
    });
    expect(lf.cacheCounts.hits.shared).toBeGreaterThan(0);
  });

  it('a strong read served from the cache is checked against the store: a wrong entry is repaired, never returned', async () => {
    const { id, position } = await place(lf);
    const good = await lf.facade.get('orders', id, { after: position });
    await lf.facade.get('orders', id); // cached
    // corrupt the cached row behind logfront's back
    const redis = new Redis(lf.config.redis.url!);
    const entryKey = `${lf.config.redis.prefix}{orders}:c:${id}`;
    const stored = JSON.parse((await redis.hget(entryKey, 'v'))!) as { r: Record<string, unknown> };
    stored.r.totalCents = 1;
    await redis.hset(entryKey, 'v', JSON.stringify(stored));
    const corrupted = await lf.facade.get('orders', id);
    expect(corrupted.meta.source).toBe('cache'); // an eventual read trusts the cache…
    const before = lf.cacheCounts.mismatches;
    const strong = await lf.facade.get('orders', id, { consistency: 'strong' });
    expect(strong.data).toEqual(good.data); // …a strong one does not
    expect(strong.meta.source).toBe('store');
    expect(lf.cacheCounts.mismatches).toBe(before + 1);
    const repaired = await lf.facade.get('orders', id);
    expect(repaired.meta.source).toBe('cache');
    expect(repaired.data).toEqual(good.data);
    const again = await lf.facade.get('orders', id, { consistency: 'strong' });
    expect(again.meta.source).toBe('cache');
    expect(lf.cacheCounts.mismatches).toBe(before + 1);
    redis.disconnect();
  });
});

describe('a stopped runner is stale for cached rows too', () => {
  let api: Api;
  beforeAll(async () => {
    api = await startApi(servicesConfig());
  }, 60_000);
  afterAll(async () => api?.close());

  it('with the runner stopped, ?maxStalenessMs=200 answers 503 even for a cached row; onStale=serve answers it stale', async () => {
    const id = uniqueId();
    const appended = await api.request('POST', `/v1/streams/order-${id}/events`, {
      events: [orderPlaced(id)],
    });
    const position = String(appended.body.position);
    expect((await api.request('GET', `/v1/projections/orders/rows/${id}?after=${position}`)).status).toBe(
      200,
    );
    const hit = await api.request('GET', `/v1/projections/orders/rows/${id}?maxStalenessMs=2000`);
    expect(hit.body.meta).toMatchObject({ source: 'cache', stale: false });

    await api.lf.stopRunners();
    await new Promise((r) => setTimeout(r, 400));
    const refused = await api.request('GET', `/v1/projections/orders/rows/${id}?maxStalenessMs=200`);
    expect(refused.status).toBe(503);
    expect(refused.body.error).toBe('staleness_budget_exceeded');
    expect(Number(refused.body.stalenessMs)).toBeGreaterThanOrEqual(200);
    expect(refused.body).toHaveProperty('lagEvents');
    const served = await api.request(
      'GET',
      `/v1/projections/orders/rows/${id}?maxStalenessMs=200&onStale=serve`,
    );
    expect(served.status).toBe(200);
    expect(served.body.meta).toMatchObject({ stale: true });
    expect(Number((served.body.meta as { stalenessMs: number }).stalenessMs)).toBeGreaterThanOrEqual(200);
  });
});

// Redis comes back empty (a restart without persistence) or with everything it held (a restart that
// persists, or a server that was only out of reach): then the entries it holds from before are stale.
for (const [how, keepData] of [
  ['empty', false],
  ['with its data', true],
] as const) {
  describe(`Redis stopped and started again mid-run, coming back ${how}`, () => {
    it('no read fails while Redis is down (they come from the store); once it is back hits resume, and a row changed meanwhile is never served as it was', async () => {
      const redis = await startOwnRedis({ keepData });
      // no process LRU: what is served from the cache is what Redis holds (an LRU copy is dropped by a
      // pub/sub message, which may arrive after the progress checked below)
      const lf = await createLogfront(
        servicesConfig({ LOGFRONT_REDIS_URL: redis.url, LOGFRONT_CACHE_LRU_ENTRIES: '0' }),
      );
      try {
        await lf.startRunners();
        const ids: string[] = [];
        let last = '';
        for (let i = 0; i < 5; i++) {
          const p = await place(lf);
          ids.push(p.id);
          last = p.position;
        }
        // a row changed while Redis is down: the reads below leave it alone until Redis is back (a read
        // with a budget would find its cached copy too old and put the store's row in its place)
        const { id: changed, position: placed } = await place(lf);
        await lf.facade.get('orders', ids[0]!, { after: last });
        await lf.facade.get('orders', changed, { after: placed });
        // it is in Redis as placed
        await waitFor(async () => (await lf.facade.get('orders', changed)).meta.source === 'cache');
        const answers: { source: string }[] = [];
        let failures = 0;
        let reading = true;
        const reader = (async () => {
          for (let i = 0; reading; i++) {
            try {
              const r = await lf.facade.get('orders', ids[i % ids.length]!, { maxStalenessMs: 10_000 });
              answers.push({ source: r.meta.source });
            } catch {
              failures += 1;
            }
            await new Promise((r) => setTimeout(r, 5));
          }
        })();
        await waitFor(async () => lf.cacheCounts.hits.shared > 20);

        await redis.stop();
        const downAt = answers.length;
        // while down: reads keep coming (from the store), and writes still land
        const during = await place(lf);
        const shipped = await lf.append.appendToStream(`order-${changed}`, {
          events: [orderShipped(changed)],
        });
        await waitFor(async () => answers.length > downAt + 50);
        const whileDown = answers.slice(downAt + 10);
        expect(whileDown.filter((a) => a.source === 'store').length).toBeGreaterThan(20);
        const readDuring = await lf.facade.get('orders', during.id, { after: during.position });
        expect(readDuring.data.orderId).toBe(during.id);
        const readShipped = await lf.facade.get('orders', changed, { after: shipped.position });
        expect(readShipped.data).toMatchObject({ status: 'shipped', version: 2 });

        await redis.start();
        const hitsBefore = lf.cacheCounts.hits.shared;
        await waitFor(async () => lf.cacheCounts.hits.shared > hitsBefore + 20, 30_000);
        // once the invalidation consumer has gone past the change (it marks the row, or retires every
        // entry stored before Redis was lost), no read serves the row from before, not even one
        // without a staleness budget
        const [change] = decodePositions(shipped.position);
        await waitFor(async () => {
          const progress = await lf.cache!.progress('orders').catch(() => []);
          const reached = progress.find(
            (p) => p.topic === change!.topic && p.partition === change!.partition,
          );
          return reached !== undefined && reached.offset > change!.offset;
        }, 30_000);
        for (const options of [{}, {}, { maxStalenessMs: 60_000 }, { consistency: 'strong' as const }]) {
          const r = await lf.facade.get('orders', changed, options);
          expect(r.data).toMatchObject({ status: 'shipped', version: 2 });
        }
        // and the cache holds the new row again
        await waitFor(async () => {
          const r = await lf.facade.get('orders', changed);
          expect(r.data).toMatchObject({ status: 'shipped', version: 2 });
          return r.meta.source === 'cache';
        });
        const hitsAfter = lf.cacheCounts.hits.shared;
        await waitFor(async () => lf.cacheCounts.hits.shared > hitsAfter + 20, 30_000);
        reading = false;
        await reader;
        expect(failures).toBe(0);
        expect(answers.slice(-10).map((a) => a.source)).toContain('cache');
        expect((await lf.facade.get('orders', during.id)).data.orderId).toBe(during.id);

        // /readyz lists Redis as optional: down, it does not make the process unready
        const app = createHttpServer(lf);
        try {
          const url = await app.listen({ host: '127.0.0.1', port: 0 });
          await redis.stop();
          const down = await fetch(`${url}/readyz`);
          expect(down.status).toBe(200);
          expect(((await down.json()) as { dependencies: unknown[] }).dependencies).toContainEqual(
            expect.objectContaining({ name: 'redis', ok: false, optional: true }),
          );
        } finally {
          await app.close();
        }
      } finally {
        await lf.close();
        await redis.remove();
      }
    }, 120_000);
  });
}

describe('the facade rejects what it cannot honour', () => {
  it('a budget the projection cannot meet is StalenessBudgetExceeded with the measured staleness', async () => {
    const lf = await createLogfront(servicesConfig());
    try {
      // runners never started: the projection is stale since the epoch
      const { id } = await place(lf);
      await expect(lf.facade.get('orders', id, { maxStalenessMs: 50 })).rejects.toBeInstanceOf(
        StalenessBudgetExceeded,
      );
    } finally {
      await lf.close();
    }
  });
});
