// before kafkajs: its produce request encoder and record decoder are replaced before kafkajs loads them
import './produce-encoder.ts';
import './record-decoder.ts';
import { randomUUID } from 'node:crypto';
import { type Admin, type IHeaders, Kafka, type KafkaMessage, logLevel, Partitioners } from 'kafkajs';
import { BLOB_CATEGORY, BLOB_TOPIC_MAX_MESSAGE_BYTES } from '../../core/blobs.ts';
import { toJsonData } from '../../core/bytes-json.ts';
import type { EventCodec } from '../../core/codec.ts';
import { Unavailable } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import type { DeadLetter, EventLog, SubscribeOptions, Subscription } from '../../core/ports.ts';
import { categoriesOf, categoryOf, topicFor } from '../../core/streams.ts';
import type {
  AppendResult,
  EventId,
  EventMetadata,
  ExpectedVersion,
  Position,
  RecordedEvent,
  StreamId,
} from '../../core/types.ts';
import { type ApplyQueue, createApplyQueue } from './apply-queue.ts';
import { createPartitionSequencer, type PartitionSequencer } from './sequencer.ts';

export interface KafkaLogOptions {
  brokers: string[];
  clientId: string;
  topicPrefix: string;
  partitions: number;
  replication: number;
  /** consumer group session timeout: how soon a dead consumer's partitions move on */
  sessionTimeoutMs: number;
  /** bound on reading a partition from its start (stream heads, stream reads); default 60 s */
  readTimeoutMs?: number;
  codec: EventCodec;
  logger: Logger;
}

const header = (headers: IHeaders | undefined, name: string) => {
  const v = headers?.[name];
  if (v === undefined) return undefined;
  return (Array.isArray(v) ? v[0] : v)?.toString('utf8');
};

/** a header's first value, raw */
const rawHeader = (headers: IHeaders | undefined, name: string) => {
  const v = headers?.[name];
  return Array.isArray(v) ? v[0] : v;
};

/**
 * A header's text, for headers with few distinct values (event types): the last texts seen are
 * reused when the bytes match instead of decoding a new string per record.
 */
const internedHeader = (() => {
  const recent: { bytes: Buffer; text: string }[] = [];
  return (headers: IHeaders | undefined, name: string) => {
    const v = rawHeader(headers, name);
    if (v === undefined || typeof v === 'string') return v;
    for (const r of recent) if (r.bytes.length === v.length && r.bytes.equals(v)) return r.text;
    const text = v.toString('utf8');
    recent.unshift({ bytes: Buffer.from(v), text });
    if (recent.length > 16) recent.pop();
    return text;
  };
})();

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

const partitioner = Partitioners.DefaultPartitioner();

/** batches of `maxBatchEvents` a partition may have fetched ahead of the one being applied */
const QUEUED_BATCHES = 4;
/** payload bytes a partition may have fetched ahead (blob chunks are large; most events are not) */
const QUEUED_BYTES = 8 * 1024 * 1024;
/** a fetch's bytes at most, over all partitions (Kafka still returns a larger first record batch whole) */
const FETCH_MAX_BYTES = 4 * 1024 * 1024;
const LARGE_PAYLOAD = 16 * 1024;

/** a pause that does not keep the process alive on its own */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());

/** waits `ms` (if positive), heartbeating the group so a long wait does not cost the assignment */
const idle = async (ms: number, heartbeat: () => Promise<void>) => {
  for (let left = ms; left > 0; left -= 1000) {
    await sleep(Math.min(left, 1000));
    await heartbeat();
  }
};

/** a value made once on first use; a failed attempt is forgotten so the next call tries again */
const lazily = <T>(make: () => Promise<T>) => {
  let value: Promise<T> | undefined;
  const get = () => {
    if (!value) {
      value = make();
      value.catch(() => {
        value = undefined;
      });
    }
    return value;
  };
  return Object.assign(get, { peek: () => value });
};

