// Read-your-writes: append, then read the projection with after=<position>; the read waits until the
// projection has applied the append (or answers 503 when the budget runs out).
// Run against `npx logfront dev`:  node --import tsx examples/reader.ts
import { createClient } from '../app/sdk.ts';

// the bearer token: LOGFRONT_TOKEN (`export LOGFRONT_TOKEN=$(cat .logfront/dev-key)` for a dev server)
const client = createClient(process.env.LOGFRONT_URL ?? 'http://127.0.0.1:7070', process.env.LOGFRONT_TOKEN);
const orderId = `ryw-${Date.now().toString(36)}`;
const { position } = await client.append(`order-${orderId}`, [
  {
    type: 'OrderPlaced',
    data: {
      orderId,
      customerId: 'c-ryw',
      customerEmail: 'ryw@example.com',
      items: [{ sku: 'mug', qty: 1, priceCents: 850 }],
      totalCents: 850,
    },
  },
]);
const row = await client.get('orders', orderId, { after: position, maxStalenessMs: 5000 });
console.log(
  JSON.stringify({
    orderId,
    status: row.data.status,
    stalenessMs: row.meta.stalenessMs,
    source: row.meta.source,
  }),
);
