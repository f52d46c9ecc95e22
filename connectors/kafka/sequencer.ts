import { type IHeaders, type Kafka, Partitioners, type Producer, type RecordMetadata } from 'kafkajs';
import {
  AppendTimeout,
  DependencyUnavailable,
  Overloaded,
  TooLarge,
  Unavailable,
  VersionConflict,
} from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import type { StreamIndex } from '../../core/ports.ts';
import { type RetryEvent, retry } from '../../core/resilience/retry.ts';
import type { Telemetry } from '../../core/telemetry.ts';
import type { AppendResult, ExpectedVersion, PreparedEvent, StreamId } from '../../core/types.ts';
import { kafkaUnavailable } from './client.ts';
import {
  APPEND_RETRY_POLICY,
  appendBytes,
  batchSize,
  createStreamWindow,
  deadlinesOf,
  planBatch,
  type QueueLoad,
  queueRefusal,
  resultOf,
  TRANSACTION_RETRY,
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
  /** epoch ms by which it must be committed */
  deadline: number;
}

/** an attempt given up at the latest deadline of its appends: the broker did not answer in time */
class AttemptOverdue extends DependencyUnavailable {}

interface Pending extends AppendRequest {
  /** what the request adds to a record batch, about (values, keys, headers, framing) */
  bytes: number;
  deadline: number;
  /** written in a batch of its own (a batch with it was refused as too large) */
  alone?: true;
  /** waiting in the queue, not yet taken into a batch */
  queued: boolean;
  /** answered (written, refused, or out of time): nothing is reported for it again */
  settled: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
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
 *
 * Deadlines and backpressure: the appends waiting for the next transaction are bounded (`queue`, in
 * events and bytes); one more is refused at once (Overloaded, 429). Each append has a deadline: one
 * still waiting then is dropped from the queue, never written, and fails with AppendTimeout (503); one
 * already inside a transaction fails the same way at its deadline, but that transaction may still
 * commit, so its retry with the same event ids is answered from what was written. A batch is retried
 * (taking the partition again) by the shared policy, never past its oldest deadline, and an attempt the
 * broker does not answer is given up at the latest deadline of its appends, its producers dropped.
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
  /** the deadline appends are given (ms from their receipt), for the message of AppendTimeout; default 10 s */
  deadlineMs?: number | undefined;
  /** the appends that may wait for the next transaction; default 20000 events, 64 MiB */
  queue?: Partial<QueueLoad> | undefined;
  /** told of every retry of a batch (metrics) */
  resilience?: { retried(event: RetryEvent): void } | undefined;
  /** told of each takeover and each committed transaction (metrics) */
  telemetry?: Pick<Telemetry, 'sequencer'> | undefined;
}): PartitionSequencer => {
  const { topic, partition, logger, index } = deps;
  const maxBatchEvents = deps.maxBatchEvents ?? 2000;
  const maxBatchBytes = deps.maxBatchBytes ?? 900 * 1024;
  const windowIds = deps.windowIds ?? 200_000;
  const maxAttempts = deps.maxAttempts ?? APPEND_RETRY_POLICY.maxAttempts;
  const deadlineMs = deps.deadlineMs ?? 10_000;
  const bounds: QueueLoad = {
    events: deps.queue?.events ?? 20_000,
    bytes: deps.queue?.bytes ?? 64 * 1024 * 1024,
  };
  const window = createStreamWindow();
  /** the pair, once owned; transactions alternate between them */
  let producers: Producer[] = [];
  let turn = 0;
  let queue: Pending[] = [];
  /** what waits in `queue`, answered ones not counted */
  const load: QueueLoad = { events: 0, bytes: 0 };
  /** appends of `queue` answered while they waited (out of time): taken out before the next batch */
  let settledInQueue = 0;
  /** bumped whenever the producers are dropped: what an older attempt still finishes is not reported */
  let generation = 0;
  let flushing = false;
  let closed = false;
  let warnedFull = 0;
  let committedTo: bigint | undefined;

  const release = async () => {
    generation++;
    const ps = producers;
    producers = [];
    await Promise.all(ps.map((p) => p.disconnect().catch(() => {})));
  };

  // Drops the producers without waiting for them: on a broker that stopped answering, kafkajs's
  // disconnect waits for their requests. A newer generation makes what they still finish moot.
  const abandon = () => {
    void release();
  };

  // An attempt given up (its appends out of time) goes on in the background until its await returns:
  // from then on it must neither touch the window nor use the producers of a newer generation.
  const stillCurrent = (mine: number) => {
    if (mine !== generation) throw new Unavailable(`a newer attempt at ${topic}/${partition} began`);
  };

  const resolveWith = (request: Pending, result: AppendResult) => {
    if (request.settled) return;
    request.settled = true;
    clearTimeout(request.timer);
    request.resolve(result);
  };
  const rejectWith = (request: Pending, error: unknown) => {
    if (request.settled) return;
    request.settled = true;
    clearTimeout(request.timer);
    if (request.queued) {
      load.events -= request.events.length;
      load.bytes -= request.bytes;
      settledInQueue++;
    }
    request.reject(error);
  };
  const timedOut = (request: Pending) => new AppendTimeout(request.stream, deadlineMs);

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
    const mine = generation;
    const pair = [deps.transactionalId, `${deps.transactionalId}.1`].map((transactionalId) =>
      deps.kafka.producer({
        transactionalId,
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        createPartitioner: Partitioners.DefaultPartitioner,
        // past kafkajs's own retries (bounded), the sequencer takes the partition again and retries the
        // batch, with event ids keeping it from appending twice
        retry: { ...TRANSACTION_RETRY },
      }),
    );
    const superseded = () => stillCurrent(mine);
    try {
      for (const p of pair) {
        await p.connect();
        superseded();
        const init = await p.transaction(); // InitProducerId: epoch + 1, the old owner's open transaction aborted
        await init.abort(); // nothing was sent: no round trip
      }
      await confirmOwnership(pair[0]!);
      superseded();
    } catch (error) {
      for (const p of pair) void p.disconnect().catch(() => {});
      throw error;
    }
    producers = pair;
    deps.telemetry?.sequencer({ kind: 'ownership', topic, partition });
    window.clear();
    const started = Date.now();
    const from = (await index.checkpoint(topic, partition)) ?? 0n;
    let tail = 0;
    const end = await deps.readTail(from, (e) => {
      tail++;
      stillCurrent(mine);
      window.remember(e.stream, e.version, e.id, e.offset);
    });
    logger.debug(
      { topic, partition, from: from.toString(), end: end.toString(), tail, ms: Date.now() - started },
      'sequencer owns the partition',
    );
    superseded();
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
  const complete = async (batch: readonly Pending[], mine: number) => {
    const asks = window.lacks(batch);
    if (asks.size === 0) return;
    const found = await index.lookup(
      [...asks].map(([stream, ids]) => ({ stream: stream as StreamId, ids: [...ids] })),
    );
    stillCurrent(mine);
    window.absorb(asks.keys(), found);
  };

  // A version conflict read from the window is true only while we still own the partition: another
  // writer that took it since may have moved the stream. So nothing is answered before a transaction
  // proves ownership.
  const writeBatch = async (batch: Pending[]) => {
    const mine = generation;
    await complete(batch, mine);
    stillCurrent(mine);
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
      const began = performance.now();
      const txn = await next().transaction();
      let meta: RecordMetadata | undefined;
      try {
        [meta] = await txn.send({ topic, acks: -1, messages });
        await txn.commit();
      } catch (error) {
        await txn.abort().catch(() => {});
        throw error;
      }
      deps.telemetry?.sequencer({
        kind: 'commit',
        topic,
        partition,
        appends: writes.length,
        events: messages.length,
        bytes: writes.reduce((n, w) => n + w.request.bytes, 0),
        queued: queue.length,
        seconds: (performance.now() - began) / 1000,
      });
      // given up meanwhile: every append of the batch was answered; the takeover that follows reads
      // what this transaction wrote from the log
      stillCurrent(mine);
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
    }
    for (const a of answered) {
      if (a.error) rejectWith(a.request, a.error);
      else resolveWith(a.request, a.result!);
    }
    for (const { request } of accepted) resolveWith(request, resultOf(window, request, topic, partition));
    await prune().catch((error) =>
      logger.warn({ err: error, topic, partition }, 'could not read the stream index checkpoint'),
    );
  };

  // the next batch: at least one request, then as many as fit the bounds; what ran out of time while it
  // waited is dropped, never written
  const takeBatch = () => {
    if (settledInQueue > 0) {
      queue = queue.filter((r) => !r.settled);
      settledInQueue = 0;
    }
    const take = batchSize(queue, maxBatchEvents, maxBatchBytes);
    const batch = queue.slice(0, take);
    queue = queue.slice(take);
    for (const r of batch) {
      r.queued = false;
      load.events -= r.events.length;
      load.bytes -= r.bytes;
    }
    return batch;
  };

  const enqueue = (requests: readonly Pending[], first = false) => {
    for (const r of requests) {
      r.queued = true;
      load.events += r.events.length;
      load.bytes += r.bytes;
    }
    if (first) queue = [...requests, ...queue];
    else queue.push(...requests);
  };

  // One attempt at the appends of a batch still waiting for an answer. A broker that does not answer
  // holds kafkajs for as long as its retries last: the attempt is given up once the last of its appends
  // is out of time (each was answered at its own deadline), so that the next batch gets its turn.
  const attempt = async (pending: Pending[]) => {
    const work = (async () => {
      if (producers.length === 0) await takeOwnership();
      await writeBatch(pending);
    })();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const overdue = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new AttemptOverdue(
              'kafka',
              `no transaction on ${topic}/${partition} completed before the appends' deadlines`,
            ),
          ),
        Math.max(0, deadlinesOf(pending).latest - Date.now()),
      );
    });
    try {
      await Promise.race([work, overdue]);
    } catch (error) {
      // fenced by a newer owner, the outcome unknown, or too slow: the partition is taken again, which
      // reads what did commit; event ids make the retry append nothing twice. A batch too large keeps
      // the producers: its transaction was aborted.
      if (!tooLarge(error)) abandon();
      throw error;
    } finally {
      clearTimeout(timer);
    }
  };

  // Kafka or the index's Postgres down says which; losing the partition again and again (writers in
  // other processes taking it in turn) is logfront's own unavailability
  const failureOf = (error: unknown) =>
    error instanceof DependencyUnavailable
      ? error
      : kafkaUnavailable(error)
        ? new DependencyUnavailable(
            'kafka',
            `appending to ${topic}/${partition} failed: ${(error as Error).message}`,
            { cause: error },
          )
        : new Unavailable(`appending to ${topic}/${partition} failed: ${(error as Error).message}`);

  // A batch through the shared retry policy: each attempt writes what is still waiting for an answer;
  // two writers taking the partition from each other would fence each other forever, so the waits have
  // full jitter and one of them gets a transaction through.
  const writeWithRetries = async (batch: Pending[]) => {
    const waiting = () => batch.filter((r) => !r.settled);
    let written = batch.length;
    try {
      await retry(
        async () => {
          const pending = waiting();
          written = pending.length;
          if (written > 0) await attempt(pending);
        },
        {
          dependency: 'kafka',
          operation: 'append',
          policy: { ...APPEND_RETRY_POLICY, maxAttempts },
          retryable: (error) => !tooLarge(error) && !closed,
          deadline: deadlinesOf(batch).oldest,
          onRetry: (event) => {
            logger.debug(
              { err: event.error, topic, partition, attempt: event.attempt },
              'lost the partition; taking it again',
            );
            deps.resilience?.retried(event);
          },
        },
      );
    } catch (error) {
      const pending = waiting();
      if (tooLarge(error)) {
        // the broker refused the record batch as a whole: each append goes again on its own, and one
        // refused alone is refused for itself
        if (written === 1) {
          for (const r of pending) {
            rejectWith(
              r,
              new TooLarge(
                `the append to ${r.stream} is larger than ${topic} accepts (its max.message.bytes)`,
                maxBatchBytes,
              ),
            );
          }
        } else {
          for (const r of pending) r.alone = true;
          enqueue(pending, true);
        }
        return;
      }
      if (pending.length) logger.warn({ err: error, topic, partition }, 'append batch failed');
      const failure = failureOf(error);
      // out of time, whichever timer fired first: an append_timeout, never the attempt's own error
      const late = error instanceof AttemptOverdue;
      for (const r of pending) rejectWith(r, late || Date.now() >= r.deadline ? timedOut(r) : failure);
    }
  };

  const flush = async () => {
    if (flushing) return;
    flushing = true;
    try {
      for (let first = true; ; first = false) {
        // after a commit, the appenders it answered get one turn of the event loop to send their next
        // append, so that it joins the next batch (as Kafka's linger.ms, a tick rather than a millisecond)
        if (!first) await new Promise((r) => setImmediate(r));
        const batch = takeBatch();
        if (batch.length === 0) break;
        await writeWithRetries(batch);
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
        const bytes = appendBytes(request.stream, request.events, request.values);
        const refusal = queueRefusal(load, { events: request.events.length, bytes }, bounds);
        if (refusal) {
          reject(new Overloaded(`the append queue of ${topic}/${partition} is full: ${refusal}`));
          return;
        }
        const pending: Pending = {
          ...request,
          bytes,
          queued: false,
          settled: false,
          timer: undefined,
          resolve,
          reject,
        };
        const left = pending.deadline - Date.now();
        if (left <= 0) {
          reject(timedOut(pending));
          return;
        }
        // at its deadline the caller is answered, whether it still waits or is being written
        pending.timer = setTimeout(() => rejectWith(pending, timedOut(pending)), left);
        pending.timer.unref?.();
        enqueue([pending]);
        void flush();
      }),
    close: async () => {
      closed = true;
      for (const r of queue)
        rejectWith(r, new Unavailable(`the sequencer of ${topic}/${partition} is closed`));
      await release();
    },
  };
};
