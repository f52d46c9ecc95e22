// Issue 13, "No input can hurt", on the real services: a dependency that is down answers 503
// dependency_unavailable naming it, with Retry-After, never a 500; each is taken down with Toxiproxy.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { Config } from '../../app/config.ts';
import { type Api, startApi } from '../support/api.ts';
import { orderPlaced, orderPlacedBy } from '../support/orders.ts';
import { servicesConfig, uniqueId, waitFor } from '../support/services.ts';
import { createProxy, type ToxicProxy, throughProxy } from '../support/toxiproxy.ts';

const proxies: ToxicProxy[] = [];
const apis: Api[] = [];
afterAll(async () => {
  for (const api of apis) await api.close().catch(() => {});
  for (const proxy of proxies) await proxy.remove().catch(() => {});
});

/** a proxy in front of a service (host:port) */
const proxyTo = async (hostPort: string) => {
  const proxy = await createProxy(hostPort);
  proxies.push(proxy);
  return proxy;
};

const start = async (config: Config, options: { runners?: boolean } = {}) => {
  const api = await startApi(config, options);
  apis.push(api);
  return api;
};

type Answer = Awaited<ReturnType<Api['request']>>;

/** the answer of a dependency that is down: 503, its name, Retry-After, no stack */
const expectDown = (r: Answer, dependency: string, what: string) => {
  expect(r.status, `${what}: ${JSON.stringify(r.body)}`).toBe(503);
  expect(r.body, what).toMatchObject({ error: 'dependency_unavailable', dependency });
  expect(r.body.message, what).toContain(dependency);
  expect(Number(r.headers.get('retry-after')), what).toBeGreaterThanOrEqual(1);
  expect(JSON.stringify(r.body), what).not.toMatch(/at .*\.[jt]s:\d+/);
};

/** a HEAD has no body: the status and Retry-After say it */
const head = async (api: Api, path: string) => {
  const r = await fetch(`${api.url}${path}`, { method: 'HEAD' });
  return { status: r.status, retryAfter: r.headers.get('retry-after') };
};

