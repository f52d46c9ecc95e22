import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFsBlobStore } from '../../connectors/embedded/fs-blob-store.ts';
import { createS3BlobStore } from '../../connectors/s3/blob-store.ts';
import { blobStoreContract } from '../contract/blob-store.features.ts';
import { services } from '../support/services.ts';

const s3 = () =>
  createS3BlobStore({
    endpoint: services().LOGFRONT_S3_ENDPOINT,
    bucket: services().LOGFRONT_S3_BUCKET,
    region: services().LOGFRONT_S3_REGION,
    accessKeyId: services().AWS_ACCESS_KEY_ID,
    secretAccessKey: services().AWS_SECRET_ACCESS_KEY,
  });

blobStoreContract('S3 (versitygw)', async () => s3());
blobStoreContract('filesystem (embedded)', async () =>
  createFsBlobStore(mkdtempSync(join(tmpdir(), 'lf-blobs-'))),
);

describe('S3 blob store failures', () => {
  it('an S3 that refuses is an error, not "no object"', async () => {
    const store = createS3BlobStore({
      endpoint: services().LOGFRONT_S3_ENDPOINT,
      bucket: 'no-such-bucket-here',
      region: 'us-east-1',
      accessKeyId: 'wrong',
      secretAccessKey: 'wrong',
    });
    await expect(store.get('k')).rejects.toThrow();
    await expect(store.head('k')).rejects.toThrow();
    await store.close();
  });

  it('a key that leaves the filesystem store is refused', async () => {
    const store = createFsBlobStore(mkdtempSync(join(tmpdir(), 'lf-blobs-')));
    await expect(store.put('../escape', Buffer.from('x'))).rejects.toThrow(/leaves the store/);
  });
});
