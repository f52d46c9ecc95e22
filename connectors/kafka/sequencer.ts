import { type IHeaders, type Kafka, Partitioners, type Producer } from 'kafkajs';
import { Conflict, Unavailable, VersionConflict } from '../../core/errors.ts';
import { expectedMatches } from '../../core/expected-version.ts';
import type { Logger } from '../../core/logger.ts';
import type { AppendResult, ExpectedVersion, PreparedEvent, StreamId } from '../../core/types.ts';

export interface StreamHead {
  version: number;
  /** event id → [version, offset], for idempotent retries */
  ids: Map<string, [number, bigint]>;
}

/** what a catch-up read of the partition found: heads of the streams it saw, and where it ended */
export type CatchUp = (from: bigint, into: Map<string, StreamHead>) => Promise<bigint>;

export interface AppendRequest {
  stream: StreamId;
  events: readonly PreparedEvent[];
  /** the encoded value of each event, in order */
  values: readonly Buffer[];
  expected: ExpectedVersion;
  headers: (event: PreparedEvent, version: number) => IHeaders;
}

interface Pending extends AppendRequest {
  resolve: (r: AppendResult) => void;
  reject: (e: unknown) => void;
}

export interface PartitionSequencer {
  append(request: AppendRequest): Promise<AppendResult>;
  /** offset of the last event of `stream` this process appended or read, if it knows one */
  lastOffsetOf(stream: string): bigint | undefined;
  /** drop ownership (tests; shutdown) */
  close(): Promise<void>;
}

/**
 * The one writer of a partition. Ownership is a transactional producer whose transactional.id is
 * derived from the partition: taking it bumps the producer epoch, which makes the broker refuse the
 * previous owner's transactions, and aborts one it left open. The new owner then reads the partition
 * to its end before it checks any expected version.
 *
 * Group commit: appends that arrive while a transaction is in flight are checked together and
 * committed in the next one; a conflict fails only its own append.
 */
