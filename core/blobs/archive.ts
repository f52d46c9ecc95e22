// The archive (DESIGN §6): a sink that writes every topic's records to the blob store in objects named
// by topic, partition and offset range, and a log decorator that replays from those objects the
// records Kafka's retention has already dropped, then goes on from Kafka, seamlessly.

import { LogfrontError } from '../errors.ts';
import { subscribeToAllCategories } from '../log/all-categories.ts';
import type { Logger } from '../logger.ts';
import type { EventLog, LogBatch, SubscribeOptions } from '../ports.ts';
import { partitionKey } from '../read/positions.ts';
import { enabledOnce, inConsumerSpan, withSpan } from '../tracing.ts';
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

/**
 * one object: the records of offsets [first, last] of one partition, one JSON line each. The range is the
 * offsets the object covers, transaction markers included: a partition's objects follow one another
 * without a gap (the next starts at the last's end + 1), so a reader can tell a hole from markers.
 */
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

/** offsets [from, to) of a partition that neither the log (its retention dropped them) nor the archive holds */
export interface ArchiveHole {
  readonly topic: string;
  readonly partition: number;
  readonly from: bigint;
  readonly to: bigint;
}

/**
 * The holes this process found, for its status and metrics: each distinct range is counted once,
 * whoever finds it (a subscriber below the log start, a reader, the archive sink). A finder (a
 * projection, a sink) has a partition's hole open until it closes it (it read past it).
 */
export interface ArchiveHoles {
  report(hole: ArchiveHole, foundBy: string): void;
  close(foundBy: string, topic: string, partition: number): void;
  /** distinct holes found since the process started */
  count(): number;
  /** the holes `foundBy` stands at now */
  open(foundBy: string): ArchiveHole[];
}

export const createArchiveHoles = (): ArchiveHoles => {
  const seen = new Set<string>();
  const open = new Map<string, Map<string, ArchiveHole>>();
  return {
    report: (hole, foundBy) => {
      seen.add(`${partitionKey(hole.topic, hole.partition)}@${hole.from}-${hole.to}`);
      const byPartition = open.get(foundBy) ?? new Map<string, ArchiveHole>();
      byPartition.set(partitionKey(hole.topic, hole.partition), hole);
      open.set(foundBy, byPartition);
    },
    close: (foundBy, topic, partition) => {
      open.get(foundBy)?.delete(partitionKey(topic, partition));
    },
    count: () => seen.size,
    open: (foundBy) => [...(open.get(foundBy)?.values() ?? [])],
  };
};

/**
 * Writes the records of every category on the log to the store: `categories`, and every category the
 * log has a topic for (looked for again every `maxAgeMs`, between 1 and 30 s; a new one joins the
 * subscription). An object is cut when it holds `maxRecords` records or `maxBytes` bytes, or when its
 * oldest record has waited `maxAgeMs`. The sink resumes after the last object written, so after a
 * crash the same records are written again into an object of the same name, or (when the cut was made
 * by time) one that starts at the same offset: readers take each offset once. A partition's objects
 * are written one at a time, in order; one that fails is kept and written again, with what came
 * after it, so the archive has no hole. Records the log dropped before the sink archived them (it was
 * stopped longer than the retention, or started late) are a hole: reported (`holes`, an error in the
 * log), and the sink goes on from the log start; readers find the hole as a gap between objects.
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
  holes?: ArchiveHoles;
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
  // per partition, where the archive ends (the next offset no object covers), as last asked or written
  const written = new Map<string, bigint>();
  // per partition, the log start the sink went on from after a hole (an archive that ends below it)
  const skipTo = new Map<string, bigint>();

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
      if (!p) return;
      pending.delete(key);
      const objectKey = archiveKey(deps.keyPrefix, topic, partition, p.first, p.last);
      const put = () => store.put(objectKey, Buffer.concat(p.pieces, p.bytes), 'application/x-ndjson');
      try {
        if (enabledOnce())
          await withSpan(
            'archive write',
            {
              attributes: {
                'messaging.destination.name': topic,
                'messaging.destination.partition.id': String(partition),
                'logfront.archive.key': objectKey,
                'logfront.archive.first_offset': p.first.toString(),
                'logfront.archive.last_offset': p.last.toString(),
                'logfront.archive.records': p.records,
                'logfront.archive.bytes': p.bytes,
              },
            },
            put,
          );
        else await put();
      } catch (error) {
        putBack(key, p);
        throw error;
      }
      written.set(key, p.last + 1n);
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
  const archivedEnd = async (topic: string, partition: number) => {
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
    return last === undefined ? 0n : last + 1n;
  };
  // where the subscription resumes: the archive's end (0: everything, when there is none yet)
  const startAt = async (topic: string, partition: number) => {
    const key = partitionKey(topic, partition);
    const end = await archivedEnd(topic, partition);
    const skipped = skipTo.get(key) ?? 0n;
    const at = end > skipped ? end : skipped;
    written.set(key, at);
    return at;
  };
  // the log dropped records the archive does not hold: a hole, reported; the sink goes on from `to`
  const belowLogStart = async (topic: string, partition: number, _from: bigint, to: bigint) => {
    await flush(topic, partition); // what is pending may reach the log start
    const end = await archivedEnd(topic, partition);
    if (end >= to) return;
    deps.holes?.report({ topic, partition, from: end, to }, 'archive sink');
    deps.logger.error(
      { topic, partition, from: String(end), to: String(to) },
      'archive sink: the log dropped records before they were archived; the archive has a hole there',
    );
    skipTo.set(partitionKey(topic, partition), to);
  };

  // the next offset neither an object nor what is pending covers
  const archivedTo = (key: string) => {
    const p = pending.get(key);
    return p ? p.last + 1n : written.get(key);
  };
  const pendingFrom = (key: string, first: bigint): Pending => {
    const p = { pieces: [], records: 0, bytes: 0, first, last: first - 1n, since: Date.now() };
    pending.set(key, p);
    return p;
  };

  const onBatch = async (batch: LogBatch) => {
    const key = partitionKey(batch.topic, batch.partition);
    for (const event of batch.events) {
      const at = archivedTo(key);
      if (at !== undefined && event.position.offset < at) continue; // redelivered
      const p = pending.get(key) ?? pendingFrom(key, at ?? event.position.offset);
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
    // the offsets after the batch's last record (transaction markers) are covered too
    const at = archivedTo(key) ?? batch.nextOffset;
    if (batch.nextOffset > at) (pending.get(key) ?? pendingFrom(key, at)).last = batch.nextOffset - 1n;
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
      belowLogStart,
      onBatch: (batch) => inConsumerSpan('archive', batch, {}, () => onBatch(batch)),
      // what is pending stays: the failed partition is delivered again from the archive's end, and
      // what was pending already is taken once (an object that failed went back in front of it)
      onError: (error) => {
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

/**
 * the archived records of one partition in [from, to), in offset order, each once; an ArchiveGap naming
 * the first range no object covers (objects cover their offsets without a gap, markers included)
 */
