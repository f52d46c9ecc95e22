// Encryption at rest of a data subject's blobs and events on the real services (Kafka, S3, Postgres):
// Kafka, the archive and the S3 object hold ciphertext only; erasing the subject makes its blob a 404,
// deletes its object, records object.deleted, and leaves the archive with nothing readable of it — seen
// the way someone holding the KEK and the database would see it.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresDataKeyStore } from '../../connectors/postgres/erasure.ts';
import { createPgSql } from '../../connectors/postgres/pg-sql.ts';
import type { Sql } from '../../connectors/sql/sql.ts';
import { readArchive } from '../../core/blobs/archive.ts';
import { readAll } from '../../core/blobs/blobs.ts';
import { type BlobSealing, openChunk, unwrapUploadKey } from '../../core/blobs/sealed-blobs.ts';
import { decodePositions } from '../../core/read/positions.ts';
import { createFieldCipher, parseKek } from '../../core/security/crypto.ts';
import type { RecordedEvent } from '../../core/types.ts';
import { type Api, startApi } from '../support/api.ts';
import { orderPlacedBy } from '../support/orders.ts';
import { services, servicesConfig, uniqueId, waitFor } from '../support/services.ts';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const sliceOf = (b: Buffer) => b.subarray(1000, 1064);

describe("a data subject's blobs and archived events on Kafka and S3, with LOGFRONT_KEK", () => {
  let api: Api;
  let sql: Sql;
  beforeAll(async () => {
    api = await startApi(
      servicesConfig({
        LOGFRONT_KEK: randomBytes(32).toString('base64'),
        LOGFRONT_ARCHIVE_MAX_AGE_MS: '300',
      }),
    );
    sql = await createPgSql(services().LOGFRONT_DATABASE_URL!);
  }, 60_000);
  afterAll(async () => {
    await sql?.close();
    await api?.close();
  });

  /** the data keys as the database holds them, opened with the KEK: no cache of logfront's own */
  const outsider = () =>
    createFieldCipher({
      kek: parseKek(api.lf.config.kek!),
      keys: createPostgresDataKeyStore(sql, api.lf.config.database.schema),
      catalog: api.lf.catalog,
    });

  const put = async (blobId: string, body: Buffer, subject?: string) => {
    const r = await fetch(`${api.url}/v1/blobs/${blobId}`, {
      method: 'PUT',
      body,
      headers: subject === undefined ? {} : { 'x-logfront-subject': subject },
    });
    expect(r.status).toBe(201);
    const answer = (await r.json()) as { position: string; sha256: string };
    expect(answer.sha256).toBe(sha256(body));
    const got = await fetch(`${api.url}/v1/blobs/${blobId}?after=${answer.position}&maxStalenessMs=30000`);
    expect(got.status).toBe(200);
    expect(Buffer.from(await got.arrayBuffer()).equals(body)).toBe(true);
    return decodePositions(answer.position)[0]!;
  };

  /** the archived records of the partition up to and including `offset`, once the archive holds them */
  const archived = async (position: { topic: string; partition: number; offset: bigint }) =>
    waitFor(async () => {
      const events = await readArchive(
        api.lf.blobStore!,
        api.lf.config.topicPrefix,
        position.topic,
        position.partition,
        0n,
        position.offset + 1n,
      ).catch(() => []); // a hole until the sink has archived that far
      return events.at(-1)?.position.offset === position.offset ? events : undefined;
    }, 30_000);

  it("erasing the subject: its blob answers 404 and its object is gone; nothing of it in Kafka's archive decrypts any more", async () => {
    const id = uniqueId();
    const [ada, bob] = [`ada-${id}`, `bob-${id}`];
    const order = uniqueId();
    const appended = await api.request('POST', `/v1/streams/order-${order}/events`, {
      events: [orderPlacedBy(order, ada)],
    });
    expect(appended.status).toBe(201);
    const adas = randomBytes(700_000); // two chunks
    const bobs = randomBytes(3000);
    const nobodys = randomBytes(3000);
    const commit = await put(`ada-${id}`, adas, ada);
    await put(`bob-${id}`, bobs, bob);
    await put(`nobody-${id}`, nobodys);
    const adaKey = (await api.lf.blobs!.stat(`ada-${id}`)).key;

    // the S3 object and the archive hold ciphertext
    const object = await readAll((await api.lf.blobStore!.get(adaKey))!.body);
    expect(object.includes(sliceOf(adas))).toBe(false);
    const blobRecords = (await archived(commit)).filter((e) => e.stream === `blob-ada-${id}`);
    const chunks = blobRecords.filter((e) => e.type === 'BlobChunk');
    const sealing = (blobRecords.find((e) => e.type === 'BlobCommitted')!.data as { sealed: BlobSealing })
      .sealed;
    expect(chunks).toHaveLength(2);
    const { data: sealed0, upload } = chunks[0]!.data as { data: Uint8Array; upload: string };
    const chunk0 = Buffer.from(sealed0);
    expect(chunk0.includes(sliceOf(adas))).toBe(false);
    const orderPosition = decodePositions(appended.body.position as string)[0]!;
    const orderRecord = (records: RecordedEvent[]) => records.find((e) => e.stream === `order-${order}`)!;
    const archivedOrder = orderRecord(await archived(orderPosition));
    expect((archivedOrder.data as { customerEmail: string }).customerEmail).toMatch(/^lf:v1:/);

    // before the erasure, whoever holds the KEK and the database can open both: the test can fail
    const before = outsider();
    const dataKey = (await before.keyById(sealing.keyId))!;
    const uploadKey = unwrapUploadKey(dataKey, sealing, `ada-${id}`, upload);
    const opened0 = openChunk(uploadKey, `ada-${id}`, upload, 0, chunk0);
    expect(opened0.equals(adas.subarray(0, sealing.chunkBytes))).toBe(true);
    expect(((await before.open([archivedOrder]))[0]!.data as { customerEmail: string }).customerEmail).toBe(
      `${ada}@example.com`,
    );

    const erased = await api.request('DELETE', `/v1/subjects/${ada}`);
    expect(erased).toMatchObject({
      status: 202,
      body: { erased: true, keysDestroyed: 1, blobsDeleted: 1, rowsDeleted: { orders: 1 } },
    });
    const gone = await fetch(`${api.url}/v1/blobs/ada-${id}`);
    expect(gone.status).toBe(404);
    expect(await gone.json()).toMatchObject({ error: 'not_found' });
    expect(await api.lf.blobStore!.head(adaKey)).toBeNull();
    expect(await api.lf.blobStore!.list(`${api.lf.config.topicPrefix}/blobs/ada-${id}/`)).toEqual([]);
    const deletions = await api.lf.audit.query({ action: 'object.deleted' });
    expect(deletions.items.filter((e) => e.resource === `blob/ada-${id}`)).toMatchObject([
      { outcome: 'success', details: { kind: 'blob', key: adaKey } },
    ]);

    // the archive still holds the records, and nothing of the subject in them can be read
    const after = outsider();
    expect(await after.keyById(sealing.keyId)).toBeNull();
    const rearchived = orderRecord(await archived(orderPosition));
    const opened = (await after.open([rearchived]))[0]!;
    expect(opened.data).toMatchObject({ orderId: order, customerEmail: null });
    expect(opened.metadata.erased).toEqual(['data.customerEmail']);
    expect(() => unwrapUploadKey(randomBytes(32), sealing, `ada-${id}`, upload)).toThrow();

    // the other subject's blob and the blob without a subject are untouched
    for (const [blobId, body] of [
      [`bob-${id}`, bobs],
      [`nobody-${id}`, nobodys],
    ] as const) {
      const r = await fetch(`${api.url}/v1/blobs/${blobId}`);
      expect(r.status, blobId).toBe(200);
      expect(Buffer.from(await r.arrayBuffer()).equals(body)).toBe(true);
    }
  }, 120_000);
});

