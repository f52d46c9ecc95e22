import { createAuthenticator, makeDevKey } from '../auth.ts';
import { createClient } from '../client.ts';
import { createLogfront } from '../compose.ts';
import { loadConfig } from '../config.ts';
import { createHttpServer } from '../http.ts';
import { formatTable } from '../table.ts';
import { defineCommand, jsonOption, need } from './shared.ts';

const SAMPLE_ORDERS = [
  { orderId: 'A-1001', customerId: 'c-ada', items: [{ sku: 'book', qty: 2, priceCents: 1500 }] },
  { orderId: 'A-1002', customerId: 'c-bob', items: [{ sku: 'pen', qty: 10, priceCents: 120 }] },
  {
    orderId: 'A-1003',
    customerId: 'c-ada',
    items: [
      { sku: 'lamp', qty: 1, priceCents: 4999 },
      { sku: 'bulb', qty: 3, priceCents: 299 },
    ],
  },
  { orderId: 'A-1004', customerId: 'c-cyd', items: [{ sku: 'mug', qty: 4, priceCents: 850 }] },
  { orderId: 'A-1005', customerId: 'c-dan', items: [{ sku: 'desk', qty: 1, priceCents: 24900 }] },
];

/** the demo's authentication: its own key, nothing from the environment */
const tokensOnly = {
  mode: 'tokens',
  apiKeysFile: undefined,
  jwtSecret: undefined,
  jwksFile: undefined,
} as const;

export const demo = defineCommand({
  name: 'demo',
  usage: ['demo'],
  does: 'run the embedded demo: append sample orders, read them back, exit',
  help: 'Usage: logfront demo [--json]\n\nStarts logfront embedded (PGlite, in-process registry) on a free port, appends sample orders over HTTP,\nreads them back through the facade, prints them and exits 0.',
  options: { ...jsonOption },
  run: async ({ values, positionals }, io) => {
    need('demo', positionals, 0, 'no arguments');
    const config = loadConfig({
      ...io.env,
      LOGFRONT_MODE: 'embedded',
      LOGFRONT_DATA_DIR: ':memory:',
      LOGFRONT_PORT: '0',
      LOGFRONT_LOG_LEVEL: io.env.LOGFRONT_LOG_LEVEL ?? 'warn',
    });
    const started = Date.now();
    const lf = await createLogfront(config);
    await lf.startRunners();
    const key = makeDevKey(undefined);
    const app = createHttpServer(lf, { authenticator: createAuthenticator(tokensOnly, [key.entry]) });
    try {
      const url = await app.listen({ host: '127.0.0.1', port: 0 });
      const client = createClient(url, key.token);
      const positions: string[] = [];
      for (const o of SAMPLE_ORDERS) {
        const totalCents = o.items.reduce((n, i) => n + i.qty * i.priceCents, 0);
        const placed = await client.append(
          `order-${o.orderId}`,
          [{ type: 'OrderPlaced', data: { ...o, customerEmail: `${o.customerId}@example.com`, totalCents } }],
          'no_stream',
        );
        positions.push(placed.position);
      }
      positions.push(
        (
          await client.append(
            'order-A-1002',
            [{ type: 'OrderShipped', data: { orderId: 'A-1002', carrier: 'DHL' } }],
            1,
          )
        ).position,
      );
      positions.push(
        (
          await client.append(
            'order-A-1004',
            [{ type: 'OrderCancelled', data: { orderId: 'A-1004', reason: 'changed mind' } }],
            1,
          )
        ).position,
      );
      const rows = [];
      for (const o of SAMPLE_ORDERS) {
        const stream = `order-${o.orderId}`;
        const after = positions[SAMPLE_ORDERS.indexOf(o)];
        // read-your-writes: wait for the append's position, at most 5 s
        const r = await client.get('orders', o.orderId, { after: after!, maxStalenessMs: 5000 });
        rows.push({ stream, ...r.data, source: r.meta.source, stalenessMs: r.meta.stalenessMs });
      }
      const last = await client.get('orders', 'A-1004', { after: positions.at(-1)!, maxStalenessMs: 5000 });
      rows[3] = { ...rows[3], ...last.data };
      if (values.json) io.out(JSON.stringify({ orders: rows }));
      else {
        io.out(`logfront demo — embedded log and projections (PGlite), API at ${url}`);
        io.out(
          `appended ${positions.length} events to ${SAMPLE_ORDERS.length} streams; read back through the facade:\n`,
        );
        io.out(
          formatTable(rows, [
            'orderId',
            'customerId',
            'status',
            'itemCount',
            'totalCents',
            'version',
            'source',
            'stalenessMs',
          ]),
        );
        io.out(
          `\ndone in ${Date.now() - started} ms. Next: npx logfront dev, then see docs/getting-started.md`,
        );
      }
      return 0;
    } finally {
      await app.close();
      await lf.close();
    }
  },
});
