// before kafkajs: the request framing is put in place before kafkajs loads (as event-log.ts does)
import './fast-paths.ts';
import { Kafka, type KafkaMessage, logLevel } from 'kafkajs';
import { DependencyUnavailable, LogfrontError, Unavailable } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import { type RetryEvent, type RetryPolicy, retry } from '../../core/resilience/retry.ts';
import { installKafkaFastPaths, KAFKAJS_VERSION, kafkajsModules } from './fast-paths.ts';

// A positional reader of Kafka partitions: one Fetch request (read_committed) to the partition's leader
// per read, from any offset, with no consumer group, subscription or rebalance.
//
// kafkajs has no public assign()-style API, so this uses its internals: never when this file is imported,
// checked for kafkajs 2.2.4 (its last release) when a reader is made, which fails then with
// KafkaInternalsMissing (no fallback: kafkajs has no public way to read a partition by position). They
// are reached through a client instance, never a file of kafkajs's, so no module is replaced for them:
// - the client's private cluster factory, an own symbol-keyed property of a `Kafka` instance
//   (`Symbol('private:Kafka:createCluster')`, src/index.js); the cluster it makes carries the client's
//   brokers, TLS/SASL, socket factory, retry and logger settings;
// - on that cluster (src/cluster/index.js): connect, disconnect, addTargetTopic, refreshMetadata,
//   findLeaderForPartitions, findBroker, fetchTopicsOffset and the `targetTopics` set;
// - on a broker (src/broker/index.js): disconnect() and fetch({ isolationLevel, maxWaitTime, minBytes,
//   maxBytes, topics }), and the shape of its decoded response (src/protocol/requests/fetch/v11/response.js) and records
//   (src/protocol/recordBatch/v0/decoder.js: every record carries its batch's header as `batchContext`).
// kafkajs's consumer Batch (src/consumer/batch.js) is not used: its aborted-transaction filter takes
// one aborted transaction per record (a record can slip through when two aborted transactions began
// before it) and only sees records, so it cannot tell where a batch of transaction markers ends.
// Records are filtered here the way Kafka's Java consumer does it (CompletedFetch), batch by batch.
//
// Failures: a leader that moved, an unknown topic or partition, a connection closed by the broker
// (restart) or a request timed out on a silent one: the metadata is refreshed (a timed-out connection
// dropped) and the fetch tried again by the retry policy (core/resilience/retry.ts: full jitter from
// 50 ms, doubling to 2 s, within 30 s), up to `attempts` times, each retry counted as kafka `fetch`; then it
// fails as DependencyUnavailable (kafka). A broker that refuses connections fails a fetch so once kafkajs
// gives up connecting (its own retry settings); the next fetch connects again.

/** the installed kafkajs version, or undefined when it cannot be read */
const installedVersion = kafkajsModules.version;

/** kafkajs is not the version whose internals this reader uses, or they are not where they were */
export class KafkaInternalsMissing extends LogfrontError {
  readonly code = 'kafka_internals_missing';
  readonly status = 500;
  constructor(readonly missing: string) {
    super(
      `the Kafka partition reader needs kafkajs ${KAFKAJS_VERSION} internals (found kafkajs ${installedVersion ?? 'unknown'}): ${missing}`,
    );
  }
  override details() {
    return { missing: this.missing, kafkajs: installedVersion };
  }
}

/** the offset asked for is below the partition's log start: retention or deleteRecords removed it */
export class OffsetBelowLogStart extends LogfrontError {
  readonly code = 'offset_below_log_start';
  readonly status = 410;
  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly offset: bigint,
    readonly logStartOffset: bigint,
  ) {
    super(`${topic}/${partition} starts at offset ${logStartOffset}; offset ${offset} is no longer in Kafka`);
  }
  override details() {
    return {
      topic: this.topic,
      partition: this.partition,
      offset: this.offset.toString(),
      logStartOffset: this.logStartOffset.toString(),
    };
  }
}