/** per-key memo of a promise; a rejected one is dropped so the key is tried again */
const memo = <T>(cache: Map<string, Promise<T>>, key: string, make: () => Promise<T>) => {
  let p = cache.get(key);
  if (!p) {
    p = make();
    cache.set(key, p);
    p.catch(() => cache.delete(key));
  }
  return p;
};

/** a record logfront wrote: it has a key, a type and a stream version */
const isLogfrontRecord = (m: KafkaMessage) =>
  m.key !== null &&
  header(m.headers, 'ce_type') !== undefined &&
  header(m.headers, 'lf_stream_version') !== undefined;

/** the partition Kafka's default (murmur2) partitioner gives a stream id */
export const partitionOf = (stream: string, partitions: number) =>
  partitioner({
    topic: '',
    partitionMetadata: Array.from({ length: partitions }, (_, partitionId) => ({
      partitionId,
      leader: 0,
      replicas: [0],
      isr: [0],
      offlineReplicas: [],
      partitionErrorCode: 0,
    })),
    message: { key: stream, value: null },
  });

/** CONCURRENT_TRANSACTIONS: the next transaction began while the last one's markers were written */
const CONCURRENT_TRANSACTIONS = /another concurrent operation on the same transaction/;

const kafkaLogLevel =
  (logger: Logger) => () => (entry: { level: number; log: { message: string; error?: string } }) => {
    // kafkajs logs at ERROR what it retries (a coordinator not ready yet); failures that matter are
    // thrown. A sequencer's next transaction meets CONCURRENT_TRANSACTIONS routinely and is retried
    // within milliseconds: not worth a warning.
    if (entry.level > logLevel.WARN) return;
    if (CONCURRENT_TRANSACTIONS.test(entry.log.error ?? entry.log.message)) {
      logger.debug({ kafka: entry.log }, entry.log.message);
    } else logger.warn({ kafka: entry.log }, entry.log.message);
  };

/**
 * admin.fetchTopicOffsets, retried: kafkajs 2.2.4 fails now and then with a TypeError ("low.pop()")
 * when offsets of a topic are asked for concurrently while its metadata is refreshed.
 */
const topicOffsets = async (admin: Admin, topic: string) => {
  for (let attempt = 1; ; attempt++) {
    try {
      return await admin.fetchTopicOffsets(topic);
    } catch (error) {
      if (!(error instanceof TypeError) || attempt >= 5) throw error;
      await new Promise((r) => setTimeout(r, 20 * attempt));
    }
  }
};

/**
 * The log on Kafka: a topic per category, key = stream id, value in the registry's wire format,
 * CloudEvents binary-binding headers. Stream versions come from a per-partition sequencer that
 * learns the head of every stream by reading its partition once.
 */
