// How long a client may take (docs/security.md "Limits"): a client that sends its headers or its body too
// slowly is answered 408 and cut off; a read that waits for `after=` longer than the request timeout still
// gets its answer (the request timeout bounds receiving a request, never answering it).
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePositions, encodePosition } from '../../core/read/positions.ts';
import { type Api, startApi } from '../support/api.ts';
import { orderPlaced, orderShipped } from '../support/orders.ts';
import { embeddedConfig, uniqueId } from '../support/services.ts';

const TIMEOUTS = {
  LOGFRONT_HTTP_HEADERS_TIMEOUT_MS: '500',
  LOGFRONT_HTTP_REQUEST_TIMEOUT_MS: '1500',
  LOGFRONT_HTTP_IDLE_TIMEOUT_MS: '8000',
  LOGFRONT_HTTP_KEEP_ALIVE_TIMEOUT_MS: '1000',
  LOGFRONT_MAX_WAIT_MS: '6000',
};

/** a raw connection to the server: what it was sent back, and when it closed (ms after it opened) */
const rawClient = (url: string) => {
  const { hostname, port } = new URL(url);
  const socket: Socket = connect(Number(port), hostname);
  const opened = Date.now();
  let received = '';
  socket.on('data', (chunk) => {
    received += chunk.toString('latin1');
  });
  socket.on('error', () => {});
  const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now() - opened)));
  return { socket, closed, received: () => received };
};

/** writes `chunk` every `everyMs` until the socket closes (a client that trickles bytes) */
const trickle = (socket: Socket, chunk: string, everyMs: number) => {
  const timer = setInterval(() => {
    if (!socket.destroyed) socket.write(chunk);
  }, everyMs);
  socket.on('close', () => clearInterval(timer));
  return () => clearInterval(timer);
};

describe('HTTP timeouts (embedded)', () => {
  let api: Api;
  beforeAll(async () => {
    api = await startApi(embeddedConfig(TIMEOUTS));
  });
  afterAll(async () => api?.close());

  it('the server is made with the configured timeouts', () => {
    const server = api.app.server;
    expect(server.headersTimeout).toBe(500);
    expect(server.requestTimeout).toBe(1500);
    expect(server.keepAliveTimeout).toBe(1000);
    expect(server.timeout).toBe(8000);
  });

  it('a client sending its headers too slowly (slowloris) gets 408 and is cut off', async () => {
    const client = rawClient(api.url);
    client.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    const stop = trickle(client.socket, 'X-Slow: a\r\n', 100);
    const closedAfter = await client.closed;
    stop();
    expect(client.received()).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(client.received()).toContain('"error":"request_timeout"');
    // cut off after the headers timeout (and at most one check of the connections, every 250 ms here)
    expect(closedAfter).toBeGreaterThanOrEqual(450);
    expect(closedAfter).toBeLessThan(3000);
  });

  it('a connection that sends nothing is closed once the headers timeout has passed', async () => {
    const client = rawClient(api.url);
    const closedAfter = await client.closed;
    expect(closedAfter).toBeLessThan(3000);
  });

  it('a keep-alive connection idle longer than the headers timeout still takes its next request', async () => {
    const client = rawClient(api.url);
    client.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await new Promise((r) => setTimeout(r, 800));
    client.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    await client.closed;
    expect(client.received().match(/HTTP\/1\.1 \d+/g)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 200']);
  });

  it('a keep-alive connection idle longer than its timeout is closed', async () => {
    const client = rawClient(api.url);
    client.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    const closedAfter = await client.closed;
    expect(client.received()).toMatch(/^HTTP\/1\.1 200/);
    expect(closedAfter).toBeGreaterThanOrEqual(900);
    expect(closedAfter).toBeLessThan(4000);
  });

  it('a body sent too slowly gets 408 once the request timeout has passed', async () => {
    const client = rawClient(api.url);
    client.socket.write(
      'POST /v1/streams/order-slow/events HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
        'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"events":[',
    );
    const stop = trickle(client.socket, ' ', 100);
    const closedAfter = await client.closed;
    stop();
    expect(client.received()).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(closedAfter).toBeGreaterThanOrEqual(1400);
    expect(closedAfter).toBeLessThan(5000);
  });

  it('a read waiting for after= longer than the request timeout still gets its answer', async () => {
    const id = uniqueId();
    const placed = await api.request('POST', `/v1/streams/order-${id}/events`, {
      expectedVersion: 'no_stream',
      events: [orderPlaced(id)],
    });
    expect(placed.status).toBe(201);
    // the position the next event of the stream will have
    const [at] = decodePositions(placed.body.position as string);
    const next = encodePosition({ ...at!, offset: at!.offset + 1n });
    const started = Date.now();
    const read = api.request('GET', `/v1/projections/orders/rows/${id}?after=${next}&maxStalenessMs=6000`);
    await new Promise((r) => setTimeout(r, 2500));
    const shipped = await api.request('POST', `/v1/streams/order-${id}/events`, {
      expectedVersion: 1,
      events: [orderShipped(id)],
    });
    expect(shipped.body.position).toBe(next);
    const row = await read;
    expect(row.status, JSON.stringify(row.body)).toBe(200);
    expect(row.body.data).toMatchObject({ orderId: id, status: 'shipped', version: 2 });
    expect(Date.now() - started).toBeGreaterThan(2500);
  });
});
