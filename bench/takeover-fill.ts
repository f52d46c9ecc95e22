// Child of bench/takeover.ts: the load generator. Fills the one partition of the `order` topic with
// records laid out exactly as logfront writes them (key = stream id, value = the registry wire format
// of an OrderShipped payload, CloudEvents + logfront headers), through a raw kafkajs producer.
//
// The raw producer uses logfront's produce encoder too: the Kafka log made below installs it, process-wide
// (fast-paths.ts is imported first, as connectors/kafka/event-log.ts does, for the request framing): the
// same bytes as kafkajs's own encoder, with less copying.
import '../connectors/kafka/fast-paths.ts';
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type Message, Partitioners } from 'kafkajs';
import { createLogfront } from '../app/compose.ts';
import { benchConfig } from './harness.ts';
import { childMain, type FillParams, type FillResult, fillVersion, stream } from './takeover-child.ts';

/** the committed end (last stable offset) and start of partition 0 */
const offsets = async (kafka: Kafka, topic: string) => {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const o = (await admin.fetchTopicOffsets(topic)).find((x) => x.partition === 0)!;
    const partitions = (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0]!.partitions.length;
    return { end: BigInt(o.high), start: BigInt(o.low), partitions };
  } finally {
    await admin.disconnect();
  }
};

/**
 * The records others (the writer child) committed to the partition in [from, to): per stream, how many.
 * A fresh consumer group starts at `from` (set before it joins); read_committed, so an aborted append
 * does not count.
 */
const appendedSince = async (kafka: Kafka, topic: string, groupPrefix: string, from: bigint, to: bigint) => {
  const counts = new Map<string, number>();
  if (from >= to) return counts;
  const groupId = `${groupPrefix}.bench-tail.${randomUUID()}`;
  const admin = kafka.admin();
  await admin.connect();
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 50, allowAutoTopicCreation: false });
  try {
    await admin.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: from.toString() }] });
    await consumer.connect();
    await consumer.subscribe({ topic });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`reading ${topic} from ${from} to ${to} took over 60 s`)),
        60_000,
      );
      // a batch of only transaction markers never reaches eachBatch; its end shows here
      consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
        if (BigInt(payload.lastOffset) + 1n >= to) {
          clearTimeout(timer);
          resolve();
        }
      });
      consumer
        .run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            for (const m of batch.messages) {
              const offset = BigInt(m.offset);
              if (offset < from || offset >= to || !m.key || m.headers?.lf_stream_version === undefined)
                continue;
              const key = m.key.toString('utf8');
              counts.set(key, (counts.get(key) ?? 0) + 1);
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
    await admin.deleteGroups([groupId]).catch(() => {});
    await admin.disconnect();
  }
  return counts;
};

await childMain<FillParams, FillResult>(async (p) => {
  const config = benchConfig(p.name, p.overrides);
  const lf = await createLogfront(config);
  try {
    await lf.log.ensureTopics(['order']);
    const topic = lf.log.topicFor('order');
    const schemaId = await lf.registry.register(
      lf.catalog.subjectOf('OrderShipped'),
      lf.catalog.jsonSchemaOf('OrderShipped'),
    );
    // one payload, encoded once: its content does not matter to a takeover
    const value = await lf.registry.encode(schemaId, { orderId: 'takeover-fill', carrier: 'DHL' });

    const kafka = new Kafka({
      brokers: config.kafka.brokers,
      clientId: 'bench-takeover-fill',
      logLevel: logLevel.ERROR,
    });
    const before = await offsets(kafka, topic);
    if (before.partitions !== 1) throw new Error(`${topic} has ${before.partitions} partitions, not 1`);
    const bumps = new Map(Object.entries(p.bumps));
    const tail = await appendedSince(kafka, topic, p.name, BigInt(p.after), before.end);
    let tailRecords = 0;
    for (const [s, n] of tail) {
      bumps.set(s, (bumps.get(s) ?? 0) + n);
      tailRecords += n;
    }

    // the headers logfront writes (connectors/kafka/event-log.ts); the constant ones as bytes, made once
    const constant = (text: string) => Buffer.from(text, 'utf8');
    const SPEC = constant('1.0');
    const TYPE = constant('OrderShipped');
    const SOURCE = constant('/logfront/order');
    const JSON_TYPE = constant('application/json');
    const NO_METADATA = constant('{}');
    const headersOf = (s: string, version: number, time: Buffer) => ({
      ce_specversion: SPEC,
      ce_id: randomUUID(),
      ce_type: TYPE,
      ce_source: SOURCE,
      ce_subject: s,
      ce_time: time,
      'content-type': JSON_TYPE,
      lf_stream_version: String(version),
      lf_metadata: NO_METADATA,
    });
    // a record batch (all of one send: one partition) stays under the broker's 1 MiB message.max.bytes
    const sample = headersOf(stream(p.streams - 1), 999_999, constant(new Date().toISOString()));
    const recordBytes =
      Buffer.byteLength(stream(p.streams - 1)) +
      value.length +
      Object.entries(sample).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v) + 2, 0) +
      24;
    const batch = Math.max(1, Math.min(p.batch, Math.floor(900_000 / recordBytes)));
    const inFlight = Math.max(1, p.inFlight);

    // kafkajs sends one request at a time per idempotent producer and broker (the rest wait for it):
    // several producers keep the broker busy while the next batch is encoded
    const producers = Array.from({ length: Math.max(1, p.producers) }, () =>
      kafka.producer({
        idempotent: true,
        maxInFlightRequests: inFlight,
        allowAutoTopicCreation: false,
        createPartitioner: Partitioners.DefaultPartitioner,
      }),
    );
    await Promise.all(producers.map((x) => x.connect()));
    // Sends in flight (of several producers) may reach the broker in any order. A stream's
    // next event is `streams` events later: a send starts only while the events from the oldest one in
    // flight to its own end are fewer than that, so no two events of a stream are ever in flight together.
    const pending: { start: number; done: Promise<unknown> }[] = [];
    const started = performance.now();
    const cpu = process.cpuUsage();
    let next = p.from;
    const end = p.from + p.count;
    await Promise.all(
      Array.from({ length: inFlight }, async (_, worker) => {
        const producer = producers[worker % producers.length]!;
        while (next < end) {
          while (pending.length && Math.min(end, next + batch) - pending[0]!.start > p.streams) {
            await pending[0]!.done.catch(() => {});
          }
          if (next >= end) return;
          const first = next;
          const last = Math.min(end, first + batch);
          next = last;
          const time = constant(new Date().toISOString());
          const messages: Message[] = new Array(last - first);
          for (let i = first; i < last; i++) {
            const s = stream(i % p.streams);
            messages[i - first] = {
              key: s,
              value,
              partition: 0,
              headers: headersOf(s, fillVersion(i, p.streams, bumps.get(s) ?? 0), time),
            };
          }
          const entry = { start: first, done: producer.send({ topic, acks: -1, messages }) };
          pending.push(entry);
          try {
            await entry.done;
          } finally {
            pending.splice(pending.indexOf(entry), 1);
          }
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    await Promise.all(producers.map((x) => x.disconnect()));
    const after = await offsets(kafka, topic);
    return {
      seconds,
      cpuSeconds: (used.user + used.system) / 1e6,
      events: p.count,
      end: after.end.toString(),
      bumps: Object.fromEntries(bumps),
      tail: tailRecords,
      batch,
      inFlight,
      producers: producers.length,
      recordBytes,
    };
  } finally {
    await lf.close();
  }
});
