// Encryption at rest of a data subject's blobs, on the embedded default (table log, filesystem store):
// the bytes are sealed on the log and in the store, read back as uploaded, and an erasure of the subject
// deletes its blobs (404, object gone, object.deleted recorded) while other blobs stay.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAll } from '../../core/blobs/blobs.ts';
import { SEAL_OVERHEAD, sealedSize } from '../../core/blobs/sealed-blobs.ts';
import type { StreamId } from '../../core/types.ts';
import { type Api, startApi } from '../support/api.ts';
import { run } from '../support/cli.ts';
import { embeddedConfig, uniqueId, waitFor } from '../support/services.ts';

const MiB = 1024 * 1024;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe("a data subject's blobs (embedded)", () => {
  let api: Api;
  beforeAll(async () => {
    api = await startApi(embeddedConfig({ LOGFRONT_BLOB_PART_BYTES: String(5 * MiB) }));
  });
  afterAll(async () => api?.close());

  const put = async (blobId: string, body: Buffer, subject?: string) => {
    const r = await fetch(`${api.url}/v1/blobs/${blobId}`, {
      method: 'PUT',
      body,
      headers: {
        'content-type': 'application/octet-stream',
        ...(subject === undefined ? {} : { 'x-logfront-subject': encodeURIComponent(subject) }),
      },
    });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };
  const get = async (blobId: string, query = '') => {
    const r = await fetch(`${api.url}/v1/blobs/${blobId}${query}`);
    return { status: r.status, headers: r.headers, bytes: Buffer.from(await r.arrayBuffer()) };
  };
  /** put, then wait until the sink has stored it */
  const stored = async (blobId: string, body: Buffer, subject?: string) => {
    const r = await put(blobId, body, subject);
    expect(r.status).toBe(201);
    expect(r.body.sha256).toBe(sha256(body));
    const got = await get(blobId, `?after=${r.body.position}&maxStalenessMs=20000`);
    expect(got.status).toBe(200);
    expect(got.bytes.equals(body)).toBe(true);
    expect(got.headers.get('x-logfront-sha256')).toBe(sha256(body));
    return (await api.lf.blobs!.stat(blobId)).key;
  };
  const objectBytes = async (key: string) => readAll((await api.lf.blobStore!.get(key))!.body);
  const objectsOf = (blobId: string) =>
    api.lf.blobStore!.list(`${api.lf.config.topicPrefix}/blobs/${blobId}/`);
  // a slice of the plain bytes, to look for where only ciphertext may be
  const sliceOf = (b: Buffer) => b.subarray(1000, 1064);

  it("a subject's blob is sealed on the log and in the store, read back as uploaded, and gone after the erasure; other blobs stay", async () => {
    const id = uniqueId();
    const [ada, bob] = [`ada-${id}`, `bob-${id}`];
    const small = randomBytes(100_000);
    const big = randomBytes(6 * MiB + 5); // more than a part: streamed, decrypted chunk by chunk
    const bobs = randomBytes(5000);
    const nobody = randomBytes(5000);
    const smallKey = await stored(`small-${id}`, small, ada);
    const bigKey = await stored(`big-${id}`, big, ada);
    const bobKey = await stored(`bob-${id}`, bobs, bob);
    const plainKey = await stored(`plain-${id}`, nobody);

    // the store holds ciphertext of a subject's blob, the bytes as uploaded of a blob without one
    const sealedSmall = await objectBytes(smallKey);
    expect(sealedSmall.length).toBe(sealedSize(small.length, sealedSmall.length - SEAL_OVERHEAD));
    expect(sealedSmall.includes(sliceOf(small))).toBe(false);
    expect((await objectBytes(bigKey)).includes(sliceOf(big))).toBe(false);
    expect((await objectBytes(bobKey)).includes(sliceOf(bobs))).toBe(false);
    expect((await objectBytes(plainKey)).equals(nobody)).toBe(true);
    // so does the log: chunks of sealed bytes, and a commit naming the subject and the wrapped key
    const events = await api.lf.log.readStream(`blob-big-${id}` as StreamId, 1, 100);
    const chunks = events.filter((e) => e.type === 'BlobChunk');
    expect(chunks.length).toBeGreaterThan(12);
    for (const c of chunks)
      expect(Buffer.from((c.data as { data: Uint8Array }).data).includes(sliceOf(big))).toBe(false);
    const commit = events.find((e) => e.type === 'BlobCommitted')!;
    expect(commit.metadata).toMatchObject({ subject: ada });
    expect(commit.data).toMatchObject({
      size: big.length,
      sha256: sha256(big),
      sealed: { keyId: expect.any(String) },
    });

    const erased = await api.request('DELETE', `/v1/subjects/${ada}`);
    expect(erased).toMatchObject({ status: 202, body: { erased: true, blobsDeleted: 2 } });
    for (const blobId of [`small-${id}`, `big-${id}`]) {
      const gone = await fetch(`${api.url}/v1/blobs/${blobId}`);
      expect(gone.status, blobId).toBe(404);
      expect(await gone.json()).toMatchObject({ error: 'not_found' });
      expect((await fetch(`${api.url}/v1/blobs/${blobId}`, { method: 'HEAD' })).status).toBe(404);
      expect(await objectsOf(blobId)).toEqual([]);
    }
    const deletions = await api.lf.audit.query({ action: 'object.deleted' });
    const ref = api.lf.audit.subjectRef('default', ada);
    expect(
      deletions.items
        .filter((e) => e.details?.subject === ref)
        .map((e) => `${e.resource} ${e.outcome}`)
        .sort(),
    ).toEqual([`blob/big-${id} success`, `blob/small-${id} success`]);

    // bob's blob and the blob without a subject are untouched
    expect((await get(`bob-${id}`)).bytes.equals(bobs)).toBe(true);
    expect((await get(`plain-${id}`)).bytes.equals(nobody)).toBe(true);
    const again = await api.request('DELETE', `/v1/subjects/${ada}`);
    expect(again.body).toMatchObject({ blobsDeleted: 0, keysDestroyed: 0 });
  });

  it('an upload the sink stores after its subject was erased is deleted at once', async () => {
    const id = uniqueId();
    const carl = `carl-${id}`;
    await api.lf.stopRunners();
    try {
      expect((await put(`late-${id}`, randomBytes(2000), carl)).status).toBe(201);
      const erased = await api.request('DELETE', `/v1/subjects/${carl}`);
      expect(erased.body).toMatchObject({ keysDestroyed: 1, blobsDeleted: 0 });
    } finally {
      await api.lf.startRunners();
    }
    const deletion = await waitFor(async () =>
      (await api.lf.audit.query({ action: 'object.deleted' })).items.find(
        (e) => e.resource === `blob/late-${id}` && e.outcome === 'success',
      ),
    );
    expect(deletion.details).toMatchObject({ kind: 'blob', subjectErased: true });
    expect((await get(`late-${id}`)).status).toBe(404);
    expect(await objectsOf(`late-${id}`)).toEqual([]);
  });

  it('a sealed object altered in the store is never served: 502 before the first byte, or a cut stream', async () => {
    const id = uniqueId();
    const small = randomBytes(3000);
    const big = randomBytes(6 * MiB);
    for (const [blobId, body] of [
      [`tamper-small-${id}`, small],
      [`tamper-big-${id}`, big],
    ] as const) {
      const key = await stored(blobId, body, `dora-${id}`);
      const bytes = await objectBytes(key);
      bytes[bytes.length - 100]! ^= 1; // in the last chunk
      await api.lf.blobStore!.put(key, bytes);
    }
    const before = api.lf.blobCounts.checksumMismatches;
    const r = await fetch(`${api.url}/v1/blobs/tamper-small-${id}`);
    expect(r.status).toBe(502);
    expect(await r.json()).toMatchObject({ error: 'checksum_mismatch' });
    const streamed = await fetch(`${api.url}/v1/blobs/tamper-big-${id}`);
    expect(streamed.status).toBe(200);
    await expect(streamed.arrayBuffer()).rejects.toThrow();
    expect(api.lf.blobCounts.checksumMismatches).toBe(before + 2);
  });

  it('the subject header is percent-decoded like a path; one that does not decode, or holds a control character, is a 400', async () => {
    const id = uniqueId();
    const jose = `josé ${id}`;
    await stored(`jose-${id}`, randomBytes(100), jose);
    // the CLI erases through DELETE /v1/subjects/{subjectId}, and says what went
    const erased = await run(['erase', jose, '--url', api.url]);
    expect(erased.code, erased.err).toBe(0);
    expect(erased.out).toBe(
      `erased subject ${jose} (tenant default): 1 data keys destroyed, 0 orders rows deleted, 1 blobs deleted`,
    );
    expect((await get(`jose-${id}`)).status).toBe(404);
    for (const bad of ['%E0%A4%A', 'a%00b', '']) {
      const r = await fetch(`${api.url}/v1/blobs/bad-${id}`, {
        method: 'PUT',
        body: 'x',
        headers: { 'x-logfront-subject': bad },
      });
      expect(r.status, bad).toBe(400);
      expect(await r.json()).toMatchObject({ error: 'validation_failed' });
    }
  });
});
