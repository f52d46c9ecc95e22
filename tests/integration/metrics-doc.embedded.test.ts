// docs/metrics.md is what app/metrics-doc.ts writes from the registry, and names every series a running
// process exports at GET /metrics.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCodeOf } from '../../app/metrics-activity.ts';
import { METRICS_DOC, metricsDoc } from '../../app/metrics-doc.ts';
import { type Api, startApi } from '../support/api.ts';
import { orderPlaced } from '../support/orders.ts';
import { embeddedConfig, uniqueId } from '../support/services.ts';

describe('docs/metrics.md', () => {
  let api: Api;
  beforeAll(async () => {
    api = await startApi(embeddedConfig());
  });
  afterAll(async () => api?.close());

  it('is what app/metrics-doc.ts writes (node --import tsx dashboards/metrics-doc.ts)', () => {
    expect(readFileSync(METRICS_DOC, 'utf8')).toBe(metricsDoc(api.app.metricsRegistry));
  });

  it('names every series GET /metrics exports, and counts refusals by code, blob bytes and applied batches', async () => {
    const order = uniqueId();
    const ok = await api.request('POST', `/v1/streams/order-${order}/events`, {
      expectedVersion: 'no_stream',
      events: [orderPlaced(order)],
    });
    expect(ok.status).toBe(201);
    const conflict = await api.request('POST', `/v1/streams/order-${order}/events`, {
      expectedVersion: 'no_stream',
      events: [orderPlaced(order)],
    });
    expect(conflict.status).toBe(409);
    const blob = `b${uniqueId()}`;
    const put = await fetch(`${api.url}/v1/blobs/${blob}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: Buffer.alloc(1000, 1),
    });
    expect(put.status).toBe(201);
    await api.request(
      'GET',
      `/v1/projections/orders/rows/${order}?after=${encodeURIComponent(String(ok.body.position))}`,
    );

    const text = await (await fetch(`${api.url}/metrics`)).text();
    const exported = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
    const doc = readFileSync(METRICS_DOC, 'utf8');
    for (const name of exported)
      expect(doc.includes(`\`${name}\``), `${name} is not in docs/metrics.md`).toBe(true);
    expect(exported.has('process_cpu_user_seconds_total')).toBe(true);
    expect(text).toMatch(
      /logfront_http_errors_total\{method="POST",route="\/v1\/streams\/:stream\/events",status="409",code="version_conflict"\} 1/,
    );
    expect(text).toMatch(/logfront_blob_bytes_total\{direction="in"\} 1000/);
    expect(text).toMatch(/logfront_projection_applied_events_total\{projection="orders"\} [1-9]/);
    expect(text).toMatch(/logfront_projection_apply_seconds_count\{projection="orders"\} [1-9]/);
  });

  it('reads the error code off a JSON error body only', () => {
    expect(errorCodeOf('{"error":"overloaded","message":"x"}')).toBe('overloaded');
    expect(errorCodeOf('{"message":"x"}')).toBeUndefined();
    expect(errorCodeOf(Buffer.from('{"error":"x"}'))).toBeUndefined();
  });
});