describe('a dependency that is down answers 503 dependency_unavailable naming it, with Retry-After', () => {
  it('the Schema Registry: an append that registers its schema, then the same append once it is back', async () => {
    const base = servicesConfig();
    const registry = await proxyTo(new URL(base.schemaRegistryUrl!).host);
    await registry.enabled(false);
    const api = await start(
      servicesConfig({ LOGFRONT_SCHEMA_REGISTRY_URL: throughProxy(base.schemaRegistryUrl!, registry) }),
      { runners: false },
    );
    const id = uniqueId();
    const append = () => api.request('POST', `/v1/streams/order-${id}/events`, { events: [orderPlaced(id)] });
    const down = await append();
    expectDown(down, 'schema-registry', 'append');
    await registry.enabled(true);
    // the registry's breaker opened: the append is taken again once Retry-After has passed
    await new Promise((r) => setTimeout(r, Number(down.headers.get('retry-after')) * 1000));
    expect((await append()).status).toBe(201);
  });

  it('Kafka: appends, stream reads, the projections list, row reads and rebuilds', async () => {
    const base = servicesConfig();
    const kafka = await proxyTo(base.kafka.brokers[0]!);
    await kafka.enabled(false);
    const api = await start(
      servicesConfig({ LOGFRONT_KAFKA_BROKERS: kafka.listen, LOGFRONT_LOG_LEVEL: 'error' }),
      { runners: false },
    );
    const id = uniqueId();
    expectDown(
      await api.request('POST', `/v1/streams/order-${id}/events`, { events: [orderPlaced(id)] }),
      'kafka',
      'append',
    );
    expectDown(await api.request('GET', `/v1/streams/order-${id}/events`), 'kafka', 'stream read');
    expectDown(await api.request('GET', '/v1/projections'), 'kafka', 'projections');
    expectDown(await api.request('GET', `/v1/projections/orders/rows/${id}`), 'kafka', 'row read');
    expectDown(await api.request('GET', '/v1/projections/orders/rows?limit=1'), 'kafka', 'row list');
    expectDown(await api.request('POST', '/v1/projections/orders/rebuild'), 'kafka', 'rebuild');
  });

  it('Postgres: appends, stream reads, the projections list, row lists, blob reads, rebuilds and erasures', async () => {
    const base = servicesConfig();
    const postgres = await proxyTo(new URL(base.database.url!).host);
    const api = await start(
      servicesConfig({
        LOGFRONT_DATABASE_URL: throughProxy(base.database.url!, postgres),
        LOGFRONT_KEK: randomBytes(32).toString('base64'),
      }),
      { runners: false },
    );
    const id = uniqueId();
    const placed = await api.request('POST', `/v1/streams/order-${id}/events`, { events: [orderPlaced(id)] });
    expect(placed.status).toBe(201);
    await postgres.enabled(false);
    const other = uniqueId();
    expectDown(
      await api.request('POST', `/v1/streams/order-${other}/events`, { events: [orderPlaced(other)] }),
      'postgres',
      'append',
    );
    expectDown(await api.request('GET', `/v1/streams/order-${id}/events`), 'postgres', 'stream read');
    expectDown(await api.request('GET', '/v1/projections'), 'postgres', 'projections');
    expectDown(await api.request('GET', '/v1/projections/orders/rows?limit=1'), 'postgres', 'row list');
    expectDown(await api.request('GET', '/v1/blobs/doc'), 'postgres', 'blob read');
    expectDown(await api.request('POST', '/v1/projections/orders/rebuild'), 'postgres', 'rebuild');
    expectDown(await api.request('DELETE', `/v1/subjects/c-${uniqueId()}`), 'postgres', 'erasure');
  });

  it('Redis: a row read goes to the store; an erasure fails, and erases the rows once tried again', async () => {
    const base = servicesConfig();
    const redis = await proxyTo(new URL(base.redis.url!).host);
    const api = await start(
      servicesConfig({
        LOGFRONT_REDIS_URL: throughProxy(base.redis.url!, redis),
        LOGFRONT_KEK: randomBytes(32).toString('base64'),
      }),
    );
    const [order, customer] = [uniqueId(), `c-${uniqueId()}`];
    const placed = await api.request('POST', `/v1/streams/order-${order}/events`, {
      events: [orderPlacedBy(order, customer)],
    });
    const row = `/v1/projections/orders/rows/${order}`;
    expect((await api.request('GET', `${row}?after=${placed.body.position}`)).status).toBe(200);
    await redis.enabled(false);
    const read = await api.request('GET', row);
    expect(read.status).toBe(200);
    expect(read.body.meta).toMatchObject({ source: 'store' });
    expectDown(await api.request('DELETE', `/v1/subjects/${customer}`), 'redis', 'erasure');
    await redis.enabled(true);
    // Retry-After kept its promise: the rows the failed erasure deleted were kept for the retry
    const erased = await waitFor(async () => {
      const r = await api.request('DELETE', `/v1/subjects/${customer}`);
      return r.status === 202 ? r : undefined;
    }, 30_000);
    expect(erased.body).toMatchObject({ erased: true, rowsDeleted: { orders: 1 } });
    expect((await api.request('GET', row)).status).toBe(404);
  }, 90_000);

  it('S3: blob reads and HEADs', async () => {
    const base = servicesConfig();
    const s3 = await proxyTo(new URL(base.s3.endpoint!).host);
    const api = await start(
      servicesConfig({ LOGFRONT_S3_ENDPOINT: throughProxy(base.s3.endpoint!, s3).replace(/\/$/, '') }),
    );
    const put = await fetch(`${api.url}/v1/blobs/doc`, {
      method: 'PUT',
      body: 'hello',
      headers: { 'content-type': 'text/plain' },
    });
    expect(put.status).toBe(201);
    const { position } = (await put.json()) as { position: string };
    const stored = await fetch(`${api.url}/v1/blobs/doc?after=${position}&maxStalenessMs=30000`);
    expect(await stored.text()).toBe('hello');
    await s3.enabled(false);
    expectDown(await api.request('GET', '/v1/blobs/doc'), 's3', 'blob read');
    const headed = await head(api, '/v1/blobs/doc');
    expect(headed.status).toBe(503);
    expect(Number(headed.retryAfter)).toBeGreaterThanOrEqual(1);
  }, 90_000);
});

