// The stream index on Kafka: heads, ids and stream reads answered from Postgres plus the log's tail,
// across restarts, beyond Kafka's retention (deleteRecords), with a bounded sequencer window and
// group commit bounded in bytes.
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogfront, type Logfront } from '../../app/compose.ts';
import type { Config } from '../../app/config.ts';
import { createHttpServer } from '../../app/http.ts';
import type { KafkaEventLog } from '../../connectors/kafka/event-log.ts';
import { ArchiveGap, readArchive } from '../../core/blobs/archive.ts';
import { TooLarge, VersionConflict } from '../../core/errors.ts';
import { uuidv7 } from '../../core/log/ids.ts';
import { partitionOf } from '../../core/log/partitioning.ts';
import type { PreparedEvent, StreamId } from '../../core/types.ts';
import { servicesConfig, uniqueId, waitFor } from '../support/services.ts';

const shipped = (carrier = 'DHL'): PreparedEvent => ({
  id: uuidv7(),
  type: 'OrderShipped',
  data: { orderId: '1', carrier },
  metadata: {},
});

const admin = async (config: Config) => {
  const a = new Kafka({ brokers: config.kafka.brokers, logLevel: logLevel.NOTHING }).admin();
  await a.connect();
  return a;
};

/** what Kafka's retention does: every partition of `topic` loses the first half of its records */
const dropFirstHalf = async (config: Config, topic: string) => {
  const a = await admin(config);
  try {
    await a.fetchTopicMetadata({ topics: [topic] });
    const offsets = await a.fetchTopicOffsets(topic);
    await a.deleteTopicRecords({
      topic,
      partitions: offsets.map((o) => ({ partition: o.partition, offset: String(BigInt(o.high) / 2n) })),
    });
    return (await a.fetchTopicOffsets(topic)).map((o) => ({ partition: o.partition, low: BigInt(o.low) }));
  } finally {
    await a.disconnect();
  }
};

/** `n` stream ids of the category that Kafka's partitioner puts in `partition` of `partitions` */
const streamsIn = (partition: number, partitions: number, n: number, category = 'order') => {
  const out: StreamId[] = [];
  for (let i = 0; out.length < n; i++) {
    const s = `${category}-${uniqueId()}${i}` as StreamId;
    if (partitionOf(s, partitions) === partition) out.push(s);
  }
  return out;
};

const caughtUp = (lf: Logfront) => waitFor(async () => (await lf.streamIndexLag()) === 0, 30_000);

