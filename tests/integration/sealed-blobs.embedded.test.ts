// Sealed uploads (a data subject's blob) on the embedded log and store. The sink holds no key: it checks
// the sealed bytes against the commit's `sealed.sha256`, records the subject and the wrapped key, and
// deletes at once an upload whose data key is already destroyed. The blob service seals under the
// subject's data key and, on read, answers 404 once that key is destroyed.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../app/logger.ts';
import { createFsBlobStore } from '../../connectors/embedded/fs-blob-store.ts';
import { createTableEventLog } from '../../connectors/embedded/log.ts';
import { createPgliteSql } from '../../connectors/embedded/pglite-sql.ts';
import { createPostgresBlobIndex } from '../../connectors/postgres/blob-index.ts';
import type { Sql } from '../../connectors/sql/sql.ts';
import { type BlobService, createBlobService } from '../../core/blobs/blob-service.ts';
import { createBlobSink } from '../../core/blobs/blob-sink.ts';
import { type BlobIndex, type BlobStore, readAll } from '../../core/blobs/blobs.ts';
import {
  type BlobKeys,
  newUploadKey,
  openAll,
  sealChunk,
  sealedSize,
} from '../../core/blobs/sealed-blobs.ts';
import { createCatalog } from '../../core/log/event-types.ts';
import { uuidv7 } from '../../core/log/ids.ts';
import type { EventLog } from '../../core/ports.ts';
import type { AuditInput } from '../../core/security/audit.ts';
import type { StreamId } from '../../core/types.ts';
import { blobEventTypes } from '../../schemas/blobs.ts';
import { uniqueId, waitFor } from '../support/services.ts';

const hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const dataKey = { keyId: 'dk-1', key: randomBytes(32) };

