import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogfront, type Logfront } from '../../app/compose.ts';
import type { Config } from '../../app/config.ts';
import { customerTotals, foldCustomerTotals, testDomain } from '../support/domain.ts';
import { readAll } from '../support/log-reader.ts';
import { foldOrders, orderPlaced, orderShipped } from '../support/orders.ts';
import { kill, startRunner } from '../support/runner-child.ts';
import { services, servicesConfig, waitFor } from '../support/services.ts';

const envOf = (config: Config, prefix: string, schema: string) => ({
  ...process.env,
  ...services(),
  LOGFRONT_MODE: 'services',
  LOGFRONT_TOPIC_PREFIX: prefix,
  LOGFRONT_DATABASE_SCHEMA: schema,
  LOGFRONT_LOG_LEVEL: 'warn',
  LOGFRONT_BATCH_EVENTS: '25',
  LOGFRONT_KAFKA_SESSION_TIMEOUT_MS: '6000',
  LOGFRONT_TOPIC_PARTITIONS: String(config.kafka.partitions),
});

// 10,000 events over 2,000 streams, appended with concurrency; counters in customer_totals
const appendEvents = async (lf: Logfront, tag: string) => {
  const streams = Array.from({ length: 2000 }, (_, i) => `${tag}${i}`);
  await Promise.all(
    streams.map((id, i) =>
      lf.append.appendToStream(`order-${id}`, {
        events: [
          orderPlaced(id, (i % 5) + 1),
          orderShipped(id),
          orderPlaced(`${id}x`, 2),
          orderPlaced(`${id}y`, 1),
          orderShipped(`${id}y`),
        ],
      }),
    ),
  );
};

describe('projection runner crash', () => {
  let lf: Logfront;
  let config: Config;
  beforeAll(async () => {
    config = servicesConfig();
    lf = await createLogfront(config, { domain: testDomain });
    await lf.log.ensureTopics(['order']);
  });
  afterAll(async () => lf?.close());

  const totalOf = async (projection: string) => {
    const status = await lf.store.status(projection);
    return (status?.checkpoints ?? []).reduce((n, c) => n + Number(c.nextOffset), 0);
  };
  const logEnd = async () =>
    (await lf.log.endOffsets([lf.log.topicFor('order')])).reduce((n, e) => n + Number(e.offset), 0);

  // then both projections equal folds of the log computed here
  const expectFolds = async (count: number) => {
    const events = await readAll(lf.log, [lf.log.topicFor('order')]);
    expect(events).toHaveLength(count);
    const expectedOrders = foldOrders(events);
    const ordersRows = await lf.store.list(testDomain.projections[0]!, {
      filters: {},
      limit: 100_000,
      afterKey: null,
    });
    expect(ordersRows.rows).toHaveLength(expectedOrders.size);
    for (const row of ordersRows.rows) {
      const { updatedAt: _u, ...rest } = row;
      expect(rest).toEqual(expectedOrders.get(String(row.orderId)));
    }
    const totals = await lf.store.list(customerTotals, { filters: {}, limit: 100_000, afterKey: null });
    expect(new Map(totals.rows.map((r) => [String(r.customerId), r]))).toEqual(foldCustomerTotals(events));
  };

  it('10,000 events, the runner SIGKILLed at 5 random moments and restarted: the tables equal a fold of the log', async () => {
    await appendEvents(lf, 'k');
    // a little work per batch, so a kill lands mid-way and the last runner has work left (the runner
    // overlaps fetching with applying: unslowed it can finish the rest before the check below)
    const env = {
      ...envOf(config, config.topicPrefix, config.database.schema),
      LOGFRONT_TEST_BATCH_DELAY_MS: '10',
    };
    const total = await logEnd();
    const marks = Array.from({ length: 5 }, () => 0.1 + Math.random() * 0.6)
      .sort()
      .map((f) => Math.floor(f * total));
    for (const mark of marks) {
      const child = await startRunner(env);
      await waitFor(async () => (await totalOf('customer_totals')) >= mark, 90_000, 5);
      await kill(child);
    }
    const child = await startRunner(env);
    try {
      expect(await totalOf('customer_totals')).toBeLessThan(total); // the last runner had work left
      await waitFor(
        async () => (await totalOf('customer_totals')) >= total && (await totalOf('orders')) >= total,
        90_000,
      );
    } finally {
      child.kill('SIGTERM');
    }
    await expectFolds(10_000);
  }, 300_000);
});

describe('two runner processes and a rebalance', () => {
  let lf2: Logfront;
  let config2: Config;
  beforeAll(async () => {
    config2 = servicesConfig();
    lf2 = await createLogfront(config2, { domain: testDomain });
    await lf2.log.ensureTopics(['order']);
  });
  afterAll(async () => lf2?.close());

  it('a second runner joining and the first leaving mid-way neither skip nor repeat an event', async () => {
    await appendEvents(lf2, 'r');
    const total = (await lf2.log.endOffsets([lf2.log.topicFor('order')])).reduce(
      (n, e) => n + Number(e.offset),
      0,
    );
    const applied = async () =>
      ((await lf2.store.status('customer_totals'))?.checkpoints ?? []).reduce(
        (n, c) => n + Number(c.nextOffset),
        0,
      );
    const env = {
      ...envOf(config2, config2.topicPrefix, config2.database.schema),
      LOGFRONT_TEST_BATCH_DELAY_MS: '40',
    };
    const byFirst: string[] = [];
    const bySecond: string[] = [];
    const first = await startRunner(env, byFirst);
    await waitFor(async () => (await applied()) >= total * 0.2, 90_000, 5);
    const second = await startRunner(env, bySecond); // joins the group: partitions are shared out again
    // the group has been shared out again once the second runner applies a batch of its own
    await waitFor(async () => bySecond.length > 0, 90_000, 5);
    const secondBeforeLeave = bySecond.length;
    expect(await applied()).toBeLessThan(total); // the first leaves with work left
    await new Promise<void>((resolve) => {
      first.removeAllListeners('exit');
      first.once('exit', () => resolve());
      first.kill('SIGTERM'); // leaves the group: its partitions move to the second runner
    });
    try {
      await waitFor(async () => (await applied()) >= total, 90_000);
    } finally {
      second.kill('SIGTERM');
    }
    // both runners applied batches while both were in the group, and the second took over the rest
    expect(byFirst.length).toBeGreaterThan(0);
    expect(secondBeforeLeave).toBeGreaterThan(0);
    expect(bySecond.length).toBeGreaterThan(secondBeforeLeave);
    const events = await readAll(lf2.log, [lf2.log.topicFor('order')]);
    expect(events).toHaveLength(10_000);
    const totals = await lf2.store.list(customerTotals, { filters: {}, limit: 100_000, afterKey: null });
    expect(new Map(totals.rows.map((r) => [String(r.customerId), r]))).toEqual(foldCustomerTotals(events));
  }, 300_000);
});
