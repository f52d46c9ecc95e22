// A small order service on the logfront SDK: it places and ships orders with optimistic concurrency.
// Run against `npx logfront dev`:  node --import tsx examples/order-service.ts [count]
import { ApiError, createClient } from '../app/sdk.ts';

// the bearer token: LOGFRONT_TOKEN (`export LOGFRONT_TOKEN=$(cat .logfront/dev-key)` for a dev server)
const client = createClient(process.env.LOGFRONT_URL ?? 'http://127.0.0.1:7070', process.env.LOGFRONT_TOKEN);
const count = Number(process.argv[2] ?? 3);

for (let i = 1; i <= count; i++) {
  const orderId = `svc-${Date.now().toString(36)}-${i}`;
  const placed = await client.append(
    `order-${orderId}`,
    [
      {
        type: 'OrderPlaced',
        data: {
          orderId,
          customerId: `c-${i}`,
          customerEmail: `c${i}@example.com`,
          items: [{ sku: 'book', qty: i, priceCents: 1500 }],
          totalCents: i * 1500,
        },
      },
    ],
    'no_stream',
  );
  const shipped = await client.append(
    `order-${orderId}`,
    [{ type: 'OrderShipped', data: { orderId, carrier: 'DHL' } }],
    placed.toVersion,
  );
  // a second shipment with the same expected version is refused: the stream has moved on
  try {
    await client.append(
      `order-${orderId}`,
      [{ type: 'OrderShipped', data: { orderId, carrier: 'UPS' } }],
      placed.toVersion,
    );
  } catch (error) {
    if (!(error instanceof ApiError && error.code === 'version_conflict')) throw error;
  }
  console.log(JSON.stringify({ orderId, version: shipped.toVersion, position: shipped.position }));
}
