// The partition sequencer's decisions, apart from Kafka and the stream index: what its window of streams
// knows, which appends of a batch to write and which to answer at once, how many queued appends make the
// next batch. Pure (the window is plain memory); connectors/kafka/sequencer.ts does the I/O around them.
import { Conflict, VersionConflict } from '../../core/errors.ts';
import { expectedMatches } from '../../core/log/expected-version.ts';
import type { IndexedStream } from '../../core/ports.ts';
import type { RetryPolicy } from '../../core/resilience/retry.ts';
import type { AppendResult, ExpectedVersion, PreparedEvent, StreamId } from '../../core/types.ts';

/** what the sequencer knows of one stream: its head, and the ids it holds */
export interface Known {
  version: number;
  /** event id → [version, offset] (offset -1: planned in the batch being written) */
  ids: Map<string, [number, bigint]>;
  /** offset of the stream's newest event */
  last: bigint;
  /** true when `ids` holds every id of the stream, so an id it lacks was never appended */
  complete: boolean;
}

/** an append as the plan sees it */
export interface PlannedAppend {
  stream: StreamId;
  events: readonly Pick<PreparedEvent, 'id' | 'freshId'>[];
  expected: ExpectedVersion;
}

/** Kafka's refusal of a record batch over the topic's max.message.bytes */
export const tooLarge = (error: unknown) =>
  /MESSAGE_TOO_LARGE|RECORD_LIST_TOO_LARGE/.test(String((error as { type?: unknown }).type));

/** bytes a record adds to a batch besides its value: key, headers, varints (an upper bound) */
export const recordOverhead = (stream: string, event: PreparedEvent) =>
  2 * stream.length + 2 * JSON.stringify(event.metadata).length + event.id.length + event.type.length + 320;

/** what an append adds to a record batch, about (values, keys, headers, framing) */
export const appendBytes = (stream: string, events: readonly PreparedEvent[], values: readonly Buffer[]) => {
  let bytes = 0;
  events.forEach((e, i) => {
    bytes += values[i]!.length + recordOverhead(stream, e);
  });
  return bytes;
};

/**
 * The heads and ids of the streams a sequencer holds in memory, most recently written last. Bounded by
 * `prune`: what the stream index has covered can be dropped, since a lookup finds it again.
 */
export interface StreamWindow {
  get(stream: string): Known | undefined;
  /** an event of `stream` at `version` and `offset` (-1: planned, not yet written) */
  remember(stream: string, version: number, id: string, offset: bigint): void;
  /** moves the stream to the most recently written end */
  touch(stream: string): void;
  clear(): void;
  /** ids held, over all streams */
  readonly ids: number;
  readonly streams: number;
  /** the offset of the stream's newest event, when the window holds one */
  lastOffsetOf(stream: string): bigint | undefined;
  /**
   * drops what the index has covered (offsets below `covered`), the streams written longest ago first,
   * until at most `target` ids are held
   */
  prune(covered: bigint, target: number): void;
  /** what the window lacks to check a batch: per stream, the ids it cannot rule out (empty: only the head) */
  lacks(batch: readonly PlannedAppend[]): Map<string, Set<string>>;
  /** takes in what a lookup of `streams` found (a stream the index lacks has no event) */
  absorb(streams: Iterable<string>, found: ReadonlyMap<string, IndexedStream>): void;
}

