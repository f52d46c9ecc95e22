import type { Readable } from 'node:stream';
import { NotFound, StalenessBudgetExceeded, Unavailable, ValidationFailed } from '../errors.ts';
import type { EventCatalog } from '../log/event-types.ts';
import { uuidv7 } from '../log/ids.ts';
import type { EventLog } from '../ports.ts';
import { decodePositions, encodePosition, type PositionToken } from '../read/positions.ts';
import { DEFAULT_TENANT } from '../security/auth.ts';
import type { SubjectBlobs } from '../security/erasure.ts';
import { activeTraceparent } from '../tracing.ts';
import type { StreamId } from '../types.ts';
import {
  BLOB_CATEGORY,
  type BlobIndex,
  type BlobRecord,
  type BlobStore,
  CHUNK_BYTES,
  CHUNKS_PER_APPEND,
  ChecksumMismatch,
  chunked,
  fromBuffer,
  parseBlobId,
  readAll,
  sha256Hex,
  verifying,
} from './blobs.ts';
import {
  type BlobKeys,
  newUploadKey,
  openAll,
  opening,
  SEALED_CHUNK_PLAIN_BYTES,
  sealChunk,
  sealedSize,
  type UnsealFailed,
  unwrapUploadKey,
} from './sealed-blobs.ts';

export interface BlobUploaded {
  blobId: string;
  size: number;
  sha256: string;
  /** the commit event's position: `after=` on a read waits until the sink stored it */
  position: PositionToken;
}

export interface BlobRead {
  readonly record: BlobRecord;
  /** the bytes, verified against the SHA-256 as they stream */
  readonly body: Readable;
}

export interface BlobService {
  // at-least-once: a failed upload may leave chunks on the log without a commit; the sink ignores them.
  upload(
    blobId: string,
    contentType: string,
    body: AsyncIterable<Buffer | Uint8Array | string>,
    options?: BlobUploadOptions,
  ): Promise<BlobUploaded>;
  /** the stored blob's record once the read options hold; the object is checked to exist at its size */
  stat(blobId: string, options?: BlobReadOptions): Promise<BlobRecord>;
  read(blobId: string, options?: BlobReadOptions): Promise<BlobRead>;
}

export interface BlobReadOptions {
  /** a position token: wait until the sink has stored what it points at */
  after?: string;
  maxStalenessMs?: number;
  /** the tenant whose blob is read (the principal's): another tenant's is not found; absent: any tenant's */
  tenant?: string | undefined;
}

export interface BlobUploadOptions {
  /**
   * the data subject the blob is about: erasing the subject deletes it; with data keys, its bytes are
   * sealed under the subject's data key everywhere they are stored (the log, the archive, the store)
   */
  subject?: string | undefined;
  /**
   * the uploader's tenant (the principal's): the blob is that tenant's, and so is its subject;
   * `default` when not given
   */
  tenant?: string | undefined;
}

// an event's metadata, left out when empty (the default tenant's events without a subject carry none)
const metadataOf = (metadata: { tenant?: string; subject?: string; traceparent?: string }) =>
  Object.keys(metadata).length ? { metadata } : {};

const CONTENT_TYPE = /^[\x21-\x7e][\x20-\x7e]{0,254}$/;
// a data subject id as an erasure takes it: 1 to 200 characters, no control characters
const validSubject = (id: string) =>
  id.length >= 1 && id.length <= 200 && ![...id].some((c) => c.charCodeAt(0) < 0x20);

