// Blobs on the real services: through the log into S3 and back, a sink killed mid-upload, bad input.
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Api, startApi } from '../support/api.ts';
import { kill, startRunner } from '../support/runner-child.ts';
import { services, servicesConfig, waitFor } from '../support/services.ts';

const MiB = 1024 * 1024;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

const put = async (url: string, blobId: string, body: Buffer, contentType = 'application/octet-stream') => {
  const r = await fetch(`${url}/v1/blobs/${blobId}`, {
    method: 'PUT',
    body,
    headers: { 'content-type': contentType },
  });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
};

describe('blobs through the log into S3', () => {
  let api: Api;
  beforeAll(async () => {
    api = await startApi(servicesConfig());
  }, 60_000);
  afterAll(async () => api?.close());

  it('a 50 MiB blob round-trips byte-identical; the sink used at least 3 parts', async () => {
    const body = randomBytes(50 * MiB);
    const r = await put(api.url, 'big.bin', body, 'application/x-test');
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ blobId: 'big.bin', size: body.length, sha256: sha256(body) });
    const got = await fetch(`${api.url}/v1/blobs/big.bin?after=${r.body.position}&maxStalenessMs=60000`);
    expect(got.status).toBe(200);
    expect(got.headers.get('content-type')).toBe('application/x-test');
    expect(got.headers.get('x-logfront-sha256')).toBe(sha256(body));
    expect(Buffer.from(await got.arrayBuffer()).equals(body)).toBe(true);
    expect(api.lf.blobCounts.parts['big.bin']).toBeGreaterThanOrEqual(3);
    expect(await api.lf.blobStore!.listMultipart(`${api.lf.config.topicPrefix}/blobs/`)).toEqual([]);
  }, 120_000);

  it('a new upload of a blob id replaces it, and the old object is deleted; an empty blob works', async () => {
    const first = await put(api.url, 'doc', Buffer.from('version one'), 'text/plain');
    const second = await put(api.url, 'doc', Buffer.from('version two, longer'), 'text/plain');
    const got = await fetch(`${api.url}/v1/blobs/doc?after=${second.body.position}&maxStalenessMs=30000`);
    expect(await got.text()).toBe('version two, longer');
    const docs = `${api.lf.config.topicPrefix}/blobs/doc/`;
    await waitFor(async () => (await api.lf.blobStore!.list(docs)).length === 1);
    void first;
    const empty = await put(api.url, 'empty', Buffer.alloc(0));
    expect(empty.body).toMatchObject({ size: 0 });
    const e = await fetch(`${api.url}/v1/blobs/empty?after=${empty.body.position}&maxStalenessMs=30000`);
    expect(e.status).toBe(200);
    expect((await e.arrayBuffer()).byteLength).toBe(0);
  });

  it('the ids . and .. are blobs like any other, and the sink goes on after them', async () => {
    // through node:http: WHATWG URLs (fetch) resolve %2E segments before sending
    const send = (method: string, path: string, body?: Buffer) =>
      new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
        const u = new URL(api.url);
        const req = request({ host: u.hostname, port: u.port, method, path }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks) }));
        });
        req.on('error', reject);
        req.end(body);
      });
    for (const [id, path] of [
      ['.', '%2E'],
      ['..', '%2E%2E'],
      ['after-dots', 'after-dots'],
    ] as const) {
      const body = randomBytes(1000);
      const put = await send('PUT', `/v1/blobs/${path}`, body);
      expect(put.status, id).toBe(201);
      const { position } = JSON.parse(put.body.toString('utf8')) as { position: string };
      const got = await send('GET', `/v1/blobs/${path}?after=${position}&maxStalenessMs=30000`);
      expect(got.status, id).toBe(200);
      expect(got.body.equals(body)).toBe(true);
    }
  });

  it('bad input is a 4xx naming what is wrong; nothing is stored', async () => {
    const badId = await put(api.url, 'bad%20id', Buffer.from('x'));
    expect(badId.status).toBe(400);
    expect(badId.body).toMatchObject({ error: 'validation_failed' });
    const missing = await fetch(`${api.url}/v1/blobs/never-uploaded`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: 'not_found' });
    const tooBig = await fetch(`${api.url}/v1/blobs/huge`, {
      method: 'PUT',
      body: Buffer.alloc(16),
      headers: { 'content-length': String(api.lf.config.blobs.maxBytes + 1) },
    }).catch(() => null);
    if (tooBig) expect(tooBig.status).toBe(413);
    const badAfter = await fetch(`${api.url}/v1/blobs/doc?after=nonsense`);
    expect(badAfter.status).toBe(400);
    const notYet = await fetch(
      `${api.url}/v1/blobs/not-yet?after=${(await put(api.url, 'other', Buffer.from('y'))).body.position}&maxStalenessMs=0`,
    );
    expect([503, 200, 404]).toContain(notYet.status);
  });
});