export const createStreamWindow = (): StreamWindow => {
  const window = new Map<string, Known>();
  let idsHeld = 0;
  return {
    get: (stream) => window.get(stream),
    remember: (stream, version, id, offset) => {
      let known = window.get(stream);
      if (!known) {
        // the tail is read in offset order: a stream first seen at version 1 began inside the window
        known = { version: 0, ids: new Map(), last: -1n, complete: version === 1 };
        window.set(stream, known);
      }
      if (!known.ids.has(id)) idsHeld++;
      known.ids.set(id, [version, offset]);
      if (version > known.version) known.version = version;
      if (offset > known.last) known.last = offset;
    },
    touch: (stream) => {
      const known = window.get(stream)!;
      window.delete(stream);
      window.set(stream, known);
    },
    clear: () => {
      window.clear();
      idsHeld = 0;
    },
    get ids() {
      return idsHeld;
    },
    get streams() {
      return window.size;
    },
    lastOffsetOf: (stream) => {
      const last = window.get(stream)?.last ?? -1n;
      return last < 0n ? undefined : last;
    },
    prune: (covered, target) => {
      for (const [stream, known] of window) {
        if (idsHeld <= target) break;
        if (known.last < covered) {
          window.delete(stream);
          idsHeld -= known.ids.size;
          continue;
        }
        for (const [id, [, offset]] of known.ids) {
          if (offset >= covered) continue;
          known.ids.delete(id);
          known.complete = false;
          idsHeld--;
        }
      }
    },
    lacks: (batch) => {
      const asks = new Map<string, Set<string>>();
      for (const request of batch) {
        const known = window.get(request.stream);
        const ids = request.events
          .filter((e) => !e.freshId && !known?.ids.has(e.id) && !known?.complete)
          .map((e) => e.id);
        if (known && ids.length === 0) continue;
        const ask = asks.get(request.stream) ?? new Set();
        for (const id of ids) ask.add(id);
        asks.set(request.stream, ask);
      }
      return asks;
    },
    absorb: (streams, found) => {
      for (const stream of streams) {
        const indexed = found.get(stream);
        let known = window.get(stream);
        if (!known) {
          const version = indexed?.version ?? 0;
          known = { version, ids: new Map(), last: -1n, complete: version === 0 };
          window.set(stream, known);
        }
        for (const [id, [version, offset]] of indexed?.ids ?? []) {
          if (!known.ids.has(id)) idsHeld++;
          known.ids.set(id, [version, offset]);
        }
      }
    },
  };
};

/** an append to write: its events take versions from `fromVersion`; `repeat`, the ids of an earlier one of the batch */
export interface Accepted<R> {
  request: R;
  fromVersion: number;
  /** the same event ids as an earlier append of this batch; answered from it after the commit */
  repeat?: true;
}

/** an append answered without writing: a repeat of one already written, or a conflict */
export interface Answered<R> {
  request: R;
  result?: AppendResult;
  error?: unknown;
}

// an append planned in this batch but not yet committed: its version, and its ids at offset -1
interface Tentative {
  version: number;
  ids: Map<string, [number, bigint]>;
}

/**
 * Checks a batch of appends against the window (which holds every stream of the batch); returns what to
 * write and what to answer now. An append whose ids were all appended before is answered with where they
 * are; one with only some of them is a conflict; otherwise its expected version is checked against the
 * head, counting the appends of the batch accepted before it.
 */
