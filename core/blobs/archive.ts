// The archive (DESIGN §6): a sink that writes every topic's records to the blob store in objects named
// by topic, partition and offset range, and a log decorator that replays from those objects the
// records Kafka's retention has already dropped, then goes on from Kafka, seamlessly.

import { LogfrontError } from '../errors.ts';
import { subscribeToAllCategories } from '../log/all-categories.ts';
import type { Logger } from '../logger.ts';
import type { EventLog, LogBatch, SubscribeOptions } from '../ports.ts';
import { partitionKey } from '../read/positions.ts';
import type { RecordedEvent } from '../types.ts';
import { type BlobStore, readAll } from './blobs.ts';
import { fromJsonData, hasBytes, toJsonDataPieces } from './bytes-json.ts';

const pad = (offset: bigint) => offset.toString().padStart(20, '0');

/** `<prefix>/archive/<topic>/<partition>/` */
export const archivePrefix = (prefix: string, topic: string, partition: number) =>
  `${prefix}/archive/${topic}/${partition}/`;

/**
 * `<prefix>/archive/<topic>/<partition>/end`: the last offset the partition's archive holds, written
 * after each object, so a sink resumes without listing the whole archive (after it: digits sort first)
 */
export const archiveEndKey = (prefix: string, topic: string, partition: number) =>
  `${archivePrefix(prefix, topic, partition)}end`;

/** one object: the records of [first, last] of one partition, one JSON line each */
export const archiveKey = (prefix: string, topic: string, partition: number, first: bigint, last: bigint) =>
  `${archivePrefix(prefix, topic, partition)}${pad(first)}-${pad(last)}.jsonl`;

const rangeOf = (key: string) => {
  const m = /\/(\d{20})-(\d{20})\.jsonl$/.exec(key);
  return m ? { first: BigInt(m[1]!), last: BigInt(m[2]!) } : null;
};

const NEWLINE = Buffer.from('\n');

/** one record as a JSON line, in pieces; a top-level bytes field of its data is `{ "$base64": … }` */
export const toLine = (e: RecordedEvent): Buffer[] => {
  const event = { ...e, position: { ...e.position, offset: e.position.offset.toString() } };
  if (!hasBytes(e.data)) return [Buffer.from(JSON.stringify(event))];
  // the event with `data` last, then the data in pieces
  const { data: _, ...rest } = event;
  const head = JSON.stringify({ ...rest, data: 0 });
  return [Buffer.from(head.slice(0, -2)), ...toJsonDataPieces(e.data), Buffer.from('}')];
};
export const fromLine = (line: string): RecordedEvent => {
  const o = JSON.parse(line) as RecordedEvent & { position: { offset: string } };
  return {
    ...o,
    data: fromJsonData(o.data),
    position: { ...o.position, offset: BigInt(o.position.offset) },
  } as RecordedEvent;
};

