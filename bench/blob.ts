// Blob throughput: upload (PUT /v1/blobs/{id} until 201: chunk events and commit on the log) and
// download (GET, verified) through the HTTP API, next to a raw @aws-sdk/client-s3 multipart upload
// and GetObject of the same sizes, in one run. Also: how fast the blob sink then stores them in S3
// (it starts after the uploads and stops before the downloads, so each phase is measured alone).
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { createLogfront } from '../app/compose.ts';
import { createHttpServer } from '../app/http.ts';
import { createS3Client } from '../connectors/s3/client.ts';
import { benchConfig, type Figures, report, round } from './harness.ts';

const MiB = 1024 * 1024;
const SIZE_MIB = Number(process.env.BENCH_BLOB_MIB ?? 32);
const COUNT = Number(process.env.BENCH_BLOBS ?? 4);
// BENCH_BLOB_SUBJECT=1: every blob is uploaded for a data subject, so stored encrypted (docs/blobs.md#encryption-at-rest)
const SUBJECT = process.env.BENCH_BLOB_SUBJECT ? 'bench-subject' : undefined;

// our API is called with node:http, as the SDK calls S3: the figures compare servers, not HTTP clients
const agent = new Agent({ keepAlive: true });
const call = (method: string, url: string, body?: Buffer) =>
  new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        agent,
        headers: body
          ? { 'content-length': body.length, ...(SUBJECT ? { 'x-logfront-subject': SUBJECT } : {}) }
          : {},
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (p: Buffer) => parts.push(p));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });

const timed = async (fn: () => Promise<void>) => {
  const t = performance.now();
  await fn();
  return (performance.now() - t) / 1000;
};

export const run = async () => {
  const id = Date.now().toString(36);
  const config = benchConfig(
    `bench_${id}`,
    SUBJECT ? { LOGFRONT_KEK: randomBytes(32).toString('base64') } : {},
  );
  const lf = await createLogfront(config);
  const app = createHttpServer(lf);
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  const bodies = Array.from({ length: COUNT }, () => randomBytes(SIZE_MIB * MiB));
  const total = (COUNT * SIZE_MIB) as number;

  // warm up, untimed: topics, sequencer ownership, connections, and the JIT of this process and of
  // the Kafka broker (a broker just started takes the first few hundred MiB at half speed)
  const WARM_UPS = Number(process.env.BENCH_BLOB_WARMUPS ?? 6);
  for (let i = 0; i < WARM_UPS; i++) {
    const r = await call('PUT', `${url}/v1/blobs/warm-${i}`, bodies[i % COUNT]!);
    if (r.status !== 201) throw new Error(`PUT ${r.status}: ${r.body}`);
  }

  const positions: string[] = [];
  const upload = await timed(async () => {
    for (const [i, body] of bodies.entries()) {
      const r = await call('PUT', `${url}/v1/blobs/b${id}-${i}`, body);
      if (r.status !== 201) throw new Error(`PUT ${r.status}: ${r.body}`);
      positions.push((JSON.parse(r.body.toString()) as { position: string }).position);
    }
  });
  // then the sink (started now, so the upload above ran alone) stores every one in S3
  const stored = await timed(async () => {
    await lf.startRunners();
    for (const [i, position] of positions.entries()) {
      const r = await call('HEAD', `${url}/v1/blobs/b${id}-${i}?after=${position}&maxStalenessMs=300000`);
      if (r.status !== 200) throw new Error(`HEAD ${r.status}`);
    }
  });
  // downloads are measured alone too: the sinks stop (the archive sink would still be writing the
  // blob topic's records), and the read path warms up (untimed)
  await lf.stopRunners();
  if (WARM_UPS > 0) await call('GET', `${url}/v1/blobs/warm-0`);
  const download = await timed(async () => {
    for (let i = 0; i < COUNT; i++) {
      const r = await call('GET', `${url}/v1/blobs/b${id}-${i}`);
      if (r.status !== 200 || !r.body.equals(bodies[i]!)) throw new Error(`GET ${r.status}: wrong bytes`);
    }
  });

  const s3 = createS3Client({ ...config.s3, endpoint: config.s3.endpoint!, bucket: config.s3.bucket! });
  const rawPut = async (Key: string, body: Buffer) => {
    const Bucket = config.s3.bucket!;
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key }));
    const Parts: { PartNumber: number; ETag: string }[] = [];
    for (let offset = 0, n = 1; offset < body.length; offset += config.blobs.partBytes, n++) {
      const part = body.subarray(offset, offset + config.blobs.partBytes);
      const r = await s3.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: n, Body: part }));
      Parts.push({ PartNumber: n, ETag: r.ETag! });
    }
    await s3.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts } }));
  };
  // the raw side warms up too (untimed): one upload and one read
  await rawPut(`${config.topicPrefix}/raw/warm`, bodies[0]!);
  await (
    await s3.send(new GetObjectCommand({ Bucket: config.s3.bucket!, Key: `${config.topicPrefix}/raw/warm` }))
  ).Body!.transformToByteArray();
  const rawUpload = await timed(async () => {
    for (const [i, body] of bodies.entries()) await rawPut(`${config.topicPrefix}/raw/${i}`, body);
  });
  const rawDownload = await timed(async () => {
    for (let i = 0; i < COUNT; i++) {
      const r = await s3.send(
        new GetObjectCommand({ Bucket: config.s3.bucket!, Key: `${config.topicPrefix}/raw/${i}` }),
      );
      const got = Buffer.from(await r.Body!.transformToByteArray());
      if (!got.equals(bodies[i]!)) throw new Error('raw GET: wrong bytes');
    }
  });
  s3.destroy();
  agent.destroy();
  await app.close();
  await lf.close();

  const mibs = (seconds: number) => round(total / seconds, 1);
  const ours: Figures = {
    'upload MiB/s': mibs(upload),
    'download MiB/s': mibs(download),
    // the sink stores the warm-up blobs first, then the measured ones
    'sink to S3 MiB/s': round((total + WARM_UPS * SIZE_MIB) / stored, 1),
  };
  const baseline: Figures = { 'upload MiB/s': mibs(rawUpload), 'download MiB/s': mibs(rawDownload) };
  const upRatio = Number(ours['upload MiB/s']) / Number(baseline['upload MiB/s']);
  const downRatio = Number(ours['download MiB/s']) / Number(baseline['download MiB/s']);
  report(
    'blob',
    [
      { label: 'logfront (HTTP)', figures: ours },
      { label: 'raw @aws-sdk/client-s3', figures: baseline },
    ],
    {
      params: {
        blobs: COUNT,
        'MiB each': SIZE_MIB,
        'part bytes': config.blobs.partBytes,
        'warm-up blobs (untimed)': WARM_UPS,
        'encrypted (for a data subject)': SUBJECT ? 'yes' : 'no',
      },
      ours: { ...ours, 'upload ratio': round(upRatio, 3), 'download ratio': round(downRatio, 3) },
      baseline,
      // the weaker of the two directions
      ratio: Math.min(upRatio, downRatio),
    },
  );
};
