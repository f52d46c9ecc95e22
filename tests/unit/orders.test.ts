import { describe, expect, it } from 'vitest';
import type { Row } from '../../core/projection.ts';
import type { EventId, EventMetadata, RecordedEvent, StreamId } from '../../core/types.ts';
import { changesFor, DELETED, foldChanges, patch, upsert } from '../../projections/define.ts';
import { orders } from '../../sample/orders-projection.ts';

const RECORDED_AT = '2025-03-01T10:00:00.000Z';
let offset = 0n;
const recorded = (
  type: string,
  data: unknown,
  version: number,
  metadata: EventMetadata = {},
): RecordedEvent => ({
  id: `00000000-0000-7000-8000-${(offset + 1n).toString().padStart(12, '0')}` as EventId,
  stream: 'order-o-1' as StreamId,
  type,
  version,
  data,
  metadata,
  position: { topic: 'shop.events.order', partition: 0, offset: offset++ },
  recordedAt: RECORDED_AT,
});

const orderPlaced = (version = 1, metadata: EventMetadata = {}) =>
  recorded(
    'OrderPlaced',
    {
      orderId: 'o-1',
      customerId: 'c-1',
      customerEmail: 'ada@example.com',
      items: [
        { sku: 'a', qty: 2, priceCents: 100 },
        { sku: 'b', qty: 3, priceCents: 50 },
      ],
      totalCents: 350,
    },
    version,
    metadata,
  );
const orderShipped = (version: number, metadata: EventMetadata = {}) =>
  recorded('OrderShipped', { orderId: 'o-1', carrier: 'DHL' }, version, metadata);
const orderCancelled = (version: number, metadata: EventMetadata = {}) =>
  recorded('OrderCancelled', { orderId: 'o-1', reason: 'changed mind' }, version, metadata);

const rowsAfter = (events: RecordedEvent[], rows = new Map<string, Row>()) =>
  foldChanges(orders, rows, changesFor(orders, events));

describe('the orders projection', () => {
  it('reads the order category into one row per order, keyed by orderId', () => {
    expect(orders.name).toBe('orders');
    expect(orders.key).toBe('orderId');
    expect(orders.categories).toEqual(['order']);
    expect(Object.keys(orders.on).sort()).toEqual(['OrderCancelled', 'OrderPlaced', 'OrderShipped']);
  });

  it('a placed order becomes a placed row with its total, item count and version', () => {
    expect(changesFor(orders, [orderPlaced(1)])).toEqual([
      upsert({
        orderId: 'o-1',
        customerId: 'c-1',
        status: 'placed',
        totalCents: 350,
        itemCount: 5,
        updatedAt: RECORDED_AT,
        version: 1,
      }),
    ]);
  });

  it('the item count sums the quantities, not the lines', () => {
    const one = recorded(
      'OrderPlaced',
      {
        orderId: 'o-2',
        customerId: 'c',
        customerEmail: 'x@y.io',
        items: [{ sku: 's', qty: 7, priceCents: 1 }],
        totalCents: 7,
      },
      1,
    );

    expect(rowsAfter([one]).get('o-2')).toMatchObject({ itemCount: 7 });
  });

  it('updatedAt is when the event occurred, when the producer says so', () => {
    const occurredAt = '2025-02-28T23:59:59.000+01:00';

    expect(rowsAfter([orderPlaced(1, { occurredAt })]).get('o-1')).toMatchObject({ updatedAt: occurredAt });
  });

  it('a shipped order is patched to shipped, with the event’s time and version', () => {
    const occurredAt = '2025-03-02T08:00:00.000Z';

    expect(changesFor(orders, [orderShipped(2, { occurredAt })])).toEqual([
      patch('o-1', { status: 'shipped', updatedAt: occurredAt, version: 2 }),
    ]);
  });

  it('a cancelled order is patched to cancelled, with the recorded time when none is given', () => {
    expect(changesFor(orders, [orderCancelled(3)])).toEqual([
      patch('o-1', { status: 'cancelled', updatedAt: RECORDED_AT, version: 3 }),
    ]);
  });

  it('given placed then shipped, the row is shipped and keeps what placing set', () => {
    const rows = rowsAfter([orderPlaced(1), orderShipped(2)]);

    expect(rows.get('o-1')).toEqual({
      orderId: 'o-1',
      customerId: 'c-1',
      status: 'shipped',
      totalCents: 350,
      itemCount: 5,
      updatedAt: RECORDED_AT,
      version: 2,
    });
  });

  it('a shipment for an order never placed leaves no row', () => {
    expect(rowsAfter([orderShipped(1)]).size).toBe(0);
  });

  it('events of other types are ignored', () => {
    expect(changesFor(orders, [recorded('CartOpened', { orderId: 'o-1' }, 1)])).toEqual([]);
  });

  it('replaying the same events twice gives the same rows', () => {
    const events = [orderPlaced(1), orderShipped(2), orderCancelled(3)];
    const once = rowsAfter(events);

    const twice = rowsAfter(events, rowsAfter(events));

    expect(twice).toEqual(once);
    expect(once.get('o-1')).toMatchObject({ status: 'cancelled', version: 3 });
    expect(once.get('o-1')).not.toBe(DELETED);
  });
});
