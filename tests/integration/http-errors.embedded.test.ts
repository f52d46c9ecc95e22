// Issue 13, "No input can hurt", on the embedded default: every error body, the framework's and Node's
// own refusals included, is {error, message} with the API's codes; a query parameter given twice is a
// 400 naming it; ids of the documented 200 characters route however they are percent-encoded.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Api, startApi } from '../support/api.ts';
import { orderPlacedBy } from '../support/orders.ts';
import { embeddedConfig, uniqueId } from '../support/services.ts';

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** the responses to `text` sent as it is on one connection, read until the server closes it */
const exchange = (url: string, text: string | Buffer, then?: (send: (more: string) => void) => void) =>
  new Promise<RawResponse[]>((resolve, reject) => {
    const { hostname, port } = new URL(url);
    const socket = connect(Number(port), hostname, () => {
      socket.write(text);
      then?.((more) => socket.write(more));
    });
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', reject);
    socket.on('close', () => resolve(parseResponses(Buffer.concat(chunks).toString('utf8'))));
  });

const parseResponses = (raw: string): RawResponse[] => {
  const out: RawResponse[] = [];
  let rest = raw;
  while (rest.startsWith('HTTP/')) {
    const end = rest.indexOf('\r\n\r\n');
    const [statusLine, ...lines] = rest.slice(0, end).split('\r\n');
    const headers = Object.fromEntries(
      lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
    );
    const length = Number(headers['content-length'] ?? rest.length);
    const body = Buffer.from(rest.slice(end + 4), 'utf8');
    out.push({
      status: Number(statusLine!.split(' ')[1]),
      headers,
      body: body.subarray(0, length).toString(),
    });
    rest = body.subarray(length).toString('utf8');
  }
  return out;
};

/** a request as a client that closes the connection after it sends it */
const request = (method: string, path: string, headers: string[] = [], body = '') =>
  [`${method} ${path} HTTP/1.1`, 'Host: localhost', 'Connection: close', ...headers, '', body].join('\r\n');

const expectApiError = (r: RawResponse | undefined, status: number, code: string) => {
  expect(r, `a ${status} answer`).toBeDefined();
  expect(r!.status).toBe(status);
  expect(r!.headers['content-type']).toMatch(/^application\/json/);
  const body = JSON.parse(r!.body) as Record<string, unknown>;
  expect(body).toMatchObject({ error: code });
  expect(typeof body.message).toBe('string');
  expect(body).not.toHaveProperty('statusCode');
};