describe('the stream index (Kafka)', () => {
  const open: Logfront[] = [];
  const start = async (config: Config) => {
    const lf = await createLogfront(config);
    open.push(lf);
    return lf;
  };
  afterAll(async () => {
    await Promise.all(open.map((lf) => lf.close().catch(() => {})));
  });

  it('after the index caught up, a new process takes a partition over reading only what the index lacks', async () => {
    const config = servicesConfig({ LOGFRONT_TOPIC_PARTITIONS: '1' });
    const first = await start(config);
    await first.startStreamIndex();
    const streams = streamsIn(0, 1, 20);
    for (const s of streams) await first.log.append(s, [shipped(), shipped(), shipped()], 'no_stream');
    await caughtUp(first);
    // the lag is a metric, per partition
    const app = createHttpServer(first);
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    await app.close();
    expect(metrics).toContain(
      `logfront_stream_index_lag_events{topic="${first.log.topicFor('order')}",partition="0"} 0`,
    );
    await first.close();

    const second = await start(config);
    const log = second.log as unknown as KafkaEventLog;
    const topic = second.log.topicFor('order');
    await expect(second.log.append(streams[3]!, [shipped()], 3)).resolves.toMatchObject({ fromVersion: 4 });
    // the window holds the one stream it looked up, not the 60 events before the index's checkpoint
    expect(log.sequencerWindow(topic, 0)).toEqual({ streams: 1, ids: 1 });
    await expect(second.log.append(streams[4]!, [shipped()], 'no_stream')).rejects.toMatchObject({
      actual: 3,
    });
    expect((await second.log.readStream(streams[4]!, 2, 10)).map((e) => e.version)).toEqual([2, 3]);
    const [checkpoint] = await second.streamIndex!.index.checkpoints();
    expect(checkpoint).toMatchObject({ topic, partition: 0 });
    expect(checkpoint!.nextOffset).toBeGreaterThanOrEqual(60n);
  });

  it('what the index has not covered yet is read from the log: heads, ids and stream reads are never stale', async () => {
    const config = servicesConfig();
    // no index builder runs: the index covers nothing and the log answers everything
    const writer = await start(config);
    const s = `order-${uniqueId()}` as StreamId;
    const events = [shipped('a'), shipped('b')];
    await writer.log.append(s, events, 'no_stream');
    await writer.close();
    const other = await start(config);
    expect(await other.streamIndexLag()).toBeGreaterThan(0);
    await expect(other.log.append(s, [shipped()], 'no_stream')).rejects.toBeInstanceOf(VersionConflict);
    await expect(other.log.append(s, events, 'any')).resolves.toMatchObject({ fromVersion: 1, toVersion: 2 });
    await expect(other.log.append(s, [shipped('c')], 2)).resolves.toMatchObject({ fromVersion: 3 });
    expect(
      (await other.log.readStream(s, 1, 10)).map((e) => (e.data as { carrier: string }).carrier),
    ).toEqual(['a', 'b', 'c']);
  });

  it('after deleteRecords drops the first half of the topic and every process restarts, versions, conflicts, idempotency and stream reads hold (the early events from the archive)', async () => {
    const config = servicesConfig({ LOGFRONT_ARCHIVE_MAX_RECORDS: '25', LOGFRONT_ARCHIVE_MAX_AGE_MS: '200' });
    const first = await start(config);
    await first.startRunners(); // the index builder, the archive sink, the projections
    const topic = first.log.topicFor('order');
    const old = `order-${uniqueId()}` as StreamId;
    const oldEvents = Array.from({ length: 5 }, (_, i) => shipped(`old-${i + 1}`));
    for (const [i, e] of oldEvents.entries()) await first.log.append(old, [e], i === 0 ? 'no_stream' : i);
    for (let i = 0; i < 60; i++) {
      await first.log.append(`order-${uniqueId()}` as StreamId, [shipped(), shipped()], 'no_stream');
    }
    const last = await first.log.append(old, [shipped('old-6')], 5);
    await caughtUp(first);
    // the archive holds every record of the partition up to the old stream's last event
    await waitFor(async () => {
      const archived = await readArchive(
        first.blobStore!,
        config.topicPrefix,
        topic,
        last.position.partition,
        0n,
        last.position.offset + 1n,
      ).catch(() => []); // a hole until the sink has archived that far
      return archived.some((e) => e.position.offset === last.position.offset);
    }, 30_000);
    await first.close();

    const lows = await dropFirstHalf(config, topic);
    const low = lows.find((l) => l.partition === last.position.partition)!.low;
    // the old stream's first events are gone from Kafka
    expect(low).toBeGreaterThan(0n);

    const second = await start(config);
    await expect(second.log.append(old, [shipped()], 'no_stream')).rejects.toMatchObject({
      code: 'version_conflict',
      actual: 6,
    });
    await expect(second.log.append(old, [oldEvents[0]!], 'any')).resolves.toMatchObject({
      fromVersion: 1,
      toVersion: 1,
    });
    await expect(second.log.append(old, [shipped('old-7')], 6)).resolves.toMatchObject({ fromVersion: 7 });
    const read = await second.log.readStream(old, 1, 100);
    expect(read.map((e) => e.version)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(read.map((e) => (e.data as { carrier: string }).carrier)).toEqual([
      'old-1',
      'old-2',
      'old-3',
      'old-4',
      'old-5',
      'old-6',
      'old-7',
    ]);
    expect(read[0]!.position.offset).toBeLessThan(low);
    // the HTTP face of the same read
    expect((await second.log.readStream(old, 6, 1)).map((e) => e.version)).toEqual([6]);
  });

  it('a stream read whose records neither Kafka nor the archive holds is an error naming the range', async () => {
    const config = servicesConfig({ LOGFRONT_ARCHIVE: 'off', LOGFRONT_TOPIC_PARTITIONS: '1' });
    const first = await start(config);
    await first.startStreamIndex();
    const s = `order-${uniqueId()}` as StreamId;
    for (let i = 0; i < 6; i++) await first.log.append(s, [shipped()], i);
    await caughtUp(first);
    await first.close();
    await dropFirstHalf(config, first.log.topicFor('order'));
    const second = await start(config);
    const error = await second.log.readStream(s, 1, 10).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ArchiveGap);
    expect((error as ArchiveGap).message).toMatch(/records 0…\d+ of .*\/0 are neither in the log/);
    // versions still hold: the index knows the head
    await expect(second.log.append(s, [shipped()], 6)).resolves.toMatchObject({ fromVersion: 7 });
  });

  it('the sequencer keeps a bounded window; streams it dropped are looked up in the index', async () => {
    const config = servicesConfig({ LOGFRONT_TOPIC_PARTITIONS: '1', LOGFRONT_SEQUENCER_WINDOW_IDS: '1000' });
    const lf = await start(config);
    await lf.startStreamIndex();
    const log = lf.log as unknown as KafkaEventLog;
    const topic = lf.log.topicFor('order');
    const streams = Array.from({ length: 1600 }, () => `order-${uniqueId()}` as StreamId);
    const firstIds = new Map<StreamId, PreparedEvent>();
    let at = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        for (let i = at++; i < streams.length; i = at++) {
          const e = shipped();
          firstIds.set(streams[i]!, e);
          await lf.log.append(streams[i]!, [e], 'no_stream');
        }
      }),
    );
    await caughtUp(lf);
    // one more append lets the window drop what the index covers
    await lf.log.append(`order-${uniqueId()}` as StreamId, [shipped()], 'no_stream');
    // (it drops them after answering the append, not before)
    await waitFor(async () => log.sequencerWindow(topic, 0)!.ids <= 1000, 5000);
    // the streams written first were dropped: their heads and ids come from the index
    await expect(lf.log.append(streams[0]!, [shipped()], 'no_stream')).rejects.toMatchObject({ actual: 1 });
    await expect(lf.log.append(streams[1]!, [firstIds.get(streams[1]!)!], 'any')).resolves.toMatchObject({
      fromVersion: 1,
      toVersion: 1,
    });
    await expect(lf.log.append(streams[2]!, [shipped()], 1)).resolves.toMatchObject({ fromVersion: 2 });
    expect((await lf.log.readStream(streams[1]!, 1, 10)).map((e) => e.version)).toEqual([1]);
  }, 120_000);

  it('group commit is bounded in bytes: large appends to one partition all succeed, and one over the topic limit fails alone', async () => {
    const config = servicesConfig({ LOGFRONT_TOPIC_PARTITIONS: '1' });
    const lf = await start(config);
    const large = 'x'.repeat(200 * 1024);
    const streams = streamsIn(0, 1, 13);
    const results = await Promise.allSettled([
      ...streams.slice(0, 12).map((s) => lf.log.append(s, [shipped(large)], 'no_stream')),
      // over the topic's max.message.bytes (1 MiB by default) on its own
      lf.log.append(streams[12]!, [shipped('y'.repeat(1100 * 1024))], 'no_stream'),
    ]);
    expect(results.slice(0, 12).every((r) => r.status === 'fulfilled')).toBe(true);
    const refused = results[12]!;
    expect(refused.status).toBe('rejected');
    expect((refused as PromiseRejectedResult).reason).toBeInstanceOf(TooLarge);
    expect(await lf.log.readStream(streams[12]!, 1, 10)).toEqual([]);
    for (const s of streams.slice(0, 12)) expect(await lf.log.readStream(s, 1, 10)).toHaveLength(1);
  });

  it('topics are created with the configured retention (default: for ever)', async () => {
    const forever = await start(servicesConfig());
    const week = await start(servicesConfig({ LOGFRONT_TOPIC_RETENTION_MS: '604800000' }));
    await forever.log.ensureTopics(['order']);
    await week.log.ensureTopics(['order']);
    const a = await admin(forever.config);
    try {
      const retention = async (topic: string) => {
        const r = await a.describeConfigs({
          includeSynonyms: false,
          resources: [{ type: 2, name: topic, configNames: ['retention.ms'] }],
        });
        return r.resources[0]!.configEntries[0]!.configValue;
      };
      expect(await retention(forever.log.topicFor('order'))).toBe('-1');
      expect(await retention(week.log.topicFor('order'))).toBe('604800000');
    } finally {
      await a.disconnect();
    }
  });
  it("with an index that is behind Kafka's log start, a takeover and a stream read replay the archive", async () => {
    const id = uniqueId();
    const env = {
      LOGFRONT_TOPIC_PREFIX: `t${id}`,
      LOGFRONT_REDIS_PREFIX: `t${id}:`,
      LOGFRONT_TOPIC_PARTITIONS: '1',
      LOGFRONT_ARCHIVE_MAX_RECORDS: '10',
      LOGFRONT_ARCHIVE_MAX_AGE_MS: '200',
    };
    const first = await start(servicesConfig({ ...env, LOGFRONT_DATABASE_SCHEMA: `t_${id}` }));
    await first.startRunners();
    const topic = first.log.topicFor('order');
    const s = `order-${uniqueId()}` as StreamId;
    const events = Array.from({ length: 4 }, (_, i) => shipped(`e${i + 1}`));
    for (const [i, e] of events.entries()) {
      await first.log.append(s, [e], i === 0 ? 'no_stream' : i);
      await first.log.append(`order-${uniqueId()}` as StreamId, [shipped(), shipped()], 'no_stream');
    }
    const [end] = await first.log.endOffsets([topic]);
    await waitFor(async () => {
      // a hole until the sink has archived up to the end
      const archived = await readArchive(
        first.blobStore!,
        first.config.topicPrefix,
        topic,
        0,
        0n,
        end!.offset,
      ).catch(() => []);
      return archived.filter((e) => e.stream === s).length === 4;
    }, 30_000);
    await first.close();
    const low = (await dropFirstHalf(first.config, topic))[0]!.low;
    expect(low).toBeGreaterThan(0n);

    // another deployment of the same log whose index (its own schema) has covered nothing
    const second = await start(servicesConfig({ ...env, LOGFRONT_DATABASE_SCHEMA: `t_${uniqueId()}` }));
    await expect(second.log.append(s, [shipped()], 'no_stream')).rejects.toMatchObject({ actual: 4 });
    await expect(second.log.append(s, [events[0]!], 'any')).resolves.toMatchObject({ fromVersion: 1 });
    await expect(second.log.append(s, [shipped('e5')], 4)).resolves.toMatchObject({ fromVersion: 5 });
    const read = await second.log.readStream(s, 1, 10);
    expect(read.map((e) => (e.data as { carrier: string }).carrier)).toEqual(['e1', 'e2', 'e3', 'e4', 'e5']);
    expect(read[0]!.position.offset).toBeLessThan(low);
  });

  it('a stream whose events lie far apart in its partition is read in waves of parallel fetches', async () => {
    const config = servicesConfig({ LOGFRONT_TOPIC_PARTITIONS: '1' });
    const lf = await start(config);
    await lf.startStreamIndex();
    const s = `order-${uniqueId()}` as StreamId;
    const filler = `order-${uniqueId()}` as StreamId;
    for (let i = 0; i < 20; i++) {
      await lf.log.append(s, [shipped(`far-${i}`)], i);
      await lf.log.append(
        filler,
        Array.from({ length: 300 }, () => shipped()),
        'any',
      );
    }
    await caughtUp(lf);
    const read = await lf.log.readStream(s, 1, 100);
    expect(read.map((e) => (e.data as { carrier: string }).carrier)).toEqual(
      Array.from({ length: 20 }, (_, i) => `far-${i}`),
    );
    expect((await lf.log.readStream(s, 19, 100)).map((e) => e.version)).toEqual([19, 20]);
  });

  it('concurrent stream reads of a partition share their tail fetches and each sees every append acknowledged before it began', async () => {
    const lf = await start(servicesConfig({ LOGFRONT_TOPIC_PARTITIONS: '1' }));
    await lf.startStreamIndex();
    const streams = Array.from({ length: 8 }, () => `order-${uniqueId()}` as StreamId);
    for (const s of streams) await lf.log.append(s, [shipped('first')], 'no_stream');
    await caughtUp(lf);
    // rounds of: appends to every stream, then many reads at once, each of which must see its stream's latest
    for (let round = 2; round <= 4; round++) {
      await Promise.all(streams.map((s) => lf.log.append(s, [shipped(`r${round}`)], round - 1)));
      const reads = await Promise.all(
        Array.from({ length: 48 }, (_, i) => lf.log.readStream(streams[i % streams.length]!, 1, 100)),
      );
      for (const read of reads)
        expect(read.map((e) => e.version)).toEqual(Array.from({ length: round }, (_, v) => v + 1));
    }
  });
});
