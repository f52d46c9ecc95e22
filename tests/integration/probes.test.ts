import { describe, expect, it } from 'vitest';
import { createRedisProbe } from '../../connectors/redis/probe.ts';
import { createS3Probe } from '../../connectors/s3/client.ts';
import { services } from '../support/services.ts';

describe('readiness probes', () => {
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
});
