// The archive sink on the embedded log and the filesystem store: an object that fails to be written
// is written again with what came after it (no hole), and a category that gets its first topic after
// the sink started is archived too.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../app/logger.ts';
import { createFsBlobStore } from '../../connectors/embedded/fs-blob-store.ts';
import { createTableEventLog } from '../../connectors/embedded/log.ts';
import { createPgliteSql } from '../../connectors/embedded/pglite-sql.ts';
import type { Sql } from '../../connectors/sql/sql.ts';
import {
  ArchiveGap,
  archiveEndKey,
  archivePrefix,
  createArchiveSink,
  readArchive,
} from '../../core/blobs/archive.ts';
import type { BlobStore } from '../../core/blobs/blobs.ts';
import { readAll } from '../../core/blobs/blobs.ts';
import { createCatalog } from '../../core/log/event-types.ts';
import type { EventLog } from '../../core/ports.ts';
import type { StreamId } from '../../core/types.ts';
import { orderEventTypes } from '../../sample/order-events.ts';
import { orderShipped } from '../support/orders.ts';
import { uniqueId, waitFor } from '../support/services.ts';

describe('archive sink (embedded)', () => {
  let sql: Sql;
  let log: EventLog;
  let store: BlobStore;
  let failPuts = 0;
  const putsTried: string[] = [];
  const catalog = createCatalog(orderEventTypes, 'arch');
  let sink: ReturnType<typeof createArchiveSink>;
  let options: Parameters<typeof createArchiveSink>[0];

  beforeAll(async () => {
    sql = await createPgliteSql();
    log = createTableEventLog(sql, { schema: 'arch', topicPrefix: 'arch', pollMs: 20 });
    const fs = createFsBlobStore(mkdtempSync(join(tmpdir(), 'lf-archive-')));
    // a store whose next `failPuts` writes fail
    store = {
      ...fs,
      put: async (key, body, contentType) => {
        putsTried.push(key);
        if (failPuts > 0) {
          failPuts -= 1;
          throw new Error('the store is down');
        }
        await fs.put(key, body, contentType);
      },
    };
    await log.ensureTopics(['order']);
    options = {
      log,
      store,
      categories: ['order'],
      keyPrefix: 'arch',
      groupPrefix: 'arch',
      maxRecords: 1000,
      maxBytes: 8 * 1024 * 1024,
      maxAgeMs: 100,
      logger: createLogger('silent'),
    };
    sink = createArchiveSink(options);
    await sink.start();
  });
  afterAll(async () => {
    await sink?.stop();
    await sql?.close();
  });

  const append = (stream: string, n: number) =>
    log.append(
      stream as StreamId,
      catalog.prepare(Array.from({ length: n }, () => orderShipped(stream))),
      'any',
    );
  const archived = async (category: string) => {
    const topic = log.topicFor(category);
    const [end] = await log.endOffsets([topic]);
    // until the sink has archived up to the end, the archive has a hole there
    const events = await readArchive(store, 'arch', topic, 0, 0n, end!.offset).catch((error: unknown) => {
      if (error instanceof ArchiveGap) return [];
      throw error;
    });
    return { end: end!.offset, events };
  };

  it('an object that could not be written is written again, with what came after it: no hole', async () => {
    await append(`order-${uniqueId()}`, 3);
    await waitFor(async () => {
      const a = await archived('order');
      return a.events.length === Number(a.end);
    }, 10_000);
    const written = putsTried.length;
    failPuts = 2;
    await append(`order-${uniqueId()}`, 2);
    await waitFor(async () => putsTried.length >= written + 2, 10_000); // both tries failed
    await append(`order-${uniqueId()}`, 4);
    await waitFor(async () => {
      const a = await archived('order');
      return a.events.length === Number(a.end);
    }, 10_000);
    const { events, end } = await archived('order');
    expect(events.map((e) => e.position.offset)).toEqual(
      Array.from({ length: Number(end) }, (_, i) => BigInt(i)),
    );
    // objects cover contiguous ranges
    const ranges = (await store.list(archivePrefix('arch', log.topicFor('order'), 0)))
      .map((o) => /(\d{20})-(\d{20})\.jsonl$/.exec(o.key))
      .filter((m) => m !== null) // the end marker
      .map((m) => m.slice(1).map(BigInt));
    ranges.forEach(([first], i) => {
      if (i > 0) expect(first).toBe(ranges[i - 1]![1]! + 1n);
    });
  });

  it('keeps an end marker; a restarted sink resumes after the archive, whether the marker is there, stale or gone', async () => {
    const topic = log.topicFor('order');
    const objectsOf = async () =>
      (await store.list(archivePrefix('arch', topic, 0)))
        .map((o) => /(\d{20})-(\d{20})\.jsonl$/.exec(o.key))
        .filter((m) => m !== null)
        .map((m) => [BigInt(m[1]!), BigInt(m[2]!)] as const);
    const marker = async () => {
      const o = await store.get(archiveEndKey('arch', topic, 0));
      return o ? (await readAll(o.body)).toString() : null;
    };
    await append(`order-${uniqueId()}`, 2);
    await waitFor(async () => {
      const a = await archived('order');
      return a.events.length === Number(a.end);
    }, 10_000);
    const { end } = await archived('order');
    await waitFor(async () => (await marker()) === String(end - 1n), 5000);

    for (const state of ['stale', 'gone', 'kept'] as const) {
      await sink.stop();
      if (state === 'stale') await store.put(archiveEndKey('arch', topic, 0), Buffer.from('0'));
      if (state === 'gone') await store.delete(archiveEndKey('arch', topic, 0));
      const before = await objectsOf();
      sink = createArchiveSink({ ...options, categories: ['order'] });
      await sink.start();
      await append(`order-${uniqueId()}`, 1);
      await waitFor(async () => {
        const a = await archived('order');
        return a.events.length === Number(a.end);
      }, 10_000);
      // one new object, starting right after what was archived: nothing was written twice
      const after = await objectsOf();
      const added = after.filter(([first]) => !before.some(([f]) => f === first));
      expect(added).toHaveLength(1);
      let archivedEnd = -1n;
      for (const [, last] of before) if (last > archivedEnd) archivedEnd = last;
      expect(added[0]![0]).toBe(archivedEnd + 1n);
    }
  });

  it('archives a category that got its first topic after the sink started', async () => {
    const category = `audit${uniqueId().replace(/[^a-z0-9]/gi, '')}`;
    await append(`${category}-1`, 5);
    await waitFor(async () => (await archived(category)).events.length === 5, 15_000);
  });
});
