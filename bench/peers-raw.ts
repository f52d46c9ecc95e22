// The floor of the append scenarios: raw kafkajs transactions on the same broker, as logfront's
// sequencer would run them with nothing else to do. Each partition has one writer with a pair of
// transactional producers used in turn; appends that arrive while a transaction is in flight are
// committed together in the next one (group commit). There is no version check, no event id, no
// validation, no encoding and no stream index: what is left is the cost of Kafka transactions here.
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { partitionOf } from '../core/log/partitioning.ts';
import type { PeerSystem } from './peers-load.ts';

export const createRawSystem = async (options: {
  brokers: string[];
  topic: string;
  partitions: number;
}): Promise<PeerSystem> => {
  const { topic, partitions } = options;
  const kafka = new Kafka({ clientId: 'peers-raw', brokers: options.brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }] });
  const writers = await Promise.all(
    Array.from({ length: partitions }, async (_, partition) => {
      const pair: Producer[] = [];
      for (const n of [0, 1]) {
        const p = kafka.producer({
          transactionalId: `${topic}-${partition}-${n}`,
          idempotent: true,
          maxInFlightRequests: 1,
          retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 1, maxRetryTime: 30_000, factor: 0.2 },
        });
        await p.connect();
        pair.push(p);
      }
      return {
        pair,
        turn: 0,
        queue: [] as { value: Buffer; key: string; done: (e?: unknown) => void }[],
        busy: false,
      };
    }),
  );
  const flush = async (partition: number) => {
    const w = writers[partition]!;
    if (w.busy) return;
    w.busy = true;
    try {
      for (let first = true; ; first = false) {
        if (!first) await new Promise((r) => setImmediate(r));
        if (w.queue.length === 0) break;
        const batch = w.queue.splice(0, 2000);
        w.turn ^= 1;
        const txn = await w.pair[w.turn]!.transaction();
        try {
          await txn.send({
            topic,
            acks: -1,
            messages: batch.map((b) => ({ key: b.key, value: b.value, partition })),
          });
          await txn.commit();
          for (const b of batch) b.done();
        } catch (error) {
          await txn.abort().catch(() => {});
          for (const b of batch) b.done(error);
        }
      }
    } finally {
      w.busy = false;
    }
  };
  return {
    name: 'raw-kafkajs',
    append: (stream, expected, event) =>
      new Promise((resolve, reject) => {
        const partition = partitionOf(stream, partitions);
        writers[partition]!.queue.push({
          key: stream,
          value: Buffer.from(JSON.stringify(event)),
          done: (error) =>
            error ? reject(error) : resolve({ version: (expected === 'no_stream' ? 0 : expected) + 1 }),
        });
        void flush(partition);
      }),
    readRow: () => Promise.reject(new Error('raw kafkajs has no projections')),
    readStream: () => Promise.reject(new Error('raw kafkajs has no stream reads')),
    close: async () => {
      for (const w of writers) await Promise.all(w.pair.map((p) => p.disconnect()));
      await admin.deleteTopics({ topics: [topic] }).catch(() => {});
      await admin.disconnect();
    },
  };
};
