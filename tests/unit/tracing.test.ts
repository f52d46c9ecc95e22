// logfront's spans (core/tracing.ts) with OpenTelemetry's real SDK recording into memory, and when
// app/tracing.ts starts the SDK. The trace through a running server is tests/integration/tracing.kafka.test.ts.
import { context, propagation, trace } from '@opentelemetry/api';
import { NodeSDK, tracing } from '@opentelemetry/sdk-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quietRequest, startTracing, stopTracing, wantsTracing } from '../../app/tracing.ts';
import {
  activeTraceparent,
  contextOf,
  enabledOnce,
  linkOf,
  linksOf,
  resetTracingProbe,
  SpanKind,
  tracingEnabled,
  withSpan,
} from '../../core/tracing.ts';

const TP = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('tracing off (no SDK)', () => {
  it('records nothing, and runs the work all the same', async () => {
    resetTracingProbe();
    expect(tracingEnabled()).toBe(false);
    expect(enabledOnce()).toBe(false);
    expect(await withSpan('x', {}, async (span) => span.isRecording())).toBe(false);
    expect(activeTraceparent()).toBeUndefined();
  });
});

describe('wantsTracing', () => {
  it('follows the standard OTEL_* variables', () => {
    expect(wantsTracing({})).toBe(false);
    expect(wantsTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' })).toBe(true);
    expect(wantsTracing({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:4318/v1/traces' })).toBe(
      true,
    );
    expect(wantsTracing({ OTEL_TRACES_EXPORTER: 'otlp' })).toBe(true);
    expect(wantsTracing({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x' })).toBe(
      false,
    );
    expect(wantsTracing({ OTEL_SDK_DISABLED: 'TRUE', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x' })).toBe(false);
  });

  it('leaves probes and scrapes out of the traces', () => {
    expect(quietRequest('/healthz')).toBe(true);
    expect(quietRequest('/metrics?x=1')).toBe(true);
    expect(quietRequest('/v1/streams/order-1/events')).toBe(false);
    expect(quietRequest(undefined)).toBe(false);
  });
});

describe('traceparents', () => {
  it('reads a W3C traceparent as a link or a remote parent, and refuses malformed ones', () => {
    expect(linkOf(TP)?.context).toMatchObject({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      traceFlags: 1,
      isRemote: true,
    });
    expect(linkOf(undefined)).toBeUndefined();
    expect(linkOf('garbage')).toBeUndefined();
    expect(linkOf(`ff${TP.slice(2)}`)).toBeUndefined(); // version ff is invalid
    expect(linkOf(`00-${'0'.repeat(32)}-00f067aa0ba902b7-01`)).toBeUndefined(); // all-zero trace id
    expect(trace.getSpanContext(contextOf(TP))?.spanId).toBe('00f067aa0ba902b7');
    expect(trace.getSpanContext(contextOf('garbage'))).toBeUndefined();
  });

  it('links each distinct traceparent once, up to a bound', () => {
    const other = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b8-01';
    expect(linksOf([TP, TP, undefined, 'bad', other])).toHaveLength(2);
    const many = Array.from(
      { length: 10 },
      (_, i) => `00-${'1'.repeat(32)}-${String(i + 1).padStart(16, '0')}-01`,
    );
    expect(linksOf(many, 3)).toHaveLength(3);
  });
});

describe('tracing on (the SDK recording into memory)', () => {
  const exporter = new tracing.InMemorySpanExporter();
  const processor = new tracing.SimpleSpanProcessor(exporter);
  /** the spans ended so far (the processor exports each one asynchronously) */
  const finished = async () => {
    await processor.forceFlush();
    return exporter.getFinishedSpans();
  };
  let sdk: NodeSDK;
  beforeAll(() => {
    sdk = new NodeSDK({ spanProcessors: [processor], instrumentations: [] });
    sdk.start();
    resetTracingProbe();
  });
  afterAll(async () => {
    await sdk.shutdown();
    trace.disable();
    context.disable();
    propagation.disable();
    resetTracingProbe();
  });

  it('makes a span the parent of what runs in it, and its traceparent the active one', async () => {
    expect(enabledOnce()).toBe(true);
    let inner: string | undefined;
    await withSpan('outer', { kind: SpanKind.PRODUCER, attributes: { a: 1 } }, async () => {
      inner = activeTraceparent();
      await withSpan('child', {}, async () => {});
    });
    const spans = await finished();
    const outer = spans.find((s) => s.name === 'outer')!;
    const child = spans.find((s) => s.name === 'child')!;
    expect(outer.kind).toBe(SpanKind.PRODUCER);
    expect(outer.attributes.a).toBe(1);
    expect(
      child.parentSpanContext?.spanId ?? (child as unknown as { parentSpanId: string }).parentSpanId,
    ).toBe(outer.spanContext().spanId);
    expect(inner).toBe(`00-${outer.spanContext().traceId}-${outer.spanContext().spanId}-01`);
    // no span leaks from the probe that asked whether tracing is on
    expect(spans.some((s) => s.name.includes('probe'))).toBe(false);
  });

  it('continues a remote parent and links the others', async () => {
    exporter.reset();
    const other = '00-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-bbbbbbbbbbbbbbbb-01';
    await withSpan('consume', { parent: contextOf(TP), links: linksOf([TP, other]) }, async () => {});
    const [span] = await finished();
    expect(span!.spanContext().traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(span!.links.map((l) => l.context.spanId)).toEqual(['00f067aa0ba902b7', 'bbbbbbbbbbbbbbbb']);
  });

  it('marks a span that threw as an error, and throws on', async () => {
    exporter.reset();
    await expect(
      withSpan('fails', {}, async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    const [span] = await finished();
    expect(span!.status).toMatchObject({ code: 2, message: 'boom' });
    expect(span!.events.some((e) => e.name === 'exception')).toBe(true);
  });
});

describe('startTracing', () => {
  it('starts the SDK only when asked, once, and stops it', async () => {
    expect(await startTracing({})).toBe(false);
    // an endpoint nobody listens on: nothing is exported in this test
    expect(
      await startTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9', OTEL_SERVICE_NAME: 't' }),
    ).toBe(true);
    expect(enabledOnce()).toBe(true);
    expect(await startTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' })).toBe(true);
    await stopTracing();
    await stopTracing(); // twice is harmless
    trace.disable();
    context.disable();
    propagation.disable();
    resetTracingProbe();
    expect(enabledOnce()).toBe(false);
  });
});
