// The blob sink's refusals, on the embedded log and store: whatever does not add up is dropped, never
// stored, and leaves no multipart upload behind.
import { createHash, randomBytes } from 'node:crypto';
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
import type { StreamId } from '../../core/types.ts';
import { blobEventTypes } from '../../schemas/blobs.ts';
import { uniqueId, waitFor } from '../support/services.ts';

const MiB = 1024 * 1024;
const hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('blob sink refusals (embedded)', () => {
  let sql: Sql;
  let log: EventLog;
  let store: BlobStore;
  let index: BlobIndex;
  const catalog = createCatalog(blobEventTypes, 'sinktest');
  const stored: string[] = [];
  let sink: ReturnType<typeof createBlobSink>;

  beforeAll(async () => {
    sql = await createPgliteSql();
    log = createTableEventLog(sql, { schema: 'sink', topicPrefix: 'sink', pollMs: 20 });
    store = createFsBlobStore(mkdtempSync(join(tmpdir(), 'lf-sink-')));
    index = createPostgresBlobIndex(sql, 'sink');
    sink = createBlobSink({
      log,
      store,
      index,
      groupPrefix: 'sink',
      keyPrefix: 'sink',
      partBytes: 5 * MiB,
      logger: createLogger('silent'),
      abandonAfterMs: 300,
      onStored: (blobId) => stored.push(blobId),
    });
    await sink.start();
  });
  afterAll(async () => {
    await sink?.stop();
    await sql?.close();
  });

  const append = (blobId: string, events: object[]) =>
    log.append(`blob-${blobId}` as StreamId, catalog.prepare(events), 'any');
  const chunk = (blobId: string, upload: string, index: number, data: Buffer) => ({
    type: 'BlobChunk',
    data: { blobId, upload, index, data },
  });
  const commit = (blobId: string, upload: string, body: Buffer, chunks: number, sha256 = hex(body)) => ({
    type: 'BlobCommitted',
    data: { blobId, upload, size: body.length, contentType: 'text/plain', sha256, chunks },
  });
  // a good blob after the bad one: once it is stored, the bad one has been seen
  const fence = async () => {
    const id = `fence-${uniqueId()}`;
    const upload = uuidv7();
    const body = Buffer.from('ok');
    await append(id, [chunk(id, upload, 0, body), commit(id, upload, body, 1)]);
    await waitFor(async () => stored.includes(id));
  };

  it('a commit whose SHA-256 differs from its chunks is dropped', async () => {
    const id = `sha-${uniqueId()}`;
    const upload = uuidv7();
    const body = randomBytes(1000);
    await append(id, [chunk(id, upload, 0, body), commit(id, upload, body, 1, hex(Buffer.from('other')))]);
    await fence();
    expect(await index.find(id)).toBeNull();
    expect(await store.listMultipart('')).toEqual([]);
  });

  it('a commit that counts more chunks than arrived is dropped', async () => {
    const id = `gap-${uniqueId()}`;
    const upload = uuidv7();
    const body = randomBytes(1000);
    await append(id, [chunk(id, upload, 0, body), chunk(id, upload, 2, body), commit(id, upload, body, 3)]);
    await fence();
    expect(await index.find(id)).toBeNull();
    expect(await store.listMultipart('')).toEqual([]);
  });

  it('an empty upload with a size or a wrong checksum is dropped; a right one is stored', async () => {
    const bad = `empty-${uniqueId()}`;
    await append(bad, [commit(bad, uuidv7(), Buffer.alloc(0), 0, hex(Buffer.from('x')))]);
    const good = `empty-${uniqueId()}`;
    await append(good, [commit(good, uuidv7(), Buffer.alloc(0), 0)]);
    await waitFor(async () => stored.includes(good));
    expect(await index.find(bad)).toBeNull();
    expect((await index.find(good))?.size).toBe(0);
  });

  it('chunks redelivered and a commit given twice store the blob once', async () => {
    const id = `dup-${uniqueId()}`;
    const upload = uuidv7();
    const body = randomBytes(2000);
    const events = [chunk(id, upload, 0, body), chunk(id, upload, 0, body), commit(id, upload, body, 1)];
    await append(id, [...events, commit(id, upload, body, 1)]);
    await fence();
    expect((await index.find(id))?.sha256).toBe(hex(body));
    expect(await store.list(`sink/blobs/${id}/`)).toHaveLength(1);
  });

  it('an upload whose client died (no commit) is given up, and its multipart upload aborted', async () => {
    const id = `dead-${uniqueId()}`;
    await append(id, [chunk(id, uuidv7(), 0, randomBytes(100))]);
    await waitFor(async () => (await store.listMultipart(`sink/blobs/${id}/`)).length === 1);
    await new Promise((r) => setTimeout(r, 400));
    await fence(); // a batch after the deadline gives it up (after that batch's own events)
    await waitFor(async () => (await store.listMultipart(`sink/blobs/${id}/`)).length === 0, 5000);
  });

  it("a blob is its uploader's tenant's: chunks and commit of one tenant are stored as its blob", async () => {
    const id = `tenant-${uniqueId()}`;
    const upload = uuidv7();
    const body = Buffer.from('acme bytes');
    const acme = { metadata: { tenant: 'acme' } };
    await append(id, [
      { ...chunk(id, upload, 0, body), ...acme },
      { ...commit(id, upload, body, 1), ...acme },
    ]);
    await waitFor(async () => stored.includes(id));
    expect(await index.find(id, 'acme')).toMatchObject({ tenant: 'acme', size: body.length });
    expect(await index.find(id, 'default')).toBeNull();
  });

  it('an upload whose chunks and commit are of different tenants is dropped', async () => {
    const mixed = `mixed-${uniqueId()}`;
    const upload = uuidv7();
    const body = randomBytes(100);
    const acme = { metadata: { tenant: 'acme' } };
    await append(mixed, [chunk(mixed, upload, 0, body), { ...commit(mixed, upload, body, 1), ...acme }]);
    const later = `mixed-${uniqueId()}`;
    const second = uuidv7();
    await append(later, [
      chunk(later, second, 0, body),
      { ...chunk(later, second, 1, body), ...acme },
      commit(later, second, Buffer.concat([body, body]), 2),
    ]);
    await fence();
    expect(await index.find(mixed)).toBeNull();
    expect(await index.find(later)).toBeNull();
    expect(await store.listMultipart('')).toEqual([]);
  });

  it('the same blob id is a blob per tenant: each replaced by its own tenant only; a read without a tenant prefers the default one', async () => {
    const record = (upload: string, offset: bigint, tenant: string) => ({
      blobId: 'shared',
      upload,
      key: `k/${upload}`,
      size: 1,
      sha256: 'x',
      contentType: 'text/plain',
      position: { topic: 't', partition: 0, offset },
      tenant,
    });
    expect(await index.record(record('g1', 1n, 'globex'))).toBeNull();
    expect((await index.find('shared'))?.tenant).toBe('globex');
    expect(await index.record(record('a1', 2n, 'acme'))).toBeNull();
    expect((await index.find('shared'))?.tenant).toBe('acme'); // the first by name
    expect(await index.record(record('d1', 3n, 'default'))).toBeNull();
    expect((await index.find('shared'))?.upload).toBe('d1');
    expect(await index.record(record('a2', 4n, 'acme'))).toMatchObject({ upload: 'a1', tenant: 'acme' });
    expect((await index.find('shared', 'acme'))?.upload).toBe('a2');
    expect((await index.find('shared', 'globex'))?.upload).toBe('g1');
    expect(await index.find('shared', 'initech')).toBeNull();
  });

  it("a blobs table of before (the blob id alone as its key) is upgraded: its blobs are the default tenant's", async () => {
    const old = await createPgliteSql();
    try {
      await old.query('CREATE SCHEMA old');
      await old.query(`CREATE TABLE old.blobs (blob_id text PRIMARY KEY, upload text NOT NULL, key text NOT NULL,
        size bigint NOT NULL, sha256 text NOT NULL, content_type text NOT NULL, topic text NOT NULL,
        partition int NOT NULL, "offset" bigint NOT NULL, completed_at timestamptz NOT NULL DEFAULT now())`);
      await old.query(`INSERT INTO old.blobs VALUES ('b', 'u', 'k', 1, 'x', 'text/plain', 't', 0, 1)`);
      const upgraded = createPostgresBlobIndex(old, 'old');
      expect(await upgraded.find('b', 'default')).toMatchObject({ upload: 'u', tenant: 'default' });
      expect(await upgraded.find('b', 'acme')).toBeNull();
      expect(await createPostgresBlobIndex(old, 'old').find('b')).toMatchObject({ upload: 'u' });
    } finally {
      await old.close();
    }
  });

  it('the index keeps the newest commit of a blob; an older one recorded late is discarded', async () => {
    const record = (upload: string, offset: bigint) => ({
      blobId: 'late',
      upload,
      key: `k/${upload}`,
      size: 1,
      sha256: 'x',
      contentType: 'text/plain',
      position: { topic: 't', partition: 0, offset },
      tenant: 'default',
    });
    expect(await index.record(record('u2', 10n))).toBeNull();
    expect(await index.record(record('u1', 5n))).toMatchObject({ upload: 'u1' }); // to delete
    expect(await index.record(record('u2', 10n))).toBeNull(); // the same again
    expect((await index.find('late'))?.upload).toBe('u2');
    expect(await index.record(record('u3', 11n))).toMatchObject({ upload: 'u2' });
  });

  it('an index whose database fails is an error', async () => {
    const broken = await createPgliteSql();
    await broken.close();
    await expect(createPostgresBlobIndex(broken, 'x').find('a')).rejects.toThrow();
  });
});
