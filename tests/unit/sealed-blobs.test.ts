// Sealed blobs: an upload's chunks under a key of its own, wrapped by the subject's data key; a reader
// opens them chunk by chunk, and anything altered, moved or cut is refused, never passed on.
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CHUNK_BYTES, readAll } from '../../core/blobs/blobs.ts';
import {
  newUploadKey,
  openAll,
  openChunk,
  opening,
  SEAL_OVERHEAD,
  SEALED_CHUNK_PLAIN_BYTES,
  sealChunk,
  sealedSize,
  UnsealFailed,
  unwrapUploadKey,
} from '../../core/blobs/sealed-blobs.ts';
import { createCatalog } from '../../core/log/event-types.ts';
import { createFieldCipher, type DataKeyStore } from '../../core/security/crypto.ts';

const dataKey = { keyId: 'k1', key: randomBytes(32) };

/** the stored object of `plain` cut into chunks of `chunkBytes`, each sealed, and the upload's key */
const sealAll = (plain: Buffer, chunkBytes: number, blobId = 'b', upload = 'u') => {
  const { key } = newUploadKey(dataKey, blobId, upload);
  const parts: Buffer[] = [];
  for (let at = 0, index = 0; at < plain.length; at += chunkBytes, index++) {
    parts.push(sealChunk(key, blobId, upload, index, plain.subarray(at, at + chunkBytes)));
  }
  return { key, sealed: Buffer.concat(parts) };
};

/** a stream of `bytes` in pieces of `piece` bytes */
const inPieces = (bytes: Buffer, piece: number) =>
  Readable.from(
    Array.from({ length: Math.ceil(bytes.length / piece) }, (_, i) =>
      bytes.subarray(i * piece, (i + 1) * piece),
    ),
  );

describe('sealed blob chunks', () => {
  it('a sealed chunk is CHUNK_BYTES at most, like a plain one, and the stored size follows from the plain size', () => {
    const { key } = newUploadKey(dataKey, 'b', 'u');
    const chunk = sealChunk(key, 'b', 'u', 0, randomBytes(SEALED_CHUNK_PLAIN_BYTES));
    expect(chunk.length).toBe(CHUNK_BYTES);
    expect(sealedSize(0, 10)).toBe(0);
    expect(sealedSize(10, 10)).toBe(10 + SEAL_OVERHEAD);
    expect(sealedSize(11, 10)).toBe(11 + 2 * SEAL_OVERHEAD);
  });

  it('the upload key unwraps under the data key for its own blob and upload only', () => {
    const { key, sealing } = newUploadKey(dataKey, 'b', 'u');
    expect(sealing).toMatchObject({ keyId: 'k1', chunkBytes: SEALED_CHUNK_PLAIN_BYTES });
    expect(unwrapUploadKey(dataKey.key, sealing, 'b', 'u').equals(key)).toBe(true);
    expect(() => unwrapUploadKey(dataKey.key, sealing, 'b', 'other-upload')).toThrow();
    expect(() => unwrapUploadKey(dataKey.key, sealing, 'other-blob', 'u')).toThrow();
    expect(() => unwrapUploadKey(randomBytes(32), sealing, 'b', 'u')).toThrow();
  });

  it('a chunk opens at its own index only: chunks cannot be swapped', () => {
    const { key } = newUploadKey(dataKey, 'b', 'u');
    const plain = Buffer.from('chunk zero');
    const sealed = sealChunk(key, 'b', 'u', 0, plain);
    expect(sealed.includes(plain)).toBe(false);
    expect(openChunk(key, 'b', 'u', 0, sealed).equals(plain)).toBe(true);
    expect(() => openChunk(key, 'b', 'u', 1, sealed)).toThrow();
    expect(() => openChunk(key, 'b', 'u', 0, sealed.subarray(0, 20))).toThrow();
  });

  it('a whole object opens to the plain bytes, as one buffer or as a stream of any piece size', async () => {
    const plain = randomBytes(5 * 1000 + 7);
    const { key, sealed } = sealAll(plain, 1000);
    expect(sealed.length).toBe(sealedSize(plain.length, 1000));
    expect(openAll(sealed, key, 'b', 'u', 1000).equals(plain)).toBe(true);
    for (const piece of [1, 333, 1028, 1029, 4000, sealed.length]) {
      const out = await readAll(opening(inPieces(sealed, piece), key, 'b', 'u', 1000));
      expect(out.equals(plain), `pieces of ${piece}`).toBe(true);
    }
    // an object of whole chunks, and an empty one
    const whole = sealAll(randomBytes(3000), 1000);
    expect((await readAll(opening(inPieces(whole.sealed, 700), whole.key, 'b', 'u', 1000))).length).toBe(
      3000,
    );
    expect((await readAll(opening(Readable.from([]), key, 'b', 'u', 1000))).length).toBe(0);
    expect(openAll(Buffer.alloc(0), key, 'b', 'u', 1000).length).toBe(0);
  });

  it('a flipped byte ends the stream with the error of the chunk it is in; the chunk is never passed on', async () => {
    const plain = randomBytes(3000);
    const { key, sealed } = sealAll(plain, 1000);
    const altered = Buffer.from(sealed);
    altered[1000 + SEAL_OVERHEAD + 50]! ^= 1; // in chunk 1
    const got: Buffer[] = [];
    const stream = opening(inPieces(altered, 256), key, 'b', 'u', 1000);
    const error = await new Promise<unknown>((resolve) => {
      stream.on('data', (b: Buffer) => got.push(b));
      stream.on('error', resolve);
      stream.on('end', () => resolve(null));
    });
    expect(error).toBeInstanceOf(UnsealFailed);
    expect((error as UnsealFailed).index).toBe(1);
    expect(Buffer.concat(got).equals(plain.subarray(0, 1000))).toBe(true);
    expect(() => openAll(altered, key, 'b', 'u', 1000)).toThrow(UnsealFailed);

    // the error the caller makes of it, and the source's own errors
    const mapped = opening(
      inPieces(altered, 4096),
      key,
      'b',
      'u',
      1000,
      (e) => new Error(`mapped ${e.index}`),
    );
    await expect(readAll(mapped)).rejects.toThrow('mapped 1');
    const truncated = opening(inPieces(sealed.subarray(0, sealed.length - 1), 4096), key, 'b', 'u', 1000);
    await expect(readAll(truncated)).rejects.toThrow(UnsealFailed);
    const failing = new Readable({ read() {} });
    const opened = opening(failing, key, 'b', 'u', 1000);
    failing.destroy(new Error('the store went away'));
    await expect(readAll(opened)).rejects.toThrow('the store went away');
  });
});

