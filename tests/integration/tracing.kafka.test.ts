// One trace from producer to projection: a `logfront serve` process with tracing on (OTEL_* variables,
// app/tracing.ts) exports to an OTLP/HTTP receiver; an append with a traceparent is followed until its
// row is visible, and its trace runs HTTP → append → produce → consume and project → Postgres.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { orderPlaced } from '../support/orders.ts';
import { type ReceivedSpan, startOtlpReceiver, treeOf } from '../support/otlp-receiver.ts';
import { services, uniqueId, waitFor } from '../support/services.ts';

/** a Postgres statement's span (db.* conventions, old or new attribute names) */
const isDb = (s: ReceivedSpan) => Boolean(s.attributes['db.system'] ?? s.attributes['db.system.name']);

const ROOT = join(import.meta.dirname, '..', '..');
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_SPAN = '00f067aa0ba902b7';

describe('tracing (Kafka mode)', () => {
  let receiver: Awaited<ReturnType<typeof startOtlpReceiver>>;
  let server: ChildProcess | undefined;
  let url = '';
  const output: string[] = [];

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    const id = uniqueId();
    server = spawn(process.execPath, [join(ROOT, 'bin', 'logfront.js'), 'serve'], {
      cwd: ROOT,
      env: {
        ...process.env,
        ...services(),
        LOGFRONT_TOPIC_PREFIX: `t${id}`,
        LOGFRONT_DATABASE_SCHEMA: `t_${id}`,
        LOGFRONT_REDIS_PREFIX: `t${id}:`,
        LOGFRONT_PORT: '0',
        LOGFRONT_AUTH: 'none',
        LOGFRONT_LOG_LEVEL: 'warn',
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_BSP_SCHEDULE_DELAY: '100',
        OTEL_SERVICE_NAME: 'logfront-test',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    server.stderr!.on('data', (b: Buffer) => output.push(b.toString()));
    url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`serve did not start: ${output.join('')}`)), 60_000);
      createInterface({ input: server!.stdout! }).on('line', (line) => {
        output.push(line);
        const m = /serving on (http:\/\/\S+)/.exec(line);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      server!.once('exit', (code) => reject(new Error(`serve exited (${code}): ${output.join('')}`)));
    });
  }, 90_000);

  afterAll(async () => {
    if (server && server.exitCode === null) {
      const exited = new Promise((r) => server!.once('exit', r));
      server.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      server.kill('SIGKILL');
    }
    await receiver?.close();
  });

  it('follows an append from the HTTP request to the projection row in one trace', async () => {
    const order = uniqueId();
    const appended = await fetch(`${url}/v1/streams/order-${order}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: `00-${TRACE}-${CLIENT_SPAN}-01` },
      body: JSON.stringify({ expectedVersion: 'no_stream', events: [orderPlaced(order)] }),
    });
    expect(appended.status, await appended.clone().text()).toBe(201);
    const { position } = (await appended.json()) as { position: string };
    const read = await fetch(
      `${url}/v1/projections/orders/rows/${order}?after=${encodeURIComponent(position)}&maxStalenessMs=30000`,
    );
    expect(read.status).toBe(200);

    const trace = (): ReceivedSpan[] => receiver.spans.filter((s) => s.traceId === TRACE);
    const named = (name: string | RegExp) =>
      trace().find((s) => (typeof name === 'string' ? s.name === name : name.test(s.name)));
    // the projection's Postgres work ends the chain: wait until it has been exported
    await waitFor(
      async () => {
        const project = named('project orders');
        return project && trace().some((s) => s.parentSpanId === project.spanId && isDb(s));
      },
      30_000,
      100,
    ).catch((error) => {
      throw new Error(`${(error as Error).message}; the trace so far:\n${treeOf(trace())}`);
    });
    const spans = trace();
    console.log(`one trace, ${spans.length} spans:\n${treeOf(spans)}`);

    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const parentOf = (s: ReceivedSpan) => byId.get(s.parentSpanId);

    const http = spans.find((s) => s.kind === 2 && s.name.startsWith('POST'))!;
    expect(http, 'the HTTP server span').toBeDefined();
    expect(http.parentSpanId).toBe(CLIENT_SPAN); // the client's traceparent is its parent
    expect(
      http.attributes['http.route'] ?? http.attributes['http.target'] ?? http.attributes['url.path'],
    ).toBeTruthy();

    const append = named('append')!;
    expect(parentOf(append)).toBe(http);
    expect(append.attributes['logfront.stream']).toBe(`order-${order}`);
    expect(append.attributes['logfront.expected_version']).toBe('no_stream');
    expect(append.attributes['logfront.to_version']).toBe(1);

    const produce = named(/^send .*order$/)!;
    expect(produce.kind).toBe(4); // producer
    expect(parentOf(produce)).toBe(append);
    expect(produce.attributes['messaging.system']).toBe('kafka');
    expect(produce.attributes['messaging.destination.name']).toMatch(/order$/);
    expect(typeof produce.attributes['messaging.destination.partition.id']).toBe('string');
    expect(typeof produce.attributes['messaging.kafka.offset']).toBe('number');

    const project = named('project orders')!;
    expect(project.kind).toBe(5); // consumer
    expect(parentOf(project)).toBe(produce);
    expect(project.links.some((l) => l.spanId === produce.spanId)).toBe(true);
    expect(project.attributes['messaging.destination.name']).toBe(
      produce.attributes['messaging.destination.name'],
    );
    expect(project.attributes['logfront.projection']).toBe('orders');

    const db = spans.filter((s) => parentOf(s) === project && isDb(s));
    expect(db.length).toBeGreaterThan(0);
    expect(db[0]!.attributes['db.system'] ?? db[0]!.attributes['db.system.name']).toBe('postgresql');
  }, 60_000);

  it('puts the facade read in a span with its budget, staleness and source', async () => {
    const order = uniqueId();
    const trace = `${'a'.repeat(31)}b`;
    const appended = await fetch(`${url}/v1/streams/order-${order}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ expectedVersion: 'no_stream', events: [orderPlaced(order)] }),
    });
    expect(appended.status).toBe(201);
    const { position } = (await appended.json()) as { position: string };
    const read = await fetch(
      `${url}/v1/projections/orders/rows/${order}?after=${encodeURIComponent(position)}&maxStalenessMs=30000`,
      { headers: { traceparent: `00-${trace}-${CLIENT_SPAN}-01` } },
    );
    expect(read.status).toBe(200);
    const span = await waitFor(
      async () => receiver.spans.find((s) => s.traceId === trace && s.name === 'read orders'),
      20_000,
      100,
    );
    expect(span.attributes['logfront.read.max_staleness_ms']).toBe(30000);
    expect(typeof span.attributes['logfront.read.staleness_ms']).toBe('number');
    expect(['cache', 'store']).toContain(span.attributes['logfront.read.source']);
    expect(typeof span.attributes['cache.hit']).toBe('boolean');
  }, 60_000);
});
