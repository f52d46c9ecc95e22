import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../app/logger.ts';
import { createKafkaEventLog } from '../../connectors/kafka/event-log.ts';
import { createConfluentRegistry } from '../../connectors/registry/confluent.ts';
import { ArchiveGap } from '../../core/blobs/archive.ts';
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

  /** Kafka's retention, by hand: records below `offset` are gone */
  const dropBelow = async (topic: string, offset: bigint) => {
    const admin = new Kafka({
      brokers: [services().LOGFRONT_KAFKA_BROKERS],
      logLevel: logLevel.NOTHING,
    }).admin();
    await admin.connect();
    try {
      await admin.fetchTopicMetadata({ topics: [topic] });
      await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: String(offset) }] });
    } finally {
      await admin.disconnect();
    }
  };

  it('a stored position below the log start stops the partition and names the range; it reads on once the position is past it', async () => {
    const category = `rt${uniqueId()}`;
    await log.ensureTopics([category]);
    const topic = log.topicFor(category);
    for (let i = 0; i < 4; i++) await log.append(`${category}-s` as StreamId, [shipped(String(i))], 'any');
    await dropBelow(topic, 4n);
    const seen: string[] = [];
    const errors: unknown[] = [];
    let position = 0n;
    let failing = false;
    const sub = await log.subscribe({
      groupId: `g-${uniqueId()}`,
      topics: [topic],
      startAt: async () => {
        if (failing) {
          failing = false;
          throw new Error('the checkpoint store does not answer');
        }
        return position;
      },
      onBatch: async (b) => {
        for (const e of b.events) seen.push((e.data as { orderId: string }).orderId);
        position = b.nextOffset;
      },
      onError: (e) => errors.push(e),
    });
    try {
      await waitFor(async () => errors.length > 0, 30_000);
      const [gap] = errors;
      expect(gap).toBeInstanceOf(ArchiveGap);
      expect(gap).toMatchObject({ topic, partition: 0, from: 0n, to: 4n });
      failing = true; // the next look fails: it looks again later
      await new Promise((r) => setTimeout(r, 1500));
      expect(seen).toEqual([]); // stopped: not moved to the log start
      expect(errors).toHaveLength(1); // said once
      position = 4n; // an operator moved the position on (accepting the loss)
      await waitFor(async () => seen.length >= 2, 30_000);
    } finally {
      await sub.stop();
    }
    // offsets 0..3 are the first two events and their markers; what follows is delivered
    expect(seen).toEqual(['2', '3']);

    // a subscriber with no position (and nothing to read below the log start) starts at the log start
    const fresh: string[] = [];
    const sub2 = await log.subscribe({
      groupId: `g-${uniqueId()}`,
      topics: [topic],
      startAt: async () => undefined,
      onBatch: async (b) => {
        for (const e of b.events) fresh.push((e.data as { orderId: string }).orderId);
      },
    });
    try {
      await waitFor(async () => fresh.length >= 2, 30_000);
    } finally {
      await sub2.stop();
    }
    expect(fresh).toEqual(['2', '3']);
  });

  it('below the log start, the records before it come from belowLogStart (the archive), then the log goes on', async () => {
    const category = `rb${uniqueId()}`;
    await log.ensureTopics([category]);
    const topic = log.topicFor(category);
    for (let i = 0; i < 4; i++) await log.append(`${category}-s` as StreamId, [shipped(String(i))], 'any');
    await dropBelow(topic, 4n);
    const seen: string[] = [];
    const asked: [string, number, bigint, bigint][] = [];
    let position: bigint | undefined; // no position: everything, since records below the log start can be had
    const sub = await log.subscribe({
      groupId: `g-${uniqueId()}`,
      topics: [topic],
      startAt: async () => position,
      onBatch: async (b) => {
        for (const e of b.events) seen.push((e.data as { orderId: string }).orderId);
        position = b.nextOffset;
      },
      belowLogStart: async (t, partition, from, to) => {
        asked.push([t, partition, from, to]);
        await new Promise((r) => setTimeout(r, 200));
        seen.push('0 (archived)', '1 (archived)');
        position = to;
      },
    });
    try {
      await waitFor(async () => seen.length >= 4, 30_000);
    } finally {
      await sub.stop();
    }
    expect(asked).toEqual([[topic, 0, 0n, 4n]]);
    expect(seen).toEqual(['0 (archived)', '1 (archived)', '2', '3']);
  });

  // the log start after the retention: a record (found by the next fetch) or a transaction marker
  // (kafkajs resolves a batch of markers alone, and never hands it to eachBatch)
  it.each([
    ['a record', 0n],
    ['a transaction marker', 1n],
  ])(
    'a subscriber the retention overtakes while it reads stops there and names the range, never skipping to the log start (%s)',
    async (_, beforeEnd) => {
      const category = `ro${uniqueId()}`;
      await log.ensureTopics([category]);
      const topic = log.topicFor(category);
      const append = (i: number) => log.append(`${category}-s` as StreamId, [shipped(String(i))], 'any');
      await append(0);
      let release: () => void = () => {};
      const gate = new Promise<void>((r) => {
        release = r;
      });
      const seen: string[] = [];
      const errors: unknown[] = [];
      let position = 0n;
      const sub = await log.subscribe({
        groupId: `g-${uniqueId()}`,
        topics: [topic],
        startAt: async () => position,
        maxBatchEvents: 1,
        onBatch: async (b) => {
          await gate; // a slow subscriber: its queue fills, and fetching waits
          for (const e of b.events) seen.push((e.data as { orderId: string }).orderId);
          position = b.nextOffset;
        },
        onError: (e) => errors.push(e),
      });
      try {
        for (let i = 1; i <= 8; i++) {
          await append(i);
          await new Promise((r) => setTimeout(r, 100));
        }
        await new Promise((r) => setTimeout(r, 1000)); // fetching is held back at the queue's bound
        for (let i = 9; i <= 12; i++) await append(i);
        const [end] = await log.endOffsets([topic]);
        const low = end!.offset - beforeEnd;
        await dropBelow(topic, low); // the retention passes what was not fetched
        release();
        await new Promise((r) => setTimeout(r, 1500)); // the queue drains; the next fetch finds the log start
        await append(13);
        await waitFor(async () => errors.some((e) => e instanceof ArchiveGap), 30_000);
        const gap = errors.find((e) => e instanceof ArchiveGap) as ArchiveGap;
        expect(gap.to).toBe(low);
        await new Promise((r) => setTimeout(r, 1000));
        // everything before the gap, in order, and nothing after it
        expect(seen).toEqual(Array.from({ length: seen.length }, (_, i) => String(i)));
        expect(gap.from).toBe(position);
        expect(seen).not.toContain('13');
        expect(seen.length).toBeLessThan(12);
      } finally {
        release();
        await sub.stop();
      }
    },
  );

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
