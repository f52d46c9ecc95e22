// Rows the database refuses although the projection's checks let them through: an increment whose sum
// overflows its integer column (each delta fits, the total does not). The runner finds the one event
// whose rows are refused by applying its batch event by event, dead-letters it (kind `rows`), and
// goes on (skip) or stops there (halt).
import { afterEach, describe, expect, it } from 'vitest';
import { createLogfront, type Logfront } from '../../app/compose.ts';
import type { Config } from '../../app/config.ts';
import { sampleDomain } from '../../app/domain.ts';
import type { RecordedEvent } from '../../core/types.ts';
import { INT4_MAX } from '../../projections/column-bounds.ts';
import { defineProjection, increment } from '../../projections/define.ts';
import type { OrderPlacedData } from '../../sample/order-events.ts';
import { embeddedConfig, servicesConfig, uniqueId, waitFor } from '../support/services.ts';

/** items ordered per customer, in an integer column */
const itemTotals = (name: string, onError: 'halt' | 'skip') =>
  defineProjection({
    name,
    key: 'customerId',
    categories: ['order'],
    onError,
    retries: 1,
    columns: { customerId: 'text', items: 'integer' },
    on: {
      OrderPlaced: (e: RecordedEvent<OrderPlacedData>) =>
        increment(e.data.customerId, { items: e.data.items[0]!.qty }),
    },
  });

const placed = (customerId: string, qty: number) => ({
  type: 'OrderPlaced',
  data: {
    orderId: uniqueId(),
    customerId,
    customerEmail: 'someone@example.com',
    items: [{ sku: 'bolt', qty, priceCents: 1 }],
    totalCents: qty,
  },
});

const BIG = INT4_MAX - 647; // 2147483000: another 1000 overflows the column, another 7 does not

for (const [mode, config] of [
  ['Kafka', () => servicesConfig()],
  ['embedded', () => embeddedConfig()],
] as [string, () => Config][]) {
  describe(`rows the database refuses (${mode})`, () => {
    let lf: Logfront | undefined;
    afterEach(async () => {
      await lf?.close();
      lf = undefined;
    });

    /** the events appended one append each (on Kafka a transaction each), all to one stream */
    const given = async (onError: 'halt' | 'skip', events: object[]) => {
      const projection = itemTotals(`items_${onError}`, onError);
      lf = await createLogfront(config(), {
        domain: { eventTypes: sampleDomain.eventTypes, projections: [projection] },
      });
      const stream = `order-${uniqueId()}`;
      for (const event of events) await lf.append.appendToStream(stream, { events: [event] });
      await lf.startRunners();
      return { lf, projection, stream };
    };

    it('skip: the one event whose rows are refused is dead-lettered; the events around it are applied once', async () => {
      const [c, d] = [`c-${uniqueId()}`, `d-${uniqueId()}`];
      const { lf, projection, stream } = await given('skip', [
        // first in its partition, a delta the projection's checks refuse before the database sees it
        placed(d, INT4_MAX + 1),
        placed(c, BIG),
        placed(c, 1000),
        placed(d, 5),
        placed(c, 7),
      ]);
      await waitFor(async () => (await lf.store.get(projection, d)).row !== null, 30_000);
      await waitFor(async () => (await lf.store.get(projection, c)).row?.items === BIG + 7, 30_000);
      expect((await lf.store.get(projection, d)).row).toEqual({ customerId: d, items: 5 });
      const { items } = await lf.deadLetters.list(projection.name);
      expect(items.map((l) => [l.kind, l.type, l.stream, l.version, l.state])).toEqual([
        ['column', 'OrderPlaced', stream, 1, 'pending'],
        ['rows', 'OrderPlaced', stream, 3, 'pending'],
      ]);
      expect(items[0]!.reason).toMatch(/items: the increment: .* outside integer \(int4\) range/);
      expect(items[1]!.reason).toMatch(/out of range for type integer/);
      const status = (await lf.store.status(projection.name))!;
      expect(status).toMatchObject({ state: 'running', deadLettered: 2 });
      // the checkpoint stands past every event: nothing is applied again or left behind
      const appended = await lf.append.appendToStream(stream, { events: [placed(d, 1)] });
      await lf.facade.get(projection.name, d, { after: appended.position, maxStalenessMs: 20_000 });
      expect((await lf.store.get(projection, d)).row).toEqual({ customerId: d, items: 6 });
      expect((await lf.store.get(projection, c)).row).toEqual({ customerId: c, items: BIG + 7 });
    });

    it('halt: the projection stops at the event whose rows are refused, with what came before applied', async () => {
      const [c, d] = [`c-${uniqueId()}`, `d-${uniqueId()}`];
      const { lf, projection } = await given('halt', [placed(c, BIG), placed(c, 1000), placed(d, 5)]);
      await waitFor(async () => (await lf.store.status(projection.name))?.state === 'halted', 30_000);
      const status = (await lf.store.status(projection.name))!;
      expect(status.deadLettered).toBe(1);
      expect(status.lastError).toMatch(/out of range/);
      expect((await lf.store.get(projection, c)).row).toEqual({ customerId: c, items: BIG });
      expect((await lf.store.get(projection, d)).row).toBeNull();
    });
  });
}
