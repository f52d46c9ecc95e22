// throwaway: raw kafkajs transaction cycle on the local broker, with two retry settings
import { Kafka, logLevel } from 'kafkajs';
const brokers = ['127.0.0.1:19092'];
const kafka = new Kafka({ brokers, clientId: 'probe', logLevel: logLevel.NOTHING });
const topic = `probe-${Date.now()}`;
const admin = kafka.admin();
await admin.connect();
await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
const run = async (label: string, initialRetryTime: number, alternate: boolean) => {
  const mk = (id: string) =>
    kafka.producer({
      transactionalId: `${topic}-${label}-${id}`,
      idempotent: true,
      maxInFlightRequests: 1,
      retry: { retries: 1000, initialRetryTime, factor: 0.2, multiplier: 2, maxRetryTime: 30000 },
    });
  const ps = alternate ? [mk('a'), mk('b')] : [mk('a')];
  for (const p of ps) await p.connect();
  const lat: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < 1000; i++) {
    const p = ps[i % ps.length]!;
    const t = performance.now();
    const txn = await p.transaction();
    await txn.send({ topic, acks: -1, messages: [{ key: 'k', value: 'v', partition: 0 }] });
    await txn.commit();
    lat.push(performance.now() - t);
  }
  const secs = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  console.log(label, 'tx/s', Math.round(1000 / secs), 'p50', lat[500]!.toFixed(2), 'p99', lat[990]!.toFixed(2));
  for (const p of ps) await p.disconnect();
};
await run('retry5', 5, false);
await run('retry1', 1, false);
await run('alt5', 5, true);
await run('retry5', 5, false);
await admin.deleteTopics({ topics: [topic] });
await admin.disconnect();
