// Read throughput and latency through the facade (SDK, in process): cache hits (the default: process
// LRU in front of Redis), Redis-only hits (LRU off), misses (Redis miss, Postgres read, compare-and-set
// store) and HTTP hits (from a client process of its own), next to a raw ioredis GET of the same row JSON and a raw pg primary-key SELECT,
// at the same concurrency, in one run.
import { Redis } from 'ioredis';
import pg from 'pg';
import { createLogfront, type Logfront } from '../app/compose.ts';
import { createHttpServer } from '../app/http.ts';
import { benchConfig, drive, type Figures, report, round } from './harness.ts';
import { runClientProcess } from './http-load.ts';

type Run = { seconds: number; p50: number; p99: number };

const READS = Number(process.env.BENCH_READS ?? 100_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
/** rows read by the hit runs (all cached first) */
const HOT_KEYS = Number(process.env.BENCH_HOT_KEYS ?? 1000);
/** distinct rows for the miss run: each is read once */
const MISS_KEYS = Number(process.env.BENCH_MISS_KEYS ?? 20_000);
const BUDGET_MS = 5000;

const placed = (orderId: string) => ({
  type: 'OrderPlaced',
  data: {
    orderId,
    customerId: `c-${orderId.length % 97}`,
    customerEmail: 'someone@example.com',
    items: [{ sku: 'sku-1', qty: 2, priceCents: 450 }],
    totalCents: 900,
  },
});

const figures = (reads: number, r: { seconds: number; p50: number; p99: number }): Figures => ({
  'reads/s': Math.round(reads / r.seconds),
  'p50 ms': round(r.p50, 3),
  'p99 ms': round(r.p99, 3),
});

export const run = async () => {
  const id = Date.now().toString(36);
  const configOf = (overrides: Record<string, string> = {}) => benchConfig(`bench_${id}`, overrides);
  const config = configOf();
  const lf = await createLogfront(config);
  await lf.startRunners();

  // load: HOT_KEYS + MISS_KEYS orders, then wait until the projection applied them all
  const total = HOT_KEYS + MISS_KEYS;
  const load = await drive(total / 50, 16, async (i) => {
    await Promise.all(
      Array.from({ length: 50 }, (_, j) =>
        lf.append.appendToStream(`order-${i * 50 + j}`, { events: [placed(String(i * 50 + j))] }),
      ),
    );
  });
  await lf.facade.get('orders', String(total - 1), { consistency: 'strong', maxStalenessMs: 120_000 });
  const hot = (i: number) => String((i * 7919) % HOT_KEYS);
  const miss = (i: number) => String(HOT_KEYS + i);
  const read = (f: Logfront, key: string) => f.facade.get('orders', key, { maxStalenessMs: BUDGET_MS });

  // warm every hot row into Redis and the LRU
  await drive(HOT_KEYS, CONCURRENCY, async (i) => {
    await read(lf, String(i));
  });
  await drive(HOT_KEYS, CONCURRENCY, async (i) => {
    await read(lf, String(i));
  });

  const sourceCheck = { cache: 0, store: 0 };
  const hitsBefore = { ...lf.cacheCounts.hits };
  const hitRun = await drive(READS, CONCURRENCY, async (i) => {
    sourceCheck[(await read(lf, hot(i))).meta.source] += 1;
  });
  const lruHits = lf.cacheCounts.hits.memory - hitsBefore.memory;

  // Redis only: a second logfront with no process LRU (its reads are Redis hits)
  const redisOnly = await createLogfront(configOf({ LOGFRONT_CACHE_LRU_ENTRIES: '0' }));
  await drive(HOT_KEYS, CONCURRENCY, async (i) => {
    await read(redisOnly, String(i));
  });
  const sharedBefore = redisOnly.cacheCounts.hits.shared;
  const redisRun = await drive(READS, CONCURRENCY, async (i) => {
    await read(redisOnly, hot(i));
  });
  const redisHits = redisOnly.cacheCounts.hits.shared - sharedBefore;

  // misses: rows never read before (Redis miss → Postgres snapshot read → compare-and-set store)
  const missesBefore = redisOnly.cacheCounts.misses;
  const missReads = Math.min(MISS_KEYS, READS);
  const missRun = await drive(missReads, CONCURRENCY, async (i) => {
    await read(redisOnly, miss(i));
  });
  const misses = redisOnly.cacheCounts.misses - missesBefore;

  // HTTP hits (Fastify, JSON over loopback) with the default cache; the client runs in a process of its own
  const app = createHttpServer(lf);
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  const httpReads = Math.min(READS, 30_000);
  const httpRun = await runClientProcess<Run>('read-http-client.ts', [
    url,
    httpReads,
    CONCURRENCY,
    HOT_KEYS,
    BUDGET_MS,
  ]);
  await app.close();

  // baselines: the same row JSON with a raw ioredis GET, the same row by primary key with raw pg
  const raw = new Redis(config.redis.url!);
  const rowJson = JSON.stringify((await read(lf, '1')).data);
  const rawKeys = Array.from({ length: HOT_KEYS }, (_, i) => `bench${id}:raw:${i}`);
  await raw.mset(...rawKeys.flatMap((k) => [k, rowJson]));
  await drive(HOT_KEYS, CONCURRENCY, async (i) => {
    await raw.get(rawKeys[i]!);
  });
  const rawRedisRun = await drive(READS, CONCURRENCY, async (i) => {
    JSON.parse((await raw.get(rawKeys[(i * 7919) % HOT_KEYS]!))!);
  });
  const pool = new pg.Pool({ connectionString: config.database.url!, max: 10 });
  const generation = (await lf.store.activeGeneration('orders')) ?? 1;
  const table = `${config.database.schema}."proj_orders_g${generation}"`;
  const select = `SELECT * FROM ${table} WHERE "orderId" = $1`;
  const pgRun = await drive(READS, CONCURRENCY, async (i) => {
    const r = await pool.query(select, [hot(i)]);
    if (r.rows.length !== 1) throw new Error(`pg: no row ${hot(i)} in ${table}`);
  });
  await pool.end();
  await raw.del(...rawKeys);
  raw.disconnect();
  await redisOnly.close();
  await lf.close();

  const ours = figures(READS, hitRun);
  const redisHit = figures(READS, redisRun);
  const missed = figures(missReads, missRun);
  const http = figures(httpReads, httpRun);
  const rawRedis = figures(READS, rawRedisRun);
  const rawPg = figures(READS, pgRun);
  report(
    'read',
    [
      { label: 'hit (LRU + Redis)', figures: ours },
      { label: 'hit (Redis only)', figures: redisHit },
      { label: 'miss', figures: missed },
      { label: 'http hit', figures: http },
      { label: 'raw ioredis GET', figures: rawRedis },
      { label: 'raw pg SELECT', figures: rawPg },
    ],
    {
      params: {
        reads: READS,
        concurrency: CONCURRENCY,
        'hot keys': HOT_KEYS,
        'miss reads': missReads,
        maxStalenessMs: BUDGET_MS,
        'load s': round(load.seconds, 1),
      },
      ours: {
        'hit reads/s': ours['reads/s']!,
        'hit p50 ms': ours['p50 ms']!,
        'hit p99 ms': ours['p99 ms']!,
        'hit share from LRU': round(lruHits / READS, 3),
        'hit run answered from cache': round(sourceCheck.cache / READS, 3),
        'redis-only hit reads/s': redisHit['reads/s']!,
        'redis-only hit p50 ms': redisHit['p50 ms']!,
        'redis-only hit p99 ms': redisHit['p99 ms']!,
        'redis-only hits counted': redisHits,
        'miss reads/s': missed['reads/s']!,
        'miss p50 ms': missed['p50 ms']!,
        'miss p99 ms': missed['p99 ms']!,
        'misses counted': misses,
        'http hit reads/s': http['reads/s']!,
        'http hit p50 ms': http['p50 ms']!,
        'http hit p99 ms': http['p99 ms']!,
        'ratio redis-only hit ÷ raw GET': round(Number(redisHit['reads/s']) / Number(rawRedis['reads/s']), 3),
        'ratio miss ÷ raw pg SELECT': round(Number(missed['reads/s']) / Number(rawPg['reads/s']), 3),
      },
      baseline: {
        'ioredis GET reads/s': rawRedis['reads/s']!,
        'ioredis GET p50 ms': rawRedis['p50 ms']!,
        'ioredis GET p99 ms': rawRedis['p99 ms']!,
        'pg SELECT reads/s': rawPg['reads/s']!,
        'pg SELECT p50 ms': rawPg['p50 ms']!,
        'pg SELECT p99 ms': rawPg['p99 ms']!,
      },
      ratio: Number(ours['reads/s']) / Number(rawRedis['reads/s']),
    },
  );
};
