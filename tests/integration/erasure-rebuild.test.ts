import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogfront, type Logfront } from '../../app/compose.ts';
import type { Config } from '../../app/config.ts';
import { createLogger } from '../../app/logger.ts';
import type { Row } from '../../core/projection.ts';
import { contactsDomain, fragileContacts } from '../support/contacts.ts';
import { orderPlacedBy, orderShipped } from '../support/orders.ts';
import { embeddedConfig, servicesConfig, uniqueId } from '../support/services.ts';

const rebuildSuite = (mode: string, config: () => Config) => {
  describe(`an erasure and a rebuild agree (${mode})`, () => {
    let lf: Logfront;
    beforeAll(async () => {
      lf = await createLogfront(config(), { domain: contactsDomain, logger: createLogger('warn') });
      await lf.startRunners();
    });
    afterAll(async () => lf?.close());

    const append = (stream: string, event: object) => lf.append.appendToStream(stream, { events: [event] });
    /** every row of the active generation of each projection, by key */
    const tables = async () => {
      const out: Record<string, Row[]> = {};
      for (const p of contactsDomain.projections) {
        const read = await lf.store.list(p, { filters: {}, limit: 1000, afterKey: null });
        out[p.name] = read.rows;
      }
      return out;
    };
    /** waits until both projections have applied the log's end (a row of `key` exists in each) */
    const caughtUp = async (key: string) => {
      for (const p of contactsDomain.projections) {
        await lf.facade.get(p.name, key, { consistency: 'strong', maxStalenessMs: 30_000 });
      }
    };

    it("a rebuild after an erasure gives the rows the live path gave: none of the subject's from before it", async () => {
      const ada = `ada-${uniqueId()}`;
      const bob = `bob-${uniqueId()}`;
      const [o1, o2, o3, late, after] = [uniqueId(), uniqueId(), uniqueId(), uniqueId(), uniqueId()];
      await append(`order-${o1}`, orderPlacedBy(o1, ada));
      await append(`order-${o1}`, orderShipped(o1));
      await append(`order-${o2}`, orderPlacedBy(o2, ada));
      await append(`order-${o3}`, orderPlacedBy(o3, bob));
      await caughtUp(o3);

      // an event the runners have not applied when the erasure runs: they must not write its row after it
      await lf.stopRunners();
      await append(`order-${late}`, orderPlacedBy(late, ada));
      const erased = await lf.erasure.erase(ada, { actor: 'test' });
      expect(erased).toMatchObject({ keysDestroyed: 1, rowsDeleted: { orders: 2, contacts: 2 } });
      await lf.startRunners();
      // after the erasure: a new key, a new row; a late shipment of an erased order patches nothing
      await append(`order-${after}`, orderPlacedBy(after, ada));
      await append(`order-${o1}`, orderShipped(o1));
      await append(`order-${o3}`, orderShipped(o3));
      await caughtUp(after);

      const live = await tables();
      const keysOf = (rows: Row[] = []) => rows.map((r) => r.orderId).sort();
      for (const name of ['orders', 'contacts']) {
        expect(keysOf(live[name]).filter((k) => [o1, o2, o3, late, after].includes(k as string))).toEqual(
          [o3, after].sort(),
        );
      }
      expect(live.contacts!.find((r) => r.orderId === after)).toMatchObject({ email: `${ada}@example.com` });
      expect(live.orders!.find((r) => r.orderId === o3)).toMatchObject({ status: 'shipped' });

      for (const p of contactsDomain.projections) {
        const rebuild = await lf.rebuild(p.name);
        await rebuild.done;
      }
      expect(await tables()).toEqual(live);
    });
  });
};

rebuildSuite('embedded', () => embeddedConfig());

describe('a dead letter retried after its subject was erased (embedded)', () => {
  const fix = { fixed: false };
  const projection = fragileContacts(fix);
  let lf: Logfront;
  beforeAll(async () => {
    lf = await createLogfront(embeddedConfig(), {
      domain: { eventTypes: contactsDomain.eventTypes, projections: [projection] },
      logger: createLogger('error'),
    });
    await lf.startRunners();
  });
  afterAll(async () => lf?.close());

  it("writes no row of the erased subject, as a rebuild would not; another subject's row it writes", async () => {
    const [ada, bob] = [`ada-${uniqueId()}`, `bob-${uniqueId()}`];
    const [o1, o2] = [uniqueId(), uniqueId()];
    const fragile = (orderId: string, customer: string) => {
      const e = orderPlacedBy(orderId, customer);
      return { ...e, data: { ...e.data, items: [{ sku: 'fragile', qty: 1, priceCents: 500 }] } };
    };
    await lf.append.appendToStream(`order-${o1}`, { events: [fragile(o1, ada)] });
    const { position } = await lf.append.appendToStream(`order-${o2}`, { events: [fragile(o2, bob)] });
    await lf.facade
      .get(projection.name, o2, { after: position as never, maxStalenessMs: 10_000 })
      .catch(() => undefined);
    const letters = (await lf.deadLetters.list(projection.name)).items;
    expect(letters).toHaveLength(2);
    await lf.erasure.erase(ada, { actor: 'test' });
    fix.fixed = true;
    for (const letter of letters) await lf.deadLetters.retry(projection.name, letter.id);
    const rows = (await lf.store.list(projection, { filters: {}, limit: 10, afterKey: null })).rows;
    expect(rows).toEqual([{ orderId: o2, customerId: bob, email: `${bob}@example.com` }]);
  });
});
rebuildSuite('Kafka and Postgres', () => servicesConfig());
