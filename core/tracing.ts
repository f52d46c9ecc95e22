// Spans, through @opentelemetry/api only. Without an SDK registered (app/tracing.ts registers one when
// the standard OTEL_* variables ask for it) the API hands out non-recording spans: `span` then costs a
// function call and no allocation of attributes (`enabled()` is false, and callers skip building them).
//
// The trace context crosses Kafka in each record's W3C `traceparent` header: the producer's span is
// the parent written there, and a consumer's span links to each record's (a batch has many parents).

import {
  type Attributes,
  type Context,
  context,
  INVALID_SPAN_CONTEXT,
  type Link,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';

export type { Span };
export { SpanKind };

const tracer = () => trace.getTracer('logfront');

/** whether spans are recorded at all: false until an SDK is registered */
export const tracingEnabled = (): boolean => {
  // a span never ended is never exported: the probe leaves no trace behind
  return tracer().startSpan('logfront.tracing-probe').isRecording();
};

let enabled: boolean | undefined;
/** tracingEnabled, asked once (an SDK is registered before logfront starts, or never) */
export const enabledOnce = () => {
  enabled ??= tracingEnabled();
  return enabled;
};
/** for tests that register an SDK after something asked */
export const resetTracingProbe = () => {
  enabled = undefined;
};

export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  links?: Link[];
  /** the parent, when it is not the active context (a record's traceparent) */
  parent?: Context;
}

/**
 * Runs `fn` in a span named `name`, made the active one for what `fn` starts; the span ends when `fn`
 * settles, with an error status and the exception recorded when it throws.
 */
export const withSpan = async <T>(
  name: string,
  options: SpanOptions,
  fn: (span: Span) => Promise<T>,
): Promise<T> => {
  if (!enabledOnce()) return fn(trace.wrapSpanContext(INVALID_SPAN_CONTEXT));
  const parent = options.parent ?? context.active();
  const span = tracer().startSpan(
    name,
    {
      ...(options.kind !== undefined ? { kind: options.kind } : {}),
      ...(options.attributes ? { attributes: options.attributes } : {}),
      ...(options.links ? { links: options.links } : {}),
    },
    parent,
  );
  try {
    return await context.with(trace.setSpan(parent, span), () => fn(span));
  } catch (error) {
    span.recordException(error as Error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error)?.message ?? String(error) });
    throw error;
  } finally {
    span.end();
  }
};

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** the W3C traceparent of the active span, or undefined when none is recording */
export const activeTraceparent = (): string | undefined => {
  const span = trace.getActiveSpan();
  if (!span) return undefined;
  const c = span.spanContext();
  if (!trace.isSpanContextValid(c)) return undefined;
  return `00-${c.traceId}-${c.spanId}-${(c.traceFlags & 1).toString(16).padStart(2, '0')}`;
};

/** the span context a W3C traceparent names, as a link or a remote parent; undefined when malformed */
export const linkOf = (traceparent: string | undefined): Link | undefined => {
  if (!traceparent) return undefined;
  const m = TRACEPARENT.exec(traceparent.trim());
  if (!m || m[1] === 'ff') return undefined;
  const spanContext = {
    traceId: m[2]!,
    spanId: m[3]!,
    traceFlags: Number.parseInt(m[4]!, 16),
    isRemote: true,
  };
  return trace.isSpanContextValid(spanContext) ? { context: spanContext } : undefined;
};

/** a context whose parent is the span a traceparent names (a remote parent), or the active one */
export const contextOf = (traceparent: string | undefined): Context => {
  const link = linkOf(traceparent);
  return link ? trace.setSpanContext(context.active(), link.context) : context.active();
};

/** links to each distinct traceparent, at most `max` (a batch of thousands links to a sample) */
export const linksOf = (traceparents: Iterable<string | undefined>, max = 128): Link[] => {
  const seen = new Set<string>();
  const links: Link[] = [];
  for (const tp of traceparents) {
    if (!tp || seen.has(tp)) continue;
    seen.add(tp);
    const link = linkOf(tp);
    if (link) links.push(link);
    if (links.length >= max) break;
  }
  return links;
};

/**
 * One batch a subscriber applies, in a consumer span (when tracing is on): the child of its first
 * event's producer span, linked to every event's, with the messaging attributes of the batch and
 * `attributes` of the subscriber's own.
 */
export const inConsumerSpan = <T>(
  name: string,
  batch: {
    topic: string;
    partition: number;
    events: readonly { metadata: { traceparent?: string }; position: { offset: bigint } }[];
  },
  attributes: Attributes,
  fn: () => Promise<T>,
): Promise<T> =>
  enabledOnce() && batch.events.length > 0
    ? withSpan(
        name,
        {
          kind: SpanKind.CONSUMER,
          parent: contextOf(batch.events[0]!.metadata.traceparent),
          links: linksOf(batch.events.map((e) => e.metadata.traceparent)),
          attributes: {
            'messaging.system': 'kafka',
            'messaging.operation.type': 'process',
            'messaging.destination.name': batch.topic,
            'messaging.destination.partition.id': String(batch.partition),
            'messaging.batch.message_count': batch.events.length,
            'messaging.kafka.offset': Number(batch.events[0]!.position.offset),
            ...attributes,
          },
        },
        fn,
      )
    : fn();
