import type { LogBatch } from '../../core/ports.ts';

/**
 * A partition's fetched-but-not-applied batches, so the next Kafka fetch overlaps the apply of the
 * previous one. Batches are applied one at a time, in the order they were pushed; consecutive
 * batches are coalesced (or split) into batches of at most `maxEvents` events. `room()` is the
 * backpressure: it resolves once fewer than `limitEvents` events wait. A batch that fails drops
 * everything queued behind it (applying a later batch would skip the failed one's events) and is
 * reported through `onError`; `clear()` does the same on a rebalance or a stop.
 */
export interface ApplyQueue {
  push(batch: LogBatch): void;
  /** resolves when the queue has room for another batch, or when it is cleared */
  room(): Promise<void>;
  /** events waiting (not counting the batch being applied) */
  readonly queued: number;
  /** whether as many events, or as many bytes, wait as the queue takes before the next fetch */
  readonly full: boolean;
  /** drops every waiting batch; the one being applied completes (or fails) on its own */
  clear(): void;
  /** resolves once no batch is being applied */
  idle(): Promise<void>;
}

export interface ApplyQueueOptions {
  maxEvents: number;
  limitEvents: number;
  /** payload bytes that may wait; a batch is taken in whatever its size when the queue is empty */
  limitBytes?: number;
  /** the payload bytes of an event (0 when unknown) */
  bytesOf?: (event: LogBatch['events'][number]) => number;
  apply: (batch: LogBatch) => Promise<void>;
  /** a batch failed: the queue behind it is already dropped */
  onError: (error: unknown, batch: LogBatch) => void;
  /** after a batch was applied */
  onApplied?: (batch: LogBatch) => void;
}

/**
 * Takes the next batch off the front of `queue`: whole batches while they fit in `max` events, the
 * head of the next one if it does not (its offsets continue where the head stops). A batch with no
 * events (only transaction markers) always fits.
 */
export const takeBatch = (queue: LogBatch[], max: number): LogBatch | undefined => {
  const first = queue.shift();
  if (!first) return undefined;
  let taken = first;
  if (taken.events.length > max) {
    const [head, tail] = splitAt(taken, max);
    queue.unshift(tail);
    return head;
  }
  while (queue.length) {
    const next = queue[0]!;
    const room = max - taken.events.length;
    if (room <= 0) break;
    if (next.events.length > room) {
      const [head, tail] = splitAt(next, room);
      queue[0] = tail;
      taken = merge(taken, head);
      break;
    }
    queue.shift();
    taken = merge(taken, next);
  }
  return taken;
};

const merge = (a: LogBatch, b: LogBatch): LogBatch => ({
  topic: a.topic,
  partition: a.partition,
  events: a.events.length === 0 ? b.events : b.events.length === 0 ? a.events : [...a.events, ...b.events],
  nextOffset: b.nextOffset,
  highWatermark: b.highWatermark,
  fetchedAt: b.fetchedAt,
});

/** the first `n` events (up to the offset of event n) and the rest; 0 < n < events.length */
const splitAt = (batch: LogBatch, n: number): [LogBatch, LogBatch] => [
  { ...batch, events: batch.events.slice(0, n), nextOffset: batch.events[n]!.position.offset },
  { ...batch, events: batch.events.slice(n) },
];

export const createApplyQueue = (options: ApplyQueueOptions): ApplyQueue => {
  const { maxEvents, limitEvents } = options;
  const limitBytes = options.limitBytes ?? Number.POSITIVE_INFINITY;
  const sizeOf = options.bytesOf;
  const bytesOf = (batch: LogBatch) => {
    if (!sizeOf) return 0;
    let n = 0;
    for (const e of batch.events) n += sizeOf(e);
    return n;
  };
  let queue: LogBatch[] = [];
  let queued = 0;
  let queuedBytes = 0;
  const full = () => queued >= limitEvents || queuedBytes >= limitBytes;
  let draining: Promise<void> | undefined;
  let waiters: (() => void)[] = [];

  const wake = () => {
    const w = waiters;
    waiters = [];
    for (const resolve of w) resolve();
  };

  const drain = async () => {
    for (;;) {
      const batch = takeBatch(queue, maxEvents);
      if (!batch) {
        draining = undefined;
        return;
      }
      queued -= batch.events.length;
      queuedBytes -= bytesOf(batch);
      if (!full()) wake();
      try {
        await options.apply(batch);
      } catch (error) {
        clear();
        options.onError(error, batch);
        continue;
      }
      options.onApplied?.(batch);
    }
  };

  const clear = () => {
    queue = [];
    queued = 0;
    queuedBytes = 0;
    wake();
  };

  return {
    push: (batch) => {
      queue.push(batch);
      queued += batch.events.length;
      queuedBytes += bytesOf(batch);
      // drain() forgets itself when it finds the queue empty, so a push after that starts a new one
      if (!draining) draining = drain();
    },
    room: () => (full() ? new Promise<void>((resolve) => waiters.push(resolve)) : Promise.resolve()),
    get queued() {
      return queued;
    },
    get full() {
      return full();
    },
    clear,
    idle: async () => {
      while (draining) await draining;
    },
  };
};