export interface FetchedRange {
  /** the partition's records in offset order, committed only (aborted transactions and markers removed) */
  readonly messages: readonly KafkaMessage[];
  /** the offset to fetch from next: after the last record or transaction marker fetched */
  readonly nextOffset: bigint;
  /** the partition's last stable offset when fetched: the end of what read_committed can see */
  readonly lastStableOffset: bigint;
  /** the partition's log start offset when fetched (retention and deleteRecords move it) */
  readonly logStartOffset: bigint;
}

export interface ReadRangeOptions {
  /** the end (exclusive); default: the last stable offset at the first fetch */
  to?: bigint;
  /** bytes per fetch; default the reader's */
  maxBytes?: number;
  /** called with each fetch's records (in order, never empty) before the next are handed over */
  onMessages?: (messages: readonly KafkaMessage[], range: FetchedRange) => void | Promise<void>;
}

export interface PartitionReader {
  /**
   * One fetch from `from`, answered at once (no waiting for new records). A range starting at or above
   * the last stable offset is empty, with `nextOffset` = `from`. Throws OffsetBelowLogStart when `from`
   * is below the log start.
   */
  fetch(
    topic: string,
    partition: number,
    from: bigint,
    options?: { maxBytes?: number },
  ): Promise<FetchedRange>;
  /**
   * Every committed record in [from, to), fetch after fetch (the next fetch is on its way while
   * `onMessages` runs). Stops early when the partition's committed end is reached before `to`.
   * Returns the offset reached: `to`, or that end.
   */
  readRange(topic: string, partition: number, from: bigint, options?: ReadRangeOptions): Promise<bigint>;
  /** disconnects; fetches after it fail as Unavailable */
  close(): Promise<void>;
}

/**
 * `kafka`: a client of the caller's (its settings and logCreator are used; kafkajs logs a fetch below the
 * log start as an error response before the reader answers OffsetBelowLogStart). `brokers`, `clientId`:
 * the reader makes its own client, logging through `logger`.
 */
export type PartitionReaderOptions = ({ kafka: Kafka } | { brokers: string[]; clientId: string }) & {
  logger: Logger;
  /** bytes a fetch returns at most (default 1 MiB); Kafka still returns a larger first record batch whole */
  maxBytes?: number;
  /** attempts of one fetch through leader changes, metadata refreshes and reconnects (default 8) */
  attempts?: number;
  /** told of each retry of a fetch (the process's resilience layer counts them for /metrics) */
  retried?: ((event: RetryEvent) => void) | undefined;
};

/** the waits between attempts of a fetch (their number is the reader's `attempts`) */
const FETCH_POLICY: Omit<RetryPolicy, 'maxAttempts'> = { baseMs: 50, maxDelayMs: 2000, budgetMs: 30_000 };

// --- the kafkajs internals used, as far as this file relies on them

interface BatchContext {
  firstOffset: string;
  lastOffsetDelta: number;
  producerId: string;
  inTransaction: boolean;
  isControlBatch: boolean;
}
type FetchedRecord = KafkaMessage & { batchContext: BatchContext };
interface PartitionData {
  partition: number;
  lastStableOffset: string;
  /** sic: kafkajs names the log start offset so */
  lastStartOffset: string;
  abortedTransactions: { producerId: string; firstOffset: string }[];
  messages: FetchedRecord[];
}
interface FetchRequest {
  isolationLevel: number;
  maxWaitTime: number;
  minBytes: number;
  maxBytes: number;
  topics: { topic: string; partitions: { partition: number; fetchOffset: string; maxBytes: number }[] }[];
}
interface Broker {
  disconnect(): Promise<void>;
  fetch(request: FetchRequest): Promise<{ responses: { topicName: string; partitions: PartitionData[] }[] }>;
}
interface Cluster {
  targetTopics: Set<string>;
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  addTargetTopic(topic: string): Promise<void>;
  refreshMetadata(): Promise<void>;
  findLeaderForPartitions(topic: string, partitions: number[]): Record<string, number[]>;
  findBroker(query: { nodeId: string }): Promise<Broker>;
  fetchTopicsOffset(
    topics: { topic: string; partitions: { partition: number }[]; fromBeginning: boolean }[],
  ): Promise<{ topic: string; partitions: { partition: number; offset: string }[] }[]>;
}
type CreateCluster = (options: {
  metadataMaxAge: number;
  allowAutoTopicCreation: boolean;
  maxInFlightRequests: null;
  isolationLevel: number;
}) => Cluster;

