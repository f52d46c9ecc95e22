// The blob sink: its own consumer group over the blob topic. Chunks of an upload are gathered into
// parts of `partBytes` and sent as an S3 multipart upload under a deterministic key; the commit
// completes it once size and SHA-256 match, and records it. After a crash it restarts the upload
// (aborting what the dead one left) from the upload's first chunk: no duplicate object, no orphaned
// multipart upload.

import type { Logger } from '../logger.ts';
import type { EventLog, LogBatch, Subscription } from '../ports.ts';
import { partitionKey } from '../read/positions.ts';
import { type AuditInput, type AuditTrail, SYSTEM } from '../security/audit.ts';
import { tenantOfEvent } from '../security/tenancy.ts';
import { enabledOnce, inConsumerSpan, withSpan } from '../tracing.ts';
import type { RecordedEvent } from '../types.ts';
import { BLOB_CATEGORY, type BlobIndex, type BlobStore, blobKey, sha256Hex } from './blobs.ts';
import { type BlobSealing, sealedSize } from './sealed-blobs.ts';

export interface BlobSink {
  start(): Promise<void>;
  stop(): Promise<void>;
}

interface Chunk {
  blobId: string;
  upload: string;
  index: number;
  data: Uint8Array;
}
interface Commit {
  blobId: string;
  upload: string;
  size: number;
  contentType: string;
  sha256: string;
  chunks: number;
  /** the chunks hold sealed bytes: the SHA-256 of those is what the sink checks */
  sealed?: BlobSealing & { sha256: string };
}

interface InFlight {
  readonly blobId: string;
  readonly upload: string;
  readonly key: string;
  /** where its first chunk is: the sink's checkpoint of that partition stays at or below it */
  readonly partition: string;
  readonly firstOffset: bigint;
  uploadId: string | null;
  parts: { partNumber: number; etag: string }[];
  buffer: Buffer[];
  buffered: number;
  size: number;
  nextIndex: number;
  hash: ReturnType<typeof sha256Hex>;
  /** a chunk went missing (the sink started in the middle of the upload), or one of another tenant came */
  broken: boolean;
  /** the tenant of its first chunk: every event of an upload is of one tenant */
  readonly tenant: string;
  touchedAt: number;
}

