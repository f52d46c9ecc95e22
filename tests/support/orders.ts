import type { Row } from '../../core/projection.ts';
import type { RecordedEvent } from '../../core/types.ts';

let n = 0;
/** an OrderPlaced payload with `qty` items of one sku */
export const orderPlaced = (orderId: string, qty = 1, priceCents = 100) => ({
  type: 'OrderPlaced',
  data: {
    orderId,
    customerId: `c-${(n++ % 7).toString()}`,
    customerEmail: 'someone@example.com',
    items: [{ sku: 'sku-1', qty, priceCents }],
    totalCents: qty * priceCents,
  },
});
/** an OrderPlaced of one book (500 cents) by `customerId`, whose email is `<customerId>@example.com` */
export const orderPlacedBy = (orderId: string, customerId: string, metadata?: Record<string, string>) => ({
  type: 'OrderPlaced',
  data: {
    orderId,
    customerId,
    customerEmail: `${customerId}@example.com`,
    items: [{ sku: 'book', qty: 1, priceCents: 500 }],
    totalCents: 500,
  },
  ...(metadata ? { metadata } : {}),
});
export const orderShipped = (orderId: string) => ({
  type: 'OrderShipped',
  data: { orderId, carrier: 'DHL' },
});
export const orderCancelled = (orderId: string) => ({
  type: 'OrderCancelled',
  data: { orderId, reason: 'test' },
});

/**
 * The orders projection computed independently of the runner: a plain fold over the events,
 * written without the projection's code.
 */
export const foldOrders = (events: readonly RecordedEvent[]) => {
  const rows = new Map<string, Row>();
  for (const e of events) {
    const d = e.data as Record<string, unknown>;
    const id = String(d.orderId);
    if (e.type === 'OrderPlaced') {
      const items = d.items as { qty: number }[];
      rows.set(id, {
        orderId: id,
        customerId: d.customerId,
        status: 'placed',
        totalCents: d.totalCents,
        itemCount: items.reduce((a, i) => a + i.qty, 0),
        version: e.version,
      });
    } else if (rows.has(id)) {
      rows.set(id, {
        ...rows.get(id)!,
        status: e.type === 'OrderShipped' ? 'shipped' : 'cancelled',
        version: e.version,
      });
    }
  }
  return rows;
};
