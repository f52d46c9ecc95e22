// A child of tests/integration/kafka-seam.test.ts: logfront on the real services (config from the
// environment), built through the composition root, with its projection runners; it appends two events
// over HTTP, reads the stream back, waits for the projection row, scrapes /metrics, and prints what it
// saw as one line `seam-result <json>`. Run with or without tests/support/hide-kafkajs-internals.cjs.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const warnings: { code?: string; message: string }[] = [];
process.on('warning', (w: Error & { code?: string }) => warnings.push({ code: w.code, message: w.message }));

// importing the composition root and the Kafka connector must not throw, whatever kafkajs holds
const { createLogfront } = await import('../../app/compose.ts');
const { createHttpServer } = await import('../../app/http.ts');
const { kafkaFastPaths } = await import('../../connectors/kafka/fast-paths.ts');
const { produceRequest } = await import('../../connectors/kafka/produce-encoder.ts');
const { decodeRecord } = await import('../../connectors/kafka/record-decoder.ts');
const { loadConfig } = await import('../../app/config.ts');
const { createLogger } = await import('../../app/logger.ts');
const { uuidv7 } = await import('../../core/log/ids.ts');
const { orderPlaced, orderShipped } = await import('./orders.ts');

const atImport = kafkaFastPaths();
const require = createRequire(import.meta.url);
const kafkajsDir = dirname(require.resolve('kafkajs/package.json'));
const PRODUCE_V3 = join(kafkajsDir, 'src/protocol/requests/produce/v3/request.js');
const RECORD_DECODER = join(kafkajsDir, 'src/protocol/recordBatch/record/v0/decoder.js');
/** whether this process can resolve a private kafkajs file from outside kafkajs */
const resolvable = (() => {
  try {
    require.resolve(PRODUCE_V3);
    return true;
  } catch {
    return false;
  }
})();

const logLines: Record<string, unknown>[] = [];
const logger = createLogger('info', { write: (line: string) => void logLines.push(JSON.parse(line)) });
const lf = await createLogfront(loadConfig(), { logger });
const app = createHttpServer(lf);
try {
  await lf.startRunners();
  const id = uuidv7();
  const stream = `order-${id}`;
  const inject = async (method: 'GET' | 'POST', url: string, payload?: unknown) => {
    const response = await app.inject({ method, url, ...(payload ? { payload: payload as object } : {}) });
    return { status: response.statusCode, body: response.body ? JSON.parse(response.body) : undefined };
  };
  const placed = await inject('POST', `/v1/streams/${stream}/events`, {
    expectedVersion: 'no_stream',
    events: [orderPlaced(id, 2, 300)],
  });
  const shipped = await inject('POST', `/v1/streams/${stream}/events`, {
    expectedVersion: 1,
    events: [orderShipped(id)],
  });
  const read = await inject('GET', `/v1/streams/${stream}/events`);
  const row = await inject('GET', `/v1/projections/orders/rows/${id}?after=${shipped.body?.position}`);
  const metrics = await app.inject({ method: 'GET', url: '/metrics' });
  const result = {
    resolvable,
    atImport,
    fastPaths: kafkaFastPaths(),
    // what kafkajs took from its module cache when it produced and fetched: ours, or its own
    kafkajsUses: {
      produceEncoder: require.cache[PRODUCE_V3]?.exports === produceRequest,
      recordDecoder: require.cache[RECORD_DECODER]?.exports === decodeRecord,
      ownProduceLoaded: typeof require.cache[PRODUCE_V3]?.exports === 'function',
      ownDecoderLoaded: typeof require.cache[RECORD_DECODER]?.exports === 'function',
    },
    appended: [placed.status, shipped.status],
    read: {
      status: read.status,
      events: (read.body?.events ?? []).map((e: { type: string; version: number }) => [e.type, e.version]),
    },
    row: { status: row.status, data: row.body?.data },
    metrics: metrics.body.split('\n').filter((l) => l.startsWith('logfront_kafka_fast_path{')),
    fastPathLogs: logLines
      .filter((l) => typeof l.msg === 'string' && l.msg.startsWith('kafka fast paths'))
      .map((l) => ({ level: l.level, msg: l.msg })),
    processWarnings: warnings,
  };
  process.stdout.write(`seam-result ${JSON.stringify(result)}\n`);
} finally {
  await app.close();
  await lf.close();
}
