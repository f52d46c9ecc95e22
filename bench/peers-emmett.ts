// The peer: Emmett's PostgreSQL event store (@event-driven-io/emmett-postgresql), in process, with the
// `orders` row of API.md kept by an inline Pongo single-stream projection (applied in the append's own
// transaction) and read back through Pongo. Emmett's pg driver setup (dumbo) changes pg's global type
// parsers (int8 → BigInt, json), so it runs in a process of its own, never next to logfront.
import {
  type Event,
  type ExpectedStreamVersion,
  isExpectedVersionConflictError,
  projections,
  type ReadEvent,
  STREAM_DOES_NOT_EXIST,
} from '@event-driven-io/emmett';
import { getPostgreSQLEventStore, pongoSingleStreamProjection } from '@event-driven-io/emmett-postgresql';
import { pongoClient } from '@event-driven-io/pongo';
import pg from 'pg';
import { type Expected, PeerConflict, type PeerEvent, type PeerSystem } from './peers-load.ts';

type OrderEvent =
  | Event<'OrderPlaced', PeerEvent['data']>
  | Event<'OrderShipped', { orderId: string; carrier: string }>
  | Event<'OrderCancelled', { orderId: string; reason: string }>;

/** the `orders` row of API.md (logfront's sample/orders-projection.ts), as a Pongo document */
type OrderRow = {
  orderId: string;
  customerId: string;
  status: 'placed' | 'shipped' | 'cancelled';
  totalCents: number;
  itemCount: number;
  updatedAt: string;
  version: number;
};

export const ORDERS_COLLECTION = 'orders';

const evolve = (row: OrderRow | null, event: ReadEvent<OrderEvent>): OrderRow | null => {
  const version = Number(event.metadata.streamPosition);
  const updatedAt = new Date().toISOString();
  switch (event.type) {
    case 'OrderPlaced':
      return {
        orderId: event.data.orderId,
        customerId: event.data.customerId,
        status: 'placed',
        totalCents: event.data.totalCents,
        itemCount: event.data.items.reduce((n, i) => n + i.qty, 0),
        updatedAt,
        version,
      };
    case 'OrderShipped':
      return row && { ...row, status: 'shipped', updatedAt, version };
    case 'OrderCancelled':
      return row && { ...row, status: 'cancelled', updatedAt, version };
  }
};

export const ordersProjection = pongoSingleStreamProjection<OrderRow, OrderEvent>({
  collectionName: ORDERS_COLLECTION,
  canHandle: ['OrderPlaced', 'OrderShipped', 'OrderCancelled'],
  getDocumentId: (event) => event.data.orderId,
  evolve,
});

const expectedOf = (expected: Expected): ExpectedStreamVersion<bigint> =>
  expected === 'no_stream' ? STREAM_DOES_NOT_EXIST : BigInt(expected);

/**
 * Emmett on `connectionString` (its own database). `poolSize` connections are shared by the store, its
 * inline projection and the row reads; `inlineProjection` registers the `orders` projection.
 */
export const createEmmettSystem = (
  connectionString: string,
  options: { poolSize: number; inlineProjection: boolean },
): PeerSystem => {
  const pool = new pg.Pool({ connectionString, max: options.poolSize, application_name: 'bench-emmett' });
  const store = getPostgreSQLEventStore(connectionString, {
    connectionOptions: { pool },
    ...(options.inlineProjection ? { projections: projections.inline([ordersProjection]) } : {}),
  });
  const pongo = pongoClient(connectionString, { connectionOptions: { pool } });
  const rows = pongo.db().collection<OrderRow>(ORDERS_COLLECTION);
  return {
    name: 'emmett',
    append: async (stream, expected, event) => {
      try {
        const r = await store.appendToStream<OrderEvent>(stream, [event], {
          expectedStreamVersion: expectedOf(expected),
        });
        return { version: Number(r.nextExpectedStreamVersion) };
      } catch (error) {
        // emmett-postgresql bundles its own copy of Emmett's error classes: match the error code
        if (isExpectedVersionConflictError(error)) throw new PeerConflict((error as Error).message);
        throw error;
      }
    },
    // the inline projection committed with the append: the row is there when the append returns
    readRow: async (orderId) => {
      const row = await rows.findOne({ _id: orderId });
      return row ? { version: row.version } : null;
    },
    readStream: async (stream) => (await store.readStream<OrderEvent>(stream)).events.length,
    close: async () => {
      await pongo.close();
      await store.close();
      await pool.end();
    },
  };
};
