import { z } from 'zod';
import { CHUNK_BYTES } from '../core/blobs/blobs.ts';
import { defineEventType } from '../core/log/event-types.ts';

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
      /** the bytes: on the log beside the JSON of the other fields, not in it (a binary frame) */
      data: z.instanceof(Uint8Array).refine((b) => b.length <= CHUNK_BYTES, {
        message: `at most ${CHUNK_BYTES} bytes`,
      }),
    })
    .strict(),
  { binary: 'data' },
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
      /**
       * present when the chunks hold sealed bytes (a data subject's blob): the upload's key, wrapped by
       * the subject's data key, and the SHA-256 and size of the sealed bytes the sink stores
       */
      sealed: z
        .object({
          keyId: z.string().min(1).max(100),
          key: z.string().min(1).max(200),
          chunkBytes: z.int().min(1),
          sha256: z.string().regex(/^[0-9a-f]{64}$/),
        })
        .strict()
        .optional(),
    })
    .strict(),
);

export const blobEventTypes = [BlobChunk, BlobCommitted];

export type BlobChunkData = z.infer<typeof BlobChunk.schema>;
export type BlobCommittedData = z.infer<typeof BlobCommitted.schema>;