describe('a blob with a subject and no LOGFRONT_KEK', () => {
  let api: Api;
  beforeAll(async () => {
    api = await startApi(servicesConfig({ LOGFRONT_KEK: '', LOGFRONT_ENCRYPTION: 'off' }));
  }, 60_000);
  afterAll(async () => api?.close());

  it('is stored as uploaded, with its subject recorded (an erasure is unavailable without the key)', async () => {
    const id = uniqueId();
    const body = randomBytes(3000);
    const r = await fetch(`${api.url}/v1/blobs/plain-${id}`, {
      method: 'PUT',
      body,
      headers: { 'x-logfront-subject': `eve-${id}` },
    });
    const { position } = (await r.json()) as { position: string };
    const got = await fetch(`${api.url}/v1/blobs/plain-${id}?after=${position}&maxStalenessMs=30000`);
    expect(Buffer.from(await got.arrayBuffer()).equals(body)).toBe(true);
    const record = await api.lf.blobs!.stat(`plain-${id}`);
    expect(record).toMatchObject({ tenant: 'default', subject: `eve-${id}` });
    expect(record.sealed).toBeUndefined();
    expect((await readAll((await api.lf.blobStore!.get(record.key))!.body)).equals(body)).toBe(true);
    expect((await api.request('DELETE', `/v1/subjects/eve-${id}`)).status).toBe(409);
  });
});
