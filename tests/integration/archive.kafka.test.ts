// The archive: every record written to S3 by offset range; after Kafka's retention (deleteRecords)
// drops the first half of the topic, a rebuild reads the archive, then Kafka, and equals the fold.
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogfront, type Logfront } from '../../app/compose.ts';
import { createLogger } from '../../app/logger.ts';
import { ArchiveGap, archivePrefix, readArchive } from '../../core/blobs/archive.ts';
import { readAll } from '../support/log-reader.ts';
import { foldOrders, orderPlaced, orderShipped } from '../support/orders.ts';
import { servicesConfig, uniqueId, waitFor } from '../support/services.ts';

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
        );
        if (archived.length !== all.filter((e) => e.position.partition === end.partition).length)
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
    } finally {
      await bare.close();
    }
  }, 60_000);
});