export const readArchive = async (
  store: BlobStore,
  keyPrefix: string,
  topic: string,
  partition: number,
  from: bigint,
  to: bigint,
): Promise<RecordedEvent[]> => {
  const objects = (await store.list(archivePrefix(keyPrefix, topic, partition)))
    .flatMap((o) => {
      const range = rangeOf(o.key);
      return range && range.last >= from && range.first < to ? [{ key: o.key, ...range }] : [];
    })
    .sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
  const out: RecordedEvent[] = [];
  let covered = from; // [from, covered) is read
  for (const o of objects) {
    if (o.first > covered) throw new ArchiveGap(topic, partition, covered, o.first);
    if (o.last < covered) continue; // an object written again with a later cut: read already
    const body = await store.get(o.key);
    if (!body) throw new ArchiveGap(topic, partition, covered, o.last + 1n); // gone since it was listed
    for (const line of (await readAll(body.body)).toString('utf8').split('\n')) {
      if (!line) continue;
      const e = fromLine(line);
      if (e.position.offset < covered || e.position.offset >= to) continue;
      out.push(e);
    }
    covered = o.last + 1n;
  }
  if (covered < to) throw new ArchiveGap(topic, partition, covered, to);
  return out;
};

/**
 * The log, plus the archive below Kafka's log start: a subscriber whose position is below it gets the
 * archived records first (in batches, through its own onBatch, so its checkpoints move as usual), then
 * the subscription goes on from Kafka. The same when the log start passes the subscriber later (it
 * lagged behind the retention). A range the archive does not cover is an ArchiveGap: at subscribe, the
 * subscription fails; later, the partition stops and the subscriber's onError hears it (`holes`).
 */
export const withArchive = (
  log: EventLog,
  deps: { store: BlobStore; keyPrefix: string; logger: Logger; holes?: ArchiveHoles },
): EventLog => {
  if (!log.startOffsets) return log;
  const startOffsets = log.startOffsets.bind(log);
  // delivers the archived records of [from, to) through the subscriber's onBatch
  const fill = async (sub: SubscribeOptions, topic: string, partition: number, from: bigint, to: bigint) => {
    let events: RecordedEvent[];
    try {
      events = await readArchive(deps.store, deps.keyPrefix, topic, partition, from, to);
    } catch (error) {
      if (error instanceof ArchiveGap) deps.holes?.report(error, sub.groupId);
      throw error;
    }
    deps.logger.info(
      { topic, partition, from: String(from), to: String(to), events: events.length },
      'replaying from the archive',
    );
    const end = (await log.endOffsets([topic])).find((e) => e.partition === partition)?.offset ?? to;
    const size = sub.maxBatchEvents ?? 500;
    for (let i = 0; i === 0 || i < events.length; i += size) {
      const slice = events.slice(i, i + size);
      await sub.onBatch({
        topic,
        partition,
        events: slice,
        // the last archived batch moves the subscriber to the log's start (what is between is markers)
        nextOffset: i + size >= events.length ? to : slice.at(-1)!.position.offset + 1n,
        highWatermark: end,
        fetchedAt: Date.now(),
      });
    }
  };
  const replay = async (sub: SubscribeOptions) => {
    for (const low of await startOffsets(sub.topics)) {
      if (low.offset === 0n) continue;
      const from = (await sub.startAt(low.topic, low.partition)) ?? 0n;
      if (from < low.offset) await fill(sub, low.topic, low.partition, from, low.offset);
    }
  };
  return {
    ...log,
    subscribe: async (sub) => {
      await replay(sub);
      return log.subscribe({
        ...sub,
        belowLogStart: (topic, partition, from, to) => fill(sub, topic, partition, from, to),
      });
    },
  };
};
