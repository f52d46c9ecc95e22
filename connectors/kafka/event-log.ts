// before kafkajs: the request framing is put in place before kafkajs loads (see fast-paths.ts)
import './fast-paths.ts';
import { type Admin, type IHeaders, type KafkaMessage, Partitioners } from 'kafkajs';
import { ArchiveGap } from '../../core/blobs/archive.ts';
import { toJsonData } from '../../core/blobs/bytes-json.ts';
import { classified, DependencyUnavailable, Unavailable } from '../../core/errors.ts';
import type { EventCodec } from '../../core/log/codec.ts';
import { partitionOf } from '../../core/log/partitioning.ts';
import { categoriesOf, categoryOf, topicFor } from '../../core/log/streams.ts';
import type { Logger } from '../../core/logger.ts';
import type { DeadLetter, EventLog, StreamIndex } from '../../core/ports.ts';
import { createLru } from '../../core/read/lru.ts';
import { partitionKey } from '../../core/read/positions.ts';
import type { Resilience } from '../../core/resilience/resilience.ts';
import type { Telemetry } from '../../core/telemetry.ts';
import type { AppendResult, ExpectedVersion, RecordedEvent } from '../../core/types.ts';
import { createKafkaClient, type KafkaSecurity, kafkaFailure, lazily } from './client.ts';
import { describeFastPaths, installKafkaFastPaths } from './fast-paths.ts';
import {
  createPartitionReader,
  type FetchedRange,
  OffsetBelowLogStart,
  type PartitionReader,
} from './reader.ts';
import { createRecordMapper, tailEventOf } from './records.ts';
import { createPartitionSequencer, type PartitionSequencer } from './sequencer.ts';
import { subscribeToKafka } from './subscription.ts';
import { createTopics } from './topics.ts';

/** with TLS and SASL as the deployment's clients reach the brokers */
export interface KafkaLogOptions extends KafkaSecurity {
  brokers: string[];
  clientId: string;
  topicPrefix: string;
  partitions: number;
  replication: number;
  /** min.insync.replicas of the topics the log creates; default 2 from replication 3 on, else 1 */
  minInsyncReplicas?: number | undefined;
  /** retention.ms of the topics the log creates; default -1 (records are kept for ever) */
  retentionMs?: number;
  /** consumer group session timeout: how soon a dead consumer's partitions move on */
  sessionTimeoutMs: number;
  /** bound on one read of a partition range (a takeover's tail, a stream's unindexed tail); default 60 s */
  readTimeoutMs?: number;
  codec: EventCodec;
  logger: Logger;
  /** the process's breakers and retries: admin calls, fetch retries and append batch retries go through it (app/compose.ts) */
  resilience?: Resilience | undefined;
  /** told of each sequencer's takeovers and transactions (metrics) */
  telemetry?: Pick<Telemetry, 'sequencer'> | undefined;
  /** the stream index; without one, every per-stream question reads the partition from its start */
  index?: StreamIndex;
  /** the archived records of [from, to) of a partition: what Kafka's retention has dropped */
  archived?: (topic: string, partition: number, from: bigint, to: bigint) => Promise<RecordedEvent[]>;
  /** ids a partition's sequencer keeps in memory before it drops what the index has covered */
  windowIds?: number;
  /** an append's deadline when its caller gives none (ms from the call); default 10 s */
  appendDeadlineMs?: number;
  /** the appends a partition's sequencer holds waiting; more are refused (429); default 20000 events, 64 MiB */
  appendQueue?: { events?: number; bytes?: number };
}

export interface KafkaEventLog extends EventLog {
  /** what the sequencer of a partition holds in memory here; undefined when this process has none */
  sequencerWindow(topic: string, partition: number): { streams: number; ids: number } | undefined;
}

/** what the log asks of the stream index */
type IndexReads = Pick<StreamIndex, 'checkpoint' | 'lookup' | 'positions'>;

/** no index: nothing covered, so the log itself answers from the start of each partition */
const NO_INDEX: IndexReads = {
  checkpoint: async () => undefined,
  lookup: async () => new Map(),
  positions: async () => ({ events: [], checkpoint: undefined }),
};

/**
 * a stream read's records at the indexed offsets: a fetch starts at each offset more than this past the
 * last start (closer ones are likely in the same record batch), at most this many at once
 */
