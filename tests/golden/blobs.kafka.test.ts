// Golden: a blob altered in S3 after upload is never served as good data.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAll } from '../../core/blobs/blobs.ts';
import { type Api, startApi } from '../support/api.ts';
import { servicesConfig } from '../support/services.ts';

const here = import.meta.dirname;
const load = <T>(kind: 'fixtures' | 'expected', name: string) =>
  JSON.parse(readFileSync(join(here, kind, `${name}.json`), 'utf8')) as T;

interface Case {
  blobId: string;
  size: number;
  alter: { flipByteAt?: number; truncateTo?: number };
}

describe('golden: an object altered in S3 after upload', () => {
  const fixture = load<{ env: Record<string, string>; cases: Case[] }>('fixtures', 'blob-tamper');
  let api: Api;
  beforeAll(async () => {
    api = await startApi(servicesConfig(fixture.env));
  }, 60_000);
  afterAll(async () => api?.close());

  it('makes GET fail with checksum_mismatch, counted', async () => {
    const outcome: Record<string, { status: number; error: string | null; transfer: string }> = {};
    for (const c of fixture.cases) {
      const body = Buffer.alloc(c.size, 7);
      const put = await fetch(`${api.url}/v1/blobs/${c.blobId}`, { method: 'PUT', body });
      const { position } = (await put.json()) as { position: string };
      const ok = await fetch(`${api.url}/v1/blobs/${c.blobId}?after=${position}&maxStalenessMs=60000`);
      expect(ok.status).toBe(200);
      await ok.arrayBuffer();

      // alter the stored object behind logfront's back
      const store = api.lf.blobStore!;
      const [object] = await store.list(`${api.lf.config.topicPrefix}/blobs/${c.blobId}/`);
      const bytes = await readAll((await store.get(object!.key))!.body);
      const altered =
        c.alter.truncateTo !== undefined ? bytes.subarray(0, c.alter.truncateTo) : Buffer.from(bytes);
      if (c.alter.flipByteAt !== undefined) altered[c.alter.flipByteAt]! ^= 0xff;
      await store.put(object!.key, altered);

      const r = await fetch(`${api.url}/v1/blobs/${c.blobId}`);
      let transfer = 'none';
      let error: string | null = null;
      if (r.status === 200) {
        transfer = await r.arrayBuffer().then(
          () => 'complete',
          () => 'aborted',
        );
      } else {
        error = ((await r.json()) as { error: string }).error;
      }
      outcome[c.blobId] = { status: r.status, error, transfer };
    }
    expect(outcome).toEqual(load('expected', 'blob-tamper'));
    expect(api.lf.blobCounts.checksumMismatches).toBe(fixture.cases.length);
    const metrics = await (await fetch(`${api.url}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`logfront_blob_checksum_mismatches_total ${fixture.cases.length}`));
  }, 120_000);
});
