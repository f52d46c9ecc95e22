import { type Domain, sampleDomain } from '../../app/domain.ts';
import type { RecordedEvent } from '../../core/types.ts';
import { defineProjection, increment } from '../../projections/define.ts';
import type { OrderPlacedData } from '../../schemas/orders.ts';

/**
 * Counts per customer: orders placed and items ordered. Increments are not idempotent, so an
 * event applied twice shows up as a wrong count.
 */
export const customerTotals = defineProjection({
  name: 'customer_totals',
  key: 'customerId',
  categories: ['order'],
  columns: { customerId: 'text', orders: 'integer', items: 'integer', events: 'integer' },
  on: {
    OrderPlaced: (e: RecordedEvent<OrderPlacedData>) =>
      increment(e.data.customerId, {
        orders: 1,
        items: e.data.items.reduce((n, i) => n + i.qty, 0),
        events: 1,
      }),
  },
});

export const testDomain: Domain = {
  eventTypes: sampleDomain.eventTypes,
  projections: [...sampleDomain.projections, customerTotals],
};

/** customer_totals computed from the events without the projection's code */
export const foldCustomerTotals = (events: readonly RecordedEvent[]) => {
  const rows = new Map<string, { customerId: string; orders: number; items: number; events: number }>();
  for (const e of events) {
    if (e.type !== 'OrderPlaced') continue;
    const d = e.data as OrderPlacedData;
    const row = rows.get(d.customerId) ?? { customerId: d.customerId, orders: 0, items: 0, events: 0 };
    row.orders += 1;
    row.events += 1;
    row.items += d.items.reduce((n, i) => n + i.qty, 0);
    rows.set(d.customerId, row);
  }
  return rows;
};
