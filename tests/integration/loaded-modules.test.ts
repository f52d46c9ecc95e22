import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const RECORD = join(ROOT, 'tests/support/record-modules.mjs');
const dir = mkdtempSync(join(tmpdir(), 'logfront-modules-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** the client libraries of the services mode: an embedded process loads none of them */
const DRIVERS = /^(kafkajs|pg|pg-.*|ioredis|@aws-sdk\/.*|@kafkajs\/confluent-schema-registry)$/;

/** the packages among recorded modules (paths and file: URLs), by their name in node_modules */
const packagesOf = (recorded: string) =>
  new Set([...recorded.matchAll(/node_modules\/((?:@[^/\n]+\/)?[^/\n]+)/g)].map((m) => m[1]!));

/** runs `node --import record-modules.mjs <args>` in ROOT; the packages it loaded and its stdout */
const loadedBy = async (name: string, args: string[]) => {
  const out = join(dir, `${name}.txt`);
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', RECORD, ...args], {
    cwd: ROOT,
    timeout: 120_000,
    env: { ...process.env, LOGFRONT_RECORD_MODULES: out, LOGFRONT_LOG_LEVEL: 'warn' },
  });
  return { packages: packagesOf(readFileSync(out, 'utf8')), stdout };
};

const drivers = (packages: Set<string>) => [...packages].filter((p) => DRIVERS.test(p)).sort();

describe('what the embedded mode loads', () => {
  it('the embedded demo runs without kafkajs, pg, ioredis or the AWS SDK', async () => {
    const { packages, stdout } = await loadedBy('demo', [join(ROOT, 'bin/logfront.js'), 'demo']);
    expect(stdout).toMatch(/appended 7 events to 5 streams/);
    // the recorder sees the packages the demo does load, through import and through require
    expect(packages).toContain('@electric-sql/pglite');
    expect(packages).toContain('fastify');
    expect(packages).toContain('avvio');
    // the registry client too: `logfront schemas` loads it when it runs (app/cli/schemas.ts)
    expect(drivers(packages)).toEqual([]);
  });

  it('importing the SDK loads no driver, no server and no logger until asked', async () => {
    const { packages, stdout } = await loadedBy('sdk', ['--import', 'tsx', 'tests/support/sdk-child.ts']);
    expect(stdout).toMatch(/^sdk-child \{"exports":\d+\}$/m);
    expect(packages).toContain('zod');
    for (const heavy of ['@electric-sql/pglite', 'fastify', 'prom-client', 'jose', 'pino']) {
      expect(packages, heavy).not.toContain(heavy);
    }
    expect(drivers(packages)).toEqual([]);
  });

  it('createLogfront(embedded) through the SDK appends, reads and serves without any driver', async () => {
    const { packages, stdout } = await loadedBy('sdk-embedded', [
      '--import',
      'tsx',
      'tests/support/sdk-child.ts',
      'embedded',
    ]);
    expect(stdout).toMatch(/^sdk-child \{"status":"placed","served":200\}$/m);
    expect(packages).toContain('@electric-sql/pglite');
    expect(packages).toContain('fastify');
    expect(drivers(packages)).toEqual([]);
  });

  it('the recorder sees a driver when one is loaded (the services adapters)', async () => {
    const { packages } = await loadedBy('services', [
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      "await import('./app/compose-services.ts')",
    ]);
    expect(drivers(packages)).toEqual(
      expect.arrayContaining([
        '@aws-sdk/client-s3',
        '@kafkajs/confluent-schema-registry',
        'ioredis',
        'kafkajs',
        'pg',
      ]),
    );
  });
});
