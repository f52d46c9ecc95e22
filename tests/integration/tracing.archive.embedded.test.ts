// The archive sink's spans, with OpenTelemetry's SDK recording into memory: a consumer span per batch
// it takes (the child of the appended event's producer span) and an `archive write` span per object.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { context, propagation, trace } from '@opentelemetry/api';
import { NodeSDK, tracing } from '@opentelemetry/sdk-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../app/logger.ts';
import { createFsBlobStore } from '../../connectors/embedded/fs-blob-store.ts';
import { createTableEventLog } from '../../connectors/embedded/log.ts';
import { createPgliteSql } from '../../connectors/embedded/pglite-sql.ts';
import type { Sql } from '../../connectors/sql/sql.ts';
import { createArchiveSink } from '../../core/blobs/archive.ts';
import { createCatalog } from '../../core/log/event-types.ts';
import type { EventLog } from '../../core/ports.ts';
import { activeTraceparent, resetTracingProbe, withSpan } from '../../core/tracing.ts';
import type { StreamId } from '../../core/types.ts';
import { orderEventTypes } from '../../sample/order-events.ts';
import { orderShipped } from '../support/orders.ts';
import { uniqueId, waitFor } from '../support/services.ts';

describe('archive spans (embedded)', () => {
  const exporter = new tracing.InMemorySpanExporter();
  const processor = new tracing.SimpleSpanProcessor(exporter);
  const dir = mkdtempSync(join(tmpdir(), 'lf-archive-spans-'));
  let sdk: NodeSDK;
  let sql: Sql;
  let log: EventLog;
  let sink: ReturnType<typeof createArchiveSink>;
  beforeAll(async () => {
    sdk = new NodeSDK({ spanProcessors: [processor], instrumentations: [] });
    sdk.start();
    resetTracingProbe();
    sql = await createPgliteSql();
    log = createTableEventLog(sql, { schema: 'archspan', topicPrefix: 'archspan', pollMs: 20 });
    await log.ensureTopics(['order']);
    sink = createArchiveSink({
      log,
      store: createFsBlobStore(dir),
      categories: ['order'],
      keyPrefix: 'archspan',
      groupPrefix: 'archspan',
      maxRecords: 1000,
      maxBytes: 8 * 1024 * 1024,
      maxAgeMs: 100,
      logger: createLogger('silent'),
    });
    await sink.start();
  });
  afterAll(async () => {
    await sink?.stop();
    await sql?.close();
    await sdk?.shutdown();
    trace.disable();
    context.disable();
    propagation.disable();
    resetTracingProbe();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a batch the sink archives is a consumer span in the append’s trace; each object it writes, an archive write span', async () => {
    const stream = `order-${uniqueId()}` as StreamId;
    const catalog = createCatalog(orderEventTypes, 'archspan');
    // the append service writes its span's traceparent into each event's metadata; the log alone does not
    const appended = await withSpan('client', {}, () => {
      const traceparent = activeTraceparent()!;
      const events = [orderShipped(stream), orderShipped(stream)].map((e) => ({
        ...e,
        metadata: { traceparent },
      }));
      return log.append(stream, catalog.prepare(events), 'no_stream');
    });
    const spans = await waitFor(async () => {
      await processor.forceFlush();
      const all = exporter.getFinishedSpans();
      return all.some((s) => s.name === 'archive write') && all;
    }, 10_000);
    const client = spans.find((s) => s.name === 'client')!;
    const consumer = spans.find(
      (s) => s.name === 'archive' && s.spanContext().traceId === client.spanContext().traceId,
    )!;
    expect(consumer).toBeDefined();
    expect(consumer.attributes['messaging.destination.name']).toBe(log.topicFor('order'));
    const write = spans.find((s) => s.name === 'archive write')!;
    expect(write.attributes).toMatchObject({
      'messaging.destination.name': log.topicFor('order'),
      'messaging.destination.partition.id': String(appended.position.partition),
      'logfront.archive.records': expect.any(Number),
      'logfront.archive.bytes': expect.any(Number),
    });
    expect(Number(write.attributes['logfront.archive.records'])).toBeGreaterThanOrEqual(2);
    expect(String(write.attributes['logfront.archive.key'])).toContain('archspan');
    expect(BigInt(String(write.attributes['logfront.archive.last_offset']))).toBeGreaterThanOrEqual(
      appended.position.offset,
    );
  });
});
