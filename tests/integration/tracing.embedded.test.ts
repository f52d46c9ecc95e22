// logfront's own spans in process, on the embedded default, with OpenTelemetry's SDK recording into
// memory: an append, its producer span, the projection's consumer span and a budgeted read.
import { context, propagation, trace } from '@opentelemetry/api';
import { NodeSDK, tracing } from '@opentelemetry/sdk-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resetTracingProbe, withSpan } from '../../core/tracing.ts';
import { type Api, startApi } from '../support/api.ts';
import { orderPlaced } from '../support/orders.ts';
import { embeddedConfig, uniqueId, waitFor } from '../support/services.ts';

describe('spans on the embedded default', () => {
  const exporter = new tracing.InMemorySpanExporter();
  const processor = new tracing.SimpleSpanProcessor(exporter);
  let sdk: NodeSDK;
  let api: Api;
  beforeAll(async () => {
    sdk = new NodeSDK({ spanProcessors: [processor], instrumentations: [] });
    sdk.start();
    resetTracingProbe();
    api = await startApi(embeddedConfig());
  });
  afterAll(async () => {
    await api?.close();
    await sdk.shutdown();
    trace.disable();
    context.disable();
    propagation.disable();
    resetTracingProbe();
  });

  it('traces an append through the log to the projection, and the read', async () => {
    const order = uniqueId();
    const r = await api.lf.append.appendToStream(`order-${order}`, {
      expectedVersion: 'no_stream',
      events: [orderPlaced(order)],
    });
    const { meta } = await api.lf.facade.get('orders', order, { after: r.position, maxStalenessMs: 10_000 });
    expect(meta.source).toBeDefined();
    const spans = await waitFor(async () => {
      await processor.forceFlush();
      const all = exporter.getFinishedSpans();
      return all.some((s) => s.name === 'project orders') && all.some((s) => s.name === 'read orders') && all;
    });
    const append = spans.find((s) => s.name === 'append')!;
    const send = spans.find((s) => s.name.startsWith('send '))!;
    const project = spans.find((s) => s.name === 'project orders')!;
    const read = spans.find((s) => s.name === 'read orders')!;
    expect(append.attributes['logfront.to_version']).toBe(1);
    expect(send.attributes['messaging.system']).toBe('postgresql');
    expect(send.parentSpanContext?.spanId).toBe(append.spanContext().spanId);
    expect(project.spanContext().traceId).toBe(send.spanContext().traceId);
    expect(project.parentSpanContext?.spanId).toBe(send.spanContext().spanId);
    expect(project.links.map((l) => l.context.spanId)).toContain(send.spanContext().spanId);
    expect(read.attributes['logfront.read.max_staleness_ms']).toBe(10_000);
    expect(read.attributes['logfront.read.after']).toBe(true);
  });

  it('marks a refused append and its reason on the span', async () => {
    exporter.reset();
    await expect(
      api.lf.append.appendToStream(`order-${uniqueId()}`, { expectedVersion: 3, events: [orderPlaced('x')] }),
    ).rejects.toThrow();
    await processor.forceFlush();
    const append = exporter.getFinishedSpans().find((s) => s.name === 'append')!;
    expect(append.status.code).toBe(2);
  });

  it('continues the trace of an upload in the blob sink', async () => {
    exporter.reset();
    const blob = `b${uniqueId()}`;
    const blobs = api.lf.blobs!;
    const uploaded = await withSpan('upload', {}, () =>
      blobs.upload(
        blob,
        'application/octet-stream',
        (async function* () {
          yield Buffer.alloc(10_000, 1);
        })(),
      ),
    );
    await blobs.stat(blob, { after: uploaded.position });
    const spans = await waitFor(async () => {
      await processor.forceFlush();
      const all = exporter.getFinishedSpans();
      return all.some((s) => s.name === 'sink blobs') && all;
    });
    const upload = spans.find((s) => s.name === 'upload')!;
    const sink = spans.find((s) => s.name === 'sink blobs')!;
    expect(sink.spanContext().traceId).toBe(upload.spanContext().traceId);
    expect(sink.attributes['messaging.batch.message_count']).toBeGreaterThan(0);
  });

  it('traces a list read with the rows it returned', async () => {
    exporter.reset();
    const { items } = await api.lf.facade.list('orders', { limit: 5 });
    await processor.forceFlush();
    const list = exporter.getFinishedSpans().find((s) => s.name === 'list orders')!;
    expect(list.attributes['logfront.read.rows']).toBe(items.length);
  });
});
