import { AppendTimeout, TooLarge, ValidationFailed } from '../errors.ts';
import type { EventLog } from '../ports.ts';
import { encodePosition, type PositionToken } from '../read/positions.ts';
import { activeTraceparent, enabledOnce, SpanKind, withSpan } from '../tracing.ts';
import type { ExpectedVersion, NewEvent, PreparedEvent, StreamId } from '../types.ts';
import type { EventCatalog } from './event-types.ts';
import { MAX_DEPTH, tooDeep } from './storable.ts';
import { categoryOf, parseStreamId } from './streams.ts';

export interface AppendRequest {
  expectedVersion?: ExpectedVersion;
  events: NewEvent[];
}

export interface AppendResponse {
  stream: StreamId;
  fromVersion: number;
  toVersion: number;
  position: PositionToken;
}

export interface AppendOptions {
  /**
   * epoch ms by which the append must be committed (HTTP: its receipt + LOGFRONT_APPEND_DEADLINE_MS);
   * default: now + the limit
   */
  readonly deadline?: number;
}

export interface AppendService {
  // exactly-once per event id: a retry with the same ids appends nothing and answers the first result.
  appendToStream(stream: string, request: unknown, options?: AppendOptions): Promise<AppendResponse>;
}

// The answer of `work`, or `timeout()` once `deadline` passes, wherever the append waits (a topic's
// metadata, a schema, its partition's queue, a transaction): work that goes on is the log's to drop or
// finish; its late outcome is not reported.
const byDeadline = <T>(work: Promise<T>, deadline: number, timeout: () => Error): Promise<T> =>
  new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(timeout()), Math.max(0, deadline - Date.now()));
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });

const parseExpected = (raw: unknown): ExpectedVersion => {
  if (raw === undefined) return 'any';
  if (raw === 'no_stream' || raw === 'stream_exists' || raw === 'any') return raw;
  if (typeof raw === 'number' && Number.isSafeInteger(raw) && raw >= 0) return raw;
  throw new ValidationFailed('invalid expectedVersion', [
    { path: 'expectedVersion', message: 'expected an integer ≥ 0, "no_stream", "stream_exists" or "any"' },
  ]);
};

