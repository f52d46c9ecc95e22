import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogfront, type Logfront } from '../../app/compose.ts';
import { ValidationFailed } from '../../core/errors.ts';
import { type Api, startApi } from '../support/api.ts';
import { orderPlaced, orderShipped } from '../support/orders.ts';
import { servicesConfig, uniqueId } from '../support/services.ts';

describe('walking skeleton on real services', () => {
  let api: Api;
  beforeAll(async () => {
    api = await startApi(servicesConfig());
  });
  afterAll(async () => api?.close());

  const ends = async (lf: Logfront) =>
    (await lf.log.endOffsets([lf.log.topicFor('order')])).reduce((n, p) => n + p.offset, 0n);

  it('HTTP append → Kafka record → projection row → facade read under a staleness budget', async () => {
    const id = uniqueId();
    const appended = await api.request('POST', `/v1/streams/order-${id}/events`, {
      expectedVersion: 'no_stream',
      events: [orderPlaced(id, 4, 250)],
    });
    expect(appended.status).toBe(201);
    expect(appended.body).toMatchObject({ stream: `order-${id}`, fromVersion: 1, toVersion: 1 });

    // the record on Kafka: key = stream id, registry wire format, CloudEvents headers
    const events = await api.lf.log.readStream(`order-${id}` as never, 1, 10);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'OrderPlaced', version: 1, stream: `order-${id}` });

    let read = await api.request('GET', `/v1/projections/orders/rows/${id}?maxStalenessMs=1000`);
    for (let i = 0; read.status === 404 && i < 100; i++) {
      await new Promise((r) => setTimeout(r, 100));
      read = await api.request('GET', `/v1/projections/orders/rows/${id}?maxStalenessMs=1000`);
    }
    expect(read.status).toBe(200);
    expect(read.body.data).toMatchObject({
      orderId: id,
      status: 'placed',
      itemCount: 4,
      totalCents: 1000,
      version: 1,
    });
    const meta = read.body.meta as { position: string; stalenessMs: number; source: string };
    expect(meta.source).toBe('store');
    expect(meta.stalenessMs).toBeLessThanOrEqual(1000);
    expect(typeof meta.position).toBe('string');

    const shipped = await api.request('POST', `/v1/streams/order-${id}/events`, {
      expectedVersion: 1,
      events: [orderShipped(id)],
    });
    const after = await api.request(
      'GET',
      `/v1/projections/orders/rows/${id}?after=${shipped.body.position}`,
    );
    expect(after.status).toBe(200);
    expect(after.body.data).toMatchObject({ status: 'shipped', version: 2 });
  });

  it('a schema violation is a 400 with the failing paths and nothing on the log', async () => {
    const id = uniqueId();
    const before = await ends(api.lf);
    const r = await api.request('POST', `/v1/streams/order-${id}/events`, {
      events: [{ type: 'OrderPlaced', data: { ...orderPlaced(id).data, totalCents: -1, items: [] } }],
    });
    expect(r.status).toBe(400);
    expect((r.body.issues as { path: string }[]).map((i) => i.path).sort()).toEqual([
      'events.0.data.items',
      'events.0.data.totalCents',
    ]);
    expect(await ends(api.lf)).toBe(before);
    expect(await api.lf.log.readStream(`order-${id}` as never, 1, 10)).toEqual([]);
  });

  it('reports every dependency ready', async () => {
    const ready = await api.request('GET', '/readyz');
    expect(ready.status).toBe(200);
    expect((ready.body.dependencies as { name: string; ok: boolean }[]).map((d) => [d.name, d.ok])).toEqual([
      ['kafka', true],
      ['postgres', true],
      ['schema-registry', true],
      ['redis', true],
      ['s3', true],
    ]);
  });
});

describe('the SDK on real services', () => {
  let lf: Logfront;
  beforeAll(async () => {
    lf = await createLogfront(servicesConfig());
    await lf.startRunners();
  });
  afterAll(async () => lf?.close());

  it('appendToStream then facade.get with after= sees the write', async () => {
    const id = uniqueId();
    const r = await lf.append.appendToStream(`order-${id}`, { events: [orderPlaced(id, 2)] });
    const row = await lf.facade.get('orders', id, { after: r.position, maxStalenessMs: 15_000 });
    expect(row.data).toMatchObject({ orderId: id, itemCount: 2, status: 'placed' });
    expect(row.meta).toMatchObject({ source: 'store', stale: false });
  });

  it('a schema violation throws ValidationFailed and appends nothing', async () => {
    const id = uniqueId();
    const error = await lf.append
      .appendToStream(`order-${id}`, { events: [{ type: 'OrderShipped', data: { orderId: id } }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationFailed);
    expect((error as ValidationFailed).issues).toEqual([
      { path: 'events.0.data.carrier', message: expect.any(String) },
    ]);
    expect(await lf.log.readStream(`order-${id}` as never, 1, 10)).toEqual([]);
  });
});
