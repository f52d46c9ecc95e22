// The BlobStore contract: S3 and the embedded filesystem store pass the same suite.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BlobStore, readAll } from '../../core/blobs/blobs.ts';
import { uniqueId } from '../support/services.ts';

const MiB = 1024 * 1024;

export const blobStoreContract = (name: string, open: () => Promise<BlobStore>) => {
  describe(`BlobStore contract: ${name}`, () => {
    let store: BlobStore;
    const prefix = () => `t${uniqueId()}/`;
    beforeAll(async () => {
      store = await open();
    });
    afterAll(async () => store?.close());

    it('puts, heads, gets and deletes an object', async () => {
      const key = `${prefix()}a/b.bin`;
      const body = randomBytes(1000);
      await store.put(key, body, 'application/octet-stream');
      expect(await store.head(key)).toEqual({ size: 1000 });
      const got = await store.get(key);
      expect(got?.size).toBe(1000);
      expect((await readAll(got!.body)).equals(body)).toBe(true);
      await store.delete(key);
      expect(await store.head(key)).toBeNull();
      expect(await store.get(key)).toBeNull();
      await store.delete(key); // deleting what is gone is fine
    });

    it('a get whose caller verifies the bytes itself returns the same bytes', async () => {
      const key = `${prefix()}verified.bin`;
      const body = randomBytes(2000);
      await store.put(key, body);
      const got = await store.get(key, { verifiedByCaller: true });
      expect(got?.size).toBe(2000);
      expect((await readAll(got!.body)).equals(body)).toBe(true);
      expect(await store.get(`${prefix()}none`, { verifiedByCaller: true })).toBeNull();
      await store.delete(key);
    });

    it('a put of the same key replaces the object', async () => {
      const key = `${prefix()}same`;
      await store.put(key, Buffer.from('one'));
      await store.put(key, Buffer.from('two!'));
      expect((await readAll((await store.get(key))!.body)).toString()).toBe('two!');
    });

    it('lists objects under a prefix in key order, and nothing else', async () => {
      const p = prefix();
      await store.put(`${p}b/2`, Buffer.from('x'));
      await store.put(`${p}a/1`, Buffer.from('xy'));
      await store.put(`${p}b/10`, Buffer.from('xyz'));
      await store.put(`${prefix()}other`, Buffer.from('x'));
      expect(await store.list(p)).toEqual([
        { key: `${p}a/1`, size: 2 },
        { key: `${p}b/10`, size: 3 },
        { key: `${p}b/2`, size: 1 },
      ]);
      expect(await store.list(`${p}b/`)).toHaveLength(2);
      expect(await store.list(`${prefix()}none/`)).toEqual([]);
      // only keys after `startAfter` (exclusive), which need not exist
      expect((await store.list(p, { startAfter: `${p}a/1` })).map((o) => o.key)).toEqual([
        `${p}b/10`,
        `${p}b/2`,
      ]);
      expect((await store.list(p, { startAfter: `${p}b/1` })).map((o) => o.key)).toEqual([
        `${p}b/10`,
        `${p}b/2`,
      ]);
      expect(await store.list(p, { startAfter: `${p}b/2` })).toEqual([]);
      expect(await store.list(p, { startAfter: '' })).toHaveLength(3);
    });

    it('a key ending in .tmp is an object like any other, listed too', async () => {
      const p = prefix();
      await store.put(`${p}report.tmp`, Buffer.from('draft'));
      expect(await store.head(`${p}report.tmp`)).toEqual({ size: 5 });
      expect(await store.list(p)).toEqual([{ key: `${p}report.tmp`, size: 5 }]);
      await store.delete(`${p}report.tmp`);
    });

    it('a key that is only a prefix of other keys is no object', async () => {
      const p = prefix();
      await store.put(`${p}dir/inner`, Buffer.from('x'));
      expect(await store.head(`${p}dir`)).toBeNull();
      expect(await store.get(`${p}dir`)).toBeNull();
      await store.delete(`${p}dir/inner`);
    });

    it('lists in the same key order on every store, characters beyond the BMP included', async () => {
      // S3 orders keys by their UTF-8 bytes, JavaScript by UTF-16 code units: U+1F600 comes after
      // U+FF01 in the first and before it in the second; a listing follows JavaScript's order
      const p = prefix();
      const keys = [`${p}\uff01`, `${p}\u{1f600}`, `${p}a`];
      for (const key of keys) await store.put(key, Buffer.from('x'));
      expect((await store.list(p)).map((o) => o.key)).toEqual([`${p}a`, `${p}\u{1f600}`, `${p}\uff01`]);
      for (const key of keys) await store.delete(key);
    });

    // S3 answers a listing 1000 keys a page: more than that takes the next pages
    it('lists more objects and more multipart uploads than one page holds', async () => {
      const p = prefix();
      const keys = Array.from({ length: 1001 }, (_, i) => `${p}${String(i).padStart(4, '0')}`);
      const inBatches = async (each: (key: string, i: number) => Promise<unknown>) => {
        for (let i = 0; i < keys.length; i += 50) {
          await Promise.all(keys.slice(i, i + 50).map((key, j) => each(key, i + j)));
        }
      };
      await inBatches((key) => store.put(key, Buffer.from('x')));
      try {
        const listed = await store.list(p);
        expect(listed.map((o) => o.key)).toEqual(keys);
        expect(listed.every((o) => o.size === 1)).toBe(true);
        expect((await store.list(p, { startAfter: keys[499] })).map((o) => o.key)).toEqual(keys.slice(500));
      } finally {
        await inBatches((key) => store.delete(key));
      }
      const uploads: string[] = [];
      await inBatches(async (key, i) => {
        uploads[i] = await store.createMultipart(key);
      });
      try {
        const pending = await store.listMultipart(p);
        expect(pending.map((u) => u.key).sort()).toEqual(keys);
        expect(new Set(pending.map((u) => u.uploadId))).toEqual(new Set(uploads));
        expect(await store.listMultipart(prefix())).toEqual([]);
      } finally {
        await inBatches((key, i) => store.abortMultipart(key, uploads[i]!));
      }
      expect(await store.listMultipart(p)).toEqual([]);
    }, 120_000);

    it('assembles a multipart upload from parts, in part order', async () => {
      const key = `${prefix()}multi.bin`;
      const parts = [randomBytes(5 * MiB), randomBytes(5 * MiB), randomBytes(1234)];
      const uploadId = await store.createMultipart(key, 'application/octet-stream');
      expect(await store.listMultipart(key)).toContainEqual({ key, uploadId });
      // uploaded out of order: assembly follows part numbers
      const etags = await Promise.all(parts.map((b, i) => store.uploadPart(key, uploadId, i + 1, b)));
      await store.completeMultipart(
        key,
        uploadId,
        etags.map((etag, i) => ({ partNumber: i + 1, etag })).reverse(),
      );
      const whole = await readAll((await store.get(key))!.body);
      expect(createHash('sha256').update(whole).digest('hex')).toBe(
        createHash('sha256').update(Buffer.concat(parts)).digest('hex'),
      );
      expect(await store.listMultipart(key)).toEqual([]);
    });

    it('an aborted multipart upload leaves no object and no upload', async () => {
      const key = `${prefix()}aborted.bin`;
      const uploadId = await store.createMultipart(key);
      await store.uploadPart(key, uploadId, 1, randomBytes(1000));
      await store.abortMultipart(key, uploadId);
      expect(await store.listMultipart(key)).toEqual([]);
      expect(await store.head(key)).toBeNull();
    });
  });
};