export const createBlobService = (deps: {
  log: EventLog;
  catalog: EventCatalog;
  index: BlobIndex;
  store: BlobStore;
  maxBytes: number;
  /** how long `after` waits when no budget is given */
  defaultWaitMs: number;
  /** the longest a read waits, whatever its budget (LOGFRONT_MAX_WAIT_MS) */
  maxWaitMs?: number;
  /** blobs up to this size are verified before the first byte is sent (a mismatch is then a 502) */
  verifyFirstBytes: number;
  onMismatch: (blobId: string) => void;
  /** the data keys a subject's blob is sealed under; without them (no LOGFRONT_KEK) bytes are stored as uploaded */
  keys?: BlobKeys | undefined;
}): BlobService => {
  // the blob's record, once the sink has stored what `after` points at (waiting up to the budget)
  const recordOf = async (rawId: string, options: BlobReadOptions): Promise<BlobRecord> => {
    const blobId = parseBlobId(rawId);
    const target = options.after ? decodePositions(options.after) : [];
    const blobTopic = deps.log.topicFor(BLOB_CATEGORY);
    const foreign = target.find((p) => p.topic !== blobTopic);
    if (foreign) {
      throw new ValidationFailed('invalid after', [
        { path: 'after', message: `a position in ${foreign.topic}: blob positions are in ${blobTopic}` },
      ]);
    }
    const waitMs = Math.min(
      options.maxStalenessMs ?? (target.length ? deps.defaultWaitMs : 0),
      deps.maxWaitMs ?? Number.POSITIVE_INFINITY,
    );
    const deadline = Date.now() + waitMs;
    for (;;) {
      const record = await deps.index.find(blobId, options.tenant);
      const reached = target.every(
        (p) =>
          record !== null &&
          (record.position.topic !== p.topic ||
            record.position.partition !== p.partition ||
            record.position.offset >= p.offset),
      );
      if (record && reached) return record;
      if (Date.now() >= deadline) {
        if (!record && !target.length) throw new NotFound(`no blob "${blobId}"`);
        throw new StalenessBudgetExceeded('blobs', waitMs, 0, waitMs);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const mismatch = (record: BlobRecord, actual: string) => {
    deps.onMismatch(record.blobId);
    return new ChecksumMismatch(record.blobId, record.sha256, actual);
  };
  // the store's object is there, at the recorded size: else a mismatch, before any byte is sent
  function checkStored(
    record: BlobRecord,
    stored: { size: number } | null,
  ): asserts stored is { size: number } {
    if (!stored) throw mismatch(record, 'missing object');
    const size = record.sealed ? sealedSize(record.size, record.sealed.chunkBytes) : record.size;
    if (stored.size !== size) throw mismatch(record, `${stored.size} bytes instead of ${size}`);
  }
  // the key of a sealed upload: a blob whose subject was erased is gone, even when its record is still
  // there (an upload the sink stored while the erasure ran; the sink then deletes it)
  const uploadKeyOf = async (record: BlobRecord) => {
    const sealed = record.sealed!;
    if (!deps.keys) {
      throw new Unavailable(`blob ${record.blobId} is encrypted, and this process has no LOGFRONT_KEK`, 60);
    }
    const dataKey = await deps.keys.keyById(sealed.keyId);
    if (!dataKey) throw new NotFound(`no blob "${record.blobId}"`);
    try {
      return unwrapUploadKey(dataKey, sealed, record.blobId, record.upload);
    } catch {
      throw mismatch(record, 'a key that does not unwrap');
    }
  };
  const uploadSubject = (options: BlobUploadOptions): string | undefined => {
    if (options.subject === undefined) return undefined;
    if (!validSubject(options.subject)) {
      throw new ValidationFailed('invalid subject', [
        { path: 'subject', message: '1 to 200 characters, no control characters' },
      ]);
    }
    return options.subject;
  };
  return {
    upload: async (rawId, rawType, body, options = {}) => {
      const blobId = parseBlobId(rawId);
      const contentType = rawType || 'application/octet-stream';
      if (!CONTENT_TYPE.test(contentType)) {
        throw new ValidationFailed('invalid content type', [
          { path: 'content-type', message: 'printable ASCII, at most 255 characters' },
        ]);
      }
      const subject = uploadSubject(options);
      const tenant = options.tenant ?? DEFAULT_TENANT;
      const stream = `${BLOB_CATEGORY}-${blobId}` as StreamId;
      const upload = uuidv7();
      // a subject's upload is sealed under a key of its own, wrapped by the subject's data key
      const sealing =
        subject && deps.keys
          ? newUploadKey(await deps.keys.subjectKey(tenant, subject), blobId, upload)
          : undefined;
      const sealedHash = sealing ? sha256Hex() : undefined;
      // the blob is its uploader's tenant's: every event carries the tenant (the sink records it); the
      // commit also names the subject (the sink records it, for the subject's erasure)
      // and the upload's trace, so the sink's spans continue it
      const traceparent = activeTraceparent();
      const ofTenant: { tenant?: string; traceparent?: string } = {
        ...(tenant === DEFAULT_TENANT ? {} : { tenant }),
        ...(traceparent ? { traceparent } : {}),
      };
      const chunkMetadata = metadataOf(ofTenant);
      const commitMetadata = metadataOf({ ...ofTenant, ...(subject === undefined ? {} : { subject }) });
      const hash = sha256Hex();
      let size = 0;
      let index = 0;
      // several chunks to an append (one transaction), the next batch read while one is appended
      let pending: object[] = [];
      let appending: Promise<unknown> = Promise.resolve();
      const flush = async () => {
        const events = deps.catalog.prepare(pending);
        pending = [];
        await appending;
        appending = deps.log.append(stream, events, 'any');
        appending.catch(() => {}); // awaited by the next flush; handled here if the body fails first
      };
      const chunkBytes = sealing ? SEALED_CHUNK_PLAIN_BYTES : CHUNK_BYTES;
      for await (const chunk of chunked(body, chunkBytes, deps.maxBytes, hash)) {
        let data = chunk;
        if (sealing) {
          data = sealChunk(sealing.key, blobId, upload, index, chunk);
          sealedHash!.update(data);
        }
        pending.push({ type: 'BlobChunk', data: { blobId, upload, index, data }, ...chunkMetadata });
        size += chunk.length;
        index += 1;
        if (pending.length === CHUNKS_PER_APPEND) await flush();
      }
      const sha256 = hash.digest('hex');
      pending.push({
        type: 'BlobCommitted',
        data: {
          blobId,
          upload,
          size,
          contentType,
          sha256,
          chunks: index,
          ...(sealing ? { sealed: { ...sealing.sealing, sha256: sealedHash!.digest('hex') } } : {}),
        },
        ...commitMetadata,
      });
      await flush();
      const committed = (await appending) as Awaited<ReturnType<EventLog['append']>>;
      return { blobId, size, sha256, position: encodePosition(committed.position) };
    },
    stat: async (rawId, options = {}) => {
      const record = await recordOf(rawId, options);
      if (record.sealed) await uploadKeyOf(record);
      checkStored(record, await deps.store.head(record.key));
      return record;
    },
    read: async (rawId, options = {}) => {
      const record = await recordOf(rawId, options);
      const blobId = record.blobId;
      // a sealed upload: its key, and the plain bytes of each of its chunks
      const sealed = record.sealed
        ? { key: await uploadKeyOf(record), chunkBytes: record.sealed.chunkBytes }
        : undefined;
      const object = await deps.store.get(record.key, { verifiedByCaller: true });
      try {
        checkStored(record, object);
      } catch (error) {
        object?.body.destroy();
        throw error;
      }
      if (record.size <= deps.verifyFirstBytes) {
        // small enough to check before the first byte goes out: a mismatch is a clean 502
        let bytes = await readAll(object.body);
        if (sealed) {
          try {
            bytes = openAll(bytes, sealed.key, blobId, record.upload, sealed.chunkBytes);
          } catch (error) {
            throw mismatch(record, (error as UnsealFailed).message);
          }
        }
        const actual = sha256Hex().update(bytes).digest('hex');
        if (actual !== record.sha256) throw mismatch(record, actual);
        return { record, body: fromBuffer(bytes) };
      }
      // sealed: each chunk is authenticated as it is decrypted, then the whole checked against the SHA-256
      const plain = sealed
        ? opening(object.body, sealed.key, blobId, record.upload, sealed.chunkBytes, (error) =>
            mismatch(record, error.message),
          )
        : object.body;
      return { record, body: verifying(blobId, plain, record.sha256, () => deps.onMismatch(blobId)) };
    },
  };
};

/** a data subject's blobs, as its erasure finds and deletes them: the object first, then its record */
export const createSubjectBlobs = (index: BlobIndex, store: BlobStore): SubjectBlobs => ({
  of: (tenant, id) => index.ofSubject(tenant, id),
  delete: async (blob) => {
    await store.delete(blob.key);
    await index.remove(blob.blobId, blob.upload);
  },
});
