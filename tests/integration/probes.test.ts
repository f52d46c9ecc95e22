import { afterEach, describe, expect, it, vi } from 'vitest';
import { createRedisProbe } from '../../connectors/redis/probe.ts';
import { createS3Probe } from '../../connectors/s3/client.ts';
import { services } from '../support/services.ts';

describe('readiness probes', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('Redis answers a PING; a closed port fails', async () => {
    await expect(createRedisProbe(services().LOGFRONT_REDIS_URL).ping()).resolves.toBeUndefined();
    await expect(createRedisProbe('redis://127.0.0.1:9').ping()).rejects.toThrow();
  });

  it('the S3 bucket answers HEAD; a missing bucket or bad credentials fail', async () => {
    const s = services();
    const options = {
      endpoint: s.LOGFRONT_S3_ENDPOINT,
      bucket: s.LOGFRONT_S3_BUCKET,
      region: s.LOGFRONT_S3_REGION,
      accessKeyId: s.AWS_ACCESS_KEY_ID,
      secretAccessKey: s.AWS_SECRET_ACCESS_KEY,
    };
    await expect(createS3Probe(options).ping()).resolves.toBeUndefined();
    await expect(createS3Probe({ ...options, bucket: 'no-such-bucket-here' }).ping()).rejects.toThrow();
    await expect(createS3Probe({ ...options, secretAccessKey: 'wrong' }).ping()).rejects.toThrow();
  });

  it('an S3 client given no keys takes them from the AWS default chain (the environment)', async () => {
    const s = services();
    const keyless = {
      endpoint: s.LOGFRONT_S3_ENDPOINT,
      bucket: s.LOGFRONT_S3_BUCKET,
      region: s.LOGFRONT_S3_REGION,
    };
    vi.stubEnv('AWS_ACCESS_KEY_ID', s.AWS_ACCESS_KEY_ID);
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', s.AWS_SECRET_ACCESS_KEY);
    await expect(createS3Probe(keyless).ping()).resolves.toBeUndefined();
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'wrong');
    await expect(createS3Probe(keyless).ping()).rejects.toThrow();
    // a key without its secret is no credentials: the chain's are used
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', s.AWS_SECRET_ACCESS_KEY);
    await expect(
      createS3Probe({ ...keyless, accessKeyId: 'not-used', secretAccessKey: undefined }).ping(),
    ).resolves.toBeUndefined();
  });
});
