import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Api, startApi } from '../support/api.ts';
import { orderCancelled, orderPlaced, orderShipped } from '../support/orders.ts';
import { embeddedConfig, uniqueId, waitFor } from '../support/services.ts';

describe('HTTP API on the embedded default', () => {
  let api: Api;
  beforeAll(async () => {
    api = await startApi(
      embeddedConfig({ LOGFRONT_MAX_APPEND_BYTES: '4096', LOGFRONT_MAX_APPEND_EVENTS: '10' }),
    );
  });
  afterAll(async () => api?.close());

  const eventsOf = async (stream: string) => {
    const r = await api.request('GET', `/v1/streams/${stream}/events`);
    return r.status === 404 ? [] : (r.body.events as unknown[]);
  };

  it('an append answers 201 with versions and a position, and the row is readable under a budget', async () => {
    const id = uniqueId();
    const r = await api.request('POST', `/v1/streams/order-${id}/events`, { events: [orderPlaced(id, 3)] });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ stream: `order-${id}`, fromVersion: 1, toVersion: 1 });
    expect(typeof r.body.position).toBe('string');
    const read = await api.request(
      'GET',
      `/v1/projections/orders/rows/${id}?maxStalenessMs=1000&after=${r.body.position}`,
    );
    expect(read.status).toBe(200);
    expect(read.body.data).toMatchObject({
      orderId: id,
      status: 'placed',
      itemCount: 3,
      totalCents: 300,
      version: 1,
    });
    expect(read.body.meta).toMatchObject({ source: 'store', stale: false });
    expect(typeof (read.body.meta as { position: unknown }).position).toBe('string');
    expect((read.body.meta as { stalenessMs: number }).stalenessMs).toBeLessThanOrEqual(1000);
  });

  it('shipping and cancelling patch the row; the stream reads back contiguous', async () => {
    const id = uniqueId();
    await api.request('POST', `/v1/streams/order-${id}/events`, {
      expectedVersion: 'no_stream',
      events: [orderPlaced(id)],
    });
    await api.request('POST', `/v1/streams/order-${id}/events`, {
      expectedVersion: 1,
      events: [orderShipped(id)],
    });
    const last = await api.request('POST', `/v1/streams/order-${id}/events`, {
      expectedVersion: 2,
      events: [orderCancelled(id)],
    });
    const read = await api.request('GET', `/v1/projections/orders/rows/${id}?after=${last.body.position}`);
    expect(read.body.data).toMatchObject({ status: 'cancelled', version: 3 });
    const stream = await api.request('GET', `/v1/streams/order-${id}/events?fromVersion=2&limit=1`);
    expect(stream.status).toBe(200);
    expect(
      (stream.body.events as { version: number; type: string }[]).map((e) => [e.version, e.type]),
    ).toEqual([[2, 'OrderShipped']]);
    expect(stream.body.nextVersion).toBe(3);
    const rest = await api.request('GET', `/v1/streams/order-${id}/events?fromVersion=3`);
    expect(rest.body.nextVersion).toBeNull();
  });

  it('a version conflict is a 409 with expected and actual', async () => {
    const id = uniqueId();
    await api.request('POST', `/v1/streams/order-${id}/events`, { events: [orderPlaced(id)] });
    const r = await api.request('POST', `/v1/streams/order-${id}/events`, {
      expectedVersion: 'no_stream',
      events: [orderShipped(id)],
    });
    expect(r.status).toBe(409);
    expect(r.body).toMatchObject({ error: 'version_conflict', expected: 'no_stream', actual: 1 });
  });

  describe('bad input is a 4xx with a code, and nothing is appended', () => {
    const cases: [string, (id: string) => unknown, number, string][] = [
      ['malformed JSON', () => '{"events": [', 400, 'invalid_json'],
      [
        'an unknown event type',
        () => ({ events: [{ type: 'OrderTeleported', data: {} }] }),
        400,
        'validation_failed',
      ],
      [
        'a schema violation',
        (id) => ({
          events: [
            {
              ...orderPlaced(id),
              data: { ...orderPlaced(id).data, items: [{ sku: '', qty: 0, priceCents: -1 }] },
            },
          ],
        }),
        400,
        'validation_failed',
      ],
      [
        'a wrong expectedVersion type',
        (id) => ({ expectedVersion: '3', events: [orderPlaced(id)] }),
        400,
        'validation_failed',
      ],
      [
        'a negative expectedVersion',
        (id) => ({ expectedVersion: -1, events: [orderPlaced(id)] }),
        400,
        'validation_failed',
      ],
      ['an empty batch', () => ({ events: [] }), 400, 'validation_failed'],
      ['no events field', () => ({}), 400, 'validation_failed'],
      ['an unknown field', (id) => ({ events: [orderPlaced(id)], extra: 1 }), 400, 'validation_failed'],
      ['a body that is not an object', () => '[1,2]', 400, 'validation_failed'],
      [
        'a batch over the event limit',
        (id) => ({ events: Array.from({ length: 11 }, () => orderShipped(id)) }),
        413,
        'too_large',
      ],
      [
        'a batch over the byte limit',
        (id) => ({ events: [{ type: 'OrderShipped', data: { orderId: id, carrier: 'x'.repeat(5000) } }] }),
        413,
        'too_large',
      ],
      [
        'a body over the HTTP limit',
        (id) => ({ events: [orderShipped(id)], pad: 'x'.repeat(200_000) }),
        413,
        'too_large',
      ],
      [
        'a bad event id',
        (id) => ({ events: [{ ...orderPlaced(id), id: 'not-a-uuid' }] }),
        400,
        'validation_failed',
      ],
      [
        'bad metadata',
        (id) => ({ events: [{ ...orderPlaced(id), metadata: { occurredAt: 'yesterday' } }] }),
        400,
        'validation_failed',
      ],
    ];
    for (const [what, body, status, code] of cases) {
      it(`${what} → ${status} ${code}`, async () => {
        const id = uniqueId();
        const r = await api.request('POST', `/v1/streams/order-${id}/events`, body(id));
        expect(r.status).toBe(status);
        expect(r.body.error).toBe(code);
        expect(typeof r.body.message).toBe('string');
        expect(JSON.stringify(r.body)).not.toMatch(/at .*\.ts:\d+/);
        expect(await eventsOf(`order-${id}`)).toEqual([]);
      });
    }

    it('a schema violation lists every failing path', async () => {
      const id = uniqueId();
      const r = await api.request('POST', `/v1/streams/order-${id}/events`, {
        events: [
          orderShipped(id),
          {
            type: 'OrderPlaced',
            data: {
              orderId: id,
              customerId: 'c',
              customerEmail: 'nope',
              items: [{ sku: 's', qty: 0, priceCents: 1 }],
              totalCents: -5,
            },
          },
        ],
      });
      expect(r.status).toBe(400);
      const paths = (r.body.issues as { path: string }[]).map((i) => i.path).sort();
      expect(paths).toEqual([
        'events.1.data.customerEmail',
        'events.1.data.items.0.qty',
        'events.1.data.totalCents',
      ]);
      expect(await eventsOf(`order-${id}`)).toEqual([]);
    });

    it('an invalid stream id → 400 naming the stream', async () => {
      const r = await api.request('POST', '/v1/streams/nocategory/events', { events: [orderShipped('1')] });
      expect(r.status).toBe(400);
      expect(r.body).toMatchObject({ error: 'validation_failed', issues: [{ path: 'stream' }] });
    });
  });

  it('reads answer 404 for unknown rows, projections, streams and routes', async () => {
    expect((await api.request('GET', '/v1/projections/orders/rows/nope-404')).body.error).toBe('not_found');
    expect((await api.request('GET', '/v1/projections/nope/rows/1')).status).toBe(404);
    expect((await api.request('GET', '/v1/streams/order-nope404/events')).status).toBe(404);
    const route = await api.request('GET', '/v2/whatever');
    expect(route).toMatchObject({ status: 404, body: { error: 'not_found' } });
  });

  it('bad read options are 400s', async () => {
    for (const q of [
      'maxStalenessMs=-1',
      'maxStalenessMs=abc',
      'after=%%%',
      'consistency=psychic',
      'onStale=maybe',
      'bogus=1',
    ]) {
      const r = await api.request('GET', `/v1/projections/orders/rows/1?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.body.error, q).toBe('validation_failed');
    }
    expect((await api.request('GET', '/v1/streams/order-1/events?limit=0')).status).toBe(400);
  });

  it('lists rows with equality filters and keyset pages that neither skip nor repeat', async () => {
    const customer = `c-${uniqueId()}`;
    let position = '';
    for (let i = 0; i < 7; i++) {
      const id = `${customer}-${i}`;
      const r = await api.request('POST', `/v1/streams/order-${id}/events`, {
        events: [{ type: 'OrderPlaced', data: { ...orderPlaced(id).data, customerId: customer } }],
      });
      position = r.body.position as string;
    }
    const keys: string[] = [];
    let cursor: string | null = null;
    do {
      const q: string = `customerId=${customer}&limit=3&after=${position}${cursor ? `&cursor=${cursor}` : ''}`;
      const page = await api.request('GET', `/v1/projections/orders/rows?${q}`);
      expect(page.status).toBe(200);
      keys.push(...(page.body.items as { orderId: string }[]).map((r) => r.orderId));
      cursor = page.body.next as string | null;
    } while (cursor);
    expect(keys).toEqual(Array.from({ length: 7 }, (_, i) => `${customer}-${i}`));
    const unknown = await api.request('GET', '/v1/projections/orders/rows?colour=red');
    expect(unknown).toMatchObject({ status: 400, body: { error: 'validation_failed' } });
    const badCursor = await api.request('GET', '/v1/projections/orders/rows?cursor=xyz');
    expect(badCursor.status).toBe(400);
  });

  it('POST rebuild answers 202 with the new generation, 409 while it runs, 404 for an unknown projection', async () => {
    const first = await api.request('POST', '/v1/projections/orders/rebuild');
    expect(first.status).toBe(202);
    expect(first.body).toMatchObject({ name: 'orders', generation: expect.any(Number) });
    const second = await api.request('POST', '/v1/projections/orders/rebuild');
    expect(second).toMatchObject({ status: 409, body: { error: 'conflict' } });
    expect((await api.request('POST', '/v1/projections/nope/rebuild')).status).toBe(404);
    await waitFor(
      async () => (await api.lf.store.status('orders'))?.generation === first.body.generation,
      20_000,
    );
  });

  it('reports projections, health and readiness', async () => {
    const p = await api.request('GET', '/v1/projections');
    expect(p.status).toBe(200);
    expect(p.body.projections).toEqual([
      expect.objectContaining({ name: 'orders', state: 'running', deadLettered: 0, rebuilding: null }),
    ]);
    expect((await api.request('GET', '/healthz')).status).toBe(200);
    const ready = await api.request('GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.dependencies).toEqual([{ name: 'postgres', ok: true }]);
  });
  it('data no store can hold is a 400 naming its path, nothing is appended, and the projection goes on', async () => {
    const id = uniqueId();
    const bad = await api.request('POST', `/v1/streams/order-${id}/events`, {
      events: [{ type: 'OrderShipped', data: { orderId: '\ud800', carrier: 'x\u0000' } }],
    });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({
      error: 'validation_failed',
      issues: [
        { path: 'events.0.data.orderId', message: expect.stringMatching(/lone UTF-16 surrogate/) },
        { path: 'events.0.data.carrier', message: expect.stringMatching(/NUL/) },
      ],
    });
    expect(await eventsOf(`order-${id}`)).toEqual([]);
    const dated = await api.request('POST', `/v1/streams/order-${id}/events`, {
      events: [{ ...orderPlaced(id, 1), metadata: { occurredAt: '0000-01-01T00:00:00Z' } }],
    });
    expect(dated.status).toBe(400);
    // a good append after them is applied: the projection did not stop
    const ok = await api.request('POST', `/v1/streams/order-${id}/events`, { events: [orderPlaced(id, 2)] });
    const read = await api.request(
      'GET',
      `/v1/projections/orders/rows/${id}?maxStalenessMs=5000&after=${ok.body.position}`,
    );
    expect(read.status).toBe(200);
  });

  it('a row key, filter or filter name no store can hold is a 400, never a 500', async () => {
    const key = await api.request('GET', `/v1/projections/orders/rows/a%00b`);
    expect(key.status).toBe(400);
    expect(key.body).toMatchObject({ error: 'validation_failed', issues: [{ path: 'key' }] });
    const filter = await api.request('GET', `/v1/projections/orders/rows?status=a%00b`);
    expect(filter.status).toBe(400);
    expect(filter.body).toMatchObject({ issues: [{ path: 'status' }] });
    for (const name of ['toString', 'constructor', '__proto__']) {
      const r = await api.request('GET', `/v1/projections/orders/rows?${name}=x`);
      expect(r.status).toBe(400);
    }
  });
  it('an event whose row the store refuses is dead-lettered and skipped: the projection goes on', async () => {
    const [bad, good] = [uniqueId(), uniqueId()];
    // totalCents passes the schema (an integer) but not the projection's integer column (int4)
    const r = await api.request('POST', `/v1/streams/order-${bad}/events`, {
      events: [{ ...orderPlaced(bad, 1), data: { ...orderPlaced(bad, 1).data, totalCents: 3_000_000_000 } }],
    });
    expect(r.status).toBe(201);
    const ok = await api.request('POST', `/v1/streams/order-${good}/events`, {
      events: [orderPlaced(good, 1)],
    });
    const read = await api.request(
      'GET',
      `/v1/projections/orders/rows/${good}?maxStalenessMs=10000&after=${ok.body.position}`,
    );
    expect(read.status).toBe(200);
    const status = await api.request('GET', '/v1/projections');
    const orders = (status.body.projections as { name: string; state: string; deadLettered: number }[]).find(
      (p) => p.name === 'orders',
    )!;
    expect(orders.state).toBe('running');
    // the projection's count is a lower bound only (other tests of this file dead-letter events too);
    // the event itself has exactly one letter: one is kept per event, whatever is given again
    expect(orders.deadLettered).toBeGreaterThanOrEqual(1);
    const letters = await api.request('GET', '/v1/projections/orders/dead-letters?limit=500');
    const its = (letters.body.items as { stream: string; kind: string; state: string }[]).filter(
      (l) => l.stream === `order-${bad}`,
    );
    expect(its).toEqual([expect.objectContaining({ kind: 'column', state: 'pending' })]);
    expect((await api.request('GET', `/v1/projections/orders/rows/${bad}`)).status).toBe(404);
  });
  it('a body nested 10,000 deep, a huge fromVersion and a malformed URL are 400s in the API shape; ids of 200 characters route', async () => {
    let deep = '1';
    for (let i = 0; i < 10_000; i++) deep = `[${deep}]`;
    const nested = await api.request(
      'POST',
      '/v1/streams/order-deep/events',
      `{"events":[{"type":"OrderShipped","data":{"orderId":"1","carrier":${deep}}}]}`,
    );
    expect(nested.status).toBe(400);
    expect(nested.body).toMatchObject({ error: 'validation_failed' });
    const far = await api.request('GET', '/v1/streams/order-1/events?fromVersion=3000000000');
    expect(far.status).toBe(400);
    expect(far.body).toMatchObject({ error: 'validation_failed', issues: [{ path: 'fromVersion' }] });
    const bad = await api.request('GET', '/v1/streams/%E0%A4%A/events');
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: 'bad_request' });
    const long = `order-${'a'.repeat(200)}`;
    expect((await api.request('GET', `/v1/streams/${long}/events`)).status).toBe(404);
  });
});