export const createAppendService = (deps: {
  log: EventLog;
  catalog: EventCatalog;
  /** appendDeadlineMs: how long after its receipt an append may take to be committed */
  limits: { maxAppendEvents: number; maxAppendBytes: number; appendDeadlineMs: number };
  /**
   * what only logfront itself appends (the blob service: its category and event types), with what to
   * use instead; an append of a client never writes them, so it cannot forge a blob's chunks or commit
   */
  reserved?: {
    readonly categories: ReadonlySet<string>;
    readonly types: ReadonlySet<string>;
    readonly use: string;
  };
  /** what the log is, for spans' `messaging.system` (default kafka) */
  system?: string;
}): AppendService => ({
  appendToStream: async (rawStream, request, options = {}) => {
    const deadlineMs = deps.limits.appendDeadlineMs;
    const deadline = options.deadline ?? Date.now() + deadlineMs;
    const stream = parseStreamId(rawStream);
    if (deps.reserved?.categories.has(categoryOf(stream))) {
      throw new ValidationFailed('invalid append', [
        {
          path: 'stream',
          message: `category ${categoryOf(stream)} is written by logfront only: ${deps.reserved.use}`,
        },
      ]);
    }
    if (typeof request !== 'object' || request === null || Array.isArray(request)) {
      throw new ValidationFailed('invalid append', [{ path: '', message: 'expected {"events": […]}' }]);
    }
    const body = request as Record<string, unknown>;
    const unknownKeys = Object.keys(body).filter((k) => k !== 'events' && k !== 'expectedVersion');
    if (unknownKeys.length) {
      throw new ValidationFailed(
        'invalid append',
        unknownKeys.map((k) => ({ path: k, message: 'unknown field' })),
      );
    }
    const expected = parseExpected(body.expectedVersion);
    if (!Array.isArray(body.events)) {
      throw new ValidationFailed('invalid append', [
        { path: 'events', message: 'expected an array of events' },
      ]);
    }
    if (body.events.length === 0) {
      throw new ValidationFailed('invalid append', [
        { path: 'events', message: 'at least one event is required' },
      ]);
    }
    if (body.events.length > deps.limits.maxAppendEvents) {
      throw new TooLarge(
        `an append holds at most ${deps.limits.maxAppendEvents} events, got ${body.events.length}`,
        deps.limits.maxAppendEvents,
      );
    }
    // events, one event, its data: then the data's own levels
    const deep = tooDeep(body.events, MAX_DEPTH + 3);
    if (deep) {
      throw new ValidationFailed('invalid append', [
        { path: ['events', ...deep].join('.'), message: `nested deeper than ${MAX_DEPTH} levels` },
      ]);
    }
    const bytes = Buffer.byteLength(JSON.stringify(body.events));
    if (bytes > deps.limits.maxAppendBytes) {
      throw new TooLarge(
        `an append holds at most ${deps.limits.maxAppendBytes} bytes of events, got ${bytes}`,
        deps.limits.maxAppendBytes,
      );
    }
    const reservedAt = deps.reserved
      ? body.events.findIndex((e) =>
          deps.reserved!.types.has((e as { type?: unknown } | null)?.type as string),
        )
      : -1;
    if (reservedAt >= 0) {
      throw new ValidationFailed('invalid append', [
        { path: `events.${reservedAt}.type`, message: `written by logfront only: ${deps.reserved!.use}` },
      ]);
    }
    const prepared = deps.catalog.prepare(body.events);
    const ids = new Set(prepared.map((e) => e.id));
    if (ids.size !== prepared.length) {
      throw new ValidationFailed('invalid append', [
        { path: 'events', message: 'event ids must be unique in a batch' },
      ]);
    }
    const result = await byDeadline(
      appendToLog(deps, stream, prepared, expected, { deadline }),
      deadline,
      () => new AppendTimeout(stream, deadlineMs),
    );
    return {
      stream: result.stream,
      fromVersion: result.fromVersion,
      toVersion: result.toVersion,
      position: encodePosition(result.position),
    };
  },
});

/**
 * The log's append, in a producer span when tracing is on (messaging conventions: system, destination,
 * partition, offset): each event without a traceparent of its own carries this span's, so that a
 * consumer of its record continues the trace from here.
 */
const appendToLog = (
  deps: { log: EventLog; system?: string },
  stream: StreamId,
  events: PreparedEvent[],
  expected: ExpectedVersion,
  options: { deadline: number },
) => {
  if (!enabledOnce()) return deps.log.append(stream, events, expected, options);
  const topic = deps.log.topicFor(categoryOf(stream));
  return withSpan(
    `send ${topic}`,
    {
      kind: SpanKind.PRODUCER,
      attributes: {
        'messaging.system': deps.system ?? 'kafka',
        'messaging.operation.type': 'send',
        'messaging.destination.name': topic,
        'messaging.batch.message_count': events.length,
      },
    },
    async (span) => {
      const traceparent = activeTraceparent();
      for (const e of events) if (!e.metadata.traceparent) e.metadata = { ...e.metadata, traceparent };
      const r = await deps.log.append(stream, events, expected, options);
      span.setAttributes({
        'messaging.destination.partition.id': String(r.position.partition),
        'messaging.kafka.offset': Number(r.position.offset),
      });
      return r;
    },
  );
};

/** each append in a span (when tracing is on): its stream, expected version and the versions written */
export const traceAppends = (service: AppendService): AppendService =>
  enabledOnce()
    ? {
        appendToStream: (stream, request) => {
          const body = (typeof request === 'object' && request !== null ? request : {}) as {
            events?: unknown;
            expectedVersion?: unknown;
          };
          return withSpan(
            'append',
            {
              attributes: {
                'logfront.stream': String(stream).slice(0, 200),
                'logfront.expected_version': String(body.expectedVersion ?? 'any'),
                ...(Array.isArray(body.events) ? { 'logfront.events': body.events.length } : {}),
              },
            },
            async (span) => {
              const r = await service.appendToStream(stream, request);
              span.setAttributes({
                'logfront.from_version': r.fromVersion,
                'logfront.to_version': r.toVersion,
              });
              return r;
            },
          );
        },
      }
    : service;
