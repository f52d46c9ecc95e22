// Encryption at rest of a data subject's blob (DESIGN §7). The bytes of a blob uploaded for a subject are
// sealed before they reach the log, so the log (Kafka, the embedded table), the archive and the blob store
// all hold ciphertext only. Each upload has a key of its own (a fresh random AES-256 key), stored wrapped
// by the subject's data key in the upload's commit event: erasing the subject destroys its data key, and
// with it every way to unwrap the upload's key — wherever a copy of the bytes is.
//
// Each chunk is sealed on its own (AES-256-GCM: iv ‖ ciphertext ‖ tag, bound to the upload and the chunk's
// index), so a download decrypts and authenticates chunk by chunk as it streams; the SHA-256 the client
// sees (`x-logfront-sha256`) stays that of the bytes it uploaded, and is checked after decryption.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { type Readable, Transform } from 'node:stream';
import { CHUNK_BYTES } from './blobs.ts';

const IV_BYTES = 12;
const TAG_BYTES = 16;
/** what sealing adds to each chunk: its iv and its tag */
export const SEAL_OVERHEAD = IV_BYTES + TAG_BYTES;
/** plain bytes per chunk of a sealed upload: a sealed chunk is CHUNK_BYTES, the size of a plain one */
export const SEALED_CHUNK_PLAIN_BYTES = CHUNK_BYTES - SEAL_OVERHEAD;

/** how an upload is sealed, as its commit event and the blob index carry it */
export interface BlobSealing {
  /** the data key (of the upload's tenant and subject) that wraps the upload's key */
  readonly keyId: string;
  /** the upload's key, wrapped by that data key: base64 of iv ‖ ciphertext ‖ tag */
  readonly key: string;
  /** plain bytes per chunk (the last may be shorter): a stored object is a run of sealed chunks */
  readonly chunkBytes: number;
}

/** The data keys blobs are sealed under: the field cipher's, one per (tenant, data subject). */
export interface BlobKeys {
  /** the data key of (tenant, subject), made on its first use */
  subjectKey(tenant: string, subject: string): Promise<{ keyId: string; key: Buffer }>;
  /** a data key by id; null once it was destroyed (its subject was erased) */
  keyById(keyId: string): Promise<Buffer | null>;
}

const seal = (key: Buffer, plain: Buffer, aad: string) => {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad));
  const head = cipher.update(plain);
  const tail = cipher.final();
  return Buffer.concat([iv, head, tail, cipher.getAuthTag()], IV_BYTES + plain.length + TAG_BYTES);
};

/** the plain bytes; throws when `sealed` is not what `seal` made under this key and aad */
const unseal = (key: Buffer, sealed: Buffer, aad: string) => {
  if (sealed.length < SEAL_OVERHEAD) throw new Error('a sealed piece shorter than its iv and tag');
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, IV_BYTES));
  decipher.setAAD(Buffer.from(aad));
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  const head = decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES));
  const tail = decipher.final();
  return tail.length ? Buffer.concat([head, tail]) : head;
};

const keyAad = (blobId: string, upload: string, keyId: string) =>
  `logfront-blob-key:v1:${blobId}:${upload}:${keyId}`;
const chunkAad = (blobId: string, upload: string, index: number) =>
  `logfront-blob:v1:${blobId}:${upload}:${index}`;

/** a fresh key for one upload, and how its commit records it (wrapped by the subject's data key) */
export const newUploadKey = (
  dataKey: { keyId: string; key: Buffer },
  blobId: string,
  upload: string,
): { key: Buffer; sealing: BlobSealing } => {
  const key = randomBytes(32);
  const wrapped = seal(dataKey.key, key, keyAad(blobId, upload, dataKey.keyId));
  return {
    key,
    sealing: { keyId: dataKey.keyId, key: wrapped.toString('base64'), chunkBytes: SEALED_CHUNK_PLAIN_BYTES },
  };
};

/** the upload's key; throws when the wrapped key was not made for this blob and upload under this data key */
export const unwrapUploadKey = (dataKey: Buffer, sealing: BlobSealing, blobId: string, upload: string) =>
  unseal(dataKey, Buffer.from(sealing.key, 'base64'), keyAad(blobId, upload, sealing.keyId));

export const sealChunk = (key: Buffer, blobId: string, upload: string, index: number, plain: Buffer) =>
  seal(key, plain, chunkAad(blobId, upload, index));

export const openChunk = (key: Buffer, blobId: string, upload: string, index: number, sealed: Buffer) =>
  unseal(key, sealed, chunkAad(blobId, upload, index));

/** the size of the stored object of a sealed blob of `size` plain bytes */
export const sealedSize = (size: number, chunkBytes: number) =>
  size + SEAL_OVERHEAD * Math.ceil(size / chunkBytes);

/** a sealed chunk that does not open: altered, truncated, or out of its place */
export class UnsealFailed extends Error {
  constructor(readonly index: number) {
    super(`chunk ${index} does not decrypt`);
  }
}

/**
 * The plain bytes of a stored sealed object, chunk by chunk as it streams: a chunk is passed on only
 * once it is whole and authenticated. A chunk that does not open ends the stream with the error `failed`
 * makes of it (UnsealFailed by default).
 */
export const opening = (
  body: Readable,
  key: Buffer,
  blobId: string,
  upload: string,
  chunkBytes: number,
  failed: (error: UnsealFailed) => Error = (error) => error,
): Readable => {
  const frame = chunkBytes + SEAL_OVERHEAD;
  let parts: Buffer[] = [];
  let buffered = 0;
  let index = 0;
  const open = (sealed: Buffer) => {
    try {
      return openChunk(key, blobId, upload, index++, sealed);
    } catch {
      throw failed(new UnsealFailed(index - 1));
    }
  };
  const out = new Transform({
    transform(piece: Buffer, _encoding, done) {
      try {
        parts.push(piece);
        buffered += piece.length;
        while (buffered >= frame) {
          const all = parts.length === 1 ? parts[0]! : Buffer.concat(parts, buffered);
          this.push(open(all.subarray(0, frame)));
          parts = buffered > frame ? [all.subarray(frame)] : [];
          buffered -= frame;
        }
        done();
      } catch (error) {
        done(error as Error);
      }
    },
    flush(done) {
      try {
        if (buffered > 0) this.push(open(Buffer.concat(parts, buffered)));
        done();
      } catch (error) {
        done(error as Error);
      }
    },
  });
  body.on('error', (error) => out.destroy(error));
  return body.pipe(out);
};

/** the plain bytes of a whole sealed object held in memory */
export const openAll = (sealed: Buffer, key: Buffer, blobId: string, upload: string, chunkBytes: number) => {
  const frame = chunkBytes + SEAL_OVERHEAD;
  const plain: Buffer[] = [];
  for (let at = 0, index = 0; at < sealed.length; at += frame, index++) {
    try {
      plain.push(openChunk(key, blobId, upload, index, sealed.subarray(at, at + frame)));
    } catch {
      throw new UnsealFailed(index);
    }
  }
  return Buffer.concat(plain);
};