export interface ArchiveSink {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Writes the records of every category on the log to the store: `categories`, and every category the
 * log has a topic for (looked for again every `maxAgeMs`, between 1 and 30 s; a new one joins the
 * subscription). An object is cut when it holds `maxRecords` records or `maxBytes` bytes, or when its
 * oldest record has waited `maxAgeMs`. The sink resumes after the last object written, so after a
 * crash the same records are written again into an object of the same name, or (when the cut was made
 * by time) one that starts at the same offset: readers take each offset once. A partition's objects
 * are written one at a time, in order; one that fails is kept and written again, with what came
 * after it, so the archive has no hole.
 */
export const createArchiveSink = (deps: {
  /** the log as stored: sensitive fields stay ciphertext in the archive */
  log: EventLog;
  store: BlobStore;
  categories: readonly string[];
  keyPrefix: string;
  groupPrefix: string;
  maxRecords: number;
  maxBytes: number;
  maxAgeMs: number;
  logger: Logger;
}): ArchiveSink => {
  const { log, store } = deps;
  const pending = new Map<
    string,
    { pieces: Buffer[]; records: number; bytes: number; first: bigint; last: bigint; since: number }
  >();
  type Pending = NonNullable<ReturnType<typeof pending.get>>;
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  // a partition's objects are written one after another
  const writing = new Map<string, Promise<void>>();

  // an object that could not be written goes back in front of what came after it
  const putBack = (key: string, p: Pending) => {
    const later = pending.get(key);
    if (!later) pending.set(key, p);
    else {
      pending.set(key, {
        pieces: [...p.pieces, ...later.pieces],
        records: p.records + later.records,
        bytes: p.bytes + later.bytes,
        first: p.first,
        last: later.last,
        since: p.since,
      });
    }
  };

  const flush = (topic: string, partition: number) => {
    const key = partitionKey(topic, partition);
    const done = (writing.get(key) ?? Promise.resolve()).then(async () => {
      const p = pending.get(key);
      if (!p || p.records === 0) return;
      pending.delete(key);
      try {
        await store.put(
          archiveKey(deps.keyPrefix, topic, partition, p.first, p.last),
          Buffer.concat(p.pieces, p.bytes),
          'application/x-ndjson',
        );
      } catch (error) {
        putBack(key, p);
        throw error;
      }
      // where the next object starts; a marker that could not be written only makes a resume list more
      await store
        .put(archiveEndKey(deps.keyPrefix, topic, partition), Buffer.from(p.last.toString()), 'text/plain')
        .catch((error) =>
          deps.logger.warn({ err: error, topic, partition }, 'archive sink: could not write the end marker'),
        );
    });
    writing.set(
      key,
      done.catch(() => {}),
    );
    return done;
  };

  // where a partition's archive ends: the last object's last offset + 1
  // the end marker, when there is a readable one
  const markedEnd = async (topic: string, partition: number) => {
    const object = await store.get(archiveEndKey(deps.keyPrefix, topic, partition));
    if (!object) return undefined;
    const text = (await readAll(object.body)).toString('utf8').trim();
    return /^\d{1,20}$/.test(text) ? BigInt(text) : undefined;
  };

  // where a partition's archive ends: after the marked end and any object written after the marker
  // (a crash between an object and its marker); without a marker, after the last object there is
  const startAt = async (topic: string, partition: number) => {
    const prefix = archivePrefix(deps.keyPrefix, topic, partition);
    const marked = await markedEnd(topic, partition);
    const objects = await store.list(
      prefix,
      marked === undefined ? {} : { startAfter: `${prefix}${pad(marked)}` },
    );
    let last = marked;
    for (const o of objects) {
      const range = rangeOf(o.key);
      if (range && (last === undefined || range.last > last)) last = range.last;
    }
    return last === undefined ? undefined : last + 1n;
  };

  const onBatch = async (batch: LogBatch) => {
    const key = partitionKey(batch.topic, batch.partition);
    for (const event of batch.events) {
      let p = pending.get(key);
      if (p && event.position.offset <= p.last) continue; // redelivered
      if (!p) {
        p = {
          pieces: [],
          records: 0,
          bytes: 0,
          first: event.position.offset,
          last: event.position.offset,
          since: Date.now(),
        };
        pending.set(key, p);
      }
      for (const piece of toLine(event)) {
        p.pieces.push(piece);
        p.bytes += piece.length;
      }
      p.pieces.push(NEWLINE);
      p.bytes += 1;
      p.records += 1;
      p.last = event.position.offset;
      if (p.records >= deps.maxRecords || p.bytes >= deps.maxBytes) await flush(batch.topic, batch.partition);
    }
    const p = pending.get(key);
    if (p && Date.now() - p.since >= deps.maxAgeMs) await flush(batch.topic, batch.partition);
  };

  const subscription = subscribeToAllCategories({
    log,
    categories: deps.categories,
    // a category that got its first topic since the sink started joins the subscription
    intervalMs: Math.max(1000, Math.min(deps.maxAgeMs, 30_000)),
    logger: deps.logger,
    name: 'archive sink',
    onSubscribe: () => pending.clear(), // what is pending is delivered again from the end of the archive
    options: {
      groupId: `${deps.groupPrefix}.archive`,
      startAt,
      onBatch,
      onError: (error) => {
        pending.clear(); // redelivered from the end of the archive
        deps.logger.warn({ err: error }, 'archive sink: a batch failed; resuming from the last object');
      },
    },
  });

  return {
    start: async () => {
      if (running) return;
      running = true;
      await subscription.start();
      // a quiet partition still gets its records archived once they are old enough
      timer = setInterval(
        () => {
          const now = Date.now();
          for (const [key, p] of pending) {
            if (now - p.since < deps.maxAgeMs) continue;
            const slash = key.lastIndexOf('/');
            flush(key.slice(0, slash), Number(key.slice(slash + 1))).catch((error) =>
              deps.logger.warn({ err: error }, 'archive sink: writing an object failed; it is retried'),
            );
          }
        },
        Math.max(50, Math.min(deps.maxAgeMs, 1000)),
      );
      timer.unref();
    },
    stop: async () => {
      running = false;
      if (timer) clearInterval(timer);
      await subscription.stop();
      pending.clear();
    },
  };
};

export class ArchiveGap extends LogfrontError {
  readonly code = 'archive_gap';
  readonly status = 409;
  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly from: bigint,
    readonly to: bigint,
  ) {
    super(
      `records ${from}…${to - 1n} of ${topic}/${partition} are neither in the log (its retention dropped them) nor in the archive`,
    );
  }
  override details() {
    return { topic: this.topic, partition: this.partition, from: String(this.from), to: String(this.to) };
  }
}