const FETCH_SPAN = 16n;
const FETCHES_IN_FLIGHT = 16;
/** connections positional reads are spread over */
const READER_CONNECTIONS = 4;
/** decoded events a log keeps for stream reads, and for how long */
const EVENT_CACHE_ENTRIES = 10_000;
const EVENT_CACHE_TTL_MS = 10 * 60_000;
/** bytes of one fetch of a range read */
const RANGE_FETCH_BYTES = 1024 * 1024;
/** bytes of one fetch at an indexed offset: Kafka returns the whole record batch that holds it, only it */
const POINT_FETCH_BYTES = 1;
/** the margin kept below a topic's max.message.bytes for a group commit's record batch */
const BATCH_MARGIN_BYTES = 64 * 1024;

/**
 * The log on Kafka: a topic per category, key = stream id, value in the registry's wire format,
 * CloudEvents binary-binding headers. Stream versions come from a per-partition sequencer; every
 * per-stream question (heads, ids, stream reads) goes to the stream index, plus the log's tail after
 * the index's checkpoint, read by position.
 */
export const createKafkaEventLog = (options: KafkaLogOptions): KafkaEventLog => {
  const { codec, logger } = options;
  // at start, which of logfront's kafkajs fast paths this process runs (off: kafkajs's own code)
  const fastPaths = installKafkaFastPaths(logger);
  logger.info({ kafkaFastPaths: fastPaths }, describeFastPaths(fastPaths));
  const index: IndexReads = options.index ?? NO_INDEX;
  const kafka = createKafkaClient(options);
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
  const topics = createTopics({
    admin: connectAdmin,
    topicPrefix: options.topicPrefix,
    partitions: options.partitions,
    replication: options.replication,
    minInsyncReplicas: options.minInsyncReplicas,
    retentionMs: options.retentionMs ?? -1,
    resilience: options.resilience,
  });
  const records = createRecordMapper(codec);
  // Kafka answers one request of a connection at a time: concurrent reads spread over a few connections
  const readers = Array.from({ length: READER_CONNECTIONS }, () =>
    createPartitionReader({ kafka, logger, retried: options.resilience?.retried }),
  );
  let nextReader = 0;
  const reader: Pick<PartitionReader, 'fetch'> = {
    fetch: (...args) => {
      nextReader = (nextReader + 1) % readers.length;
      return readers[nextReader]!.fetch(...args);
    },
  };

  const topicOf = (category: string) => topicFor(options.topicPrefix, category);
  const deadLetterTopic = (projection: string) => `${options.topicPrefix}.deadletters.${projection}`;
  const positionJson = (e: RecordedEvent) => ({ ...e.position, offset: e.position.offset.toString() });
  const sequencers = new Map<string, PartitionSequencer>(); // topic/partition → its writer here
  let closed = false;

  // Reads a partition's committed records from `from` to its end when the read began (its last stable
  // offset), by position; what Kafka's retention dropped comes from the archive, and what neither holds
  // is an ArchiveGap. Returns the end.
  const scan = async (
    topic: string,
    partition: number,
    from: bigint,
    onMessages: (messages: readonly KafkaMessage[]) => void,
    onArchived: (events: readonly RecordedEvent[]) => void,
    /** read at least to here: a transaction this process committed, whose markers may not be written yet */
    atLeast = 0n,
    /** a fetch already made from at or below `from`, taken as the first */
    prefetched?: FetchedRange,
  ): Promise<bigint> => {
    const deadline = Date.now() + readTimeoutMs;
    let at = from;
    let end: bigint | undefined;
    let ready = prefetched && prefetched.lastStableOffset >= atLeast ? prefetched : undefined;
    const overdue = () => {
      if (Date.now() > deadline) {
        throw new DependencyUnavailable(
          'kafka',
          `reading ${topic}/${partition} from ${from} took over ${readTimeoutMs} ms`,
        );
      }
    };
    for (;;) {
      let range: FetchedRange;
      try {
        range = ready ?? (await reader.fetch(topic, partition, at, { maxBytes: RANGE_FETCH_BYTES }));
        ready = undefined;
      } catch (error) {
        if (!(error instanceof OffsetBelowLogStart)) throw error;
        onArchived(await archivedRange(topic, partition, at, error.logStartOffset));
        at = error.logStartOffset;
        continue;
      }
      overdue();
      if (end === undefined && range.lastStableOffset < atLeast) {
        await new Promise((r) => setTimeout(r, 2));
        continue;
      }
      end ??= range.lastStableOffset;
      const upTo = end;
      onMessages(range.messages.filter((m) => BigInt(m.offset) < upTo && BigInt(m.offset) >= from));
      if (range.nextOffset >= end) return end;
      at = range.nextOffset;
    }
  };

  // the archived records of [from, to): none where records must have been is a gap, said out loud
  const archivedRange = async (topic: string, partition: number, from: bigint, to: bigint) => {
    const events = options.archived ? await options.archived(topic, partition, from, to) : [];
    if (events.length === 0) throw new ArchiveGap(topic, partition, from, to);
    return events;
  };

  // Decoded events by position: records never change, so a stream read that finds its events here
  // asks Kafka only for the others (bounded in entries; large payloads are not kept).
  const recent = createLru<RecordedEvent>(EVENT_CACHE_ENTRIES, EVENT_CACHE_TTL_MS);
  // per partition, the stream index's checkpoint as the last stream read saw it
  const lastCheckpoint = new Map<string, bigint>();
  // Concurrent stream reads of a partition share their tail fetch, as appends share a transaction: a
  // read joins the next fetch to start (one that starts after the read began sees every append
  // acknowledged before it), from the lowest checkpoint guess among those that joined it.
  const tails = new Map<
    string,
    {
      running: Promise<unknown> | undefined;
      next: { from: bigint; result: Promise<FetchedRange | undefined> } | undefined;
    }
  >();
  const tailFetch = (topic: string, partition: number, from: bigint): Promise<FetchedRange | undefined> => {
    const key = partitionKey(topic, partition);
    let tail = tails.get(key);
    if (!tail) {
      tail = { running: undefined, next: undefined };
      tails.set(key, tail);
    }
    const t = tail;
    if (t.next && t.next.from <= from) return t.next.result;
    const start = (): Promise<FetchedRange | undefined> => {
      const run = reader
        .fetch(topic, partition, from, { maxBytes: RANGE_FETCH_BYTES })
        .catch(() => undefined);
      t.running = run;
      void run.finally(() => {
        if (t.running === run) t.running = undefined;
      });
      return run;
    };
    if (!t.running) return start();
    // one is in flight: the next starts when it ends, for every read that arrives meanwhile
    const result = t.running.then(() => {
      if (t.next?.result === result) t.next = undefined;
      return start();
    });
    t.next = { from, result };
    return result;
  };
  const cacheKey = (topic: string, partition: number, offset: bigint) => `${topic}/${partition}/${offset}`;

  // The records at `offsets` of a partition (each a logfront event the index points at). Each fetch
  // returns the one record batch that holds its offset; fetches start in parallel at offsets more than
  // FETCH_SPAN apart, and what a batch did not hold is fetched in the next wave. Offsets below Kafka's
  // log start come from the archive.
  const eventsAt = async (topic: string, partition: number, offsets: readonly bigint[]) => {
    const found = new Map<bigint, RecordedEvent>();
    let missing: bigint[] = [];
    for (const o of offsets) {
      const cached = recent.get(cacheKey(topic, partition, o));
      if (cached) found.set(o, cached);
      else missing.push(o);
    }
    while (missing.length) {
      const starts: bigint[] = [];
      for (const o of missing) {
        if (starts.length === 0 || o - starts.at(-1)! > FETCH_SPAN) starts.push(o);
        if (starts.length === FETCHES_IN_FLIGHT) break;
      }
      const below: bigint[] = [];
      let logStart = 0n;
      const fetched = await Promise.all(
        starts.map((o) =>
          reader.fetch(topic, partition, o, { maxBytes: POINT_FETCH_BYTES }).catch((error: unknown) => {
            if (!(error instanceof OffsetBelowLogStart)) throw error;
            below.push(o);
            logStart = error.logStartOffset;
            return undefined;
          }),
        ),
      );
      const wanted = new Set(missing);
      const messages = fetched.flatMap((r) => r?.messages.filter((m) => wanted.has(BigInt(m.offset))) ?? []);
      for (const e of (await records.toEvents(topic, partition, messages)).events) {
        found.set(e.position.offset, e);
        if (records.payloadBytes(e) === 0) recent.set(cacheKey(topic, partition, e.position.offset), e);
      }
      if (below.length) {
        const first = missing[0]!;
        for (const e of await archivedRange(topic, partition, first, logStart)) {
          if (wanted.has(e.position.offset)) found.set(e.position.offset, e);
        }
      }
      // every start is found, or gone from both Kafka and the archive
      const lost = starts.find((o) => !found.has(o));
      if (lost !== undefined) throw new ArchiveGap(topic, partition, lost, lost + 1n);
      missing = missing.filter((o) => !found.has(o));
    }
    return found;
  };

  const sequencerOf = (topic: string, partition: number, maxMessageBytes: number) => {
    const key = partitionKey(topic, partition);
    let sequencer = sequencers.get(key);
    if (!sequencer) {
      sequencer = createPartitionSequencer({
        kafka,
        topic,
        partition,
        transactionalId: `${options.topicPrefix}.sequencer.${topic}.${partition}`,
        logger,
        index,
        maxBatchBytes: Math.max(maxMessageBytes - BATCH_MARGIN_BYTES, maxMessageBytes / 2),
        ...(options.windowIds === undefined ? {} : { windowIds: options.windowIds }),
        deadlineMs: options.appendDeadlineMs,
        queue: options.appendQueue,
        resilience: options.resilience,
        telemetry: options.telemetry,
        readTail: (from, onEvent) =>
          scan(
            topic,
            partition,
            from,
            (messages) => {
              for (const m of messages) {
                const e = tailEventOf(m);
                if (e) onEvent(e);
              }
            },
            (events) => {
              for (const e of events) {
                onEvent({ stream: e.stream, version: e.version, id: e.id, offset: e.position.offset });
              }
            },
          ),
      });
      sequencers.set(key, sequencer);
    }
    return sequencer;
  };

  const log: KafkaEventLog = {
    sequencerWindow: (topic, partition) => sequencers.get(partitionKey(topic, partition))?.windowSize,
    topicFor: topicOf,
    ensureTopics: async (categories) => {
      await Promise.all(categories.map((c) => topics.info(topicOf(c))));
    },
    categories: async () => categoriesOf(options.topicPrefix, await (await connectAdmin()).listTopics()),
    append: async (stream, events, expected: ExpectedVersion, appendOptions = {}): Promise<AppendResult> => {
      if (closed) throw new Unavailable('the event log is closed');
      // the deadline runs from the call: the topic's metadata and the encoding count against it
      const deadline = appendOptions.deadline ?? Date.now() + (options.appendDeadlineMs ?? 10_000);
      const category = categoryOf(stream);
      const topic = topicOf(category);
      const info = await topics.info(topic);
      const partition = partitionOf(stream, info.partitions);
      const values = await Promise.all(events.map((e) => codec.encode(e.type, e.data)));
      const now = new Date().toISOString();
      const sequencer = sequencerOf(topic, partition, info.maxMessageBytes);
      // through the kafka breaker: while Kafka keeps failing appends, the next ones are refused at once
      // (503 with the seconds until it tries again) instead of each waiting for its deadline
      const produce = (request: Parameters<typeof sequencer.append>[0]) =>
        options.resilience
          ? options.resilience.breaker('kafka').call(() => sequencer.append(request))
          : sequencer.append(request);
      return produce({
        stream,
        events,
        values,
        expected,
        deadline,
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
    // The stream's events: the index gives their offsets, read by position; what the index has not
    // covered yet (its lag) is read from the log after its checkpoint. At most `limit` are held.
    readStream: async (stream, fromVersion, limit) => {
      const topic = topicOf(categoryOf(stream));
      // a read never makes a topic: a category nothing was appended to has no streams
      const info = await topics.find(topic);
      if (!info) return [];
      const partition = partitionOf(stream, info.partitions);
      const start = Math.max(fromVersion, 1);
      // the index's lag is read from its checkpoint on; the last one seen here is a guess good enough to
      // fetch from while the index answers (checkpoints only move forward)
      const key = partitionKey(topic, partition);
      const guess = lastCheckpoint.get(key);
      const prefetch = guess === undefined ? undefined : tailFetch(topic, partition, guess);
      const { events: indexed, checkpoint } = await index.positions(stream, topic, partition, start, limit);
      if (checkpoint !== undefined) lastCheckpoint.set(key, checkpoint);
      const found = await eventsAt(
        topic,
        partition,
        indexed.map((e) => e.offset),
      );
      const out = indexed.map((e) => found.get(e.offset)!);
      if (out.length < limit) {
        // read-your-writes: what this process appended to the stream is included
        const known = sequencers.get(key)?.lastOffsetOf(stream);
        let next = (indexed.at(-1)?.version ?? start - 1) + 1;
        const tail: KafkaMessage[] = [];
        const archived: RecordedEvent[] = [];
        const room = () => out.length + tail.length + archived.length < limit;
        await scan(
          topic,
          partition,
          checkpoint ?? 0n,
          (messages) => {
            for (const m of messages) {
              const e = tailEventOf(m);
              if (e && e.stream === stream && e.version === next && room()) {
                tail.push(m);
                next++;
              }
            }
          },
          (events) => {
            for (const e of events) {
              if (e.stream === stream && e.version === next && room()) {
                archived.push(e);
                next++;
              }
            }
          },
          known === undefined ? 0n : known + 1n,
          guess !== undefined && guess <= (checkpoint ?? 0n) ? await prefetch : undefined,
        );
        out.push(...archived, ...(await records.toEvents(topic, partition, tail)).events);
      }
      return out;
    },
    subscribe: (sub) =>
      subscribeToKafka(
        {
          kafka,
          admin: connectAdmin,
          topics,
          records,
          logger,
          partitions: options.partitions,
          sessionTimeoutMs: options.sessionTimeoutMs,
        },
        sub,
      ),
    deadLetter: async (projection, event, reason) => {
      const topic = deadLetterTopic(projection);
      await topics.info(topic, 1);
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
      await topics.info(topic, 1);
      const found: DeadLetter[] = [];
      const [low] = await topics.offsetsAt([topic], 'low');
      await scan(
        topic,
        0,
        low?.offset ?? 0n,
        (messages) => {
          for (const m of messages) {
            if (found.length >= limit || !m.value) continue;
            const v = JSON.parse(m.value.toString('utf8')) as DeadLetter & {
              event: { position: { offset: string } };
            };
            found.push({
              ...v,
              event: {
                ...v.event,
                position: { ...v.event.position, offset: BigInt(v.event.position.offset) },
              },
            });
          }
        },
        () => {},
      );
      return found;
    },
    startOffsets: (ts) => topics.offsetsAt(ts, 'low'),
    // read-your-writes: what this process committed counts even before its transaction markers are
    // written (the last stable offset moves past it a moment later)
    endOffsets: async (ts) =>
      (await topics.offsetsAt(ts, 'high')).map((p) => {
        const committed = sequencers.get(partitionKey(p.topic, p.partition))?.committedTo;
        return committed !== undefined && committed > p.offset ? { ...p, offset: committed } : p;
      }),
    ping: async () => {
      const a = await connectAdmin();
      await a.describeCluster();
    },
    close: async () => {
      closed = true;
      await Promise.all([...sequencers.values()].map((q) => q.close()));
      sequencers.clear();
      await Promise.all(readers.map((r) => r.close()));
      const p = await connectProducer.peek()?.catch(() => undefined);
      await p?.disconnect();
      const a = await connectAdmin.peek()?.catch(() => undefined);
      await a?.disconnect();
    },
  };
  // a Kafka that is down or unreachable fails every call as DependencyUnavailable (kafka)
  const guarded = <A extends unknown[], R>(call: (...args: A) => Promise<R>) =>
    classified(kafkaFailure, call);
  return {
    ...log,
    ensureTopics: guarded(log.ensureTopics),
    categories: guarded(log.categories),
    append: guarded(log.append),
    readStream: guarded(log.readStream),
    subscribe: guarded(log.subscribe),
    deadLetter: guarded(log.deadLetter),
    deadLetters: guarded(log.deadLetters),
    startOffsets: guarded(log.startOffsets!),
    endOffsets: guarded(log.endOffsets),
    ping: guarded(log.ping),
  };
};
