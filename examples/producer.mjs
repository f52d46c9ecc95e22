// A producer over plain HTTP (no SDK): appends one OrderPlaced per line of input (orderId,customerId,qty).
// Run against `npx logfront dev`:  printf 'p1,c1,2\np2,c2,1\n' | node examples/producer.mjs
import { createInterface } from 'node:readline';

const base = process.env.LOGFRONT_URL ?? 'http://127.0.0.1:7070';
// the bearer token: LOGFRONT_TOKEN (`export LOGFRONT_TOKEN=$(cat .logfront/dev-key)` for a dev server)
const auth = process.env.LOGFRONT_TOKEN ? { authorization: `Bearer ${process.env.LOGFRONT_TOKEN}` } : {};
for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const [orderId, customerId, qty] = line.split(',');
  const response = await fetch(`${base}/v1/streams/order-${orderId}/events`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({
      expectedVersion: 'no_stream',
      events: [
        {
          type: 'OrderPlaced',
          data: {
            orderId,
            customerId,
            customerEmail: `${customerId}@example.com`,
            items: [{ sku: 'pen', qty: Number(qty), priceCents: 120 }],
            totalCents: Number(qty) * 120,
          },
        },
      ],
    }),
  });
  const body = await response.json();
  if (response.status !== 201) {
    console.error(`${orderId}: ${body.error}: ${body.message}`);
    process.exitCode = 1;
    continue;
  }
  console.log(JSON.stringify({ orderId, position: body.position }));
}
