// Blobs travel through the log (DESIGN §6): an upload becomes chunk events and a commit event; the
// blob sink assembles them in the blob store; readers get the bytes with the SHA-256 verified.
import { createHash } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import { LogfrontError, TooLarge, ValidationFailed } from '../errors.ts';
import type { Position } from '../types.ts';
import type { BlobSealing } from './sealed-blobs.ts';

export interface StoredObject {
  readonly key: string;
  readonly size: number;
}

/** The blob store port: S3, or the filesystem for the embedded default. */
export interface BlobStore {
  put(key: string, body: Buffer, contentType?: string): Promise<void>;
  /**
   * the object's bytes as a stream, or null when there is none. `verifiedByCaller`: the caller checks
   * the bytes itself (a blob's SHA-256), so the store need not check its own checksum as well.
   */
  get(
    key: string,
    options?: { verifiedByCaller?: boolean },
  ): Promise<{ body: Readable; size: number } | null>;
  head(key: string): Promise<{ size: number } | null>;
  delete(key: string): Promise<void>;
  /** objects whose key starts with `prefix`, in key order; with `startAfter`, only keys after it */
  list(prefix: string, options?: { startAfter?: string }): Promise<StoredObject[]>;
  createMultipart(key: string, contentType?: string): Promise<string>;
  /** parts are numbered from 1; every part but the last must be at least 5 MiB on S3 */
  uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer): Promise<string>;
  completeMultipart(
    key: string,
    uploadId: string,
    parts: readonly { partNumber: number; etag: string }[],
  ): Promise<void>;
  abortMultipart(key: string, uploadId: string): Promise<void>;
  /** multipart uploads started and neither completed nor aborted, under `prefix` */
  listMultipart(prefix: string): Promise<{ key: string; uploadId: string }[]>;
  close(): Promise<void>;
}

export const BLOB_ID = /^[A-Za-z0-9._-]{1,200}$/;
/** the category of blob streams: `blob-<blobId>` */
export const BLOB_CATEGORY = 'blob';
/** bytes of blob data per chunk event: with its JSON fields and headers, a record stays ≤ 512 KiB */
export const CHUNK_BYTES = 508 * 1024;
/** chunk events appended in one append (one Kafka transaction): about 4 MiB of blob data */
export const CHUNKS_PER_APPEND = 4;
/** the blob topic's max.message.bytes: a record batch of CHUNKS_PER_APPEND chunk events fits */
export const BLOB_TOPIC_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

export const parseBlobId = (raw: string) => {
  if (!BLOB_ID.test(raw)) {
    throw new ValidationFailed('invalid blob id', [
      { path: 'blobId', message: `"${raw.slice(0, 80)}" is not [A-Za-z0-9._-]{1,200}` },
    ]);
  }
  return raw;
};

/**
 * where the sink puts a committed upload: one object per (blob, upload), under the deployment's prefix.
 * The ids `.` and `..` would be path steps to a store (S3 servers and file systems resolve them), so
 * their dots are escaped (`%2E`; no blob id holds a `%`, so no other id can meet them).
 */
export const blobKey = (prefix: string, blobId: string, upload: string) =>
  `${prefix}/blobs/${blobId === '.' || blobId === '..' ? blobId.replaceAll('.', '%2E') : blobId}/${upload}`;

export class ChecksumMismatch extends LogfrontError {
  readonly code = 'checksum_mismatch';
  readonly status = 502;
  constructor(
    readonly blobId: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(
      `blob ${blobId}: the stored bytes do not match their SHA-256 (expected ${expected}, got ${actual})`,
    );
  }
  override details() {
    return { blobId: this.blobId };
  }
}

/** a completed blob, as the sink recorded it */
export interface BlobRecord {
  readonly blobId: string;
  readonly upload: string;
  readonly key: string;
  readonly size: number;
  readonly sha256: string;
  readonly contentType: string;
  /** the commit event's position */
  readonly position: Position;
  /** the uploader's tenant (its events' tenant): a blob id is a blob per tenant */
  readonly tenant: string;
  /**
   * the data subject it was uploaded for, in the blob's tenant (the subject header is read in the
   * uploader's tenant): erasing the subject deletes it
   */
  readonly subject?: string | undefined;
  /** how its bytes are sealed (a subject's blob with a key-encryption key); absent: stored as uploaded */
  readonly sealed?: BlobSealing | undefined;
}

/** What the blob sink records and readers look up. */
export interface BlobIndex {
  /** the tenant's blob; without a tenant, the default tenant's, else the first other tenant's by name */
  find(blobId: string, tenant?: string): Promise<BlobRecord | null>;
  /** records a completed upload; returns the record it replaced, if any */
  record(blob: BlobRecord): Promise<BlobRecord | null>;
  isComplete(blobId: string, upload: string): Promise<boolean>;
  /** the recorded blobs of a data subject of a tenant */
  ofSubject(tenant: string, subject: string): Promise<BlobRecord[]>;
  /** forgets the blob, if it is still at that upload (a later upload of the blob stays) */
  remove(blobId: string, upload: string): Promise<void>;
  checkpoint(topic: string, partition: number): Promise<bigint | undefined>;
  saveCheckpoint(topic: string, partition: number, next: bigint): Promise<void>;
}

export const sha256Hex = () => createHash('sha256');

/**
 * Cuts a byte stream into chunks of `size` (the last may be shorter), hashing and counting as it
 * goes; fails with TooLarge past `maxBytes`. Never holds more than one chunk.
 */
export async function* chunked(
  body: AsyncIterable<Buffer | Uint8Array | string>,
  size: number,
  maxBytes: number,
  hash: ReturnType<typeof sha256Hex>,
): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let buffered = 0;
  let total = 0;
  for await (const piece of body) {
    let b =
      typeof piece === 'string'
        ? Buffer.from(piece)
        : Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    total += b.length;
    if (total > maxBytes) throw new TooLarge(`blob larger than ${maxBytes} bytes`, maxBytes);
    hash.update(b);
    while (b.length > 0) {
      const take = Math.min(size - buffered, b.length);
      parts.push(b.subarray(0, take));
      buffered += take;
      b = b.subarray(take);
      if (buffered === size) {
        yield Buffer.concat(parts, size);
        parts = [];
        buffered = 0;
      }
    }
  }
  if (buffered > 0) yield Buffer.concat(parts, buffered);
}

/**
 * The object's bytes, checked against `sha256` as they stream. A mismatch ends the stream with
 * ChecksumMismatch instead of a clean end: bad bytes never pass as good data.
 */
export const verifying = (
  blobId: string,
  body: Readable,
  sha256: string,
  onMismatch: () => void,
): Readable => {
  const hash = sha256Hex();
  // the last piece is held back until the whole has been checked: a reader never gets every byte of a bad blob
  let held: Buffer | null = null;
  const check = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      const out = held;
      held = chunk;
      done(null, out ?? undefined);
    },
    flush(done) {
      const actual = hash.digest('hex');
      if (actual === sha256) return done(null, held ?? undefined);
      onMismatch();
      done(new ChecksumMismatch(blobId, sha256, actual));
    },
  });
  body.on('error', (error) => check.destroy(error));
  return body.pipe(check);
};

/** reads a whole small stream */
export const readAll = async (body: Readable) => {
  const parts: Buffer[] = [];
  for await (const part of body) parts.push(part as Buffer);
  return Buffer.concat(parts);
};

export const fromBuffer = (b: Buffer) => Readable.from([b]);
