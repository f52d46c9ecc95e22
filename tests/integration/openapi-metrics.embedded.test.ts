import SwaggerParser from '@apidevtools/swagger-parser';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Api, startApi } from '../support/api.ts';
import { orderPlaced } from '../support/orders.ts';
import { embeddedConfig, uniqueId } from '../support/services.ts';

type Paths = Record<string, Record<string, { parameters?: { name: string; in: string }[] }>>;

/** `METHOD /url` of every route Fastify registered, read off printRoutes' tree (one segment per line) */
const registeredRoutes = (app: FastifyInstance) => {
  const segments: string[] = [];
  return app
    .printRoutes({ commonPrefix: false })
    .split('\n')
    .flatMap((line) => {
      const m = /^([│ ]*)[├└]── (\S+)(?: \(([A-Z, ]+)\))?$/.exec(line);
      if (!m) return [];
      segments.length = m[1]!.length / 4;
      segments.push(m[2]!);
      return (m[3]?.split(', ') ?? []).map((method) => `${method} ${segments.join('')}`);
    });
};

/** a documented path with its parameters filled in */
const concrete = (path: string) =>
  path
    .replace('{stream}', `order-${uniqueId()}`)
    .replace('{name}', 'orders')
    .replace('{key}', 'k1')
    .replace('{blobId}', 'b1')
    .replace('{subjectId}', `s-${uniqueId()}`)
    .replace('{id}', '1');

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

  it('documents every route the server registers, under its method, and no other', async () => {
    const paths = (await api.request('GET', '/openapi.json')).body.paths as Paths;
    const documented = Object.entries(paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((m) => `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
    );
    const registered = registeredRoutes(api.app);
    expect(registered.length).toBeGreaterThan(documented.length);
    // Fastify answers HEAD on every GET route (exposeHeadRoutes): the document lists HEAD only as a route of its own
    const undocumented = registered.filter(
      (route) => !documented.includes(route) && !documented.includes(route.replace(/^HEAD /, 'GET ')),
    );
    expect(undocumented).toEqual([]);
    expect(documented.filter((route) => !registered.includes(route))).toEqual([]);
  });

  it('a query parameter the document does not name is refused, and none it names is refused as unknown', async () => {
    const paths = (await api.request('GET', '/openapi.json')).body.paths as Paths;
    let checked = 0;
    for (const [path, methods] of Object.entries(paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        const names = (operation.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name);
        if (names.length === 0) continue;
        const route = `${method.toUpperCase()} ${path}`;
        const unknown = await api.request(method.toUpperCase(), `${concrete(path)}?undocumented=1`);
        expect(unknown.status, route).toBe(400);
        // a HEAD answer has no body: its route's GET shows the issues
        if (method === 'head') continue;
        const issues = unknown.body.issues as { path: string; message: string }[];
        const refusal = issues.find((i) => i.path === 'undocumented');
        expect(refusal, route).toBeDefined();
        for (const name of names) {
          // any value: a wrong one is refused for its value, never for its name
          const r = await api.request(method.toUpperCase(), `${concrete(path)}?${name}=1`);
          const asUnknown = { path: name, message: refusal!.message.replaceAll('undocumented', name) };
          expect(r.body.issues ?? [], `${route} ?${name}`).not.toContainEqual(asUnknown);
          checked += 1;
        }
      }
    }
    expect(checked).toBeGreaterThanOrEqual(20);
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