describe('HTTP errors on the embedded default', () => {
  let api: Api;
  beforeAll(async () => {
    api = await startApi(embeddedConfig());
  });
  afterAll(async () => api?.close());

  describe("Node's and Fastify's own refusals answer {error, message} with the API's codes", () => {
    const cases: [string, () => string | Buffer, number, string][] = [
      [
        'a header with a space in its name',
        () => request('GET', '/healthz', ['Bad Header: x']),
        400,
        'bad_request',
      ],
      ['an unknown method', () => request('FROB', '/healthz'), 400, 'bad_request'],
      [
        'a Content-Length that is not a number',
        () => request('POST', '/v1/streams/order-1/events', ['Content-Length: abc']),
        400,
        'bad_request',
      ],
      [
        'HTTP/1.1 without Host',
        () => 'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n',
        400,
        'bad_request',
      ],
      [
        'a URL over 8 KiB',
        () => request('GET', `/v1/streams/order-1/events?x=${'a'.repeat(20_000)}`),
        414,
        'too_long',
      ],
      [
        'a path segment over 512 characters',
        () => request('GET', `/v1/projections/orders/rows/${'k'.repeat(600)}`),
        414,
        'too_long',
      ],
      [
        'headers over 16 KiB',
        () => request('GET', '/healthz', [`X-Big: ${'a'.repeat(20_000)}`]),
        431,
        'headers_too_large',
      ],
      [
        'an Expect other than 100-continue',
        () =>
          request(
            'POST',
            '/v1/streams/order-1/events',
            ['Expect: 100-frob', 'Content-Type: application/json', 'Content-Length: 2'],
            '{}',
          ),
        417,
        'expectation_failed',
      ],
      [
        'a broken percent-escape in the path',
        () => request('GET', '/v1/streams/%zz/events'),
        400,
        'bad_request',
      ],
      [
        'a body over the limit',
        () =>
          request(
            'POST',
            '/v1/streams/order-1/events',
            ['Content-Type: application/json', 'Content-Length: 100000000'],
            '{',
          ),
        413,
        'too_large',
      ],
      [
        'a JSON body that poisons __proto__',
        () =>
          request(
            'POST',
            '/v1/streams/order-1/events',
            ['Content-Type: application/json', 'Content-Length: 26'],
            '{"__proto__":{"events":1}}',
          ),
        400,
        'invalid_json',
      ],
      [
        'an empty JSON body',
        () =>
          request('POST', '/v1/streams/order-1/events', [
            'Content-Type: application/json',
            'Content-Length: 0',
          ]),
        400,
        'invalid_json',
      ],
    ];
    for (const [what, text, status, code] of cases) {
      it(`${what} → ${status} ${code}`, async () => {
        const [r] = await exchange(api.url, text());
        expectApiError(r, status, code);
      });
    }
  });

  describe('a query parameter given more than once is a 400 that names it, on every route', () => {
    const cases: [string, string, string][] = [
      ['GET', '/v1/streams/order-1/events?fromVersion=1&fromVersion=2', 'fromVersion'],
      ['GET', '/v1/streams/order-1/events?limit=1&limit=2', 'limit'],
      ['GET', '/v1/projections/orders/rows/1?maxStalenessMs=1&maxStalenessMs=2', 'maxStalenessMs'],
      ['GET', '/v1/projections/orders/rows/1?consistency=strong&consistency=strong', 'consistency'],
      ['GET', '/v1/projections/orders/rows/1?onStale=serve&onStale=error', 'onStale'],
      ['GET', '/v1/projections/orders/rows?limit=1&limit=2', 'limit'],
      ['GET', '/v1/projections/orders/rows?cursor=a&cursor=b', 'cursor'],
      ['GET', '/v1/projections/orders/rows?status=placed&status=shipped', 'status'],
      ['GET', '/v1/blobs/doc?after=a&after=b', 'after'],
      ['HEAD', '/v1/blobs/doc?maxStalenessMs=1&maxStalenessMs=2', 'maxStalenessMs'],
      ['POST', '/v1/projections/orders/rebuild?x=1&x=2', 'x'],
      ['GET', '/v1/projections?x=1&x=2', 'x'],
      ['GET', '/nowhere?x=1&x=2', 'x'],
    ];
    for (const [method, path, name] of cases) {
      it(`${method} ${path}`, async () => {
        const r = await fetch(`${api.url}${path}`, { method });
        expect(r.status).toBe(400);
        if (method === 'HEAD') return;
        const body = (await r.json()) as Record<string, unknown>;
        expect(body).toMatchObject({ error: 'validation_failed', issues: [{ path: name }] });
        expect(body.message).toContain(name);
      });
    }

    it('an erasure with ?tenant=a&tenant=b erases nothing, in no tenant', async () => {
      const [order, customer] = [uniqueId(), `c-${uniqueId()}`];
      const placed = await api.request('POST', `/v1/streams/order-${order}/events`, {
        events: [orderPlacedBy(order, customer)],
      });
      expect(placed.status).toBe(201);
      const row = `/v1/projections/orders/rows/${order}`;
      expect((await api.request('GET', `${row}?after=${placed.body.position}`)).status).toBe(200);
      const r = await api.request('DELETE', `/v1/subjects/${customer}?tenant=a&tenant=b`);
      expect(r.status).toBe(400);
      expect(r.body).toMatchObject({ error: 'validation_failed', issues: [{ path: 'tenant' }] });
      // a misspelt parameter is refused too, never taken for the default tenant
      const misspelt = await api.request('DELETE', `/v1/subjects/${customer}?Tenant=default`);
      expect(misspelt.status).toBe(400);
      expect(misspelt.body).toMatchObject({ error: 'validation_failed', issues: [{ path: 'Tenant' }] });
      expect((await api.request('GET', row)).status).toBe(200);
      const erased = await api.request('DELETE', `/v1/subjects/${customer}?tenant=default`);
      expect(erased).toMatchObject({ status: 202, body: { rowsDeleted: { orders: 1 } } });
      expect((await api.request('GET', row)).status).toBe(404);
    });
  });

  it('after= with a position the read can never reach (another topic) is a 400 at once, not a wait', async () => {
    const placed = await api.request('POST', `/v1/streams/order-${uniqueId()}/events`, {
      events: [orderPlacedBy(uniqueId(), `c-${uniqueId()}`)],
    });
    const blob = await api.request('PUT', `/v1/blobs/b-${uniqueId()}`, 'bytes', {
      'content-type': 'text/plain',
    });
    expect(blob.status).toBe(201);
    const started = Date.now();
    const onBlob = await api.request(
      'GET',
      `/v1/blobs/none-${uniqueId()}?after=${placed.body.position}&maxStalenessMs=10000`,
    );
    expect(onBlob).toMatchObject({ status: 400, body: { error: 'validation_failed' } });
    const onRows = await api.request(
      'GET',
      `/v1/projections/orders/rows/x?after=${blob.body.position}&maxStalenessMs=10000`,
    );
    expect(onRows).toMatchObject({ status: 400, body: { error: 'validation_failed' } });
    expect(String(onRows.body.message)).toMatch(/does not read/);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  describe('ids of the documented 200 characters work on every route, percent-encoded or not', () => {
    // what a client sends for an id: encodeURIComponent of it; the router keeps / ? # % : and the like
    // encoded while it routes (3 characters each), and limits a segment once decoded
    const at = (id: string) => encodeURIComponent(id);

    it('a stream id of 265 characters whose id part is 200 colons (600 characters encoded)', async () => {
      const stream = `${'c'.repeat(64)}-${':'.repeat(200)}`;
      const r = await api.request('POST', `/v1/streams/${at(stream)}/events`, {
        events: [{ type: 'OrderShipped', data: { orderId: 'x', carrier: 'DHL' } }],
      });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      expect(r.body.stream).toBe(stream);
      const read = await api.request('GET', `/v1/streams/${at(stream)}/events`);
      expect(read.status).toBe(200);
      expect((read.body.events as { stream: string }[])[0]!.stream).toBe(stream);
    });

    it('a row key of 200 characters full of / ? # % and € is read back', async () => {
      const key = `${uniqueId()}${'/?#%€'.repeat(38)}`;
      expect(key.length).toBe(200);
      const placed = await api.request('POST', `/v1/streams/order-${uniqueId()}/events`, {
        events: [orderPlacedBy(key, `c-${uniqueId()}`)],
      });
      expect(placed.status).toBe(201);
      const r = await api.request(
        'GET',
        `/v1/projections/orders/rows/${at(key)}?after=${placed.body.position}`,
      );
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect((r.body.data as { orderId: string }).orderId).toBe(key);
      const missing = await api.request('GET', `/v1/projections/orders/rows/${at('€'.repeat(200))}`);
      expect(missing).toMatchObject({ status: 404, body: { error: 'not_found' } });
    });

    it('a data subject of 200 characters with slashes, spaces and accents is erased', async () => {
      const subject = 'é /'.repeat(66).padEnd(200, '/');
      const r = await api.request('DELETE', `/v1/subjects/${at(subject)}`);
      expect(r.status, JSON.stringify(r.body)).toBe(202);
      expect(r.body.subjectId).toBe(subject);
    });

    it('a projection name of 200 encoded characters is a 404, not a 414', async () => {
      for (const path of [
        `/v1/projections/${at('ö'.repeat(200))}/rows/1`,
        `/v1/projections/${at('ö'.repeat(200))}/rows`,
      ]) {
        const r = await api.request('GET', path);
        expect(r, path).toMatchObject({ status: 404, body: { error: 'not_found' } });
      }
      const rebuild = await api.request('POST', `/v1/projections/${at('ö'.repeat(200))}/rebuild`);
      expect(rebuild).toMatchObject({ status: 404, body: { error: 'not_found' } });
    });

    it('a blob id of 200 characters is stored, stated and read', async () => {
      const blobId = `${uniqueId()}.${'b'.repeat(189)}`;
      const put = await fetch(`${api.url}/v1/blobs/${blobId}`, {
        method: 'PUT',
        body: 'two hundred',
        headers: { 'content-type': 'text/plain' },
      });
      expect(put.status).toBe(201);
      const { position } = (await put.json()) as { position: string };
      const head = await fetch(`${api.url}/v1/blobs/${blobId}?after=${position}&maxStalenessMs=20000`, {
        method: 'HEAD',
      });
      expect(head.status).toBe(200);
      const get = await fetch(`${api.url}/v1/blobs/${blobId}`);
      expect(await get.text()).toBe('two hundred');
    });
  });
});

describe('a server that is closing', () => {
  it('answers a request that arrives meanwhile 503 unavailable, in the API shape', async () => {
    const api = await startApi(embeddedConfig(), { runners: false });
    try {
      const started = `PUT /v1/blobs/slow HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\n01234`;
      const responses = await exchange(api.url, started, (send) => {
        // the upload is under way when the server begins to close; the next request on its connection
        // arrives after that
        setTimeout(() => {
          const closed = api.app.close();
          const waitClosing = setInterval(() => {
            if (api.app.server.listening) return;
            clearInterval(waitClosing);
            send(`56789${request('GET', '/v1/projections')}`);
          }, 10);
          void closed;
        }, 200);
      });
      expect(responses.map((r) => r.status)).toEqual([201, 503]);
      expectApiError(responses[1], 503, 'unavailable');
      expect(responses[1]!.headers['retry-after']).toBe('1');
    } finally {
      await api.app.close();
      await api.lf.close();
    }
  });
});
