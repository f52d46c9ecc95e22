// Bulk append: NDJSON events, one per line, appended in batches per stream over the HTTP API.
import { ApiError, type Client } from './client.ts';
import type { Progress } from './progress.ts';

/** One line of the input: `{"stream"?, "id"?, "type", "data", "metadata"?}`. */
export interface BulkEvent {
  readonly line: number;
  readonly stream: string;
  readonly event: Record<string, unknown>;
  readonly bytes: number;
}

/** Bad input, or an append the server refused: the reason names the line. */
export class BulkAppendFailed extends Error {
  constructor(
    message: string,
    /** events appended before the failure */
    readonly appended = 0,
  ) {
    super(message);
  }
}

const FIELDS = new Set(['stream', 'id', 'type', 'data', 'metadata']);

/** parses every line before anything is sent: a bad line fails the whole input, nothing appended */
export const parseNdjson = (text: string, source: string, defaultStream?: string): BulkEvent[] => {
  const events: BulkEvent[] = [];
  const lines = text.split('\n');
  lines.forEach((raw, index) => {
    const line = index + 1;
    const trimmed = raw.trim();
    if (!trimmed) return;
    const at = `${source}: line ${line}`;
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      throw new BulkAppendFailed(`${at}: not valid JSON`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new BulkAppendFailed(`${at}: expected an object {"stream", "type", "data"}`);
    }
    const { stream = defaultStream, ...event } = parsed as Record<string, unknown>;
    const unknown = Object.keys(parsed).filter((k) => !FIELDS.has(k));
    if (unknown.length) throw new BulkAppendFailed(`${at}: unknown field ${unknown.join(', ')}`);
    if (typeof stream !== 'string' || !stream) {
      throw new BulkAppendFailed(`${at}: no "stream" (give one per line or as the argument)`);
    }
    if (typeof event.type !== 'string') throw new BulkAppendFailed(`${at}: "type" must be a string`);
    events.push({ line, stream, event, bytes: Buffer.byteLength(trimmed) });
  });
  if (events.length === 0) throw new BulkAppendFailed(`${source}: no events`);
  return events;
};

/** Consecutive-by-stream batches: every stream's events in input order, at most `maxEvents`/`maxBytes` each. */
export const batchesByStream = (events: readonly BulkEvent[], maxEvents: number, maxBytes: number) => {
  const byStream = new Map<string, BulkEvent[][]>();
  for (const e of events) {
    let batches = byStream.get(e.stream);
    if (!batches) {
      batches = [[]];
      byStream.set(e.stream, batches);
    }
    let last = batches.at(-1)!;
    const size = last.reduce((n, x) => n + x.bytes, 0);
    if (last.length > 0 && (last.length >= maxEvents || size + e.bytes > maxBytes)) {
      last = [];
      batches.push(last);
    }
    last.push(e);
  }
  return byStream;
};

export interface BulkResult {
  events: number;
  streams: number;
  batches: number;
  seconds: number;
}

/** where a refused batch went wrong: the line of the event the first issue names */
const failedLine = (batch: readonly BulkEvent[], error: ApiError) => {
  const issues = error.body.issues as { path?: string; message?: string }[] | undefined;
  const first = issues?.[0];
  const index = first?.path ? /^events\.(\d+)(?:\.(.*))?$/.exec(first.path) : null;
  const hit = index ? batch[Number(index[1])] : undefined;
  if (hit && first) return `line ${hit.line}: ${error.code}: ${index![2] ?? 'event'}: ${first.message}`;
  return `lines ${batch[0]!.line}-${batch.at(-1)!.line} (${batch[0]!.stream}): ${error.code}: ${error.message}`;
};

// Streams are appended side by side (`concurrency` at a time); the events of one stream in input order.
// at-least-once on a retry of the same input: give lines an `id` to make a re-run append nothing twice.
export const bulkAppend = async (
  client: Pick<Client, 'append'>,
  events: readonly BulkEvent[],
  options: { batchEvents: number; batchBytes: number; concurrency: number; progress?: Progress },
): Promise<BulkResult> => {
  const started = Date.now();
  const byStream = [...batchesByStream(events, options.batchEvents, options.batchBytes).entries()];
  let appended = 0;
  let batches = 0;
  let failure: BulkAppendFailed | undefined;
  let next = 0;
  const worker = async () => {
    while (!failure && next < byStream.length) {
      const [stream, streamBatches] = byStream[next++]!;
      for (const batch of streamBatches) {
        if (failure) return;
        try {
          await client.append(
            stream,
            batch.map((b) => b.event),
          );
        } catch (error) {
          const reason =
            error instanceof ApiError && error.status > 0
              ? failedLine(batch, error)
              : (error as Error).message;
          failure ??= new BulkAppendFailed(reason);
          return;
        }
        appended += batch.length;
        batches++;
        options.progress?.advance(batch.length);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency) }, worker));
  options.progress?.finish();
  if (failure) {
    throw new BulkAppendFailed(
      `${failure.message} (appended ${appended} of ${events.length} events before it)`,
      appended,
    );
  }
  return {
    events: appended,
    streams: byStream.length,
    batches,
    seconds: Number(((Date.now() - started) / 1000).toFixed(2)),
  };
};
