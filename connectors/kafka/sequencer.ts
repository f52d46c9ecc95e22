import { type IHeaders, type Kafka, Partitioners, type Producer } from 'kafkajs';
import { DependencyUnavailable, TooLarge, Unavailable, VersionConflict } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import type { StreamIndex } from '../../core/ports.ts';
import type { AppendResult, ExpectedVersion, PreparedEvent, StreamId } from '../../core/types.ts';
import { kafkaUnavailable } from './client.ts';
import {
  appendBytes,
  batchSize,
  createStreamWindow,
  planBatch,
  resultOf,
  retryDelayMs,
  tooLarge,
} from './sequencer-plan.ts';

/** one of the partition's events, as a catch-up read of the log's tail reports it */
export interface TailEvent {
  stream: string;
  version: number;
  id: string;
  offset: bigint;
}

/** reads the partition's committed records from `from` to its end; returns that end */
export type ReadTail = (from: bigint, onEvent: (e: TailEvent) => void) => Promise<bigint>;

export interface AppendRequest {
  stream: StreamId;
  events: readonly PreparedEvent[];
  /** the encoded value of each event, in order */
  values: readonly Buffer[];
  expected: ExpectedVersion;
  headers: (event: PreparedEvent, version: number) => IHeaders;
}

interface Pending extends AppendRequest {
  /** what the request adds to a record batch, about (values, keys, headers, framing) */
  bytes: number;
  /** written in a batch of its own (a batch with it was refused as too large) */
  alone?: true;
  resolve: (r: AppendResult) => void;
  reject: (e: unknown) => void;
}

export interface PartitionSequencer {
  append(request: AppendRequest): Promise<AppendResult>;
  /** the offset after the last record this sequencer committed (its markers may not be written yet) */
  readonly committedTo: bigint | undefined;
  /** the offset of the stream's newest event, when the window holds the stream */
  lastOffsetOf(stream: string): bigint | undefined;
  /** streams and event ids held in memory (the window), for metrics and tests */
  readonly windowSize: { streams: number; ids: number };
  /** drop ownership (tests; shutdown) */
  close(): Promise<void>;
}

/**
 * The one writer of a partition. Ownership is a pair of transactional producers whose
 * transactional.ids are derived from the partition (`<id>` and `<id>.1`): taking them bumps their
 * epochs, which makes the broker refuse the previous owner's transactions, and aborts one it left open.
 * Transactions alternate between the two: right after a commit the coordinator still writes its
 * markers, and the next transaction of the same id would wait for them (CONCURRENT_TRANSACTIONS).
 * A new owner initialises the first, then the second, then proves with a transaction that the first
 * is still its own: so no other process took the first after it, hence none took the second before it
 * without being fenced in turn; two processes never both hold a usable pair.
 *
 * What it knows of the partition's streams is bounded: on taking the partition it reads the stream
 * index's checkpoint and then only the log's tail after it (the index's lag), and keeps a window of
 * heads and ids; a stream or an id the window lacks is one indexed lookup. The window drops what the
 * index has covered once it holds more than `windowIds` ids.
 *
 * Group commit: appends that arrive while a transaction is in flight are checked together and
 * committed in the next one, up to `maxBatchEvents` events and `maxBatchBytes` bytes (below the
 * topic's max.message.bytes); a conflict fails only its own append.
 */
