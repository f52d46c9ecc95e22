import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { crc32 } from '@node-rs/crc32';
import type { BlobStore, StoredObject } from '../../core/blobs/blobs.ts';
import { classified, DependencyUnavailable, isLogfrontError } from '../../core/errors.ts';
import { standaloneResilience } from '../../core/resilience/standalone.ts';
import { createS3Client, type S3Options } from './client.ts';

/**
 * The CRC-32 S3 checks a body against, computed natively: given it, the SDK does not compute its own
 * in JavaScript (what it sends by default, at a fraction of the speed).
 */
const crc32Of = (body: Buffer) => {
  const out = Buffer.allocUnsafe(4);
  out.writeUInt32BE(crc32(body) >>> 0);
  return out.toString('base64');
};

const missing = (error: unknown) => {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404;
};

/**
 * An S3 that did not answer (no connection, timed out: the SDK's error carries no HTTP status) or
 * failed (5xx, 429 SlowDown, 408) after the SDK's retries, as DependencyUnavailable; any other answer
 * (403, a missing bucket) as it is.
 */
export const s3Failure = (error: unknown): unknown => {
  if (isLogfrontError(error) || typeof error !== 'object' || error === null || !('$metadata' in error)) {
    return error;
  }
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  if (status !== undefined && status < 500 && status !== 429 && status !== 408) return error;
  // the SDK's failures are Errors (a ServiceException, or a network error it annotated)
  const message = String((error as { message?: unknown }).message);
  return new DependencyUnavailable('s3', status ? `it answered ${status}: ${message}` : message, {
    cause: error,
  });
};

/** whether an error says S3 failed (down, unreachable, 5xx): what its breaker counts */
export const s3Down = (error: unknown): boolean => {
  const failure = s3Failure(error);
  return failure instanceof DependencyUnavailable && failure.dependency === 's3';
};

/**
 * The blob store on S3 (path-style, SigV4): blobs, multipart uploads, the archive. Every call goes
 * through the s3 breaker and the retry policy (options.resilience); the two whose repeat is not the
 * same request (a new upload id, the completion of an upload that may have completed) only through
 * the breaker.
 */
export const createS3BlobStore = (
  options: S3Options,
  client: S3Client = createS3Client(options),
): BlobStore => {
  const Bucket = options.bucket;
  const store: BlobStore = {
    put: async (key, body, contentType) => {
      await client.send(
        new PutObjectCommand({
          Bucket,
          Key: key,
          Body: body,
          ContentType: contentType,
          ChecksumCRC32: crc32Of(body),
        }),
      );
    },
    get: async (key, options = {}) => {
      try {
        // the SDK checks the object's CRC as it streams (in JavaScript: a third of a blob read's CPU);
        // a blob read checks its SHA-256 instead
        const r = await client.send(
          new GetObjectCommand({
            Bucket,
            Key: key,
            ...(options.verifiedByCaller ? {} : { ChecksumMode: 'ENABLED' as const }),
          }),
        );
        return { body: r.Body as Readable, size: Number(r.ContentLength ?? 0) };
      } catch (error) {
        if (missing(error)) return null;
        throw error;
      }
    },
    head: async (key) => {
      try {
        const r = await client.send(new HeadObjectCommand({ Bucket, Key: key }));
        return { size: Number(r.ContentLength ?? 0) };
      } catch (error) {
        if (missing(error)) return null;
        throw error;
      }
    },
    delete: async (key) => {
      await client.send(new DeleteObjectCommand({ Bucket, Key: key }));
    },
    list: async (prefix, options = {}) => {
      const out: StoredObject[] = [];
      let token: string | undefined;
      do {
        const r = await client.send(
          new ListObjectsV2Command({
            Bucket,
            Prefix: prefix,
            ContinuationToken: token,
            ...(options.startAfter === undefined ? {} : { StartAfter: options.startAfter }),
          }),
        );
        for (const o of r.Contents ?? []) out.push({ key: o.Key!, size: Number(o.Size ?? 0) });
        // a page that brings no new token ends the listing (never loop on a server's quirk)
        token = r.IsTruncated && r.NextContinuationToken !== token ? r.NextContinuationToken : undefined;
      } while (token);
      return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    },
    createMultipart: async (key, contentType) => {
      const r = await client.send(
        new CreateMultipartUploadCommand({ Bucket, Key: key, ContentType: contentType }),
      );
      return r.UploadId!;
    },
    uploadPart: async (key, uploadId, partNumber, body) => {
      const r = await client.send(
        new UploadPartCommand({
          Bucket,
          Key: key,
          UploadId: uploadId,
          PartNumber: partNumber,
          Body: body,
          ChecksumCRC32: crc32Of(body),
        }),
      );
      return r.ETag!;
    },
    completeMultipart: async (key, uploadId, parts) => {
      await client.send(
        new CompleteMultipartUploadCommand({
          Bucket,
          Key: key,
          UploadId: uploadId,
          // S3 wants the parts in ascending order
          MultipartUpload: {
            Parts: [...parts]
              .sort((a, b) => a.partNumber - b.partNumber)
              .map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })),
          },
        }),
      );
    },
    abortMultipart: async (key, uploadId) => {
      await client.send(new AbortMultipartUploadCommand({ Bucket, Key: key, UploadId: uploadId }));
    },
    listMultipart: async (prefix) => {
      const out: { key: string; uploadId: string }[] = [];
      let keyMarker: string | undefined;
      for (;;) {
        // paged by key only: versitygw refuses the UploadIdMarker it hands out (one upload per key here)
        const r = await client.send(
          new ListMultipartUploadsCommand({ Bucket, Prefix: prefix, KeyMarker: keyMarker }),
        );
        for (const u of r.Uploads ?? []) out.push({ key: u.Key!, uploadId: u.UploadId! });
        if (!r.IsTruncated || !r.NextKeyMarker || r.NextKeyMarker === keyMarker) return out;
        keyMarker = r.NextKeyMarker;
      }
    },
    close: async () => {
      client.destroy();
    },
  };
  const resilience = options.resilience ?? standaloneResilience(s3Down);
  const once = { retryable: () => false };
  // an S3 that is down fails a call as DependencyUnavailable (s3)
  const guarded =
    <A extends unknown[], R>(operation: string, call: (...args: A) => Promise<R>, retry = {}) =>
    (...args: A) =>
      resilience.run('s3', operation, () => classified(s3Failure, call)(...args), retry);
  return {
    ...store,
    put: guarded('put', store.put),
    get: guarded('get', store.get),
    head: guarded('head', store.head),
    delete: guarded('delete', store.delete),
    list: guarded('list', store.list),
    createMultipart: guarded('create_multipart', store.createMultipart, once),
    uploadPart: guarded('upload_part', store.uploadPart),
    completeMultipart: guarded('complete_multipart', store.completeMultipart, once),
    abortMultipart: guarded('abort_multipart', store.abortMultipart),
    listMultipart: guarded('list_multipart', store.listMultipart),
  };
};
