import SwaggerParser from '@apidevtools/swagger-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Api, startApi } from '../support/api.ts';
import { orderPlaced } from '../support/orders.ts';
import { embeddedConfig, uniqueId } from '../support/services.ts';

describe('OpenAPI document and metrics', () => {
  let api: Api;
  beforeAll(async () => {
    api = await startApi(embeddedConfig());
  });
  afterAll(async () => api?.close());

  it('/openapi.json validates as OpenAPI 3 and names every route the server has', async () => {
    const r = await api.request('GET', '/openapi.json');
    expect(r.status).toBe(200);
    const document = structuredClone(r.body);
    await expect(SwaggerParser.validate(document as never)).resolves.toBeDefined();
    const documented = new Set(
      Object.entries(r.body.paths as Record<string, Record<string, unknown>>).flatMap(([path, methods]) =>
        Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`),
      ),
    );
    const served = api.app
      .printRoutes({ commonPrefix: false })
      .split('\n')
      .filter((l) => l.includes('('));
    expect(served.length).toBeGreaterThan(0);
    for (const route of [
      'POST /v1/streams/{stream}/events',
      'GET /v1/streams/{stream}/events',
      'GET /v1/projections',
      'GET /v1/projections/{name}/rows/{key}',
      'GET /v1/projections/{name}/rows',
      'POST /v1/projections/{name}/rebuild',
      'GET /v1/projections/{name}/dead-letters',
      'POST /v1/projections/{name}/dead-letters/{id}/retry',
      'POST /v1/projections/{name}/dead-letters/{id}/skip',
      'POST /v1/projections/{name}/resume',
      'DELETE /v1/subjects/{subjectId}',
      'GET /v1/audit',
      'PUT /v1/blobs/{blobId}',
      'GET /v1/blobs/{blobId}',
      'HEAD /v1/blobs/{blobId}',
      'GET /healthz',
      'GET /readyz',
      'GET /metrics',
      'GET /openapi.json',
    ]) {
      expect(documented.has(route), route).toBe(true);
      const [method, path] = route.split(' ');
      const fastifyPath = path!.replace(/\{(\w+)\}/g, ':$1');
      expect(api.app.hasRoute({ method: method as 'GET', url: fastifyPath }), route).toBe(true);
    }
    expect(documented.size).toBe(19);
  });

  it('/metrics speaks Prometheus text with request, latency and projection series', async () => {
    const id = uniqueId();
    const a = await api.request('POST', `/v1/streams/order-${id}/events`, { events: [orderPlaced(id)] });
    await api.request('GET', `/v1/projections/orders/rows/${id}?after=${a.body.position}`);
    const response = await fetch(`${api.url}/metrics`);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await response.text();
    expect(text).toMatch(
      /logfront_http_requests_total\{method="POST",route="\/v1\/streams\/:stream\/events",status="201"\} \d+/,
    );
    expect(text).toMatch(
      /logfront_http_request_duration_seconds_bucket\{le="0\.005",method="GET",route="\/v1\/projections\/:name\/rows\/:key"\}/,
    );
    expect(text).toMatch(/logfront_projection_lag_events\{projection="orders"\} 0/);
    expect(text).toMatch(/logfront_projection_staleness_seconds\{projection="orders"\} /);
    expect(text).toMatch(/logfront_projection_dead_letters\{projection="orders"\} 0/);
    expect(text).toMatch(/logfront_projection_running\{projection="orders"\} 1/);
    expect(text).toMatch(/# TYPE logfront_audit_dropped_total counter/);
    expect(text).toMatch(/logfront_audit_queued_records \d+/);
  });
});