export const createPartitionSequencer = (deps: {
  kafka: Kafka;
  topic: string;
  partition: number;
  transactionalId: string;
  index: Pick<StreamIndex, 'checkpoint' | 'lookup'>;
  readTail: ReadTail;
  logger: Logger;
  maxBatchEvents?: number;
  maxBatchBytes?: number;
  /** ids the window holds before it drops what the index has covered */
  windowIds?: number;
  /** attempts at one batch across ownership losses before its appends fail as unavailable */
  maxAttempts?: number;
}): PartitionSequencer => {
  const { topic, partition, logger, index } = deps;
  const maxBatchEvents = deps.maxBatchEvents ?? 2000;
  const maxBatchBytes = deps.maxBatchBytes ?? 900 * 1024;
  const windowIds = deps.windowIds ?? 200_000;
  const maxAttempts = deps.maxAttempts ?? 10;
  const window = createStreamWindow();
  /** the pair, once owned; transactions alternate between them */
  let producers: Producer[] = [];
  let turn = 0;
  let queue: Pending[] = [];
  let flushing = false;
  let closed = false;
  let warnedFull = 0;
  let committedTo: bigint | undefined;

  const release = async () => {
    const ps = producers;
    producers = [];
    await Promise.all(ps.map((p) => p.disconnect().catch(() => {})));
  };

  /** the producer of the next transaction */
  const next = () => {
    turn ^= 1;
    return producers[turn]!;
  };

  // A transaction that reaches the coordinator proves the producer's epoch is still ours (a fenced
  // producer is refused).
  const confirmOwnership = async (producer: Producer) => {
    const txn = await producer.transaction();
    try {
      await txn.sendOffsets({ consumerGroupId: `${deps.transactionalId}.ownership`, topics: [] });
      await txn.commit();
    } catch (error) {
      await txn.abort().catch(() => {});
      throw error;
    }
  };

  // Takes the partition: a new producer epoch fences every earlier owner; then what the index has not
  // covered yet is read from the log.
  const takeOwnership = async () => {
    await release();
    const pair = [deps.transactionalId, `${deps.transactionalId}.1`].map((transactionalId) =>
      deps.kafka.producer({
        transactionalId,
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        createPartitioner: Partitioners.DefaultPartitioner,
        // kafkajs retries inside a transaction for up to 30 s; past that the sequencer takes the
        // partition again and retries the batch, with event ids keeping it from appending twice
        // (a transaction that meets CONCURRENT_TRANSACTIONS is retried within a millisecond or two)
        retry: {
          retries: Number.MAX_SAFE_INTEGER,
          maxRetryTime: 30_000,
          initialRetryTime: 1,
          factor: 0.2,
          multiplier: 2,
        },
      }),
    );
    try {
      for (const p of pair) {
        await p.connect();
        const init = await p.transaction(); // InitProducerId: epoch + 1, the old owner's open transaction aborted
        await init.abort(); // nothing was sent: no round trip
      }
      await confirmOwnership(pair[0]!);
    } catch (error) {
      await Promise.all(pair.map((p) => p.disconnect().catch(() => {})));
      throw error;
    }
    producers = pair;
    window.clear();
    const started = Date.now();
    const from = (await index.checkpoint(topic, partition)) ?? 0n;
    let tail = 0;
    const end = await deps.readTail(from, (e) => {
      tail++;
      window.remember(e.stream, e.version, e.id, e.offset);
    });
    logger.debug(
      { topic, partition, from: from.toString(), end: end.toString(), tail, ms: Date.now() - started },
      'sequencer owns the partition',
    );
  };

  // Drops from the window what the index has covered, the streams written longest ago first.
  const prune = async () => {
    if (window.ids <= windowIds) return;
    const covered = (await index.checkpoint(topic, partition)) ?? 0n;
    window.prune(covered, windowIds / 2);
    if (window.ids > windowIds && Date.now() - warnedFull > 60_000) {
      warnedFull = Date.now();
      logger.warn(
        { topic, partition, ids: window.ids, indexedTo: covered.toString() },
        'the sequencer holds more ids than its window: the stream index is behind (is it running?)',
      );
    }
  };

  // What the window lacks to check the batch: heads of streams it does not hold, and ids it cannot
  // rule out. One indexed lookup for all of them; what it finds joins the window.
  const complete = async (batch: readonly Pending[]) => {
    const asks = window.lacks(batch);
    if (asks.size === 0) return;
    const found = await index.lookup(
      [...asks].map(([stream, ids]) => ({ stream: stream as StreamId, ids: [...ids] })),
    );
    window.absorb(asks.keys(), found);
  };

  // A version conflict read from the window is true only while we still own the partition: another
  // writer that took it since may have moved the stream. So nothing is answered before a transaction
  // proves ownership.
  const writeBatch = async (batch: Pending[]) => {
    await complete(batch);
    const { accepted, answered } = planBatch(window, batch, topic, partition);
    const writes = accepted.filter((a) => !a.repeat);
    if (writes.length === 0 && answered.some((a) => a.error instanceof VersionConflict))
      await confirmOwnership(next());
    if (writes.length) {
      const messages = writes.flatMap(({ request, fromVersion }) =>
        request.events.map((e, i) => ({
          key: request.stream,
          value: request.values[i]!,
          headers: request.headers(e, fromVersion + i),
          partition,
        })),
      );
      const txn = await next().transaction();
      try {
        const [meta] = await txn.send({ topic, acks: -1, messages });
        await txn.commit();
        let offset = BigInt(meta!.baseOffset ?? '0');
        committedTo = offset + BigInt(messages.length);
        for (const { request, fromVersion } of writes) {
          request.events.forEach((e, i) => {
            window.remember(request.stream, fromVersion + i, e.id, offset);
            offset++;
          });
          // most recently written last: the window drops the streams written longest ago first
          window.touch(request.stream);
        }
      } catch (error) {
        await txn.abort().catch(() => {});
        throw error;
      }
    }
    for (const a of answered) {
      if (a.error) a.request.reject(a.error);
      else a.request.resolve(a.result!);
    }
    for (const { request } of accepted) request.resolve(resultOf(window, request, topic, partition));
    await prune().catch((error) =>
      logger.warn({ err: error, topic, partition }, 'could not read the stream index checkpoint'),
    );
  };

  // the next batch: at least one request, then as many as fit the bounds
  const takeBatch = () => {
    const take = batchSize(queue, maxBatchEvents, maxBatchBytes);
    const batch = queue.slice(0, take);
    queue = queue.slice(take);
    return batch;
  };

  const flush = async () => {
    if (flushing) return;
    flushing = true;
    try {
      for (let first = true; ; first = false) {
        // after a commit, the appenders it answered get one turn of the event loop to send their next
        // append, so that it joins the next batch (as Kafka's linger.ms, a tick rather than a millisecond)
        if (!first) await new Promise((r) => setImmediate(r));
        if (queue.length === 0) break;
        const batch = takeBatch();
        for (let attempt = 1; ; attempt++) {
          try {
            if (producers.length === 0) await takeOwnership();
            await writeBatch(batch);
            break;
          } catch (error) {
            if (tooLarge(error)) {
              // the broker refused the record batch as a whole: each append goes again on its own,
              // and one refused alone is refused for itself
              if (batch.length === 1) {
                batch[0]!.reject(
                  new TooLarge(
                    `the append to ${batch[0]!.stream} is larger than ${topic} accepts (its max.message.bytes)`,
                    maxBatchBytes,
                  ),
                );
              } else {
                for (const r of batch) r.alone = true;
                queue = [...batch, ...queue];
              }
              break;
            }
            // fenced by a newer owner, or the outcome is unknown: take the partition again, which
            // reads what did commit; event ids make the retry append nothing twice
            await release();
            if (attempt >= maxAttempts || closed) {
              logger.warn({ err: error, topic, partition }, 'append batch failed');
              // Kafka or the index's Postgres down says which; losing the partition again and again
              // (writers in other processes taking it in turn) is logfront's own unavailability
              const failure =
                error instanceof DependencyUnavailable
                  ? error
                  : kafkaUnavailable(error)
                    ? new DependencyUnavailable(
                        'kafka',
                        `appending to ${topic}/${partition} failed: ${(error as Error).message}`,
                        { cause: error },
                      )
                    : new Unavailable(
                        `appending to ${topic}/${partition} failed: ${(error as Error).message}`,
                      );
              for (const r of batch) r.reject(failure);
              break;
            }
            logger.debug({ err: error, topic, partition, attempt }, 'lost the partition; taking it again');
            // two writers taking the partition from each other would fence each other forever: back off
            // with full jitter so one of them gets a transaction through
            await new Promise((r) => setTimeout(r, retryDelayMs(attempt, Math.random())));
          }
        }
      }
    } finally {
      flushing = false;
    }
  };

  return {
    lastOffsetOf: (stream) => window.lastOffsetOf(stream),
    get committedTo() {
      return committedTo;
    },
    get windowSize() {
      return { streams: window.streams, ids: window.ids };
    },
    append: (request) =>
      new Promise<AppendResult>((resolve, reject) => {
        if (closed) {
          reject(new Unavailable(`the sequencer of ${topic}/${partition} is closed`));
          return;
        }
        queue.push({
          ...request,
          bytes: appendBytes(request.stream, request.events, request.values),
          resolve,
          reject,
        });
        void flush();
      }),
    close: async () => {
      closed = true;
      await release();
    },
  };
};
