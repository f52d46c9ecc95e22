import type { ConnectionOptions } from 'node:tls';
import { HeadBucketCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import type { Probe } from '../../core/ports.ts';
import type { Resilience } from '../../core/resilience/resilience.ts';

export interface S3Options {
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId?: string | undefined;
  secretAccessKey?: string | undefined;
  /** with an https:// endpoint: the CAs trusted for its certificate, whether it is checked */
  tls?: S3Tls | undefined;
  /** the process's breaker and retries (app/compose.ts); absent: a layer of its own */
  resilience?: Resilience | undefined;
}

export type S3Tls = Pick<ConnectionOptions, 'ca' | 'rejectUnauthorized'>;

/** the SDK's request handler options of the settings: its https agent, made with them (none: the SDK's own) */
export const s3RequestHandler = (tls: S3Tls | undefined): Pick<S3ClientConfig, 'requestHandler'> =>
  tls ? { requestHandler: { httpsAgent: { ...tls } } } : {};

export const createS3Client = (o: S3Options) =>
  new S3Client({
    endpoint: o.endpoint,
    region: o.region,
    forcePathStyle: true,
    // one attempt per call: the retry policy of core/resilience retries (connectors/s3/blob-store.ts),
    // not the SDK on top of it
    maxAttempts: 1,
    // responses are checked when a request asks (ChecksumMode), not always: see the blob store's get
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...s3RequestHandler(o.tls),
    ...(o.accessKeyId && o.secretAccessKey
      ? { credentials: { accessKeyId: o.accessKeyId, secretAccessKey: o.secretAccessKey } }
      : {}),
  });

/** Readiness of the blob store: the bucket answers HEAD. */
export const createS3Probe = (o: S3Options): Probe => {
  const client = createS3Client(o);
  return {
    name: 's3',
    ping: async () => {
      await client.send(new HeadBucketCommand({ Bucket: o.bucket }), {
        abortSignal: AbortSignal.timeout(3000),
      });
    },
  };
};