export const createPartitionSequencer = (deps: {
  kafka: Kafka;
  topic: string;
  partition: number;
  transactionalId: string;
  catchUp: CatchUp;
  logger: Logger;
  maxBatchEvents?: number;
  /** attempts at one batch across ownership losses before its appends fail as unavailable */
  maxAttempts?: number;
}): PartitionSequencer => {
  const { topic, partition, logger } = deps;
  const maxBatchEvents = deps.maxBatchEvents ?? 2000;
  const maxAttempts = deps.maxAttempts ?? 10;
  const heads = new Map<string, StreamHead>();
  let readTo = 0n; // heads reflect every record below this offset
  let producer: Producer | undefined;
  let queue: Pending[] = [];
  let flushing = false;
  let closed = false;

  const release = async () => {
    const p = producer;
    producer = undefined;
    await p?.disconnect().catch(() => {});
  };

  // Takes the partition: a new producer epoch fences every earlier owner; then reads to the end.
  const takeOwnership = async () => {
    await release();
    const p = deps.kafka.producer({
      transactionalId: deps.transactionalId,
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
      // kafkajs retries inside a transaction for up to 30 s; past that the sequencer takes the
      // partition again and retries the batch, with event ids keeping it from appending twice
      // (the next transaction often meets CONCURRENT_TRANSACTIONS while the last one's markers are
      // written: retry it within milliseconds, not kafkajs's default 300 ms)
      retry: {
        retries: Number.MAX_SAFE_INTEGER,
        maxRetryTime: 30_000,
        initialRetryTime: 5,
        factor: 0.2,
        multiplier: 2,
      },
    });
    await p.connect();
    const init = await p.transaction(); // InitProducerId: epoch + 1, the old owner's open transaction aborted
    await init.abort(); // nothing was sent: no round trip
    producer = p;
    readTo = await deps.catchUp(readTo, heads);
    logger.debug({ topic, partition, readTo: readTo.toString() }, 'sequencer owns the partition');
  };

  // an append planned in this batch but not yet committed: its version, and its ids at offset -1
  interface Tentative {
    version: number;
    ids: Map<string, [number, bigint]>;
  }
  const lookup = (stream: string, tentative: Map<string, Tentative>) => {
    const committed = heads.get(stream);
    const planned = tentative.get(stream);
    return {
      version: planned?.version ?? committed?.version ?? 0,
      idOf: (id: string) => planned?.ids.get(id) ?? committed?.ids.get(id),
    };
  };

  // Checks a batch of requests against the heads; returns what to write and what to answer now.
  const plan = (batch: Pending[]) => {
    const tentative = new Map<string, Tentative>();
    // `repeat`: the same event ids as an earlier append of this batch; answered from it after the commit
    const accepted: { request: Pending; fromVersion: number; repeat?: true }[] = [];
    const answered: { request: Pending; result?: AppendResult; error?: unknown }[] = [];
    for (const request of batch) {
      const head = lookup(request.stream, tentative);
      const seen = request.events.map((e) => head.idOf(e.id)).filter((x) => x !== undefined);
      if (seen.length === request.events.length) {
        const last = seen.reduce((a, b) => (b[0] > a[0] ? b : a));
        if (last[1] < 0n) {
          accepted.push({ request, fromVersion: Math.min(...seen.map((s) => s[0])), repeat: true });
          continue;
        }
        answered.push({
          request,
          result: {
            stream: request.stream,
            fromVersion: Math.min(...seen.map((s) => s[0])),
            toVersion: last[0],
            position: { topic, partition, offset: last[1] },
          },
        });
        continue;
      }
      if (seen.length > 0) {
        answered.push({
          request,
          error: new Conflict(
            `${seen.length} of ${request.events.length} event ids were already appended to ${request.stream}`,
          ),
        });
        continue;
      }
      if (!expectedMatches(request.expected, head.version)) {
        answered.push({
          request,
          error: new VersionConflict(request.stream, request.expected, head.version),
        });
        continue;
      }
      const planned = tentative.get(request.stream) ?? { version: head.version, ids: new Map() };
      request.events.forEach((e, i) => {
        planned.ids.set(e.id, [head.version + i + 1, -1n]);
      });
      planned.version = head.version + request.events.length;
      tentative.set(request.stream, planned);
      accepted.push({ request, fromVersion: head.version + 1 });
    }
    return { accepted, answered };
  };

  // A version conflict read from our heads is true only while we still own the partition: another
  // writer that took it since may have moved the stream. A transaction that reaches the coordinator
  // proves the epoch is still ours (a fenced producer is refused), so nothing is answered before one.
  const confirmOwnership = async () => {
    const txn = await producer!.transaction();
    try {
      await txn.sendOffsets({ consumerGroupId: `${deps.transactionalId}.ownership`, topics: [] });
      await txn.commit();
    } catch (error) {
      await txn.abort().catch(() => {});
      throw error;
    }
  };

  const writeBatch = async (batch: Pending[]) => {
    const { accepted, answered } = plan(batch);
    const writes = accepted.filter((a) => !a.repeat);
    if (writes.length === 0 && answered.some((a) => a.error instanceof VersionConflict))
      await confirmOwnership();
    if (writes.length) {
      const messages = writes.flatMap(({ request, fromVersion }) =>
        request.events.map((e, i) => ({
          key: request.stream,
          value: request.values[i]!,
          headers: request.headers(e, fromVersion + i),
          partition,
        })),
      );
      const txn = await producer!.transaction();
      try {
        const [meta] = await txn.send({ topic, acks: -1, messages });
        await txn.commit();
        let offset = BigInt(meta!.baseOffset ?? '0');
        for (const { request, fromVersion } of writes) {
          const head = heads.get(request.stream) ?? { version: 0, ids: new Map<string, [number, bigint]>() };
          request.events.forEach((e, i) => {
            head.ids.set(e.id, [fromVersion + i, offset]);
            offset++;
          });
          head.version = fromVersion + request.events.length - 1;
          heads.set(request.stream, head);
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
    for (const { request } of accepted) {
      const head = heads.get(request.stream)!;
      const found = request.events.map((e) => head.ids.get(e.id)!);
      request.resolve({
        stream: request.stream,
        fromVersion: found[0]![0],
        toVersion: found.at(-1)![0],
        position: { topic, partition, offset: found.at(-1)![1] },
      });
    }
  };

  const flush = async () => {
    if (flushing) return;
    flushing = true;
    try {
      while (queue.length) {
        let size = 0;
        let take = 0;
        while (take < queue.length && (take === 0 || size + queue[take]!.events.length <= maxBatchEvents)) {
          size += queue[take]!.events.length;
          take++;
        }
        const batch = queue.slice(0, take);
        queue = queue.slice(take);
        for (let attempt = 1; ; attempt++) {
          try {
            if (!producer) await takeOwnership();
            await writeBatch(batch);
            break;
          } catch (error) {
            // fenced by a newer owner, or the outcome is unknown: take the partition again, which
            // reads what did commit; event ids make the retry append nothing twice
            await release();
            if (attempt >= maxAttempts || closed) {
              logger.warn({ err: error, topic, partition }, 'append batch failed');
              const failure = new Unavailable(
                `appending to ${topic}/${partition} failed: ${(error as Error).message}`,
              );
              for (const r of batch) r.reject(failure);
              break;
            }
            logger.debug({ err: error, topic, partition, attempt }, 'lost the partition; taking it again');
            // two writers taking the partition from each other would fence each other forever: back off
            // with full jitter so one of them gets a transaction through
            await new Promise((r) => setTimeout(r, Math.random() * Math.min(1000, 20 * 2 ** attempt)));
          }
        }
      }
    } finally {
      flushing = false;
    }
  };

  return {
    lastOffsetOf: (stream) => {
      const head = heads.get(stream);
      let last: bigint | undefined;
      for (const [, offset] of head?.ids.values() ?? [])
        if (last === undefined || offset > last) last = offset;
      return last;
    },
    append: (request) =>
      new Promise<AppendResult>((resolve, reject) => {
        if (closed) {
          reject(new Unavailable(`the sequencer of ${topic}/${partition} is closed`));
          return;
        }
        queue.push({ ...request, resolve, reject });
        void flush();
      }),
    close: async () => {
      closed = true;
      await release();
    },
  };
};
