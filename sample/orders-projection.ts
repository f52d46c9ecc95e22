import type { RecordedEvent } from '../core/types.ts';
import { defineProjection, patch, upsert } from '../projections/define.ts';
import type { OrderCancelledData, OrderPlacedData, OrderShippedData } from './order-events.ts';

const when = (e: RecordedEvent) => e.metadata.occurredAt ?? e.recordedAt;

/** The sample projection of API.md: one row per order. */
export const orders = defineProjection({
  name: 'orders',
  key: 'orderId',
  categories: ['order'],
  // erasing a customer (DELETE /v1/subjects/{customerId}) deletes their orders' rows
  subject: 'customerId',
  columns: {
    orderId: 'text',
    customerId: 'text',
    status: 'text',
    totalCents: 'integer',
    itemCount: 'integer',
    updatedAt: 'timestamptz',
    version: 'integer',
  },
  on: {
    OrderPlaced: (e: RecordedEvent<OrderPlacedData>) =>
      upsert({
        orderId: e.data.orderId,
        customerId: e.data.customerId,
        status: 'placed',
        totalCents: e.data.totalCents,
        itemCount: e.data.items.reduce((n, i) => n + i.qty, 0),
        updatedAt: when(e),
        version: e.version,
      }),
    OrderShipped: (e: RecordedEvent<OrderShippedData>) =>
      patch(e.data.orderId, { status: 'shipped', updatedAt: when(e), version: e.version }),
    OrderCancelled: (e: RecordedEvent<OrderCancelledData>) =>
      patch(e.data.orderId, { status: 'cancelled', updatedAt: when(e), version: e.version }),
  },
});
