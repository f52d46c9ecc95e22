import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKafkaEventLog, partitionOf } from '../../connectors/kafka/event-log.ts';
import { createConfluentRegistry } from '../../connectors/registry/confluent.ts';
import { createCodec } from '../../core/codec.ts';
import { createCatalog } from '../../core/event-types.ts';
import { uuidv7 } from '../../core/ids.ts';
import { createLogger } from '../../core/logger.ts';
import type { EventLog, LogBatch } from '../../core/ports.ts';
import type { StreamId } from '../../core/types.ts';
import { orderEventTypes } from '../../schemas/orders.ts';
import { services, uniqueId, waitFor } from '../support/services.ts';

const shipped = (orderId: string) => ({
  id: uuidv7(),
  type: 'OrderShipped',
  data: { orderId, carrier: 'DHL' },
  metadata: {},
});

// The subscription fetches ahead of what the subscriber applies (a bounded queue per partition).
describe('Kafka subscription', () => {
  const prefix = `t${uniqueId()}`;
  let log: EventLog;
  beforeAll(async () => {
    log = createKafkaEventLog({
      brokers: [services().LOGFRONT_KAFKA_BROKERS],
      clientId: 'test',
      topicPrefix: prefix,
      partitions: 1,
      replication: 1,
      sessionTimeoutMs: 6000,
      codec: createCodec(
        createConfluentRegistry(services().LOGFRONT_SCHEMA_REGISTRY_URL),
        createCatalog(orderEventTypes, prefix),
      ),
      logger: createLogger('error'),
    });
  });
  afterAll(async () => log?.close());

  it('a slow subscriber gets every event once, in order, in batches of at most maxBatchEvents', async () => {
    const category = `sl${uniqueId()}`;
    await log.ensureTopics([category]);
    // 40 appends of 5 events: 40 transactions, each followed by its marker
    for (let i = 0; i < 40; i++) {
      await log.append(
        `${category}-s` as StreamId,
        Array.from({ length: 5 }, (_, j) => shipped(`${i}-${j}`)),
        'any',
      );
    }
    const batches: LogBatch[] = [];
    let position = 0n;
    const sub = await log.subscribe({
      groupId: `g-${uniqueId()}`,
      topics: [log.topicFor(category)],
      startAt: async () => position,
      maxBatchEvents: 7,
      onBatch: async (b) => {
        await new Promise((r) => setTimeout(r, 20)); // the next fetches wait on the queue's bound
        batches.push(b);
        position = b.nextOffset;
      },
    });
    try {
      await waitFor(async () => batches.reduce((n, b) => n + b.events.length, 0) >= 200, 30_000);
    } finally {
      await sub.stop();
    }
    const events = batches.flatMap((b) => b.events);
    expect(events.map((e) => (e.data as { orderId: string }).orderId)).toEqual(
      Array.from({ length: 200 }, (_, k) => `${Math.floor(k / 5)}-${k % 5}`),
    );
    expect(Math.max(...batches.map((b) => b.events.length))).toBeLessThanOrEqual(7);
    // fetched batches were coalesced: not one batch per transaction
    expect(batches.filter((b) => b.events.length === 7).length).toBeGreaterThan(20);
    for (const b of batches) {
      for (const e of b.events) expect(e.position.offset).toBeLessThan(b.nextOffset);
    }
  });

  it('a subscriber positioned on the transaction marker that ends the partition reaches the end', async () => {
    const category = `mk${uniqueId()}`;
    await log.ensureTopics([category]);
    const stream = `${category}-1` as StreamId;
    await log.append(stream, [shipped('1')], 'no_stream'); // the event at 0, its commit marker at 1
    const topic = log.topicFor(category);
    const [end] = await log.endOffsets([topic]);
    expect(end!.offset).toBe(2n);
    expect(partitionOf(stream, 1)).toBe(0);
    const delivered: LogBatch[] = [];
    const sub = await log.subscribe({
      groupId: `g-${uniqueId()}`,
      topics: [topic],
      startAt: async () => 1n, // a batch that ended just before the marker was applied, then a crash
      onBatch: async (b) => {
        delivered.push(b);
      },
    });
    try {
      await waitFor(async () => delivered.some((b) => b.nextOffset === 2n), 30_000);
    } finally {
      await sub.stop();
    }
    expect(delivered.flatMap((b) => b.events)).toEqual([]);
  });
});
