// The cache is never wrong: concurrent writers and readers on the same keys, random delays on the
// Postgres and Redis connections (Toxiproxy), two processes' worth of LRUs. Every answer must equal
// the fold of the log at the position it claims, no answer under a budget B may miss an event
// appended more than B ms before the read began, and once everything has settled every cached value
// equals the store's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogfront, type Logfront } from '../../app/compose.ts';
import { StalenessBudgetExceeded } from '../../core/errors.ts';
import type { Row } from '../../core/projection.ts';
import { decodePositions, partitionKey } from '../../core/read/positions.ts';
import type { RecordedEvent } from '../../core/types.ts';
import { foldCustomerTotals, testDomain } from '../support/domain.ts';
import { readAll } from '../support/log-reader.ts';
import { foldOrders, orderPlaced, orderShipped } from '../support/orders.ts';
import { servicesConfig, uniqueId, waitFor } from '../support/services.ts';
import { createProxy, type ToxicProxy, throughProxy } from '../support/toxiproxy.ts';

const BUDGET_MS = 400;
const RUN_MS = 10_000;
/** clock granularity: log append times are whole milliseconds */
const TOLERANCE_MS = 2;

interface Answer {
  begunAt: number;
  projection: 'orders' | 'customer_totals';
  key: string;
  position: string | null;
  source: string;
  data: Row;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pick = <T>(items: readonly T[]) => items[Math.floor(Math.random() * items.length)]!;

describe('cache race: writers, readers and slow connections', () => {
  const proxies: ToxicProxy[] = [];
  let writer: Logfront;
  let reader: Logfront;

  beforeAll(async () => {
    const base = servicesConfig();
    const pg = await createProxy(new URL(base.database.url!).host);
    const redis = await createProxy(new URL(base.redis.url!).host);
    proxies.push(pg, redis);
    for (const proxy of proxies) {
      await proxy.toxic('latency', { latency: 2, jitter: 4 }, 'downstream');
      await proxy.toxic('latency', { latency: 1, jitter: 3 }, 'upstream');
    }
    const env = {
      LOGFRONT_TOPIC_PREFIX: base.topicPrefix,
      LOGFRONT_DATABASE_SCHEMA: base.database.schema,
      LOGFRONT_REDIS_PREFIX: base.redis.prefix,
      LOGFRONT_DATABASE_URL: throughProxy(base.database.url!, pg),
      LOGFRONT_REDIS_URL: throughProxy(base.redis.url!, redis),
      LOGFRONT_BATCH_EVENTS: '50',
    };
    // one process that writes, projects and invalidates; another that only reads (its own LRU)
    writer = await createLogfront(servicesConfig(env), { domain: testDomain });
    reader = await createLogfront(servicesConfig(env), { domain: testDomain });
    await writer.startRunners();
  }, 60_000);

  afterAll(async () => {
    await writer?.close();
    await reader?.close();
    for (const proxy of proxies) await proxy.remove().catch(() => {});
  });

  it('serves no superseded value, keeps every budget, and ends with the cache equal to the store', async () => {
    const orderIds: string[] = [];
    const customers = Array.from({ length: 7 }, (_, i) => `c-${i}`);
    const answers: Answer[] = [];
    let refusals = 0;
    let running = true;

    const writeLoop = async () => {
      while (running) {
        if (orderIds.length < 10 || Math.random() < 0.4) {
          const id = uniqueId();
          await writer.append.appendToStream(`order-${id}`, {
            events: [orderPlaced(id, 1 + (orderIds.length % 3))],
          });
          orderIds.push(id);
        } else {
          const id = pick(orderIds);
          await writer.append.appendToStream(`order-${id}`, { events: [orderShipped(id)] });
        }
      }
    };
    const readLoop = async (lf: Logfront) => {
      while (running) {
        const ordersRead = Math.random() < 0.5 && orderIds.length > 0;
        const projection = ordersRead ? 'orders' : 'customer_totals';
        const key = ordersRead ? pick(orderIds.slice(-30)) : pick(customers);
        const begunAt = Date.now();
        try {
          const r = await lf.facade.get(projection, key, { maxStalenessMs: BUDGET_MS });
          answers.push({
            begunAt,
            projection,
            key,
            position: r.meta.position,
            source: r.meta.source,
            data: r.data,
          });
        } catch (error) {
          if (error instanceof StalenessBudgetExceeded) refusals += 1;
          else if ((error as { code?: string }).code !== 'not_found') throw error;
        }
        await sleep(Math.random() * 3);
      }
    };

    const loops = [
      ...Array.from({ length: 4 }, writeLoop),
      ...Array.from({ length: 3 }, () => readLoop(writer)),
      ...Array.from({ length: 3 }, () => readLoop(reader)),
    ];
    // at least RUN_MS; longer on a busy machine until enough answers (and cache hits) were seen
    const started = Date.now();
    await sleep(RUN_MS);
    while (
      Date.now() - started < 4 * RUN_MS &&
      (answers.length < 300 || answers.filter((a) => a.source === 'cache').length < 30)
    ) {
      await sleep(250);
    }
    running = false;
    await Promise.all(loops);

    // settle: the projections apply the end of the log, invalidation reaches it too
    const topics = [writer.log.topicFor('order')];
    const ends = await writer.log.endOffsets(topics);
    const settled = (reached: { topic: string; partition: number; offset: bigint }[]) =>
      ends.every(
        (e) =>
          e.offset === 0n ||
          (reached.find((r) => partitionKey(r.topic, r.partition) === partitionKey(e.topic, e.partition))
            ?.offset ?? -1n) >= e.offset,
      );
    for (const name of ['orders', 'customer_totals']) {
      await waitFor(async () => {
        const status = await writer.store.status(name);
        return status !== null && settled(status.checkpoints.map((c) => ({ ...c, offset: c.nextOffset })));
      }, 60_000);
      await waitFor(async () => settled(await writer.cache!.progress(name)), 60_000);
    }
    await sleep(300); // pub/sub reaches the LRUs

    const events = await readAll(writer.log, topics);
    const servedFromCache = answers.filter((a) => a.source === 'cache').length;
    console.log(
      `cache race: ${answers.length} answers (${servedFromCache} from cache), ${refusals} refused over budget, ${events.length} events`,
    );
    expect(answers.length).toBeGreaterThan(150);
    expect(servedFromCache).toBeGreaterThan(15);

    // 1. every answer is the fold of the log at the position it claims
    // 2. no answer misses an event appended more than BUDGET_MS before the read began
    const appendedAt = (e: RecordedEvent) => Date.parse(e.recordedAt);
    let checked = 0;
    for (const a of answers) {
      const reflected = new Map(
        a.position
          ? decodePositions(a.position).map((p) => [partitionKey(p.topic, p.partition), p.offset])
          : [],
      );
      const covered = events.filter(
        (e) =>
          e.position.offset <= (reflected.get(partitionKey(e.position.topic, e.position.partition)) ?? -1n),
      );
      const missed = events.filter(
        (e) =>
          e.position.offset > (reflected.get(partitionKey(e.position.topic, e.position.partition)) ?? -1n) &&
          appendedAt(e) < a.begunAt - BUDGET_MS - TOLERANCE_MS,
      );
      expect(missed, `answer for ${a.projection}/${a.key} from ${a.source} misses old events`).toEqual([]);
      if (a.projection === 'orders') {
        const expected = foldOrders(covered).get(a.key)!;
        expect({ ...a.data, updatedAt: undefined }).toMatchObject({ ...expected, updatedAt: undefined });
      } else {
        expect(a.data).toMatchObject(foldCustomerTotals(covered).get(a.key)!);
      }
      checked += 1;
    }
    expect(checked).toBe(answers.length);

    // 3. after settling, every cached value (Redis and both LRUs) equals the store's
    const keys = new Set(answers.map((a) => `${a.projection}\u0000${a.key}`));
    for (const k of keys) {
      const [projection, key] = k.split('\u0000') as [string, string];
      const spec = testDomain.projections.find((p) => p.name === projection)!;
      const store = await writer.store.get(spec, key);
      const cached = await writer.cache!.get(projection, key, store.generation);
      if (cached) expect(cached.row).toEqual(store.row);
      for (const lf of [writer, reader]) {
        const r = await lf.facade.get(projection, key);
        expect(r.data).toEqual(store.row);
      }
    }
  }, 120_000);
});
