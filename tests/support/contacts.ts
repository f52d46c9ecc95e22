import { type Domain, sampleDomain } from '../../app/domain.ts';
import type { RecordedEvent } from '../../core/types.ts';
import { defineProjection, patch, upsert } from '../../projections/define.ts';
import type { OrderPlacedData, OrderShippedData } from '../../sample/order-events.ts';

/**
 * One row per order with the customer's email in clear: a projection that copies a sensitive field, so
 * that an erasure has a plaintext copy to delete (the sample's orders projection keeps none). A shipment
 * patches the row, leaving an older version of it behind in the table's pages.
 */
export const contacts = defineProjection({
  name: 'contacts',
  key: 'orderId',
  categories: ['order'],
  subject: 'customerId',
  columns: { orderId: 'text', customerId: 'text', email: 'text', status: 'text' },
  on: {
    OrderPlaced: (e: RecordedEvent<OrderPlacedData>) =>
      upsert({
        orderId: e.data.orderId,
        customerId: e.data.customerId,
        email: e.data.customerEmail,
        status: 'placed',
      }),
    OrderShipped: (e: RecordedEvent<OrderShippedData>) => patch(e.data.orderId, { status: 'shipped' }),
  },
});

/** the sample domain and the contacts projection */
export const contactsDomain: Domain = {
  eventTypes: sampleDomain.eventTypes,
  projections: [...sampleDomain.projections, contacts],
};

/**
 * contacts whose handler fails on an order of the sku `fragile` until `fix.fixed`: the event is
 * dead-lettered (skip), to be retried once fixed
 */
export const fragileContacts = (fix: { fixed: boolean }) =>
  defineProjection({
    name: 'fragile_contacts',
    key: 'orderId',
    categories: ['order'],
    subject: 'customerId',
    retries: 0,
    columns: { orderId: 'text', customerId: 'text', email: 'text' },
    on: {
      OrderPlaced: (e: RecordedEvent<OrderPlacedData>) => {
        if (e.data.items[0]!.sku === 'fragile' && !fix.fixed) throw new Error('not yet');
        return upsert({
          orderId: e.data.orderId,
          customerId: e.data.customerId,
          email: e.data.customerEmail,
        });
      },
    },
  });