describe('the blob sink and sealed uploads (embedded)', () => {
  let sql: Sql;
  let log: EventLog;
  let store: BlobStore;
  let index: BlobIndex;
  let sink: ReturnType<typeof createBlobSink>;
  const catalog = createCatalog(blobEventTypes, 'sealedsink');
  const stored: string[] = [];
  const audited: AuditInput[] = [];
  const destroyed = new Set<string>();

  beforeAll(async () => {
    sql = await createPgliteSql();
    log = createTableEventLog(sql, { schema: 'sealedsink', topicPrefix: 'sealedsink', pollMs: 20 });
    store = createFsBlobStore(mkdtempSync(join(tmpdir(), 'lf-sealed-sink-')));
    index = createPostgresBlobIndex(sql, 'sealedsink');
    sink = createBlobSink({
      log,
      store,
      index,
      groupPrefix: 'sealedsink',
      keyPrefix: 'sealedsink',
      partBytes: 5 * 1024 * 1024,
      logger: createLogger('silent'),
      onStored: (blobId) => stored.push(blobId),
      audit: {
        record: async (...entries) => {
          audited.push(...entries);
        },
        offer: (entry) => {
          audited.push(entry);
        },
      },
      keyDestroyed: async (keyId) => destroyed.has(keyId),
    });
    await sink.start();
  });
  afterAll(async () => {
    await sink?.stop();
    await sql?.close();
  });

  /** the events of a sealed upload of `plain` in chunks of `chunkBytes`, as the blob service makes them */
  const sealedUpload = (blobId: string, plain: Buffer, chunkBytes: number, key = dataKey) => {
    const upload = uuidv7();
    const { key: uploadKey, sealing } = newUploadKey(key, blobId, upload);
    const chunks: Buffer[] = [];
    for (let at = 0; at < plain.length; at += chunkBytes) {
      chunks.push(sealChunk(uploadKey, blobId, upload, chunks.length, plain.subarray(at, at + chunkBytes)));
    }
    const sealedBytes = Buffer.concat(chunks);
    const events = (sealedSha = hex(sealedBytes)) => [
      // every event of an upload is of its uploader's tenant, the subject's
      ...chunks.map((data, i) => ({
        type: 'BlobChunk',
        data: { blobId, upload, index: i, data },
        metadata: { tenant: 'acme' },
      })),
      {
        type: 'BlobCommitted',
        data: {
          blobId,
          upload,
          size: plain.length,
          contentType: 'text/plain',
          sha256: hex(plain),
          chunks: chunks.length,
          sealed: { ...sealing, chunkBytes, sha256: sealedSha },
        },
        metadata: { subject: 'ada', tenant: 'acme' },
      },
    ];
    return { upload, uploadKey, events };
  };
  const append = (blobId: string, events: object[]) =>
    log.append(`blob-${blobId}` as StreamId, catalog.prepare(events), 'any');

  it('stores the sealed bytes it checked against sealed.sha256, and records the subject and the wrapped key', async () => {
    const id = `sealed-${uniqueId()}`;
    const plain = randomBytes(2500);
    const u = sealedUpload(id, plain, 1000);
    await append(id, u.events());
    await waitFor(async () => stored.includes(id));
    const record = (await index.find(id))!;
    expect(record).toMatchObject({
      size: 2500,
      sha256: hex(plain),
      tenant: 'acme',
      subject: 'ada',
      sealed: { keyId: 'dk-1', chunkBytes: 1000 },
    });
    expect(record.sealed).not.toHaveProperty('sha256');
    const object = await readAll((await store.get(record.key))!.body);
    expect(object.length).toBe(sealedSize(2500, 1000));
    expect(openAll(object, u.uploadKey, id, u.upload, 1000).equals(plain)).toBe(true);
  });

  it('a sealed commit whose sealed SHA-256 differs from its chunks is dropped, never stored', async () => {
    const id = `sealed-bad-${uniqueId()}`;
    const u = sealedUpload(id, randomBytes(1500), 1000);
    await append(id, u.events(hex(Buffer.from('other'))));
    const fence = `fence-${uniqueId()}`;
    await append(fence, sealedUpload(fence, randomBytes(10), 1000).events());
    await waitFor(async () => stored.includes(fence));
    expect(await index.find(id)).toBeNull();
    expect(await store.list(`sealedsink/blobs/${id}/`)).toEqual([]);
    expect(await store.listMultipart('')).toEqual([]);
  });

  it('an upload whose data key was destroyed before it was stored is deleted at once, and the deletion recorded', async () => {
    const id = `erased-${uniqueId()}`;
    const gone = { keyId: `dk-${uniqueId()}`, key: randomBytes(32) };
    destroyed.add(gone.keyId);
    const u = sealedUpload(id, randomBytes(1200), 1000, gone);
    await append(id, u.events());
    const deletion = await waitFor(async () =>
      audited.find((e) => e.resource === `blob/${id}` && e.outcome === 'success'),
    );
    // in the blob's tenant's audit log
    expect(deletion).toMatchObject({
      action: 'object.deleted',
      tenant: 'acme',
      details: { subjectErased: true },
    });
    expect(audited.filter((e) => e.resource === `blob/${id}`).map((e) => e.outcome)).toEqual([
      'started',
      'success',
    ]);
    expect(await index.find(id)).toBeNull();
    expect(await store.list(`sealedsink/blobs/${id}/`)).toEqual([]);
    expect(stored).not.toContain(id);
    // stored once: a redelivery is not stored again
    expect(await index.isComplete(id, u.upload)).toBe(true);
  });

  describe('through the blob service', () => {
    // the data keys of subjects, as the field cipher keeps them; `destroy` is an erasure
    const keys = new Map<string, { keyId: string; key: Buffer }>();
    const blobKeys: BlobKeys & { destroy(subject: string): void } = {
      subjectKey: async (tenant, subject) => {
        const name = `${tenant}/${subject}`;
        if (!keys.has(name)) keys.set(name, { keyId: `dk-${uniqueId()}`, key: randomBytes(32) });
        return keys.get(name)!;
      },
      keyById: async (keyId) => [...keys.values()].find((k) => k.keyId === keyId)?.key ?? null,
      destroy: (subject) => {
        for (const name of keys.keys()) if (name.endsWith(`/${subject}`)) keys.delete(name);
      },
    };
    const serviceOf = (withKeys: BlobKeys | undefined): BlobService =>
      createBlobService({
        log,
        catalog,
        index,
        store,
        maxBytes: 1024 * 1024,
        defaultWaitMs: 10_000,
        verifyFirstBytes: 1024 * 1024,
        onMismatch: () => {},
        keys: withKeys,
      });

    const uploadAndWait = async (service: BlobService, blobId: string, body: Buffer, tenant?: string) => {
      const r = await service.upload(blobId, 'text/plain', Readable.from([body]), { subject: 'ada', tenant });
      await service.stat(blobId, { after: r.position, maxStalenessMs: 10_000 });
      return r;
    };

    it("seals under the subject's data key in its tenant, names both on the log, and reads back as uploaded", async () => {
      const service = serviceOf(blobKeys);
      const id = `svc-${uniqueId()}`;
      const body = randomBytes(2000);
      await uploadAndWait(service, id, body, 'acme');
      expect(await readAll((await service.read(id)).body)).toEqual(body);
      expect(await index.find(id, 'acme')).toMatchObject({
        tenant: 'acme',
        subject: 'ada',
        sealed: { keyId: keys.get('acme/ada')!.keyId },
      });
      const events = await log.readStream(`blob-${id}` as StreamId, 1, 10);
      expect(events.map((e) => e.metadata)).toEqual([{ tenant: 'acme' }, { tenant: 'acme', subject: 'ada' }]);
    });

    it('a sealed blob whose data key is gone reads as 404; without data keys it is unavailable; a wrapped key that does not open is a mismatch', async () => {
      const service = serviceOf(blobKeys);
      const id = `svc-gone-${uniqueId()}`;
      await uploadAndWait(service, id, randomBytes(500), 'gone');
      const record = (await index.find(id))!;

      await expect(serviceOf(undefined).read(id)).rejects.toMatchObject({
        status: 503,
        retryAfterSeconds: 60,
      });
      await index.record({
        ...record,
        sealed: { ...record.sealed!, key: Buffer.alloc(60).toString('base64') },
        position: { ...record.position, offset: record.position.offset + 1n },
      });
      await expect(service.read(id)).rejects.toMatchObject({ code: 'checksum_mismatch' });

      blobKeys.destroy('ada');
      await expect(service.read(id)).rejects.toMatchObject({ code: 'not_found', status: 404 });
      await expect(service.stat(id)).rejects.toMatchObject({ code: 'not_found' });
    });

    it('a subject id that is empty, too long or holds a control character is refused before anything is appended', async () => {
      const service = serviceOf(blobKeys);
      for (const subject of ['', 'x'.repeat(201), 'a\nb']) {
        await expect(
          service.upload(`svc-bad-${uniqueId()}`, 'text/plain', Readable.from([Buffer.from('x')]), {
            subject,
          }),
        ).rejects.toMatchObject({
          code: 'validation_failed',
        });
      }
    });
  });
});
