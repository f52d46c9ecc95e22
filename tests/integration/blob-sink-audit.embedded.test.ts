// The blob sink deletes the object a new upload of a blob replaced only once the audit log holds the
// deletion (object.deleted, started), and records how it ended.
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../app/logger.ts';
import { createFsBlobStore } from '../../connectors/embedded/fs-blob-store.ts';
import { createTableEventLog } from '../../connectors/embedded/log.ts';
import { createPgliteSql } from '../../connectors/embedded/pglite-sql.ts';
import { createPostgresBlobIndex } from '../../connectors/postgres/blob-index.ts';
import type { Sql } from '../../connectors/sql/sql.ts';
import { createBlobSink } from '../../core/blobs/blob-sink.ts';
import type { BlobIndex, BlobStore } from '../../core/blobs/blobs.ts';
import { createCatalog } from '../../core/log/event-types.ts';
import { uuidv7 } from '../../core/log/ids.ts';
import type { EventLog } from '../../core/ports.ts';
import type { AuditInput } from '../../core/security/audit.ts';
import type { StreamId } from '../../core/types.ts';
import { blobEventTypes } from '../../schemas/blobs.ts';
import { uniqueId, waitFor } from '../support/services.ts';

describe('the blob sink and the audit trail (embedded)', () => {
  let sql: Sql;
  let log: EventLog;
  let files: BlobStore;
  let index: BlobIndex;
  let sink: ReturnType<typeof createBlobSink>;
  const catalog = createCatalog(blobEventTypes, 'sinkaudit');
  const fail = { record: false, delete: false };
  const recorded: AuditInput[] = [];
  const offered: AuditInput[] = [];
  const batchErrors: unknown[] = [];

  beforeAll(async () => {
    sql = await createPgliteSql();
    log = createTableEventLog(sql, { schema: 'sinkaudit', topicPrefix: 'sinkaudit', pollMs: 20 });
    files = createFsBlobStore(mkdtempSync(join(tmpdir(), 'lf-sink-audit-')));
    index = createPostgresBlobIndex(sql, 'sinkaudit');
    const store: BlobStore = {
      ...files,
      delete: async (key) => {
        if (fail.delete) throw new Error('the store refuses the delete');
        await files.delete(key);
      },
    };
    sink = createBlobSink({
      log: {
        ...log,
        subscribe: (options) =>
          log.subscribe({
            ...options,
            onError: (error) => {
              batchErrors.push(error);
              options.onError?.(error);
            },
          }),
      },
      store,
      index,
      groupPrefix: 'sinkaudit',
      keyPrefix: 'sinkaudit',
      partBytes: 5 * 1024 * 1024,
      logger: createLogger('silent'),
      audit: {
        record: async (...entries) => {
          if (fail.record) throw new Error('the audit log is down');
          recorded.push(...entries);
        },
        offer: (entry) => {
          offered.push(entry);
        },
      },
    });
    await sink.start();
  });
  afterAll(async () => {
    await sink?.stop();
    await sql?.close();
  });

  /** uploads a version of the blob and waits until the sink stored it; the key of its object */
  const upload = async (blobId: string, text: string) => {
    const body = Buffer.from(text);
    const id = uuidv7();
    await log.append(
      `blob-${blobId}` as StreamId,
      catalog.prepare([
        { type: 'BlobChunk', data: { blobId, upload: id, index: 0, data: body } },
        {
          type: 'BlobCommitted',
          data: {
            blobId,
            upload: id,
            size: body.length,
            contentType: 'text/plain',
            sha256: createHash('sha256').update(body).digest('hex'),
            chunks: 1,
          },
        },
      ]),
      'any',
    );
    await waitFor(async () => (await index.find(blobId))?.upload === id);
    return (await index.find(blobId))!.key;
  };

  it('records the deletion (started) before it deletes the replaced object, and its success after', async () => {
    const blobId = `b-${uniqueId()}`;
    const first = await upload(blobId, 'one');
    await upload(blobId, 'two');
    await waitFor(async () => offered.some((e) => e.resource === `blob/${blobId}`));
    expect(recorded.filter((e) => e.resource === `blob/${blobId}`)).toMatchObject([
      {
        action: 'object.deleted',
        outcome: 'started',
        actor: 'system',
        tenant: 'default',
        details: { key: first },
      },
    ]);
    expect(offered.filter((e) => e.resource === `blob/${blobId}`)).toMatchObject([{ outcome: 'success' }]);
    expect(await files.head(first)).toBeNull();
  });

  it('an audit log that cannot take the deletion: the object is kept; a delete that fails is recorded', async () => {
    const blobId = `b-${uniqueId()}`;
    const first = await upload(blobId, 'one');
    fail.record = true;
    const errors = batchErrors.length;
    const second = await upload(blobId, 'two');
    await waitFor(async () => batchErrors.length > errors);
    fail.record = false;
    expect(await files.head(first)).not.toBeNull();
    fail.delete = true;
    await upload(blobId, 'three');
    await waitFor(async () =>
      offered.some((e) => e.resource === `blob/${blobId}` && e.outcome === 'failure'),
    );
    fail.delete = false;
    expect(await files.head(second)).not.toBeNull();
    expect(offered.find((e) => e.resource === `blob/${blobId}` && e.outcome === 'failure')).toMatchObject({
      reason: 'the store refuses the delete',
    });
  });
});
