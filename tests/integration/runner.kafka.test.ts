import { Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogfront, type Logfront } from '../../app/compose.ts';
import { partitionOf } from '../../core/log/partitioning.ts';
import { projectionSummaries } from '../../core/read/status.ts';
import { orderPlaced } from '../support/orders.ts';
import { servicesConfig, uniqueId, waitFor } from '../support/services.ts';

describe('projection runner on Kafka', () => {
  const opened: Logfront[] = [];
  afterAll(async () => {
    for (const lf of opened) await lf.close();
  });

  it('a new checkpoint store reads the log from its start, whatever offsets the group committed before', async () => {
    const first = servicesConfig();
    const a = await createLogfront(first);
    opened.push(a);
    await a.startRunners();
    const ids = Array.from({ length: 50 }, () => uniqueId());
    let last = '';
    for (const id of ids)
      last = (await a.append.appendToStream(`order-${id}`, { events: [orderPlaced(id)] })).position;
    await a.facade.get('orders', ids.at(-1)!, { after: last, maxStalenessMs: 20_000 });
    await a.stopRunners(); // its group has committed offsets at the end of the log

    // same topics and consumer group, an empty Postgres schema: the committed offsets must not be trusted
    const b = await createLogfront({ ...first, database: { ...first.database, schema: `t_${uniqueId()}` } });
    opened.push(b);
    await b.startRunners();
    const row = await b.facade.get('orders', ids[0]!, { after: last, maxStalenessMs: 20_000 });
    expect(row.data.orderId).toBe(ids[0]);
    const all = await b.facade.list('orders', { limit: 500 });
    expect(all.items).toHaveLength(50);
  });

  it('an aborted transaction at the end of a partition does not leave the projection behind', async () => {
    const lf = await createLogfront(servicesConfig());
    opened.push(lf);
    await lf.startRunners();
    const id = uniqueId();
    const stream = `order-${id}`;
    const r = await lf.append.appendToStream(stream, { events: [orderPlaced(id)] });
    await lf.facade.get('orders', id, { after: r.position, maxStalenessMs: 20_000 });
    const topic = lf.log.topicFor('order');
    const partition = partitionOf(stream, lf.config.kafka.partitions);
    const kafka = new Kafka({
      brokers: lf.config.kafka.brokers,
      clientId: 'aborter',
      logLevel: logLevel.NOTHING,
    });
    const producer = kafka.producer({
      transactionalId: `aborter-${uniqueId()}`,
      idempotent: true,
      maxInFlightRequests: 1,
    });
    await producer.connect();
    const txn = await producer.transaction();
    await txn.send({ topic, messages: [{ key: stream, value: 'never committed', partition }] });
    await txn.abort();
    await producer.disconnect();
    // the partition now ends with an aborted record and its marker: nothing a runner is handed
    await waitFor(async () => {
      const [summary] = await projectionSummaries(lf.store, lf.log, lf.domain.projections);
      return summary!.lagEvents === 0;
    }, 20_000);
    const row = await lf.facade.get('orders', id, { consistency: 'strong', maxStalenessMs: 5000 });
    expect(row.meta.lagEvents).toBe(0);
  });
});
