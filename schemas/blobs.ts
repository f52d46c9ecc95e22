import { z } from 'zod';
import { defineEventType } from '../core/event-types.ts';

// Blob uploads on the log (DESIGN §6): stream `blob-<blobId>`, chunks then one commit per upload.
// Every deployment has these types, next to its own.

const blobId = z.string().regex(/^[A-Za-z0-9._-]{1,200}$/);
const upload = z.string().regex(/^[0-9a-f-]{36}$/);

export const BlobChunk = defineEventType(
  'BlobChunk',
  z
    .object({
      blobId,
      upload,
      index: z.int().min(0),
      /** base64 of at most 384 KiB */
      data: z.string().max(524_288),
    })
    .strict(),
);

export const BlobCommitted = defineEventType(
  'BlobCommitted',
  z
    .object({
      blobId,
      upload,
      size: z.int().min(0),
      contentType: z.string().min(1).max(255),
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
      chunks: z.int().min(0),
    })
    .strict(),
);

export const blobEventTypes = [BlobChunk, BlobCommitted];

export type BlobChunkData = z.infer<typeof BlobChunk.schema>;
export type BlobCommittedData = z.infer<typeof BlobCommitted.schema>;