export const createBlobSink = (deps: {
  log: EventLog;
  store: BlobStore;
  index: BlobIndex;
  groupPrefix: string;
  /** object keys start with it (the topic prefix: deployments can share a bucket) */
  keyPrefix: string;
  partBytes: number;
  logger: Logger;
  /** an upload without a commit for this long is given up (its client died) */
  abandonAfterMs?: number;
  /** told of every upload the sink completed, with the number of multipart parts it took */
  onStored?: (blobId: string, size: number, parts: number) => void;
  /** where the deletion of a replaced object is recorded (object.deleted), before it is deleted */
  audit?: Pick<AuditTrail, 'record' | 'offer'>;
  /**
   * whether a data key is destroyed (its subject erased), asked of the key store itself, never of a
   * cache: a sealed upload stored after its subject's erasure is deleted again at once
   */
  keyDestroyed?: (keyId: string) => Promise<boolean>;
}): BlobSink => {
  const { log, store, index, logger } = deps;
  const abandonAfterMs = deps.abandonAfterMs ?? 10 * 60_000;
  const inFlight = new Map<string, InFlight>(); // by upload
  let subscription: Subscription | undefined;

  const flushPart = async (u: InFlight) => {
    if (u.buffered === 0) return;
    const body = Buffer.concat(u.buffer, u.buffered);
    u.buffer = [];
    u.buffered = 0;
    const partNumber = u.parts.length + 1;
    const etag = enabledOnce()
      ? await withSpan(
          'blob part',
          {
            attributes: {
              'logfront.blob.id': u.blobId,
              'logfront.blob.part': partNumber,
              'logfront.blob.part_bytes': body.length,
            },
          },
          () => store.uploadPart(u.key, u.uploadId!, partNumber, body),
        )
      : await store.uploadPart(u.key, u.uploadId!, partNumber, body);
    u.parts.push({ partNumber, etag });
  };

  const abortLeftovers = async (key: string) => {
    for (const m of await store.listMultipart(key)) {
      if (m.key === key) await store.abortMultipart(m.key, m.uploadId);
    }
  };

  const forget = async (u: InFlight) => {
    inFlight.delete(u.upload);
    if (u.uploadId) await store.abortMultipart(u.key, u.uploadId).catch(() => {});
  };

  const onChunk = async (event: RecordedEvent, c: Chunk) => {
    let u = inFlight.get(c.upload);
    if (c.index === 0) {
      if (await index.isComplete(c.blobId, c.upload)) return; // stored before a restart
      if (u) await forget(u); // redelivered from its start: begin again
      u = {
        blobId: c.blobId,
        upload: c.upload,
        key: blobKey(deps.keyPrefix, c.blobId, c.upload),
        partition: partitionKey(event.position.topic, event.position.partition),
        firstOffset: event.position.offset,
        uploadId: null,
        parts: [],
        buffer: [],
        buffered: 0,
        size: 0,
        nextIndex: 0,
        hash: sha256Hex(),
        broken: false,
        tenant: tenantOfEvent(event),
        touchedAt: Date.now(),
      };
      inFlight.set(c.upload, u);
      await abortLeftovers(u.key); // what a sink that died mid-upload left behind
      u.uploadId = await store.createMultipart(u.key);
    }
    if (!u) return; // the start of this upload is before where the sink began: it was completed or abandoned
    if (c.index < u.nextIndex) return; // redelivered
    if (c.index > u.nextIndex || tenantOfEvent(event) !== u.tenant) {
      u.broken = true;
      return;
    }
    const bytes = Buffer.from(c.data.buffer, c.data.byteOffset, c.data.byteLength);
    u.hash.update(bytes);
    u.size += bytes.length;
    u.buffer.push(bytes);
    u.buffered += bytes.length;
    u.nextIndex += 1;
    u.touchedAt = Date.now();
    if (u.buffered >= deps.partBytes) await flushPart(u);
  };

  // never deleted unless the audit log holds it first (object.deleted `started`), in the blob's tenant's
  // audit log (that tenant reads it there)
  const deleteObject = async (
    blob: { blobId: string; tenant: string },
    key: string,
    details: Record<string, unknown>,
  ) => {
    const { blobId, tenant } = blob;
    const deleted = (outcome: AuditInput['outcome'], reason?: string): AuditInput => ({
      ...SYSTEM,
      tenant,
      action: 'object.deleted',
      resource: `blob/${blobId}`,
      outcome,
      ...(reason === undefined ? {} : { reason }),
      details: { kind: 'blob', key, ...details },
    });
    await deps.audit?.record(deleted('started'));
    try {
      await store.delete(key);
    } catch (error) {
      deps.audit?.offer(deleted('failure', (error as Error).message));
      throw error;
    }
    deps.audit?.offer(deleted('success'));
  };

  const onCommit = async (event: RecordedEvent, c: Commit) => {
    const u = inFlight.get(c.upload);
    const tenant = tenantOfEvent(event);
    if (await index.isComplete(c.blobId, c.upload)) {
      if (u) await forget(u);
      return;
    }
    const key = blobKey(deps.keyPrefix, c.blobId, c.upload);
    let parts = 0;
    if (c.chunks === 0) {
      if (c.sha256 !== sha256Hex().digest('hex') || c.size !== 0) {
        logger.error({ blobId: c.blobId }, 'blob sink: an empty upload with a size or checksum');
        return;
      }
      await store.put(key, Buffer.alloc(0), c.contentType);
    } else {
      if (!u || u.broken || u.nextIndex !== c.chunks || u.tenant !== tenant) {
        logger.error(
          { blobId: c.blobId, upload: c.upload },
          'blob sink: a commit whose chunks the sink did not all see, or of another tenant; the upload is dropped',
        );
        if (u) await forget(u);
        return;
      }
      // sealed chunks: the sink checks the sealed bytes it stores (it holds no key to see the plain ones)
      const sha256 = u.hash.digest('hex');
      const expected = c.sealed
        ? { sha256: c.sealed.sha256, size: sealedSize(c.size, c.sealed.chunkBytes) }
        : { sha256: c.sha256, size: c.size };
      if (sha256 !== expected.sha256 || u.size !== expected.size) {
        logger.error(
          { blobId: c.blobId, upload: c.upload, size: u.size, expectedSize: expected.size },
          'blob sink: the chunks do not match the commit (size or SHA-256); the upload is dropped',
        );
        await forget(u);
        return;
      }
      await flushPart(u);
      await store.completeMultipart(u.key, u.uploadId!, u.parts);
      parts = u.parts.length;
      inFlight.delete(u.upload);
      const stored = await store.head(key);
      if (stored?.size !== expected.size)
        throw new Error(`blob ${c.blobId}: stored ${stored?.size} bytes, expected ${expected.size}`);
    }
    const subject = event.metadata.subject;
    const replaced = await index.record({
      blobId: c.blobId,
      upload: c.upload,
      key,
      size: c.size,
      sha256: c.sha256,
      contentType: c.contentType,
      position: event.position,
      tenant,
      // the subject is of the blob's tenant: every event of an upload is of one tenant
      ...(subject === undefined ? {} : { subject }),
      ...(c.sealed
        ? { sealed: { keyId: c.sealed.keyId, key: c.sealed.key, chunkBytes: c.sealed.chunkBytes } }
        : {}),
    });
    if (replaced) {
      // the object a new upload of the blob replaced
      await deleteObject(replaced, replaced.key, { replacedBy: c.upload });
    }
    // recorded first, then asked: an erasure that destroyed the key before this question either found
    // the record (and deleted it) or left it to be deleted here
    if (c.sealed && (await deps.keyDestroyed?.(c.sealed.keyId))) {
      await deleteObject({ blobId: c.blobId, tenant }, key, { subjectErased: true });
      await index.remove(c.blobId, c.upload);
      logger.info({ blobId: c.blobId }, 'blob sink: an upload whose data subject was erased was deleted');
      return;
    }
    deps.onStored?.(c.blobId, c.size, parts);
  };

  const onBatch = async (batch: LogBatch) => {
    for (const event of batch.events) {
      if (event.undecodable) {
        // one bad record never wedges the sink: its upload is left incomplete (and given up later)
        logger.warn(
          { position: event.position, type: event.type, reason: event.undecodable.reason },
          'blob sink: a record that cannot be decoded was passed over',
        );
        continue;
      }
      if (event.type === 'BlobChunk') await onChunk(event, event.data as Chunk);
      else if (event.type === 'BlobCommitted') await onCommit(event, event.data as Commit);
    }
    const now = Date.now();
    let low = batch.nextOffset;
    for (const u of [...inFlight.values()]) {
      if (now - u.touchedAt > abandonAfterMs) {
        logger.warn(
          { blobId: u.blobId, upload: u.upload },
          'blob sink: an upload without a commit was given up',
        );
        await forget(u);
        continue;
      }
      if (u.firstOffset < low && u.partition === partitionKey(batch.topic, batch.partition)) {
        low = u.firstOffset;
      }
    }
    await index.saveCheckpoint(batch.topic, batch.partition, low);
  };
  return {
    start: async () => {
      if (subscription) return;
      await log.ensureTopics([BLOB_CATEGORY]);
      subscription = await log.subscribe({
        groupId: `${deps.groupPrefix}.blob-sink`,
        topics: [log.topicFor(BLOB_CATEGORY)],
        startAt: (topic, partition) => index.checkpoint(topic, partition),
        // a consumer span per batch, continuing the uploads' traces (as the projection runner's)
        onBatch: (batch) => inConsumerSpan('sink blobs', batch, {}, () => onBatch(batch)),
        maxBatchEvents: 20,
        onError: (error) => {
          // the subscription restarts from the checkpoint: every in-flight upload begins again
          for (const u of [...inFlight.values()]) void forget(u);
          logger.warn({ err: error }, 'blob sink: a batch failed; restarting from the checkpoint');
        },
      });
    },
    stop: async () => {
      const s = subscription;
      subscription = undefined;
      await s?.stop();
      inFlight.clear();
    },
  };
};
