// What test runs and benchmarks leave on the services: topics, objects and schemas under their own
// prefixes (`t<10 hex>` for tests, `bench_<id>` for a benchmark). A test run removes what earlier runs
// left before it starts; a benchmark removes its own when it ends. So a machine that runs the suite
// again and again does not fill its disk with old blobs and logs.
import {
  AbortMultipartUploadCommand,
  DeleteObjectsCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
} from '@aws-sdk/client-s3';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { createS3Client } from '../../connectors/s3/client.ts';

/** what the tests make up: topic and key prefixes `t<10 hex>`, database schemas `t_<10 hex>` */
export const TEST_DATA = { prefix: /^t[0-9a-f]{10}[._/]/, schema: /^t_[0-9a-f]{10}$/ };

/** what one benchmark made up: its name as topic and key prefix and as database schema */
export const benchData = (name: string) => ({
  prefix: new RegExp(`^${name}[._/]`),
  schema: new RegExp(`^${name}$`),
});

export interface Removed {
  topics: number;
  objects: number;
  uploads: number;
  schemas: number;
}

export const removeRunData = async (
  env: Record<string, string | undefined>,
  match: { prefix: RegExp; schema: RegExp },
): Promise<Removed> => {
  const RUN_PREFIX = match.prefix;
  const RUN_SCHEMA = match.schema;
  const removed: Removed = { topics: 0, objects: 0, uploads: 0, schemas: 0 };
  const kafka = new Kafka({ brokers: env.LOGFRONT_KAFKA_BROKERS!.split(','), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((t) => RUN_PREFIX.test(t));
    for (let i = 0; i < topics.length; i += 100) {
      await admin.deleteTopics({ topics: topics.slice(i, i + 100), timeout: 30_000 });
    }
    removed.topics = topics.length;
  } finally {
    await admin.disconnect();
  }

  const Bucket = env.LOGFRONT_S3_BUCKET!;
  const s3 = createS3Client({
    endpoint: env.LOGFRONT_S3_ENDPOINT!,
    bucket: Bucket,
    region: env.LOGFRONT_S3_REGION ?? 'us-east-1',
    accessKeyId: env.AWS_ACCESS_KEY_ID,
    secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
  });
  try {
    const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket }));
    for (const u of uploads.Uploads ?? []) {
      if (!u.Key || !RUN_PREFIX.test(u.Key)) continue;
      await s3.send(new AbortMultipartUploadCommand({ Bucket, Key: u.Key, UploadId: u.UploadId }));
      removed.uploads += 1;
    }
    let token: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket, ContinuationToken: token }));
      const keys = (page.Contents ?? []).map((o) => o.Key!).filter((k) => RUN_PREFIX.test(k));
      if (keys.length) {
        await s3.send(
          new DeleteObjectsCommand({
            Bucket,
            Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true },
          }),
        );
        removed.objects += keys.length;
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  } finally {
    s3.destroy();
  }

  const db = new pg.Client({ connectionString: env.LOGFRONT_DATABASE_URL });
  await db.connect();
  try {
    const r = await db.query<{ nspname: string }>('SELECT nspname FROM pg_namespace');
    for (const { nspname } of r.rows.filter((n) => RUN_SCHEMA.test(n.nspname))) {
      await db.query(`DROP SCHEMA IF EXISTS "${nspname}" CASCADE`);
      removed.schemas += 1;
    }
  } finally {
    await db.end();
  }
  return removed;
};
