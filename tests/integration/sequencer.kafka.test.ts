import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogfront, type Logfront } from '../../app/compose.ts';
import { createLogger } from '../../app/logger.ts';
import { createKafkaEventLog } from '../../connectors/kafka/event-log.ts';
import { createPartitionSequencer, type PartitionSequencer } from '../../connectors/kafka/sequencer.ts';
import { createConfluentRegistry } from '../../connectors/registry/confluent.ts';
import { AppendTimeout, Overloaded, TooLarge, Unavailable } from '../../core/errors.ts';
import { createCodec } from '../../core/log/codec.ts';
import { createCatalog } from '../../core/log/event-types.ts';
import { uuidv7 } from '../../core/log/ids.ts';
import type { ExpectedVersion, PreparedEvent, StreamId } from '../../core/types.ts';
import { orderEventTypes } from '../../sample/order-events.ts';
import { services, servicesConfig, uniqueId, waitFor } from '../support/services.ts';

const shipped = () => ({
  id: uuidv7(),
  type: 'OrderShipped',
  data: { orderId: '1', carrier: 'DHL' },
  metadata: {},
});

describe('partition sequencer (Kafka)', () => {
  let lf: Logfront;
  beforeAll(async () => {
    lf = await createLogfront(servicesConfig());
    await lf.log.ensureTopics(['order']);
  });
  afterAll(async () => lf?.close());

  it('group commit: appends queued behind a transaction are checked together; a repeat of the same ids is answered once', async () => {
    const stream = `order-${uniqueId()}` as StreamId;
    const batch = [shipped(), shipped()];
    const others = Array.from({ length: 10 }, (_, i) =>
      lf.log.append(`order-${uniqueId()}${i}` as StreamId, [shipped()], 'any'),
    );
    const [first, second] = await Promise.all([
      lf.log.append(stream, batch, 'no_stream'),
      lf.log.append(stream, batch, 'no_stream'),
    ]);
    await Promise.all(others);
    expect(second).toEqual(first);
    expect((await lf.log.readStream(stream, 1, 10)).map((e) => e.version)).toEqual([1, 2]);
  });

  it('a partition that cannot be taken fails its appends as unavailable after its attempts', async () => {
    const stream = `order-${uniqueId()}` as StreamId;
    await lf.log.append(stream, [shipped()], 'no_stream');
    const prefix = lf.config.topicPrefix;
    const slow = createKafkaEventLog({
      brokers: [services().LOGFRONT_KAFKA_BROKERS],
      clientId: 'slow',
      topicPrefix: prefix,
      partitions: 3,
      replication: 1,
      sessionTimeoutMs: 6000,
      // the stream index does not answer: the partition cannot be taken (its heads are unknown)
      index: {
        ...lf.streamIndex!.index,
        checkpoint: () => Promise.reject(new Error('the stream index is down')),
      },
      codec: createCodec(
        createConfluentRegistry(services().LOGFRONT_SCHEMA_REGISTRY_URL),
        createCatalog(orderEventTypes, prefix),
      ),
      logger: createLogger('silent'),
    });
    try {
      const error = await slow.append(stream, [shipped()], 1).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Unavailable);
      expect(String((error as Error).message)).toMatch(
        /appending to .*\/\d+ failed: the stream index is down/,
      );
    } finally {
      await slow.close();
    }
    // the healthy writer takes the partition back and goes on
    await expect(lf.log.append(stream, [shipped()], 1)).resolves.toMatchObject({ fromVersion: 2 });
  });

  it('a closed sequencer refuses appends', async () => {
    const sequencer = createPartitionSequencer({
      kafka: new Kafka({ brokers: [services().LOGFRONT_KAFKA_BROKERS], logLevel: logLevel.NOTHING }),
      topic: lf.log.topicFor('order'),
      partition: 0,
      transactionalId: `${lf.config.topicPrefix}.closed-test`,
      index: lf.streamIndex!.index,
      readTail: async () => 0n,
      logger: createLogger('silent'),
    });
    await sequencer.close();
    const error = await sequencer
      .append({
        stream: 'order-1' as StreamId,
        events: [shipped()],
        values: [Buffer.from('{}')],
        expected: 'any',
        headers: () => ({}),
        deadline: Date.now() + 10_000,
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Unavailable);
  });
});

