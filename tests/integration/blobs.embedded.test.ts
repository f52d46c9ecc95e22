// Blobs on the embedded default: the table log, the filesystem store, the same sink.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Api, startApi } from '../support/api.ts';
import { embeddedConfig } from '../support/services.ts';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('blobs (embedded)', () => {
  let api: Api;
  beforeAll(async () => {
    api = await startApi(embeddedConfig({ LOGFRONT_BLOB_PART_BYTES: String(5 * 1024 * 1024) }));
  });
  afterAll(async () => api?.close());

  it('round-trips a blob through the table log and the filesystem store', async () => {
    const body = randomBytes(6 * 1024 * 1024 + 123);
    const put = await fetch(`${api.url}/v1/blobs/photo.jpg`, {
      method: 'PUT',
      body,
      headers: { 'content-type': 'image/jpeg' },
    });
    expect(put.status).toBe(201);
    const { position, sha256: digest } = (await put.json()) as { position: string; sha256: string };
    expect(digest).toBe(sha256(body));
    const got = await fetch(`${api.url}/v1/blobs/photo.jpg?after=${position}`);
    expect(got.status).toBe(200);
    expect(got.headers.get('content-type')).toBe('image/jpeg');
    expect(Buffer.from(await got.arrayBuffer()).equals(body)).toBe(true);
    expect(api.lf.blobCounts.parts['photo.jpg']).toBe(2);
    expect(await api.lf.blobStore!.listMultipart('')).toEqual([]);
  });

  it('after= a commit the sink has not stored within the budget is a 503', async () => {
    await api.lf.stopRunners();
    try {
      const put = await fetch(`${api.url}/v1/blobs/late`, { method: 'PUT', body: Buffer.from('x') });
      const { position } = (await put.json()) as { position: string };
      const r = await fetch(`${api.url}/v1/blobs/late?after=${position}&maxStalenessMs=100`);
      expect(r.status).toBe(503);
      expect(await r.json()).toMatchObject({ error: 'staleness_budget_exceeded' });
    } finally {
      await api.lf.startRunners();
    }
  });

  it('HEAD answers the headers without the bytes; an unknown blob is a 404, a missing object a 502', async () => {
    const body = randomBytes(1000);
    const put = await fetch(`${api.url}/v1/blobs/head-me`, {
      method: 'PUT',
      body,
      headers: { 'content-type': 'text/plain' },
    });
    const { position } = (await put.json()) as { position: string };
    const head = await fetch(`${api.url}/v1/blobs/head-me?after=${position}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe('1000');
    expect(head.headers.get('content-type')).toBe('text/plain');
    expect(head.headers.get('x-logfront-sha256')).toBe(sha256(body));
    expect((await head.arrayBuffer()).byteLength).toBe(0);
    expect((await fetch(`${api.url}/v1/blobs/nobody`, { method: 'HEAD' })).status).toBe(404);

    const record = await api.lf.blobs!.stat('head-me');
    await api.lf.blobStore!.delete(record.key);
    const before = api.lf.blobCounts.checksumMismatches;
    expect((await fetch(`${api.url}/v1/blobs/head-me`, { method: 'HEAD' })).status).toBe(502);
    expect(api.lf.blobCounts.checksumMismatches).toBe(before + 1);
  });

  it('a bad content type is a 400', async () => {
    const r = await fetch(`${api.url}/v1/blobs/x`, {
      method: 'PUT',
      body: Buffer.from('x'),
      headers: { 'content-type': `text/plain; x=${'a'.repeat(300)}` },
    });
    expect(r.status).toBe(400);
  });
});
