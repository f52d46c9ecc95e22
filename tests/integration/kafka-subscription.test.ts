import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../app/logger.ts';
import { createKafkaEventLog } from '../../connectors/kafka/event-log.ts';
import { createConfluentRegistry } from '../../connectors/registry/confluent.ts';
import { createCodec } from '../../core/log/codec.ts';
import { createCatalog } from '../../core/log/event-types.ts';
import { uuidv7 } from '../../core/log/ids.ts';
import { partitionOf } from '../../core/log/partitioning.ts';
import type { EventLog, LogBatch } from '../../core/ports.ts';
import type { StreamId } from '../../core/types.ts';
import { orderEventTypes } from '../../sample/order-events.ts';
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
    // the commit marker is written a moment after the append returns (the log counts its own append
    // before it): wait until the partition's end is past it
    await waitFor(async () => (await log.endOffsets([topic]))[0]!.offset === 2n, 10_000);
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
  it('a subscriber reading on moves past a transaction that was aborted, to the partition’s end', async () => {
    const category = `ab${uniqueId()}`;
    await log.ensureTopics([category]);
    const topic = log.topicFor(category);
    const stream = `${category}-1` as StreamId;
    expect(partitionOf(stream, 1)).toBe(0);
    await log.append(stream, [shipped('1')], 'no_stream'); // the event at 0, its commit marker at 1
    const delivered: LogBatch[] = [];
    let position = 0n;
    const sub = await log.subscribe({
      groupId: `g-${uniqueId()}`,
      topics: [topic],
      startAt: async () => position,
      onBatch: async (b) => {
        delivered.push(b);
        position = b.nextOffset;
      },
    });
    const writer = new Kafka({
      brokers: [services().LOGFRONT_KAFKA_BROKERS],
      logLevel: logLevel.NOTHING,
    }).producer({
      transactionalId: `${topic}.aborting`,
      idempotent: true,
      maxInFlightRequests: 1,
    });
    try {
      await waitFor(async () => position === 2n, 30_000);
      await writer.connect();
      const t = await writer.transaction();
      await t.send({ topic, messages: [{ key: stream, value: 'never committed', partition: 0 }] });
      await t.abort(); // the record at 2, its abort marker at 3
      await waitFor(async () => position === 4n, 30_000);
    } finally {
      await writer.disconnect();
      await sub.stop();
    }
    expect(delivered.flatMap((b) => b.events).map((e) => e.position.offset)).toEqual([0n]);
  });

  it('a slow subscriber holds fetching back at its queue bound, and still gets every event once, in order', async () => {
    const category = `bp${uniqueId()}`;
    await log.ensureTopics([category]);
    // about 1 MiB: several fetches of 256 KiB, more than the queue holds
    const carrier = 'c'.repeat(400);
    for (let i = 0; i < 20; i++) {
      await log.append(
        `${category}-s` as StreamId,
        Array.from({ length: 100 }, (_, j) => ({
          ...shipped(`${i}-${j}`),
          data: { orderId: `${i}-${j}`, carrier },
        })),
        'any',
      );
    }
    const seen: string[] = [];
    let position = 0n;
    const sub = await log.subscribe({
      groupId: `g-${uniqueId()}`,
      topics: [log.topicFor(category)],
      startAt: async () => position,
      maxBatchEvents: 50,
      onBatch: async (b) => {
        await new Promise((r) => setTimeout(r, 5));
        for (const e of b.events) seen.push((e.data as { orderId: string }).orderId);
        position = b.nextOffset;
      },
    });
    try {
      await waitFor(async () => seen.length >= 2000, 30_000);
    } finally {
      await sub.stop();
    }
    expect(seen).toEqual(Array.from({ length: 2000 }, (_, k) => `${Math.floor(k / 100)}-${k % 100}`));
  });

  it('a batch failing again with the same error is told to the subscriber once, then delivered whole', async () => {
    const category = `fa${uniqueId()}`;
    await log.ensureTopics([category]);
    for (let i = 0; i < 3; i++) await log.append(`${category}-s` as StreamId, [shipped(String(i))], 'any');
    const failure = new Error('projection store refused the batch');
    let attempts = 0;
    const errors: unknown[] = [];
    const seen: string[] = [];
    let position = 0n;
    const sub = await log.subscribe({
      groupId: `g-${uniqueId()}`,
      topics: [log.topicFor(category)],
      startAt: async () => position,
      onBatch: async (b) => {
        if (b.events.length && ++attempts <= 2) throw failure;
        for (const e of b.events) seen.push((e.data as { orderId: string }).orderId);
        position = b.nextOffset;
      },
      onError: (e) => errors.push(e),
    });
    try {
      await waitFor(async () => seen.length >= 3, 30_000);
    } finally {
      await sub.stop();
    }
    expect(attempts).toBeGreaterThanOrEqual(3);
    expect(errors).toEqual([failure]);
    expect(seen).toEqual(['0', '1', '2']);
  });

  it('a stored position below the log start (retention) reads from the log start', async () => {
    const category = `rt${uniqueId()}`;
    await log.ensureTopics([category]);
    const topic = log.topicFor(category);
    for (let i = 0; i < 4; i++) await log.append(`${category}-s` as StreamId, [shipped(String(i))], 'any');
    const admin = new Kafka({
      brokers: [services().LOGFRONT_KAFKA_BROKERS],
      logLevel: logLevel.NOTHING,
    }).admin();
    await admin.connect();
    try {
      await admin.fetchTopicMetadata({ topics: [topic] });
      await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '4' }] });
    } finally {
      await admin.disconnect();
    }
    const seen: string[] = [];
    const sub = await log.subscribe({
      groupId: `g-${uniqueId()}`,
      topics: [topic],
      startAt: async () => 0n,
      onBatch: async (b) => {
        for (const e of b.events) seen.push((e.data as { orderId: string }).orderId);
      },
    });
    try {
      await waitFor(async () => seen.length >= 2, 30_000);
    } finally {
      await sub.stop();
    }
    // offsets 0..3 are the first two events and their markers; what follows is delivered
    expect(seen).toEqual(['2', '3']);
  });

  it("the subscriber's position wins over the group's committed offsets", async () => {
    const category = `co${uniqueId()}`;
    await log.ensureTopics([category]);
    const topic = log.topicFor(category);
    const groupId = `g-${uniqueId()}`;
    for (let i = 0; i < 3; i++) await log.append(`${category}-s` as StreamId, [shipped(String(i))], 'any');
    const first: string[] = [];
    const sub = await log.subscribe({
      groupId,
      topics: [topic],
      startAt: async () => 0n,
      onBatch: async (b) => {
        for (const e of b.events) first.push((e.data as { orderId: string }).orderId);
      },
    });
    try {
      await waitFor(async () => first.length >= 3, 30_000);
      // applied offsets are committed to the group at most once a second, after a batch
      await new Promise((r) => setTimeout(r, 1100));
      await log.append(`${category}-s` as StreamId, [shipped('3')], 'any');
      await waitFor(async () => first.length >= 4, 30_000);
    } finally {
      await sub.stop();
    }
    // the same group again, from the start: the committed offsets are only a hint
    const again: string[] = [];
    const sub2 = await log.subscribe({
      groupId,
      topics: [topic],
      startAt: async () => 0n,
      onBatch: async (b) => {
        for (const e of b.events) again.push((e.data as { orderId: string }).orderId);
      },
    });
    try {
      await waitFor(async () => again.length >= 4, 30_000);
    } finally {
      await sub2.stop();
    }
    expect(again).toEqual(['0', '1', '2', '3']);
  });

  it('a join whose position came late does not take a partition back once it was read from there', async () => {
    const category = `sw${uniqueId()}`;
    await log.ensureTopics([category]);
    const topic = log.topicFor(category);
    const groupId = `g-${uniqueId()}`;
    const append = (i: number) => log.append(`${category}-s` as StreamId, [shipped(String(i))], 'any');
    for (let i = 0; i < 2; i++) await append(i);
    const first: string[] = [];
    const sub = await log.subscribe({
      groupId,
      topics: [topic],
      startAt: async () => 0n,
      onBatch: async (b) => {
        for (const e of b.events) first.push((e.data as { orderId: string }).orderId);
      },
    });
    try {
      await waitFor(async () => first.length >= 2, 30_000);
      // applied offsets are committed to the group at most once a second, after a batch
      await new Promise((r) => setTimeout(r, 1100));
      await append(2);
      await waitFor(async () => first.length >= 3, 30_000);
    } finally {
      await sub.stop();
    }
    await append(3); // past the group's committed offset: the first fetch of the next join finds it
    const again: string[] = [];
    let position = 0n;
    let asked = 0;
    const sub2 = await log.subscribe({
      groupId,
      topics: [topic],
      // the join asks first and is answered last: its answer comes after the partition was read on
      startAt: async () => {
        const answer = position;
        if (++asked === 1) await new Promise((r) => setTimeout(r, 3000));
        return answer;
      },
      onBatch: async (b) => {
        for (const e of b.events) again.push((e.data as { orderId: string }).orderId);
        position = b.nextOffset;
      },
    });
    try {
      await waitFor(async () => again.length >= 4, 30_000);
      await new Promise((r) => setTimeout(r, 4000)); // the join's answer has come and gone
      await append(4);
      await waitFor(async () => again.length >= 5, 30_000);
    } finally {
      await sub2.stop();
    }
    expect(again).toEqual(['0', '1', '2', '3', '4']);
  });
});
