// A child of tests/integration/loaded-modules.test.ts, run under tests/support/record-modules.mjs:
// imports the SDK and, with the argument `embedded`, makes logfront embedded in memory through it
// (the same config as embeddedConfig()), runs its projections, appends an order, reads it back through
// the facade and serves it over HTTP. Prints `sdk-child <json>` with what it read.
import { orderPlaced } from './orders.ts';

const sdk = await import('../../app/sdk.ts');
if (process.argv[2] === 'embedded') {
  const lf = await sdk.createLogfront(
    sdk.loadConfig({
      LOGFRONT_MODE: 'embedded',
      LOGFRONT_DATA_DIR: ':memory:',
      LOGFRONT_LOG_LEVEL: 'warn',
      LOGFRONT_READ_WAIT_MS: '5000',
      LOGFRONT_AUTH: 'none',
    }),
  );
  const app = await sdk.createHttpServer(lf);
  try {
    await lf.startRunners();
    const { position } = await lf.append.appendToStream('order-sdk1', { events: [orderPlaced('sdk1', 2)] });
    const row = await lf.facade.get('orders', 'sdk1', { after: position });
    const served = await app.inject({ method: 'GET', url: '/v1/projections/orders/rows/sdk1' });
    process.stdout.write(
      `sdk-child ${JSON.stringify({ status: row.data.status, served: served.statusCode })}\n`,
    );
  } finally {
    await app.close();
    await lf.close();
  }
} else {
  process.stdout.write(`sdk-child ${JSON.stringify({ exports: Object.keys(sdk).length })}\n`);
}