describe('partition sequencer: deadlines, the queue bound, batches too large (Kafka, a topic of its own)', () => {
  const prefix = `t${uniqueId()}`;
  const topic = `${prefix}.sequenced`;
  const kafka = new Kafka({ brokers: [services().LOGFRONT_KAFKA_BROKERS], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  const open: PartitionSequencer[] = [];
  beforeAll(async () => {
    await admin.connect();
    // a small max.message.bytes: a few appends together are more than the topic takes
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        {
          topic,
          numPartitions: 1,
          replicationFactor: 1,
          configEntries: [{ name: 'max.message.bytes', value: '20000' }],
        },
      ],
    });
  });
  afterAll(async () => {
    await Promise.all(open.map((q) => q.close()));
    await admin.deleteTopics({ topics: [topic] }).catch(() => {});
    await admin.disconnect();
  });

  /** the stream index holds none of these streams; while `held`, a lookup waits for it */
  let held: Promise<void> | undefined;
  let lookups = 0;
  const hold = () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    held = gate;
    return () => {
      if (held === gate) held = undefined;
      release();
    };
  };
  const sequencer = (
    options: { queue?: { events?: number; bytes?: number }; maxBatchBytes?: number } = {},
  ) => {
    const q = createPartitionSequencer({
      kafka,
      topic,
      partition: 0,
      transactionalId: `${prefix}.sequencer.${uniqueId()}`,
      index: {
        checkpoint: async () => undefined,
        lookup: async () => {
          lookups++;
          await held;
          return new Map();
        },
      },
      readTail: async () => 0n,
      logger: createLogger('silent'),
      deadlineMs: 1000,
      ...options,
    });
    open.push(q);
    return q;
  };
  const request = (
    stream: string,
    o: { deadlineMs?: number; expected?: ExpectedVersion; bytes?: number; events?: PreparedEvent[] } = {},
  ) => ({
    stream: stream as StreamId,
    events: o.events ?? [shipped() as PreparedEvent],
    values: [Buffer.alloc(o.bytes ?? 10, 'x')],
    expected: o.expected ?? 'any',
    headers: () => ({}),
    deadline: Date.now() + (o.deadlineMs ?? 30_000),
  });
  /** until the sequencer asks the index for the next batch */
  const nextLookup = async () => {
    const seen = lookups;
    await waitFor(async () => lookups > seen, 20_000, 5);
  };

  it('an append whose deadline passes while it waits in the queue is dropped, never written; its retry is written once', async () => {
    const q = sequencer();
    const release = hold();
    const first = q.append(request(`order-${uniqueId()}`));
    const late = request(`order-${uniqueId()}`, { deadlineMs: 300 });
    const error = await q.append(late).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppendTimeout);
    expect(error).toMatchObject({ code: 'append_timeout', status: 503, retryAfterSeconds: 1 });
    expect((error as Error).message).toMatch(/within its deadline of 1000 ms; it is safe to retry/);
    release();
    await first;
    expect(q.lastOffsetOf(late.stream)).toBeUndefined();
    const again = await q.append({ ...late, deadline: Date.now() + 30_000 });
    expect(again).toMatchObject({ fromVersion: 1, toVersion: 1 });
  });

  it('an append out of time inside a transaction is told so, may still be written, and its retry with the same ids is answered from it', async () => {
    const q = sequencer();
    const release = hold();
    const first = q.append(request(`order-${uniqueId()}`));
    await nextLookup();
    // these wait for the next batch, which is taken once the first is written
    const inTime = request(`order-${uniqueId()}`);
    const late = request(`order-${uniqueId()}`, { deadlineMs: 1500 });
    const conflicting = request(`order-${uniqueId()}`, { deadlineMs: 1500, expected: 5 });
    const answers = [late, conflicting, inTime].map((r) => q.append(r).catch((e: unknown) => e));
    // the batch will be held while it is checked (the index's lookup) until two of its appends ran out of time
    const release2 = hold();
    const lookupOfBatch = nextLookup();
    release();
    await first;
    await lookupOfBatch;
    const [lateError, conflictError] = await Promise.all(answers.slice(0, 2));
    expect(lateError).toBeInstanceOf(AppendTimeout);
    expect(conflictError).toBeInstanceOf(AppendTimeout);
    release2();
    expect(await answers[2]).toMatchObject({ fromVersion: 1, toVersion: 1 });
    // the late one was in the transaction: written after its caller was told it was not
    expect(q.lastOffsetOf(late.stream)).toBeDefined();
    const retried = await q.append({ ...late, deadline: Date.now() + 30_000 });
    expect(retried).toMatchObject({ fromVersion: 1, toVersion: 1 });
    expect(retried.position.offset).toBe(q.lastOffsetOf(late.stream));
    expect(q.lastOffsetOf(conflicting.stream)).toBeUndefined();
  });

  it('a full queue refuses one more append at once with overloaded (429, Retry-After)', async () => {
    const q = sequencer({ queue: { events: 2 } });
    const release = hold();
    const first = q.append(request(`order-${uniqueId()}`));
    const waiting = [q.append(request(`order-${uniqueId()}`)), q.append(request(`order-${uniqueId()}`))];
    const started = Date.now();
    const error = await q.append(request(`order-${uniqueId()}`)).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(100);
    expect(error).toBeInstanceOf(Overloaded);
    expect(error).toMatchObject({ code: 'overloaded', status: 429, retryAfterSeconds: 1 });
    expect((error as Error).message).toMatch(/2 events wait and 1 more would pass the bound of 2/);
    release();
    await Promise.all([first, ...waiting]);
    // room again
    await expect(q.append(request(`order-${uniqueId()}`))).resolves.toMatchObject({ fromVersion: 1 });
  });

  it('closing answers the appends still waiting in the queue as unavailable, and the one in flight too', async () => {
    const q = sequencer();
    const release = hold();
    const first = q.append(request(`order-${uniqueId()}`)).catch((e: unknown) => e);
    await nextLookup();
    const waiting = q.append(request(`order-${uniqueId()}`)).catch((e: unknown) => e);
    await q.close();
    const error = await waiting;
    expect(error).toBeInstanceOf(Unavailable);
    expect((error as Error).message).toMatch(/the sequencer of .*\/0 is closed/);
    release();
    expect(await first).toBeInstanceOf(Unavailable);
  });

  it('a batch larger than the topic takes is written append by append; one larger alone is refused as too large', async () => {
    const q = sequencer({ maxBatchBytes: 10 * 1024 * 1024 });
    const release = hold();
    const first = q.append(request(`order-${uniqueId()}`));
    const big = [1, 2, 3].map(() => request(`order-${uniqueId()}`, { bytes: 8000 }));
    const written = big.map((r) => q.append(r));
    const tooBig = q.append(request(`order-${uniqueId()}`, { bytes: 30_000 })).catch((e: unknown) => e);
    release();
    await first;
    for (const r of await Promise.all(written)) expect(r).toMatchObject({ fromVersion: 1, toVersion: 1 });
    expect(await tooBig).toBeInstanceOf(TooLarge);
  });
});
