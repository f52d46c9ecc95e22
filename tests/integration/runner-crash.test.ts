import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogfront, type Logfront } from '../../app/compose.ts';
import type { Config } from '../../core/config.ts';
import { customerTotals, foldCustomerTotals, testDomain } from '../support/domain.ts';
import { readAll } from '../support/log-reader.ts';
import { foldOrders, orderPlaced, orderShipped } from '../support/orders.ts';
import { services, servicesConfig, waitFor } from '../support/services.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

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

const startRunner = (env: NodeJS.ProcessEnv) =>
  new Promise<ChildProcess>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'tests/support/runner-process.ts')],
      {
        env,
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('runner ready')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`runner exited early with ${code}`)));
  });

const kill = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    child.removeAllListeners('exit');
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });

describe('projection runner crash', () => {
  let lf: Logfront;
  let config: Config;
  beforeAll(async () => {
    config = servicesConfig();
    lf = await createLogfront(config, { domain: testDomain });
    await lf.log.ensureTopics(['order']);
  });
  afterAll(async () => lf?.close());

  it('a runner SIGKILLed between batches and restarted leaves rows equal to a fold of the log, nothing applied twice', async () => {
    // given 1,500 events over 300 streams
    for (let i = 0; i < 300; i++) {
      const id = `k${i}`;
      await lf.append.appendToStream(`order-${id}`, { events: [orderPlaced(id, (i % 5) + 1)] });
    }
    await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        lf.append.appendToStream(`order-k${i}`, {
          events: [
            orderPlaced(`k${i}x`, 2),
            orderShipped(`k${i}`),
            orderPlaced(`k${i}y`, 1),
            orderShipped(`k${i}y`),
          ],
        }),
      ),
    );
    const env = envOf(config, config.topicPrefix, config.database.schema);
    const topics = [lf.log.topicFor('order')];
    const applied = async () => {
      const status = await lf.store.status('customer_totals');
      return (status?.checkpoints ?? []).reduce((n, c) => n + Number(c.nextOffset), 0);
    };
    // when the runner is killed three times while it works through the log
    let kills = 0;
    for (const threshold of [200, 600, 1000]) {
      const child = await startRunner(env);
      await waitFor(async () => (await applied()) >= threshold, 60_000, 5);
      await kill(child);
      kills++;
    }
    const child = await startRunner(env);
    try {
      const ends = await lf.log.endOffsets(topics);
      const total = ends.reduce((n, e) => n + Number(e.offset), 0);
      expect(await applied()).toBeLessThan(total); // the last runner had work left
      await waitFor(async () => (await applied()) >= total, 60_000);
      await waitFor(async () => {
        const s = await lf.store.status('orders');
        return (s?.checkpoints ?? []).reduce((n, c) => n + Number(c.nextOffset), 0) >= total;
      }, 60_000);
    } finally {
      child.kill('SIGTERM');
    }
    expect(kills).toBe(3);

    // then both projections equal folds of the log computed here
    const events = await readAll(lf.log, topics);
    expect(events).toHaveLength(1500);
    const expectedOrders = foldOrders(events);
    const ordersRows = await lf.store.list(testDomain.projections[0]!, {
      filters: {},
      limit: 10_000,
      afterKey: null,
    });
    expect(ordersRows.rows).toHaveLength(expectedOrders.size);
    for (const row of ordersRows.rows) {
      const { updatedAt: _u, ...rest } = row;
      expect(rest).toEqual(expectedOrders.get(String(row.orderId)));
    }
    const totals = await lf.store.list(customerTotals, { filters: {}, limit: 10_000, afterKey: null });
    expect(new Map(totals.rows.map((r) => [String(r.customerId), r]))).toEqual(foldCustomerTotals(events));
  });
});
