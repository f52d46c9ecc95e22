import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogfront, type Logfront } from '../../app/compose.ts';
import { sampleDomain } from '../../app/domain.ts';
import { Conflict, NotFound } from '../../core/errors.ts';
import { projectionSummaries } from '../../core/read/status.ts';
import { poisonable } from '../support/domain.ts';
import { readAll } from '../support/log-reader.ts';
import { foldOrders, orderPlaced, orderShipped } from '../support/orders.ts';
import { embeddedConfig, servicesConfig, uniqueId, waitFor } from '../support/services.ts';

describe('blue/green rebuild (Kafka)', () => {
  let lf: Logfront;
  beforeAll(async () => {
    lf = await createLogfront(servicesConfig());
    await lf.startRunners();
  });
  afterAll(async () => lf?.close());

  it('a rebuild while appends continue: reads never fail during the switch, and afterwards the table equals the fold', async () => {
    const ids = Array.from({ length: 200 }, (_, i) => `rb${i}`);
    await Promise.all(
      ids.map((id) => lf.append.appendToStream(`order-${id}`, { events: [orderPlaced(id, 2)] })),
    );
    await lf.facade.get('orders', ids[0]!, { consistency: 'strong', maxStalenessMs: 30_000 });

    let appending = true;
    let appended = 0;
    const writer = (async () => {
      for (let i = 0; appending; i++) {
        const id = ids[i % ids.length]!;
        await lf.append.appendToStream(`order-${id}`, {
          events: [i % 2 ? orderShipped(id) : orderPlaced(`${id}n${i}`, 1)],
        });
        appended++;
      }
    })();
    let reading = true;
    let reads = 0;
    const failures: unknown[] = [];
    const reader = (async () => {
      for (let i = 0; reading; i++) {
        try {
          await lf.facade.get('orders', ids[i % ids.length]!, { maxStalenessMs: 10_000 });
          reads++;
        } catch (error) {
          failures.push(error);
        }
      }
    })();

    const rebuild = await lf.rebuild('orders');
    expect(rebuild.generation).toBe(2);
    await expect(lf.rebuild('orders')).rejects.toBeInstanceOf(Conflict);
    const [during] = await projectionSummaries(lf.store, lf.log, lf.domain.projections);
    expect(during!.generation).toBe(1);
    expect(during!.rebuilding).toMatchObject({ generation: 2, totalEvents: expect.any(Number) });
    expect(during!.rebuilding!.appliedEvents).toBeLessThanOrEqual(during!.rebuilding!.totalEvents);
    await rebuild.done;
    // keep reading across the followers' switch and the old generation's drop
    await new Promise((r) => setTimeout(r, 6000));
    appending = false;
    reading = false;
    await Promise.all([writer, reader]);

    expect(failures).toEqual([]);
    expect(reads).toBeGreaterThan(50);
    expect(appended).toBeGreaterThan(20);
    const status = await lf.store.status('orders');
    expect(status).toMatchObject({ generation: 2, building: null });

    await lf.facade.get('orders', ids[0]!, { consistency: 'strong', maxStalenessMs: 30_000 });
    const events = await readAll(lf.log, [lf.log.topicFor('order')]);
    const expected = foldOrders(events);
    const rows = await lf.store.list(sampleDomain.projections[0]!, {
      filters: {},
      limit: 100_000,
      afterKey: null,
    });
    expect(rows.generation).toBe(2);
    expect(rows.rows).toHaveLength(expected.size);
    for (const row of rows.rows) {
      const { updatedAt: _u, ...rest } = row;
      expect(rest).toEqual(expected.get(String(row.orderId)));
    }
  });
});

describe('rebuild (embedded)', () => {
  it('an unknown projection is a 404; a rebuild halted by a poison event is given up', async () => {
    const projection = poisonable(`rb_${uniqueId()}`, 'halt');
    const lf = await createLogfront(embeddedConfig(), {
      domain: { eventTypes: sampleDomain.eventTypes, projections: [projection] },
    });
    try {
      await expect(lf.rebuild('nope')).rejects.toBeInstanceOf(NotFound);
      await lf.append.appendToStream('order-1', {
        events: [orderPlaced('1', 1), { type: 'OrderCancelled', data: { orderId: '1', reason: 'poison' } }],
      });
      const r = await lf.rebuild(projection.name);
      await expect(r.done).rejects.toThrow(/halted on a poison event/);
      await waitFor(async () => (await lf.store.status(projection.name))?.building === null);
      expect((await lf.store.status(projection.name))?.generation).toBe(1);
    } finally {
      await lf.close();
    }
  });
});