/** the archived records of one partition in [from, to), in offset order, each once */
export const readArchive = async (
  store: BlobStore,
  keyPrefix: string,
  topic: string,
  partition: number,
  from: bigint,
  to: bigint,
): Promise<RecordedEvent[]> => {
  const objects = (await store.list(archivePrefix(keyPrefix, topic, partition)))
    .map((o) => ({ key: o.key, range: rangeOf(o.key) }))
    .filter((o) => o.range && o.range.last >= from && o.range.first < to);
  const out: RecordedEvent[] = [];
  let next = from;
  for (const o of objects) {
    const body = await store.get(o.key);
    if (!body) continue;
    for (const line of (await readAll(body.body)).toString('utf8').split('\n')) {
      if (!line) continue;
      const e = fromLine(line);
      if (e.position.offset < next || e.position.offset >= to) continue;
      out.push(e);
      next = e.position.offset + 1n;
    }
  }
  return out;
};

/**
 * The log, plus the archive below Kafka's log start: a subscriber whose position is below it gets the
 * archived records first (in batches, through its own onBatch, so its checkpoints move as usual), then
 * the subscription goes on from Kafka.
 */
export const withArchive = (
  log: EventLog,
  deps: { store: BlobStore; keyPrefix: string; logger: Logger },
): EventLog => {
  if (!log.startOffsets) return log;
  const startOffsets = log.startOffsets.bind(log);
  const replay = async (sub: SubscribeOptions) => {
    const starts = await startOffsets(sub.topics);
    const ends = await log.endOffsets(sub.topics);
    for (const low of starts) {
      if (low.offset === 0n) continue;
      const from = (await sub.startAt(low.topic, low.partition)) ?? 0n;
      if (from >= low.offset) continue;
      const events = await readArchive(
        deps.store,
        deps.keyPrefix,
        low.topic,
        low.partition,
        from,
        low.offset,
      );
      // nothing archived where records must have been: say so rather than skip them silently
      if (events.length === 0) throw new ArchiveGap(low.topic, low.partition, from, low.offset);
      deps.logger.info(
        {
          topic: low.topic,
          partition: low.partition,
          from: String(from),
          to: String(low.offset),
          events: events.length,
        },
        'replaying from the archive',
      );
      const end =
        ends.find((e) => e.topic === low.topic && e.partition === low.partition)?.offset ?? low.offset;
      const size = sub.maxBatchEvents ?? 500;
      for (let i = 0; i < events.length; i += size) {
        const slice = events.slice(i, i + size);
        const last = i + size >= events.length;
        await sub.onBatch({
          topic: low.topic,
          partition: low.partition,
          events: slice,
          // the last archived batch moves the subscriber to Kafka's start (what is between is markers)
          nextOffset: last ? low.offset : slice.at(-1)!.position.offset + 1n,
          highWatermark: end,
          fetchedAt: Date.now(),
        });
      }
    }
  };
  return {
    ...log,
    subscribe: async (sub) => {
      await replay(sub);
      return log.subscribe(sub);
    },
  };
};