describe('a dependency that stalls (nothing comes back) gets a read 503 naming it once the read deadline passes', () => {
  it('Postgres: a budgeted row read and a row list answer within their wait plus LOGFRONT_READ_TIMEOUT_MS', async () => {
    const base = servicesConfig();
    const postgres = await proxyTo(new URL(base.database.url!).host);
    const api = await start(
      servicesConfig({
        LOGFRONT_DATABASE_URL: throughProxy(base.database.url!, postgres),
        LOGFRONT_READ_TIMEOUT_MS: '1000',
        LOGFRONT_LOG_LEVEL: 'error',
      }),
    );
    const id = uniqueId();
    const placed = await api.request('POST', `/v1/streams/order-${id}/events`, { events: [orderPlaced(id)] });
    expect(placed.status).toBe(201);
    const row = `/v1/projections/orders/rows/${id}`;
    expect((await api.request('GET', `${row}?after=${placed.body.position}`)).status).toBe(200);
    const timed = async (path: string) => {
      const began = Date.now();
      const r = await api.request('GET', path);
      return { r, ms: Date.now() - began };
    };
    // a stalled connection: the statement never reaches Postgres, so its statement_timeout never fires
    await postgres.toxic('timeout', { timeout: 0 });
    try {
      // a row the cache does not hold: the store is asked
      const read = await timed(`/v1/projections/orders/rows/${uniqueId()}?maxStalenessMs=500`);
      expectDown(read.r, 'postgres', 'row read');
      expect(read.r.body.message).toContain("no answer within the read's deadline of 1500 ms");
      expect(read.ms).toBeLessThan(5000);
      const list = await timed('/v1/projections/orders/rows?limit=1&maxStalenessMs=0');
      expectDown(list.r, 'postgres', 'row list');
    } finally {
      await postgres.clear();
    }
  }, 90_000);
});

describe('ids of the documented 200 characters on the real services', () => {
  it('a stream id of 265 characters, a row key and a blob id of 200 go through Kafka, Postgres and S3', async () => {
    const api = await start(servicesConfig());
    const stream = `${'c'.repeat(64)}-${uniqueId()}${':'.repeat(190)}`;
    const appended = await api.request('POST', `/v1/streams/${encodeURIComponent(stream)}/events`, {
      events: [{ type: 'OrderShipped', data: { orderId: 'x', carrier: 'DHL' } }],
    });
    expect(appended.status, JSON.stringify(appended.body)).toBe(201);
    const read = await api.request('GET', `/v1/streams/${encodeURIComponent(stream)}/events`);
    expect((read.body.events as { stream: string }[]).map((e) => e.stream)).toEqual([stream]);

    const key = `${uniqueId()}${'/?#%€'.repeat(38)}`;
    const placed = await api.request('POST', `/v1/streams/order-${uniqueId()}/events`, {
      events: [orderPlacedBy(key, `c-${uniqueId()}`)],
    });
    const row = await api.request(
      'GET',
      `/v1/projections/orders/rows/${encodeURIComponent(key)}?after=${placed.body.position}`,
    );
    expect(row.status, JSON.stringify(row.body)).toBe(200);
    expect((row.body.data as { orderId: string }).orderId).toBe(key);

    const blobId = `${uniqueId()}.${'b'.repeat(189)}`;
    const put = await fetch(`${api.url}/v1/blobs/${blobId}`, { method: 'PUT', body: 'two hundred' });
    expect(put.status).toBe(201);
    const { position } = (await put.json()) as { position: string };
    const got = await fetch(`${api.url}/v1/blobs/${blobId}?after=${position}&maxStalenessMs=30000`);
    expect(got.status).toBe(200);
    expect(await got.text()).toBe('two hundred');
  }, 90_000);
});
