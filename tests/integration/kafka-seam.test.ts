import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { services, uniqueId } from '../support/services.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CHILD = join(ROOT, 'tests/support/kafka-seam-child.ts');
const HIDE = join(ROOT, 'tests/support/hide-kafkajs-internals.cjs');

interface SeamResult {
  resolvable: boolean;
  atImport: { produceEncoder: boolean; recordDecoder: boolean; requestFraming: boolean; reason?: string };
  fastPaths: { produceEncoder: boolean; recordDecoder: boolean; requestFraming: boolean; reason?: string };
  kafkajsUses: {
    produceEncoder: boolean;
    recordDecoder: boolean;
    ownProduceLoaded: boolean;
    ownDecoderLoaded: boolean;
  };
  appended: number[];
  read: { status: number; events: [string, number][] };
  row: { status: number; data: Record<string, unknown> };
  metrics: string[];
  fastPathLogs: { level: number; msg: string }[];
  processWarnings: { code?: string; message: string }[];
}

/** logfront on the real services in a child process (its own topics and schema), kafkajs's files hidden or not */
const runLogfront = async (hideKafkajsInternals: boolean): Promise<SeamResult> => {
  const id = uniqueId();
  const preload = hideKafkajsInternals ? ['--require', HIDE] : [];
  const { stdout } = await promisify(execFile)(process.execPath, [...preload, '--import', 'tsx', CHILD], {
    cwd: ROOT,
    timeout: 120_000,
    env: {
      ...process.env,
      ...services(),
      LOGFRONT_AUTH: 'none',
      LOGFRONT_MODE: 'services',
      LOGFRONT_TOPIC_PREFIX: `t${id}`,
      LOGFRONT_DATABASE_SCHEMA: `t_${id}`,
      LOGFRONT_REDIS_PREFIX: `t${id}:`,
      LOGFRONT_LOG_LEVEL: 'info',
      LOGFRONT_READ_WAIT_MS: '30000',
    },
  });
  const line = stdout.split('\n').find((l) => l.startsWith('seam-result '));
  if (!line) throw new Error(`the child printed no result:\n${stdout}`);
  return JSON.parse(line.slice('seam-result '.length)) as SeamResult;
};

/** what logfront does on Kafka, the same with the fast paths or without */
const expectItWorks = (r: SeamResult) => {
  expect(r.appended).toEqual([201, 201]);
  expect(r.read).toEqual({
    status: 200,
    events: [
      ['OrderPlaced', 1],
      ['OrderShipped', 2],
    ],
  });
  expect(r.row.status).toBe(200);
  expect(r.row.data).toMatchObject({ status: 'shipped', itemCount: 2, totalCents: 600, version: 2 });
};

describe('the kafkajs seam', () => {
  it('with kafkajs’s private files unresolvable, logfront on Kafka still imports, appends and reads, on kafkajs’s own code, and says so once', async () => {
    const r = await runLogfront(true);

    // the files really are gone for anyone outside kafkajs
    expect(r.resolvable).toBe(false);
    // importing changed nothing and threw nothing; the framing's file was asked for, and missing
    expect(r.atImport).toMatchObject({ produceEncoder: false, recordDecoder: false, requestFraming: false });
    expect(r.atImport.reason).toMatch(/request framing: Cannot find module/);

    expectItWorks(r);

    expect(r.fastPaths).toMatchObject({ produceEncoder: false, recordDecoder: false, requestFraming: false });
    expect(r.fastPaths.reason).toMatch(/produce encoder: Cannot find module/);
    expect(r.fastPaths.reason).toMatch(/record decoder: Cannot find module/);
    // kafkajs produced and fetched with the files it loaded itself
    expect(r.kafkajsUses).toEqual({
      produceEncoder: false,
      recordDecoder: false,
      ownProduceLoaded: true,
      ownDecoderLoaded: true,
    });
    expect(r.metrics.sort()).toEqual([
      'logfront_kafka_fast_path{path="produce_encoder"} 0',
      'logfront_kafka_fast_path{path="record_decoder"} 0',
    ]);
    // one warning, through the logger (none as a process warning), and the start line
    const warns = r.fastPathLogs.filter((l) => l.level === 40);
    expect(warns).toHaveLength(1);
    expect(warns[0]!.msg).toMatch(/kafkajs's own code runs instead \(.*Cannot find module/);
    expect(r.fastPathLogs).toContainEqual({
      level: 30,
      msg: 'kafka fast paths: produce encoder off, record decoder off, request framing off',
    });
    expect(r.processWarnings.filter((w) => w.code === 'LOGFRONT_KAFKA_FAST_PATHS')).toEqual([]);
  });

  it('with kafkajs as installed, the same run goes through the fast paths and says so', async () => {
    const r = await runLogfront(false);

    expect(r.resolvable).toBe(true);
    expect(r.atImport).toMatchObject({ produceEncoder: false, recordDecoder: false });
    expect(r.atImport.reason).toMatch(/not installed: no Kafka log or reader made yet/);

    expectItWorks(r);

    expect(r.fastPaths).toEqual({ produceEncoder: true, recordDecoder: true, requestFraming: true });
    expect(r.kafkajsUses).toMatchObject({ produceEncoder: true, recordDecoder: true });
    expect(r.metrics.sort()).toEqual([
      'logfront_kafka_fast_path{path="produce_encoder"} 1',
      'logfront_kafka_fast_path{path="record_decoder"} 1',
    ]);
    expect(r.fastPathLogs).toEqual([
      { level: 30, msg: 'kafka fast paths: produce encoder on, record decoder on, request framing on' },
    ]);
    expect(r.processWarnings.filter((w) => w.code === 'LOGFRONT_KAFKA_FAST_PATHS')).toEqual([]);
  });
});