export const planBatch = <R extends PlannedAppend>(
  window: Pick<StreamWindow, 'get'>,
  batch: readonly R[],
  topic: string,
  partition: number,
) => {
  const tentative = new Map<string, Tentative>();
  const accepted: Accepted<R>[] = [];
  const answered: Answered<R>[] = [];
  for (const request of batch) {
    const known = window.get(request.stream)!;
    const planned = tentative.get(request.stream);
    const head = planned?.version ?? known.version;
    const seen = request.events
      .map((e) => (e.freshId ? undefined : (planned?.ids.get(e.id) ?? known.ids.get(e.id))))
      .filter((x) => x !== undefined);
    if (seen.length === request.events.length) {
      const last = seen.reduce((a, b) => (b[0] > a[0] ? b : a));
      const fromVersion = Math.min(...seen.map((s) => s[0]));
      if (last[1] < 0n) {
        accepted.push({ request, fromVersion, repeat: true });
        continue;
      }
      answered.push({
        request,
        result: {
          stream: request.stream,
          fromVersion,
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
    if (!expectedMatches(request.expected, head)) {
      answered.push({ request, error: new VersionConflict(request.stream, request.expected, head) });
      continue;
    }
    const next = planned ?? { version: head, ids: new Map() };
    request.events.forEach((e, i) => {
      next.ids.set(e.id, [head + i + 1, -1n]);
    });
    next.version = head + request.events.length;
    tentative.set(request.stream, next);
    accepted.push({ request, fromVersion: head + 1 });
  }
  return { accepted, answered };
};

/** the answer to an accepted append once written: where the window now holds its events */
export const resultOf = (
  window: Pick<StreamWindow, 'get'>,
  request: PlannedAppend,
  topic: string,
  partition: number,
): AppendResult => {
  const known = window.get(request.stream)!;
  const found = request.events.map((e) => known.ids.get(e.id)!);
  return {
    stream: request.stream,
    fromVersion: found[0]![0],
    toVersion: found.at(-1)![0],
    position: { topic, partition, offset: found.at(-1)![1] },
  };
};

/** a queued append as batching sees it */
export interface Queued {
  events: readonly unknown[];
  bytes: number;
  /** written in a batch of its own (a batch with it was refused as too large) */
  alone?: true;
}

/** how many queued appends make the next batch: at least one, then as many as fit the bounds */
export const batchSize = (queue: readonly Queued[], maxEvents: number, maxBytes: number) => {
  let events = 0;
  let bytes = 0;
  let take = 0;
  while (take < queue.length) {
    const next = queue[take]!;
    if (
      take > 0 &&
      (next.alone ||
        queue[0]!.alone ||
        events + next.events.length > maxEvents ||
        bytes + next.bytes > maxBytes)
    )
      break;
    events += next.events.length;
    bytes += next.bytes;
    take++;
  }
  return take;
};

/**
 * A batch's attempts across ownership losses (each takes the partition again): full jitter from 40 ms,
 * at most 1 s a wait, 10 attempts, and never past the oldest deadline of the batch (see `retry`)
 */
export const APPEND_RETRY_POLICY: RetryPolicy = {
  baseMs: 40,
  maxDelayMs: 1000,
  maxAttempts: 10,
  budgetMs: 60_000,
};

/**
 * kafkajs's own retries inside a transaction (a coordinator moving, CONCURRENT_TRANSACTIONS right after a
 * commit: retried within a millisecond or two at first). Bounded in number, so that a producer the
 * sequencer dropped on a broker that stopped answering gives up in the end; what a caller waits for is
 * bounded by its deadline, not by these.
 */
export const TRANSACTION_RETRY = {
  retries: 15,
  maxRetryTime: 2000,
  initialRetryTime: 1,
  factor: 0.2,
  multiplier: 2,
} as const;

/** what waits in a sequencer's queue, or what an append would add to it */
export interface QueueLoad {
  events: number;
  bytes: number;
}

/**
 * Why an append does not fit the queue, or undefined when it does. An empty queue takes any append, so
 * that one larger than the bounds alone is written rather than refused for ever.
 */
export const queueRefusal = (load: QueueLoad, adding: QueueLoad, bounds: QueueLoad): string | undefined => {
  if (load.events === 0) return undefined;
  if (load.events + adding.events > bounds.events)
    return `${load.events} events wait and ${adding.events} more would pass the bound of ${bounds.events}`;
  if (load.bytes + adding.bytes > bounds.bytes)
    return `${load.bytes} bytes wait and ${adding.bytes} more would pass the bound of ${bounds.bytes}`;
  return undefined;
};

/** the earliest and the latest deadline (epoch ms) of a batch of at least one append */
export const deadlinesOf = (batch: readonly { deadline: number }[]) => {
  let oldest = Number.POSITIVE_INFINITY;
  let latest = Number.NEGATIVE_INFINITY;
  for (const { deadline } of batch) {
    if (deadline < oldest) oldest = deadline;
    if (deadline > latest) latest = deadline;
  }
  return { oldest, latest };
};