/** src/protocol/isolationLevel.js */
const READ_COMMITTED = 1;
const METADATA_MAX_AGE = 300_000;
const CLUSTER_METHODS = [
  'connect',
  'disconnect',
  'addTargetTopic',
  'refreshMetadata',
  'findLeaderForPartitions',
  'findBroker',
  'fetchTopicsOffset',
] as const;

/** a cluster of the client's own, made by its private factory */
const clusterOf = (kafka: Kafka): Cluster => {
  if (installedVersion !== KAFKAJS_VERSION) throw new KafkaInternalsMissing(`kafkajs ${KAFKAJS_VERSION}`);
  const key = Object.getOwnPropertySymbols(kafka).find(
    (s) => s.description === 'private:Kafka:createCluster',
  );
  const create = key && (kafka as unknown as Record<symbol, unknown>)[key];
  if (typeof create !== 'function') throw new KafkaInternalsMissing('the Kafka client has no createCluster');
  const cluster = (create as CreateCluster)({
    metadataMaxAge: METADATA_MAX_AGE,
    allowAutoTopicCreation: false,
    maxInFlightRequests: null, // fetches of one reader share a broker connection, pipelined
    isolationLevel: READ_COMMITTED, // for ListOffsets: the latest offset is the last stable one
  });
  const missing = CLUSTER_METHODS.filter((m) => typeof cluster[m] !== 'function');
  if (missing.length || !(cluster.targetTopics instanceof Set)) {
    throw new KafkaInternalsMissing(`the cluster lacks ${missing.join(', ') || 'targetTopics'}`);
  }
  return cluster;
};

// ---

/** a pause that does not keep the process alive on its own */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());

/** the smaller of two offsets (Math.min takes no bigint) */
const earlier = (a: bigint, b: bigint) => (a < b ? a : b);

const errorType = (error: unknown) => (error as { type?: string } | null)?.type;
/** kafkajs marks the errors worth another attempt (leader moved, metadata stale, connection lost) */
const retriable = (error: unknown) => (error as { retriable?: boolean } | null)?.retriable === true;
/** kafkajs gave up on its own: connecting to a broker that is down, after its own retries */
const gaveUp = (error: unknown) => (error as Error | null)?.name === 'KafkaJSNumberOfRetriesExceeded';

/** a control record's type: 0 abort, 1 commit (key: int16 version, int16 type) */
const isAbortMarker = (m: KafkaMessage) => m.key !== null && m.key.length >= 4 && m.key.readInt16BE(2) === 0;

/**
 * The committed records at or after `from` among a fetch's record batches, and where the fetch ends.
 * As Kafka's Java consumer does it: a producer's aborted transaction (listed by its first offset)
 * covers that producer's transactional batches from there up to its abort marker. The end is the end of
 * the last whole batch (kafkajs drops a batch cut short by maxBytes). A batch that compaction emptied
 * leaves no record to see, so on a compacted topic the end can stop before it (logfront's topics are
 * not compacted).
 */
const committedRecords = (data: PartitionData, from: bigint) => {
  const records = data.messages;
  const aborted = data.abortedTransactions.length
    ? data.abortedTransactions
        .map((t) => ({ producerId: t.producerId, firstOffset: BigInt(t.firstOffset) }))
        .sort((a, b) => (a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0))
    : [];
  const abortedProducers = new Set<string>();
  const messages: KafkaMessage[] = [];
  let nextOffset = from;
  let i = 0;
  while (i < records.length) {
    const batch = records[i]!.batchContext;
    let end = i + 1;
    while (end < records.length && records[end]!.batchContext.firstOffset === batch.firstOffset) end++;
    const firstOffset = BigInt(batch.firstOffset);
    const lastOffset = firstOffset + BigInt(batch.lastOffsetDelta);
    while (aborted.length && aborted[0]!.firstOffset <= lastOffset) {
      abortedProducers.add(aborted.shift()!.producerId);
    }
    if (batch.isControlBatch) {
      if (isAbortMarker(records[i]!)) abortedProducers.delete(batch.producerId);
    } else if (!(batch.inTransaction && abortedProducers.has(batch.producerId))) {
      // a fetch from inside a batch gets the whole batch
      for (let k = i; k < end; k++) {
        const m = records[k]!;
        if (firstOffset >= from || BigInt(m.offset) >= from) messages.push(m);
      }
    }
    if (lastOffset + 1n > nextOffset) nextOffset = lastOffset + 1n;
    i = end;
  }
  return { messages, nextOffset };
};