describe('a blob larger than the limit', () => {
  it('is refused with 413 while streaming, and never committed', async () => {
    const api = await startApi(servicesConfig({ LOGFRONT_MAX_BLOB_BYTES: String(MiB) }));
    try {
      // no content-length (chunked): the limit is found while reading
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(`${api.url}/v1/blobs/over`, { method: 'PUT' }, (res) => {
          let text = '';
          res.on('data', (d: Buffer) => {
            text += d.toString();
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        });
        req.on('error', reject);
        for (let i = 0; i < 3; i++) req.write(randomBytes(MiB / 2));
        req.end();
      });
      expect(answer.status).toBe(413);
      expect(JSON.parse(answer.body)).toMatchObject({ error: 'too_large' });
      const got = await fetch(`${api.url}/v1/blobs/over`);
      expect(got.status).toBe(404);
    } finally {
      await api.close();
    }
  });
});

describe('the blob sink SIGKILLed mid-upload', () => {
  it('after a restart the blob completes, one object exists, and no multipart upload is left', async () => {
    const config = servicesConfig({ LOGFRONT_BLOB_PART_BYTES: String(5 * MiB) });
    // this process appends only; the sink runs in a child that is killed
    const api = await startApi(config, { runners: false });
    try {
      const body = randomBytes(30 * MiB);
      const r = await put(api.url, 'crash.bin', body);
      expect(r.status).toBe(201);
      const env = {
        ...process.env,
        ...services(),
        LOGFRONT_MODE: 'services',
        LOGFRONT_TOPIC_PREFIX: config.topicPrefix,
        LOGFRONT_DATABASE_SCHEMA: config.database.schema,
        LOGFRONT_REDIS_PREFIX: config.redis.prefix,
        LOGFRONT_BLOB_PART_BYTES: String(5 * MiB),
        LOGFRONT_LOG_LEVEL: 'warn',
        LOGFRONT_TEST_PART_DELAY_MS: '300',
      };
      const store = api.lf.blobStore!;
      const first = await startRunner(env);
      // kill it once its multipart upload has begun
      await waitFor(
        async () => (await store.listMultipart(`${config.topicPrefix}/blobs/crash.bin/`)).length > 0,
        60_000,
        20,
      );
      await new Promise((r) => setTimeout(r, 400));
      await kill(first);
      expect((await store.listMultipart(`${config.topicPrefix}/blobs/crash.bin/`)).length).toBeGreaterThan(0); // left behind

      const second = await startRunner({ ...env, LOGFRONT_TEST_PART_DELAY_MS: '0' });
      try {
        const got = await fetch(
          `${api.url}/v1/blobs/crash.bin?after=${r.body.position}&maxStalenessMs=90000`,
        );
        expect(got.status).toBe(200);
        expect(sha256(Buffer.from(await got.arrayBuffer()))).toBe(sha256(body));
        expect(await store.list(`${config.topicPrefix}/blobs/crash.bin/`)).toHaveLength(1);
        expect(await store.listMultipart(`${config.topicPrefix}/blobs/crash.bin/`)).toEqual([]);
      } finally {
        second.kill('SIGTERM');
      }
    } finally {
      await api.close();
    }
  }, 180_000);
});
