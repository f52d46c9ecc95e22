import { type Domain, sampleDomain } from '../../app/domain.ts';
import type { RecordedEvent } from '../../core/types.ts';
import { defineProjection, increment, patch, upsert } from '../../projections/define.ts';
import type { OrderPlacedData } from '../../sample/order-events.ts';

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

/**
 * A projection with two kinds of poison: a handler that throws (an OrderCancelled whose reason is
 * "poison", until `fix.fixed` is set) and a value its column cannot hold (an OrderShipped by carrier
 * "bad-row" writes text into an integer).
 */
export const poisonable = (
  name: string,
  onError: 'halt' | 'skip',
  fix: { fixed: boolean } = { fixed: false },
) =>
  defineProjection({
    name,
    key: 'orderId',
    categories: ['order'],
    onError,
    retries: 1,
    columns: { orderId: 'text', status: 'text', qty: 'integer' },
    on: {
      OrderPlaced: (e: RecordedEvent<OrderPlacedData>) =>
        upsert({ orderId: e.data.orderId, status: 'placed', qty: e.data.items[0]!.qty }),
      OrderCancelled: (e: RecordedEvent<{ orderId: string; reason: string }>) => {
        if (e.data.reason === 'poison' && !fix.fixed) throw new Error('cannot cancel: poison');
        return patch(e.data.orderId, { status: 'cancelled' });
      },
      OrderShipped: (e: RecordedEvent<{ orderId: string; carrier: string }>) =>
        patch(e.data.orderId, e.data.carrier === 'bad-row' ? { qty: 'not a number' } : { status: 'shipped' }),
    },
  });