/** kafkajs's text for OFFSET_OUT_OF_RANGE (src/protocol/error.js) */
const OUT_OF_RANGE = /not within the range of offsets/;

/** kafkajs's own log lines, into ours: an offset out of range is an answer here, not an error */
const kafkaLogs =
  (logger: Logger) => () => (entry: { level: number; log: { message: string; error?: string } }) => {
    if (entry.level > logLevel.WARN) return;
    if (OUT_OF_RANGE.test(entry.log.error ?? '')) logger.debug({ kafka: entry.log }, entry.log.message);
    else logger.warn({ kafka: entry.log }, entry.log.message);
  };

export const createPartitionReader = (options: PartitionReaderOptions): PartitionReader => {
  const { logger } = options;
  installKafkaFastPaths(logger); // the record decoder, for its fetches
  const defaultMaxBytes = options.maxBytes ?? 1024 * 1024;
  const attemptsAllowed = Math.max(1, options.attempts ?? 8);
  const { retried } = options;
  const kafka =
    'kafka' in options
      ? options.kafka
      : new Kafka({
          clientId: options.clientId,
          brokers: options.brokers,
          logLevel: logLevel.WARN,
          logCreator: kafkaLogs(logger),
          retry: { retries: 5, initialRetryTime: 100 },
        });
  const cluster = clusterOf(kafka);
  let closed = false;
  let connecting: Promise<void> | undefined;
  const connect = () => {
    if (!connecting) {
      connecting = cluster.connect();
      connecting.catch(() => {
        connecting = undefined;
      });
    }
    return connecting;
  };

  /** the partition's log start and last stable offset, asked with ListOffsets */
  const offsetsOf = async (topic: string, partition: number) => {
    const ask = async (fromBeginning: boolean) => {
      const [answer] = await cluster.fetchTopicsOffset([
        { topic, partitions: [{ partition }], fromBeginning },
      ]);
      return BigInt(answer!.partitions[0]!.offset);
    };
    const [logStartOffset, lastStableOffset] = await Promise.all([ask(true), ask(false)]);
    return { logStartOffset, lastStableOffset };
  };

  const fetchOnce = async (topic: string, partition: number, from: bigint, maxBytes: number) => {
    await connect();
    if (!cluster.targetTopics.has(topic)) await cluster.addTargetTopic(topic);
    const [leader] = Object.keys(cluster.findLeaderForPartitions(topic, [partition]));
    if (leader === undefined) {
      throw Object.assign(new Error(`no leader known for ${topic}/${partition}`), {
        type: 'UNKNOWN_TOPIC_OR_PARTITION',
        retriable: true,
      });
    }
    const broker = await cluster.findBroker({ nodeId: leader });
    try {
      const response = await broker.fetch({
        isolationLevel: READ_COMMITTED,
        maxWaitTime: 0,
        minBytes: 0,
        maxBytes,
        topics: [{ topic, partitions: [{ partition, fetchOffset: from.toString(), maxBytes }] }],
      });
      const data = response.responses[0]!.partitions[0]!;
      const { messages, nextOffset } = committedRecords(data, from);
      return {
        messages,
        nextOffset,
        lastStableOffset: BigInt(data.lastStableOffset),
        logStartOffset: BigInt(data.lastStartOffset),
      };
    } catch (error) {
      // a connection that went silent (no close from the far end) would stay in use and time out again
      if ((error as Error).name === 'KafkaJSRequestTimeoutError') await broker.disconnect().catch(() => {});
      if (errorType(error) !== 'OFFSET_OUT_OF_RANGE') throw error;
      // below the log start, or above the log end (a fetch between the two is never out of range)
      const { logStartOffset, lastStableOffset } = await offsetsOf(topic, partition);
      if (from < logStartOffset) throw new OffsetBelowLogStart(topic, partition, from, logStartOffset);
      if (from >= lastStableOffset)
        return { messages: [], nextOffset: from, lastStableOffset, logStartOffset };
      throw Object.assign(new Error(`${topic}/${partition} had offset ${from} out of range, now in range`), {
        retriable: true,
      });
    }
  };

  // a leader that moved, a topic the metadata does not know yet, a lost connection: the metadata is
  // refreshed and the fetch tried again by the retry policy, a few times
  const fetch = async (
    topic: string,
    partition: number,
    from: bigint,
    options: { maxBytes?: number } = {},
  ): Promise<FetchedRange> => {
    const maxBytes = options.maxBytes ?? defaultMaxBytes;
    let attempts = 0;
    let failed: unknown;
    try {
      return await retry(
        async (n) => {
          attempts = n;
          if (closed) throw new Unavailable('the partition reader is closed');
          return await fetchOnce(topic, partition, from, maxBytes).catch((error: unknown) => {
            throw closed ? new Unavailable('the partition reader is closed') : error;
          });
        },
        {
          dependency: 'kafka',
          operation: 'fetch',
          policy: { ...FETCH_POLICY, maxAttempts: attemptsAllowed },
          // kafkajs gave up itself (connecting to a broker that is down, after its own retries)
          retryable: (error) => !gaveUp(error) && retriable(error),
          onRetry: (event) => {
            failed = event.error;
            logger.debug(
              { err: event.error, topic, partition, from, attempt: event.attempt },
              'fetch failed; trying again',
            );
            retried?.(event);
          },
          sleep: async (ms) => {
            await sleep(ms);
            await refresh(errorType(failed));
          },
        },
      );
    } catch (error) {
      if (error instanceof Unavailable || (!gaveUp(error) && !retriable(error))) throw error;
      throw new DependencyUnavailable(
        'kafka',
        `reading ${topic}/${partition} at ${from} failed after ${attempts} attempts: ${(error as Error).message}`,
        { cause: error },
      );
    }
  };

  const refresh = async (type: string | undefined) => {
    // kafkajs asks metadata for every topic it was given at once, and one topic deleted since fails
    // them all: after an unknown topic, the topics are added again as they are read
    if (type === 'UNKNOWN_TOPIC_OR_PARTITION') {
      cluster.targetTopics.clear();
      return;
    }
    await cluster.refreshMetadata().catch((err: unknown) => {
      if (errorType(err) === 'UNKNOWN_TOPIC_OR_PARTITION') cluster.targetTopics.clear();
      logger.debug({ err }, 'metadata refresh failed');
    });
  };

  const readRange = async (
    topic: string,
    partition: number,
    from: bigint,
    options: ReadRangeOptions = {},
  ): Promise<bigint> => {
    if (options.to !== undefined && options.to <= from) return from;
    const fetchFrom = (offset: bigint) => fetch(topic, partition, offset, { maxBytes: options.maxBytes });
    let range = await fetchFrom(from);
    const to = options.to ?? range.lastStableOffset;
    let reached = from;
    for (;;) {
      // no progress: the partition's committed end (or a fetch that got nothing there)
      if (range.nextOffset <= reached) return reached;
      const end = earlier(range.nextOffset, to);
      const ahead = end < to ? fetchFrom(end) : undefined;
      ahead?.catch(() => {}); // its failure is met when it is awaited
      const messages =
        range.nextOffset > to ? range.messages.filter((m) => BigInt(m.offset) < to) : range.messages;
      if (messages.length && options.onMessages) {
        await options.onMessages(messages, { ...range, messages, nextOffset: end });
      }
      reached = end;
      if (!ahead) return reached;
      range = await ahead;
    }
  };

  return {
    fetch,
    readRange,
    close: async () => {
      closed = true;
      await connecting?.catch(() => {});
      await cluster.disconnect();
    },
  };
};
