// The archive: every record written to S3 by offset range; after Kafka's retention (deleteRecords)
// drops the first half of the topic, a rebuild reads the archive, then Kafka, and equals the fold.
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogfront, type Logfront } from '../../app/compose.ts';
import { createHttpServer } from '../../app/http.ts';
import { createLogger } from '../../app/logger.ts';
import { createKafkaEventLog } from '../../connectors/kafka/event-log.ts';
import { createConfluentRegistry } from '../../connectors/registry/confluent.ts';
import {
  ArchiveGap,
  archivePrefix,
  createArchiveHoles,
  createArchiveSink,
  readArchive,
} from '../../core/blobs/archive.ts';
import { createCodec } from '../../core/log/codec.ts';
import { createCatalog } from '../../core/log/event-types.ts';
import { uuidv7 } from '../../core/log/ids.ts';
import { projectionSummaries } from '../../core/read/status.ts';
import type { StreamId } from '../../core/types.ts';
import { orderEventTypes } from '../../sample/order-events.ts';
import { readAll } from '../support/log-reader.ts';
import { foldOrders, orderPlaced, orderShipped } from '../support/orders.ts';
import { services, servicesConfig, uniqueId, waitFor } from '../support/services.ts';

/** what Kafka's retention does: records below `offset` are gone */
const dropBelow = async (
  lf: Logfront,
  topic: string,
  partitions: { partition: number; offset: bigint }[],
) => {
  const admin = new Kafka({ brokers: lf.config.kafka.brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await admin.fetchTopicMetadata({ topics: [topic] }); // kafkajs needs the metadata loaded first
    await admin.deleteTopicRecords({
      topic,
      partitions: partitions
        .filter((p) => p.offset > 0n)
        .map((p) => ({ partition: p.partition, offset: String(p.offset) })),
    });
  } finally {
    await admin.disconnect();
  }
};

describe('the archive and replay beyond retention', () => {
  let lf: Logfront;
  beforeAll(async () => {
    lf = await createLogfront(
      servicesConfig({ LOGFRONT_ARCHIVE_MAX_RECORDS: '40', LOGFRONT_ARCHIVE_MAX_AGE_MS: '300' }),
    );
    await lf.startRunners();
  }, 60_000);
  afterAll(async () => lf?.close());

  it('after deleteRecords drops the first half of the topic, a rebuild from archive plus Kafka equals the fold of all events', async () => {
    const topic = lf.log.topicFor('order');
    for (let i = 0; i < 120; i++) {
      const id = uniqueId();
      await lf.append.appendToStream(`order-${id}`, {
        events: i % 3 === 0 ? [orderPlaced(id, 2), orderShipped(id)] : [orderPlaced(id, 1)],
      });
    }
    const all = await readAll(lf.log, [topic]);
    const ends = await lf.log.endOffsets([topic]);
    // the archive sink has written every record
    await waitFor(async () => {
      for (const end of ends) {
        const archived = await readArchive(
          lf.blobStore!,
          lf.config.topicPrefix,
          topic,
          end.partition,
          0n,
          end.offset,
        ).catch(() => undefined); // a hole until the sink has archived that far
        if (archived?.length !== all.filter((e) => e.position.partition === end.partition).length)
          return false;
      }
      return true;
    }, 30_000);
    const objects = await lf.blobStore!.list(archivePrefix(lf.config.topicPrefix, topic, 0));
    expect(objects.length).toBeGreaterThan(1);
    expect(objects[0]!.key).toMatch(/\/0{20}-\d{20}\.jsonl$/);

    // retention: drop the first half of every partition
    await dropBelow(
      lf,
      topic,
      ends.map((e) => ({ partition: e.partition, offset: e.offset / 2n })),
    );
    for (const low of await lf.log.startOffsets!([topic])) expect(low.offset).toBeGreaterThan(0n);

    const rebuild = await lf.rebuild('orders');
    await rebuild.done;
    const expected = foldOrders(all);
    const rows = await lf.store.list(lf.domain.projections[0]!, {
      filters: {},
      limit: 100_000,
      afterKey: null,
    });
    expect(rows.generation).toBe(rebuild.generation);
    expect(rows.rows).toHaveLength(expected.size);
    for (const row of rows.rows) {
      const { updatedAt: _u, ...rest } = row;
      expect(rest).toEqual(expected.get(String(row.orderId)));
    }

    // an object gone from the middle of the archive (deleted by hand): a read across it names exactly
    // its offsets, never answers with the records around it
    const named = objects
      .map((o) => /(\d{20})-(\d{20})\.jsonl$/.exec(o.key))
      .filter((m) => m !== null)
      .map((m) => ({ key: m.input, first: BigInt(m[1]!), last: BigInt(m[2]!) }));
    const middle = named[1]!;
    await lf.blobStore!.delete(middle.key);
    const [end0] = ends.filter((e) => e.partition === 0);
    const failed = await readArchive(lf.blobStore!, lf.config.topicPrefix, topic, 0, 0n, end0!.offset).catch(
      (e: unknown) => e,
    );
    expect(failed).toBeInstanceOf(ArchiveGap);
    expect(failed).toMatchObject({ topic, partition: 0, from: middle.first, to: middle.last + 1n });
  }, 180_000);

  it('records neither in Kafka nor in the archive fail the rebuild loudly, never skipped silently', async () => {
    // no sinks: nothing is archived
    const bare = await createLogfront(servicesConfig({ LOGFRONT_SINKS: 'off' }), {
      logger: createLogger('silent'),
    });
    try {
      const topic = bare.log.topicFor('order');
      for (let i = 0; i < 10; i++) {
        const id = uniqueId();
        await bare.append.appendToStream(`order-${id}`, { events: [orderPlaced(id)] });
      }
      const ends = await bare.log.endOffsets([topic]);
      await dropBelow(
        bare,
        topic,
        ends.map((e) => ({ partition: e.partition, offset: e.offset })),
      );
      await expect(bare.rebuild('orders')).rejects.toBeInstanceOf(ArchiveGap);
      // given up cleanly: nothing is left marked as rebuilding
      expect((await bare.store.status('orders'))?.building ?? null).toBeNull();
      // the range is in the projection's status and counted, through the API too
      const hole = ends
        .filter((e) => e.offset > 0n)
        .map((e) => ({ topic, partition: e.partition, from: '0', to: String(e.offset) }))[0];
      const [summary] = await projectionSummaries(
        bare.store,
        bare.log,
        bare.domain.projections,
        undefined,
        bare.archiveHoles,
      );
      expect(summary!.holes).toEqual([hole]);
      expect(bare.archiveHoles.count()).toBe(1);
      const app = createHttpServer(bare);
      const url = await app.listen({ host: '127.0.0.1', port: 0 });
      try {
        const listed = (await (await fetch(`${url}/v1/projections`)).json()) as {
          projections: { name: string; holes: unknown }[];
        };
        expect(listed.projections.find((p) => p.name === 'orders')?.holes).toEqual([hole]);
        expect(await (await fetch(`${url}/metrics`)).text()).toMatch(/^logfront_archive_holes_total 1$/m);
      } finally {
        await app.close();
      }
    } finally {
      await bare.close();
    }
  }, 60_000);

  it('an archive sink started after the retention dropped records reports the hole, names it, and archives what is left', async () => {
    const prefix = `t${uniqueId()}`;
    const log = createKafkaEventLog({
      brokers: lf.config.kafka.brokers,
      clientId: 'test',
      topicPrefix: prefix,
      partitions: 1,
      replication: 1,
      sessionTimeoutMs: 6000,
      codec: createCodec(
        createConfluentRegistry(services().LOGFRONT_SCHEMA_REGISTRY_URL),
        createCatalog(orderEventTypes, prefix),
      ),
      logger: createLogger('silent'),
    });
    const holes = createArchiveHoles();
    const sink = createArchiveSink({
      log,
      store: lf.blobStore!,
      categories: ['order'],
      keyPrefix: prefix,
      groupPrefix: prefix,
      maxRecords: 1000,
      maxBytes: 1024 * 1024,
      maxAgeMs: 200,
      logger: createLogger('silent'),
      holes,
    });
    const topic = log.topicFor('order');
    const shipped = (i: number) => ({ ...orderShipped(String(i)), id: uuidv7(), metadata: {} });
    try {
      await log.ensureTopics(['order']);
      for (let i = 0; i < 4; i++) await log.append(`order-${i}` as StreamId, [shipped(i)], 'any');
      await dropBelow(lf, topic, [{ partition: 0, offset: 4n }]); // two events and their markers
      await sink.start();
      await waitFor(async () => holes.count() === 1, 30_000);
      expect(holes.open('archive sink')).toEqual([{ topic, partition: 0, from: 0n, to: 4n }]);
      await log.append('order-4' as StreamId, [shipped(4)], 'any');
      const [end] = await log.endOffsets([topic]);
      const after = await waitFor(
        async () => readArchive(lf.blobStore!, prefix, topic, 0, 4n, end!.offset).catch(() => undefined),
        30_000,
      );
      expect(after.map((e) => e.stream)).toEqual(['order-2', 'order-3', 'order-4']);
      const failed = await readArchive(lf.blobStore!, prefix, topic, 0, 0n, end!.offset).catch(
        (e: unknown) => e,
      );
      expect(failed).toMatchObject({ topic, partition: 0, from: 0n, to: 4n });
    } finally {
      await sink.stop();
      for (const o of await lf.blobStore!.list(`${prefix}/`)) await lf.blobStore!.delete(o.key);
      await log.close();
    }
  }, 90_000);
});
