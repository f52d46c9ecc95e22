// Append throughput and latency: the SDK and HTTP (with concurrency control) next to a raw kafkajs
// producer sending the same records with the same batch size and acks, in one run. The raw producer
// lives in the same process, so it encodes Produce requests with logfront's encoder too (kafkajs's
// module cache is shared; see connectors/kafka/fast-paths.ts): a baseline no slower than stock.
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { createLogfront } from '../app/compose.ts';
import { createHttpServer } from '../app/http.ts';
import { batchOf as batchOfLoad, withVersions } from './append-load.ts';
import { benchConfig, drive, type Figures, report, round } from './harness.ts';
import { runClientProcess } from './http-load.ts';

type Run = { seconds: number; p50: number; p99: number };

const EVENTS = Number(process.env.BENCH_EVENTS ?? 60_000);
const BATCH = Number(process.env.BENCH_BATCH ?? 10);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const STREAMS = 2000;

export const run = async () => {
  const config = benchConfig(`bench_${Date.now().toString(36)}`);
  const lf = await createLogfront(config);
  await lf.log.ensureTopics(['order']);
  const appends = EVENTS / BATCH;
  const batchOf = (i: number) => batchOfLoad(i, BATCH, STREAMS);
  const figures = (r: { seconds: number; p50: number; p99: number }): Figures => ({
    'events/s': Math.round(EVENTS / r.seconds),
    'p50 ms': round(r.p50, 2),
    'p99 ms': round(r.p99, 2),
  });

  // warm up: registry subjects, sequencer ownership of every partition, connections
  await drive(200, 16, (i) => lf.append.appendToStream(`order-w${i}`, { events: batchOf(i) }).then(() => {}));

  // raw kafkajs: same topic layout, same batch size, acks=-1, idempotent producer, no concurrency control
  const kafka = new Kafka({
    brokers: config.kafka.brokers,
    clientId: 'bench-raw',
    logLevel: logLevel.NOTHING,
  });
  const raw = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 5,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await raw.connect();
  const topic = lf.log.topicFor('order');
  const value = await (async () => {
    const r = lf.registry;
    const schemaId = await r.register(
      lf.catalog.subjectOf('OrderShipped'),
      lf.catalog.jsonSchemaOf('OrderShipped'),
    );
    return (orderId: string) => r.encode(schemaId, { orderId, carrier: 'DHL' });
  })();
  await drive(200, 16, async (i) => {
    await raw.send({ topic, acks: -1, messages: [{ key: `order-w${i}`, value: await value('w') }] });
  });
  const rawRun = await drive(appends, CONCURRENCY, async (i) => {
    const key = `order-r${i % STREAMS}`;
    const messages = await Promise.all(
      Array.from({ length: BATCH }, async () => ({
        key,
        value: await value(String(i)),
        headers: { ce_type: 'OrderShipped' },
      })),
    );
    await raw.send({ topic, acks: -1, messages });
  });
  await raw.disconnect();

  const sdkAppend = withVersions(BATCH, STREAMS, async (stream, expectedVersion, i) => {
    await lf.append.appendToStream(stream, { expectedVersion, events: batchOf(i) });
  });
  const sdkRun = await drive(appends, CONCURRENCY, sdkAppend('order-s'));

  // The same with the stream index built in this process while it appends, as a single `logfront
  // serve` does (the run above had it built elsewhere: its catch-up is timed here, then it runs on)
  const catchUpStarted = performance.now();
  await lf.startStreamIndex();
  while ((await lf.streamIndexLag()) > 0) await new Promise((r) => setTimeout(r, 20));
  const catchUpSeconds = (performance.now() - catchUpStarted) / 1000;
  const indexedRun = await drive(appends, CONCURRENCY, sdkAppend('order-i'));

  const app = createHttpServer(lf);
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  // the HTTP client runs in a process of its own (bench/append-http-client.ts)
  const httpRun = await runClientProcess<Run>('append-http-client.ts', [
    url,
    appends,
    CONCURRENCY,
    BATCH,
    STREAMS,
    'order-h',
  ]);
  await app.close();
  await lf.close();

  const ours = figures(sdkRun);
  const baseline = figures(rawRun);
  const http = figures(httpRun);
  const sdkIndexed = figures(indexedRun);
  report(
    'append',
    [
      { label: 'sdk', figures: ours },
      { label: 'sdk + index here', figures: sdkIndexed },
      { label: 'http + index here', figures: http },
      { label: 'raw kafkajs', figures: baseline },
    ],
    {
      params: {
        events: EVENTS,
        batch: BATCH,
        concurrency: CONCURRENCY,
        streams: STREAMS,
        acks: 'all',
        'expected versions': 'sdk and http: the version each stream is at (no `any`)',
        'stream index':
          'sdk: built elsewhere (caught up after the run, timed); sdk + index, http: built in this process while it appends',
        'raw producer': "same process: logfront's produce encoder",
      },
      ours: {
        ...ours,
        'http events/s': http['events/s']!,
        'http p50 ms': http['p50 ms']!,
        'http p99 ms': http['p99 ms']!,
        'sdk + index here events/s': sdkIndexed['events/s']!,
        'sdk + index here p50 ms': sdkIndexed['p50 ms']!,
        'sdk + index here p99 ms': sdkIndexed['p99 ms']!,
        'sdk + index here ratio': round(Number(sdkIndexed['events/s']) / Number(baseline['events/s']), 3),
        'index catch-up s (the sdk run)': round(catchUpSeconds, 2),
        'index catch-up events/s': Math.round(EVENTS / catchUpSeconds),
      },
      baseline,
      ratio: Number(ours['events/s']) / Number(baseline['events/s']),
    },
  );
};
