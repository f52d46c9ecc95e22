import type { Readable } from 'node:stream';
import { NotFound, StalenessBudgetExceeded, ValidationFailed } from '../errors.ts';
import type { EventCatalog } from '../log/event-types.ts';
import { uuidv7 } from '../log/ids.ts';
import type { EventLog } from '../ports.ts';
import { decodePositions, encodePosition, type PositionToken } from '../read/positions.ts';
import { DEFAULT_TENANT } from '../security/auth.ts';
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
    /** the uploader's tenant (the principal's); absent: the default tenant */
    tenant?: string,
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

const CONTENT_TYPE = /^[\x21-\x7e][\x20-\x7e]{0,254}$/;

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
    if (stored.size !== record.size) throw mismatch(record, `${stored.size} bytes instead of ${record.size}`);
  }
  return {
    upload: async (rawId, rawType, body, tenant = DEFAULT_TENANT) => {
      const blobId = parseBlobId(rawId);
      const contentType = rawType || 'application/octet-stream';
      if (!CONTENT_TYPE.test(contentType)) {
        throw new ValidationFailed('invalid content type', [
          { path: 'content-type', message: 'printable ASCII, at most 255 characters' },
        ]);
      }
      const stream = `${BLOB_CATEGORY}-${blobId}` as StreamId;
      // the blob is its uploader's tenant's: the sink records the tenant of its events
      const metadata = tenant === DEFAULT_TENANT ? {} : { metadata: { tenant } };
      const upload = uuidv7();
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
      for await (const chunk of chunked(body, CHUNK_BYTES, deps.maxBytes, hash)) {
        pending.push({ type: 'BlobChunk', data: { blobId, upload, index, data: chunk }, ...metadata });
        size += chunk.length;
        index += 1;
        if (pending.length === CHUNKS_PER_APPEND) await flush();
      }
      const sha256 = hash.digest('hex');
      pending.push({
        type: 'BlobCommitted',
        data: { blobId, upload, size, contentType, sha256, chunks: index },
        ...metadata,
      });
      await flush();
      const committed = (await appending) as Awaited<ReturnType<EventLog['append']>>;
      return { blobId, size, sha256, position: encodePosition(committed.position) };
    },
    stat: async (rawId, options = {}) => {
      const record = await recordOf(rawId, options);
      checkStored(record, await deps.store.head(record.key));
      return record;
    },
    read: async (rawId, options = {}) => {
      const record = await recordOf(rawId, options);
      const blobId = record.blobId;
      const object = await deps.store.get(record.key, { verifiedByCaller: true });
      try {
        checkStored(record, object);
      } catch (error) {
        object?.body.destroy();
        throw error;
      }
      if (record.size <= deps.verifyFirstBytes) {
        // small enough to check before the first byte goes out: a mismatch is a clean 502
        const bytes = await readAll(object.body);
        const actual = sha256Hex().update(bytes).digest('hex');
        if (actual !== record.sha256) throw mismatch(record, actual);
        return { record, body: fromBuffer(bytes) };
      }
      return { record, body: verifying(blobId, object.body, record.sha256, () => deps.onMismatch(blobId)) };
    },
  };
};