describe("the field cipher's data keys for blobs", () => {
  const memoryKeys = (): DataKeyStore & { lookups: number } => {
    const keys = new Map<string, { tenant: string; subject: string; wrapped: string }>();
    const store = {
      lookups: 0,
      keyFor: async (tenant: string, subject: string, fresh: { keyId: string; wrapped: string }) => {
        for (const [keyId, k] of keys)
          if (k.tenant === tenant && k.subject === subject) return { keyId, wrapped: k.wrapped };
        keys.set(fresh.keyId, { tenant, subject, wrapped: fresh.wrapped });
        return fresh;
      },
      byIds: async (ids: readonly string[]) => {
        store.lookups += 1;
        return new Map(ids.flatMap((id) => (keys.has(id) ? [[id, keys.get(id)!.wrapped] as const] : [])));
      },
      destroy: async (tenant: string, subject: string) => {
        let n = 0;
        for (const [id, k] of keys) if (k.tenant === tenant && k.subject === subject && keys.delete(id)) n++;
        return n;
      },
    };
    return store;
  };

  it("a subject's data key is found again by its id until the subject is erased; then it is gone for good", async () => {
    const keys = memoryKeys();
    const kek = randomBytes(32);
    const cipher = createFieldCipher({ kek, keys, catalog: createCatalog([], 'x') });
    const ada = await cipher.subjectKey('default', 'ada');
    expect(await cipher.subjectKey('default', 'ada')).toEqual(ada);
    expect((await cipher.subjectKey('acme', 'ada')).keyId).not.toBe(ada.keyId);

    // another process (its own cache) finds the key by id once, then from memory
    const other = createFieldCipher({ kek, keys, catalog: createCatalog([], 'x') });
    const before = keys.lookups;
    expect((await other.keyById(ada.keyId))?.equals(ada.key)).toBe(true);
    expect((await other.keyById(ada.keyId))?.equals(ada.key)).toBe(true);
    expect(keys.lookups).toBe(before + 1);

    expect(await cipher.forget('default', 'ada')).toBe(1);
    expect(await cipher.keyById(ada.keyId)).toBeNull();
    expect(await cipher.keyById(ada.keyId)).toBeNull();
    expect(await other.keyById('never-made')).toBeNull();
    // a new key after the erasure: the subject's old blobs stay unreadable
    expect((await cipher.subjectKey('default', 'ada')).keyId).not.toBe(ada.keyId);
  });
});