export const createKafkaEventLog = (options: KafkaLogOptions): EventLog => {
  const { codec, logger } = options;
  const kafka = new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    logLevel: logLevel.WARN,
    logCreator: kafkaLogLevel(logger),
    retry: { retries: 5, initialRetryTime: 100 },
  });
  const connectAdmin = lazily(async (): Promise<Admin> => {
    const a = kafka.admin();
    await a.connect();
    return a;
  });
  const readTimeoutMs = options.readTimeoutMs ?? 60_000;
  const connectProducer = lazily(async () => {
    const p = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
      retry: { retries: Number.MAX_SAFE_INTEGER, maxRetryTime: 30_000 },
    });
    await p.connect();
    return p;
  });

  const topicOf = (category: string) => topicFor(options.topicPrefix, category);
  const deadLetterTopic = (projection: string) => `${options.topicPrefix}.deadletters.${projection}`;
  const positionJson = (e: RecordedEvent) => ({ ...e.position, offset: e.position.offset.toString() });
  const known = new Map<string, Promise<number>>(); // topic → partition count
  const sequencers = new Map<string, PartitionSequencer>(); // topic/partition → its writer here
  let closed = false;

  const partitionsOf = (topic: string, partitions = options.partitions) =>
    memo(known, topic, async () => {
      const a = await connectAdmin();
      const existing = await a.listTopics();
      if (!existing.includes(topic)) {
        await a.createTopics({
          waitForLeaders: true,
          topics: [
            {
              topic,
              numPartitions: partitions,
              replicationFactor: options.replication,
              configEntries: [
                { name: 'message.timestamp.type', value: 'LogAppendTime' },
                // blob chunks travel several to a transaction (core/blob-service.ts)
                ...(topic === `${options.topicPrefix}.events.${BLOB_CATEGORY}`
                  ? [{ name: 'max.message.bytes', value: String(BLOB_TOPIC_MAX_MESSAGE_BYTES) }]
                  : []),
              ],
            },
          ],
        });
      }
      const meta = await a.fetchTopicMetadata({ topics: [topic] });
      return meta.topics[0]!.partitions.length;
    });

  // the event of a record whose type and version headers are read; records of one record batch share
  // a (LogAppendTime) timestamp, so its ISO form is made once per run of equal timestamps
  let lastTimestamp = '';
  let lastIso = '';
  const payloadBytes = new WeakMap<RecordedEvent, number>();
  const eventOf = (
    topic: string,
    partition: number,
    m: KafkaMessage,
    type: string,
    version: string,
    data: unknown,
  ): RecordedEvent => {
    if (m.timestamp !== lastTimestamp) {
      lastTimestamp = m.timestamp;
      lastIso = new Date(Number(m.timestamp)).toISOString();
    }
    const meta = rawHeader(m.headers, 'lf_metadata');
    // most events carry no metadata: `{}` needs no parse
    const empty =
      meta === undefined ||
      (typeof meta !== 'string' && meta.length === 2 && meta[0] === OPEN_BRACE && meta[1] === CLOSE_BRACE);
    return {
      id: header(m.headers, 'ce_id') as EventId,
      stream: m.key!.toString('utf8') as StreamId,
      type,
      version: Number(version),
      data,
      metadata: (empty ? {} : JSON.parse(meta.toString('utf8'))) as EventMetadata,
      position: { topic, partition, offset: BigInt(m.offset) },
      recordedAt: lastIso,
    };
  };
  /** the events of logfront's records among `messages` (payloads decoded together), and the others */
  const toEvents = async (topic: string, partition: number, messages: readonly KafkaMessage[]) => {
    const ours: { m: KafkaMessage; type: string; version: string }[] = [];
    const foreign: KafkaMessage[] = [];
    for (const m of messages) {
      // isLogfrontRecord, reading each header once
      const type = m.key === null ? undefined : internedHeader(m.headers, 'ce_type');
      const version = type === undefined ? undefined : header(m.headers, 'lf_stream_version');
      if (type === undefined || version === undefined) foreign.push(m);
      else ours.push({ m, type, version });
    }
    const data = await Promise.all(ours.map(({ m, type }) => (m.value ? codec.decode(type, m.value) : null)));
    const events = ours.map(({ m, type, version }, i) => {
      const e = eventOf(topic, partition, m, type, version, data[i]);
      // large payloads (blob chunks) count against a queue's bytes; small ones only as events
      if (m.value && m.value.length >= LARGE_PAYLOAD) payloadBytes.set(e, m.value.length);
      return e;
    });
    return { events, foreign };
  };

  // The committed end of a partition (its last stable offset), once it is at least `atLeast`: a
  // transaction's markers are written just after its commit returns.
  const committedEnd = async (topic: string, partition: number, atLeast: bigint) => {
    const a = await connectAdmin();
    const deadline = Date.now() + readTimeoutMs;
    for (;;) {
      const o = (await topicOffsets(a, topic)).find((x) => x.partition === partition)!;
      if (BigInt(o.high) >= atLeast) return { end: BigInt(o.high), start: BigInt(o.low) };
      if (Date.now() > deadline)
        throw new Unavailable(`${topic}/${partition} did not reach offset ${atLeast}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };

  // Reads a partition (read_committed) from the start to its committed end; returns that end.
  const readPartition = async (
    topic: string,
    partition: number,
    onMessage: (m: KafkaMessage) => void,
    atLeast = 0n,
    accept: (m: KafkaMessage) => boolean = isLogfrontRecord,
  ): Promise<bigint> => {
    const a = await connectAdmin();
    const { end, start } = await committedEnd(topic, partition, atLeast);
    if (end <= start) return end;
    const groupId = `${options.topicPrefix}.reader.${randomUUID()}`;
    const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 50, allowAutoTopicCreation: false });
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Unavailable(`reading ${topic}/${partition} took over ${readTimeoutMs} ms`)),
          readTimeoutMs,
        );
        // batches of only transaction markers never reach eachBatch; their end shows here
        consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
          if (payload.partition === partition && BigInt(payload.lastOffset) + 1n >= end) {
            clearTimeout(timer);
            resolve();
          }
        });
        consumer
          .run({
            autoCommit: false,
            eachBatch: async ({ batch }) => {
              if (batch.partition !== partition) return;
              for (const m of batch.messages) {
                if (BigInt(m.offset) < end && accept(m)) onMessage(m);
              }
            },
          })
          .catch(reject);
      });
    } finally {
      await consumer.disconnect();
      await a.deleteGroups([groupId]).catch(() => {});
    }
    return end;
  };

  const sequencerOf = (topic: string, partition: number) => {
    const key = `${topic}/${partition}`;
    let sequencer = sequencers.get(key);
    if (!sequencer) {
      sequencer = createPartitionSequencer({
        kafka,
        topic,
        partition,
        transactionalId: `${options.topicPrefix}.sequencer.${topic}.${partition}`,
        logger,
        catchUp: (from, into) =>
          readPartition(topic, partition, (m) => {
            if (BigInt(m.offset) < from) return;
            const stream = m.key!.toString('utf8');
            const version = Number(header(m.headers, 'lf_stream_version'));
            const head = into.get(stream) ?? { version: 0, ids: new Map() };
            head.version = Math.max(head.version, version);
            head.ids.set(header(m.headers, 'ce_id')!, [version, BigInt(m.offset)]);
            into.set(stream, head);
          }),
      });
      sequencers.set(key, sequencer);
    }
    return sequencer;
  };

  // per partition of each topic, the log's start (`low`) or its end, the last stable offset (`high`)
  const offsetsAt = async (topics: readonly string[], edge: 'low' | 'high'): Promise<Position[]> => {
    const a = await connectAdmin();
    const all = await Promise.all(
      topics.map(async (topic) => {
        await partitionsOf(topic);
        return (await topicOffsets(a, topic)).map((o) => ({
          topic,
          partition: o.partition,
          offset: BigInt(o[edge]),
        }));
      }),
    );
    return all.flat();
  };

  return {
    kind: 'kafka',
    topicFor: topicOf,
    ensureTopics: async (categories) => {
      await Promise.all(categories.map((c) => partitionsOf(topicOf(c))));
    },
    categories: async () => categoriesOf(options.topicPrefix, await (await connectAdmin()).listTopics()),
    append: async (stream, events, expected: ExpectedVersion): Promise<AppendResult> => {
      if (closed) throw new Unavailable('the event log is closed');
      const category = categoryOf(stream);
      const topic = topicOf(category);
      const partition = partitionOf(stream, await partitionsOf(topic));
      const values = await Promise.all(events.map((e) => codec.encode(e.type, e.data)));
      const now = new Date().toISOString();
      return sequencerOf(topic, partition).append({
        stream,
        events,
        values,
        expected,
        headers: (e, version) => {
          const headers: IHeaders = {
            ce_specversion: '1.0',
            ce_id: e.id,
            ce_type: e.type,
            ce_source: `/logfront/${category}`,
            ce_subject: stream,
            ce_time: e.metadata.occurredAt ?? now,
            'content-type': 'application/json',
            lf_stream_version: String(version),
            lf_metadata: JSON.stringify(e.metadata),
          };
          if (e.metadata.tenant) headers.lf_tenant = e.metadata.tenant;
          if (e.metadata.traceparent) headers.traceparent = e.metadata.traceparent;
          return headers;
        },
      });
    },
    readStream: async (stream, fromVersion, limit) => {
      const topic = topicOf(categoryOf(stream));
      const partition = partitionOf(stream, await partitionsOf(topic));
      const found: KafkaMessage[] = [];
      // read-your-writes: what this process appended to the stream is included
      const known = sequencers.get(`${topic}/${partition}`)?.lastOffsetOf(stream);
      await readPartition(
        topic,
        partition,
        (m) => {
          if (
            m.key!.toString('utf8') === stream &&
            Number(header(m.headers, 'lf_stream_version')) >= fromVersion
          ) {
            found.push(m);
          }
        },
        known === undefined ? 0n : known + 1n,
      );
      const { events } = await toEvents(topic, partition, found.slice(0, limit));
      return events.sort((a, b) => a.version - b.version);
    },
    subscribe: async (sub: SubscribeOptions): Promise<Subscription> => {
      await Promise.all(sub.topics.map((t) => partitionsOf(t)));
      const heartbeatInterval = Math.max(500, Math.floor(options.sessionTimeoutMs / 10));
      const consumer = kafka.consumer({
        groupId: sub.groupId,
        maxWaitTimeInMs: 100,
        maxBytesPerPartition: 256 * 1024,
        maxBytes: FETCH_MAX_BYTES,
        sessionTimeout: options.sessionTimeoutMs,
        heartbeatInterval,
        allowAutoTopicCreation: false,
        readUncommitted: false,
      });
      let fetchStartedAt = Date.now();
      consumer.on(consumer.events.FETCH_START, () => {
        fetchStartedAt = Date.now();
      });
      let stopped = false;
      // The stored checkpoints are the truth; Kafka's committed offsets are only a hint.
      // where a partition must be read from: the subscriber's position, or the start of the log
      const startOf = async (topic: string, partition: number) => {
        const stored = await sub.startAt(topic, partition);
        const a = await connectAdmin();
        const low = BigInt((await topicOffsets(a, topic)).find((o) => o.partition === partition)!.low);
        if (stored !== undefined && stored < low) {
          logger.warn(
            { topic, partition, stored: stored.toString(), low: low.toString() },
            'records below the stored position are gone from Kafka (retention): reading from the log start',
          );
        }
        return stored === undefined || stored < low ? low : stored;
      };
      // kafkajs retries a failed fetch, and restarts the consumer when retries run out: it rejoins and
      // seeks to the checkpoints again. Either way the subscriber hears of the failure once.
      let lastReported: unknown;
      const report = (error: unknown) => {
        if (error !== lastReported) sub.onError?.(error);
        lastReported = error;
      };
      consumer.on(consumer.events.CRASH, ({ payload }) => report(payload.error));

      // Fetching and applying overlap: a partition's fetched batches wait in its queue (bounded) while the
      // one before them is applied, in order. Partitions whose batches continue where the subscriber
      // stands are `verified`: the first batch after a join, a seek or a failed batch must start at
      // the subscriber's position, and only then are its batches queued again.
      const verified = new Set<string>();
      let joins = 0;
      const failures = new Map<string, number>(); // partition → failed batches in a row (backoff)
      const retryAt = new Map<string, number>();
      const applied = new Map<string, { topic: string; partition: number; offset: string }>();
      const max = sub.maxBatchEvents ?? 500;
      const queues = new Map<string, ApplyQueue>();
      const queueOf = (topic: string, partition: number) => {
        const key = `${topic}/${partition}`;
        let queue = queues.get(key);
        if (!queue) {
          queue = createApplyQueue({
            maxEvents: max,
            limitEvents: QUEUED_BATCHES * max,
            limitBytes: QUEUED_BYTES,
            bytesOf: (e) => payloadBytes.get(e) ?? 0,
            apply: (batch) => sub.onBatch(batch),
            onApplied: (batch) => {
              failures.delete(key);
              applied.set(key, { topic, partition, offset: batch.nextOffset.toString() });
            },
            onError: (error) => {
              // what was queued behind the failed batch is dropped; it is read again from the position
              verified.delete(key);
              report(error);
              void recover(topic, partition, key);
            },
          });
          queues.set(key, queue);
        }
        return queue;
      };
      // after a failed batch, waits (backing off) and seeks the partition back to the subscriber's
      // position, unless a batch or a join set it right meanwhile
      const recover = async (topic: string, partition: number, key: string) => {
        const join = joins;
        for (;;) {
          const n = (failures.get(key) ?? 0) + 1;
          failures.set(key, n);
          const wait = Math.min(100 * 2 ** (n - 1), 5000);
          retryAt.set(key, Date.now() + wait);
          await sleep(wait);
          if (stopped || joins !== join || verified.has(key)) return;
          try {
            const offset = await startOf(topic, partition);
            if (!stopped && joins === join && !verified.has(key)) {
              consumer.seek({ topic, partition, offset: offset.toString() });
            }
            return;
          } catch (err) {
            logger.warn({ err, topic, partition }, 'could not read the stored checkpoint');
          }
        }
      };
      // a rebalance may take partitions away: what they have queued is not applied (the batch being
      // applied finishes; its conditional checkpoint fences it if the partition moved on elsewhere)
      const forget = () => {
        joins++;
        verified.clear();
        for (const queue of queues.values()) queue.clear();
      };
      consumer.on(consumer.events.REBALANCING, forget);
      consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
        forget();
        for (const [topic, partitions] of Object.entries(payload.memberAssignment)) {
          for (const partition of partitions) {
            startOf(topic, partition)
              .then((offset) => consumer.seek({ topic, partition, offset: offset.toString() }))
              .catch((err) => logger.warn({ err, topic, partition }, 'could not read the stored checkpoint'));
          }
        }
      });
      // Kafka's committed offsets (a hint for the first fetch after a join): what was applied, once a second
      let lastCommit = Date.now();
      const commitApplied = () => {
        if (Date.now() - lastCommit < 1000 || applied.size === 0) return;
        lastCommit = Date.now();
        const offsets = [...applied.values()];
        applied.clear();
        consumer.commitOffsets(offsets).catch(() => {}); // a rebalance refuses it; the next one tries again
      };
      // kafkajs resolves a batch of only transaction markers (or aborted records) itself and never hands
      // it to eachBatch; without this the subscriber's position would stay below the partition's end
      consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
        const { topic, partition } = payload;
        const key = `${topic}/${partition}`;
        if (payload.batchSize !== 0 || stopped) return;
        const markers = {
          topic,
          partition,
          events: [],
          nextOffset: BigInt(payload.lastOffset) + 1n,
          highWatermark: BigInt(payload.highWatermark),
          fetchedAt: fetchStartedAt,
        };
        if (verified.has(key)) {
          queueOf(topic, partition).push(markers);
          return;
        }
        // A position on a transaction marker (a batch that ended just before it) with nothing after it:
        // no batch ever reaches eachBatch to verify the partition, so markers that start at the
        // subscriber's position verify it here.
        const join = joins;
        startOf(topic, partition)
          .then((want) => {
            if (stopped || joins !== join || verified.has(key) || payload.firstOffset === null) return;
            if (BigInt(payload.firstOffset) !== want) return;
            verified.add(key);
            queueOf(topic, partition).push(markers);
          })
          .catch((err) => logger.warn({ err, topic, partition }, 'could not read the stored checkpoint'));
      });
      await consumer.connect();
      await consumer.subscribe({ topics: [...sub.topics], fromBeginning: true });
      await consumer.run({
        // partitions are fetched and applied side by side; order within a partition is kept
        partitionsConsumedConcurrently: Math.max(1, options.partitions),
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
          const fetchedAt = fetchStartedAt;
          const join = joins;
          const key = `${batch.topic}/${batch.partition}`;
          const live = () => !stopped && isRunning() && !isStale() && joins === join;
          // The seek on join races the first fetch, which starts at the group's committed offset: a hint
          // that can be ahead of the subscriber's own position (a new checkpoint store, a new schema).
          // So the first batch of a partition after a join (or a failed batch) must start where the
          // subscriber says.
          if (!verified.has(key)) {
            await idle((retryAt.get(key) ?? 0) - Date.now(), heartbeat);
            if (!live()) return;
            const want = await startOf(batch.topic, batch.partition);
            // kafkajs keeps the offset it fetched from on the batch, untyped
            const fetchedFrom = BigInt((batch as typeof batch & { fetchedOffset: string }).fetchedOffset);
            if (!live()) return;
            if (fetchedFrom !== want) {
              consumer.seek({ topic: batch.topic, partition: batch.partition, offset: want.toString() });
              return;
            }
            verified.add(key);
          }
          const queue = queueOf(batch.topic, batch.partition);
          // backpressure: while the partition has enough waiting, the next fetch waits too
          while (queue.full) {
            await Promise.race([queue.room(), sleep(heartbeatInterval)]);
            await heartbeat();
            if (!live() || !verified.has(key)) return;
          }
          const { events, foreign } = await toEvents(batch.topic, batch.partition, batch.messages);
          if (foreign.length) {
            logger.warn(
              { topic: batch.topic, partition: batch.partition, offsets: foreign.map((m) => m.offset) },
              'skipped records not written by logfront (no key, ce_type or lf_stream_version)',
            );
          }
          // a failed batch or a join since this one was fetched: it may not continue the queue
          if (!live() || !verified.has(key)) return;
          queue.push({
            topic: batch.topic,
            partition: batch.partition,
            events,
            nextOffset: BigInt(batch.lastOffset()) + 1n,
            highWatermark: BigInt(batch.highWatermark),
            fetchedAt,
          });
          // the next fetch continues after this batch; the subscriber's position stays the truth
          resolveOffset(batch.lastOffset());
          commitApplied();
        },
      });
      return {
        stop: async () => {
          stopped = true;
          for (const queue of queues.values()) queue.clear();
          await consumer.disconnect();
          await Promise.all([...queues.values()].map((q) => q.idle()));
        },
      };
    },
    deadLetter: async (projection, event, reason) => {
      const topic = deadLetterTopic(projection);
      await partitionsOf(topic, 1);
      const p = await connectProducer();
      await p.send({
        topic,
        acks: -1,
        messages: [
          {
            key: event.stream,
            value: JSON.stringify({
              projection,
              reason,
              event: { ...event, data: toJsonData(event.data), position: positionJson(event) },
            }),
            headers: {
              ce_id: event.id,
              ce_type: event.type,
              lf_dlq_reason: reason.slice(0, 1000),
              lf_source_topic: event.position.topic,
              lf_source_partition: String(event.position.partition),
              lf_source_offset: event.position.offset.toString(),
            },
          },
        ],
      });
    },
    deadLetters: async (projection, limit) => {
      const topic = deadLetterTopic(projection);
      await partitionsOf(topic, 1);
      const found: DeadLetter[] = [];
      const parse = (m: KafkaMessage) => {
        const v = JSON.parse(m.value!.toString('utf8')) as DeadLetter & {
          event: { position: { offset: string } };
        };
        found.push({
          ...v,
          event: { ...v.event, position: { ...v.event.position, offset: BigInt(v.event.position.offset) } },
        });
      };
      await readPartition(topic, 0, parse, 0n, () => true);
      return found.slice(0, limit);
    },
    startOffsets: (topics) => offsetsAt(topics, 'low'),
    endOffsets: (topics) => offsetsAt(topics, 'high'),
    ping: async () => {
      const a = await connectAdmin();
      await a.describeCluster();
    },
    close: async () => {
      closed = true;
      await Promise.all([...sequencers.values()].map((q) => q.close()));
      sequencers.clear();
      const p = await connectProducer.peek()?.catch(() => undefined);
      await p?.disconnect();
      const a = await connectAdmin.peek()?.catch(() => undefined);
      await a?.disconnect();
    },
  };
};
