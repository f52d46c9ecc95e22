import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { removeRunData, TEST_DATA } from './cleanup.ts';
import { startComposeServices } from './containers.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export const SERVICE_VARIABLES = [
  'LOGFRONT_KAFKA_BROKERS',
  'LOGFRONT_SCHEMA_REGISTRY_URL',
  'LOGFRONT_DATABASE_URL',
  'LOGFRONT_REDIS_URL',
  'LOGFRONT_S3_ENDPOINT',
  'LOGFRONT_S3_BUCKET',
  'LOGFRONT_S3_REGION',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'LOGFRONT_TOXIPROXY_URL',
] as const;

export type Services = Record<(typeof SERVICE_VARIABLES)[number], string>;

/**
 * what the tests are given: the services' endpoints, and a key-encryption key (LOGFRONT_KEK, one per run)
 * so that services mode runs encrypted, as it must (app/config.ts)
 */
export type ProvidedServices = Services & { LOGFRONT_KEK: string };

declare module 'vitest' {
  export interface ProvidedContext {
    services: ProvidedServices;
  }
}

const parseExports = (text: string) =>
  Object.fromEntries(
    text
      .split('\n')
      .map((l) => /^export ([A-Z0-9_]+)=(.*)$/.exec(l.trim()))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1]!, m[2]!.replace(/^['"]|['"]$/g, '')]),
  );

/**
 * Uses the services named by the environment when all are given; otherwise starts them with
 * infra/ (installing what is missing). A service that cannot be had fails the run: nothing is skipped.
 */
/** the services of this run: set up once, whatever number of projects ask (one process runs them all) */
const run = globalThis as {
  logfrontServices?: Promise<{ services: Services; teardown?: () => Promise<void> }>;
  /** the KEK of this run's services mode: every test and every process it starts shares it */
  logfrontKek?: string;
};

export default async function setup(project: TestProject) {
  // the unit project tests pure logic: no service; the root of the projects runs no test
  if (project.name === 'unit' || project.name === '') return;
  const first = run.logfrontServices === undefined;
  run.logfrontServices ??= startServices();
  const { services, teardown } = await run.logfrontServices;
  run.logfrontKek ??= process.env.LOGFRONT_KEK || randomBytes(32).toString('base64');
  project.provide('services', { ...services, LOGFRONT_KEK: run.logfrontKek });
  return first ? teardown : undefined;
}

const startServices = async (): Promise<{ services: Services; teardown?: () => Promise<void> }> => {
  if (process.env.LOGFRONT_TEST_NO_SERVICES === '1' && process.env.CI !== 'true') {
    // local runs of unit tests only; a test that needs a service then fails on inject('services')
    process.stdout.write('[services] LOGFRONT_TEST_NO_SERVICES=1: no services started\n');
    return { services: {} as Services };
  }
  let teardown: (() => Promise<void>) | undefined;
  if (process.env.LOGFRONT_TEST_SERVICES === 'docker') {
    process.stdout.write('[services] starting docker-compose.yml with testcontainers …\n');
    teardown = await startComposeServices(ROOT);
  }
  const given = SERVICE_VARIABLES.every((v) => process.env[v]);
  let services: Record<string, string>;
  if (given) {
    services = Object.fromEntries(SERVICE_VARIABLES.map((v) => [v, process.env[v]!]));
    process.stdout.write('[services] using the endpoints from the environment\n');
  } else {
    const infra = join(ROOT, 'infra', 'infra.sh');
    process.stdout.write('[services] starting the real services with infra/infra.sh up …\n');
    execFileSync('bash', [infra, 'up'], { stdio: ['ignore', 'inherit', 'inherit'], timeout: 1_500_000 });
    services = parseExports(execFileSync('bash', [infra, 'env'], { encoding: 'utf8' }));
    process.stdout.write(execFileSync('bash', [infra, 'status'], { encoding: 'utf8' }));
  }
  const missing = SERVICE_VARIABLES.filter((v) => !services[v]);
  if (missing.length) throw new Error(`services not available: ${missing.join(', ')}`);
  // what earlier runs left on this machine's own services (loopback): topics, objects, schemas
  // (not while another test run on this machine is alive: what it made is in use)
  const others = otherLiveRuns();
  if (others.length) {
    process.stdout.write(
      `[services] other test runs are alive (pids ${others.join(', ')}): nothing removed\n`,
    );
  } else if (/^(127\.0\.0\.1|localhost):/.test(services.LOGFRONT_KAFKA_BROKERS!)) {
    const started = Date.now();
    try {
      const removed = await removeRunData(services, TEST_DATA);
      process.stdout.write(
        `[services] removed what earlier runs left: ${removed.topics} topics, ${removed.objects} objects, ${removed.uploads} multipart uploads, ${removed.schemas} schemas (${Date.now() - started} ms)\n`,
      );
    } catch (error) {
      process.stdout.write(
        `[services] could not remove what earlier runs left: ${(error as Error).message}\n`,
      );
    }
  }
  return teardown ? { services: services as Services, teardown } : { services: services as Services };
};

/** test runs alive on this machine register their pid here, so one does not remove what another uses */
const RUNS = join(tmpdir(), 'logfront-test-runs');

const otherLiveRuns = () => {
  mkdirSync(RUNS, { recursive: true });
  const alive = readdirSync(RUNS)
    .map(Number)
    .filter((pid) => Number.isInteger(pid) && pid !== process.pid)
    .filter((pid) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        rmSync(join(RUNS, String(pid)), { force: true });
        return false;
      }
    });
  writeFileSync(join(RUNS, String(process.pid)), '');
  process.once('exit', () => rmSync(join(RUNS, String(process.pid)), { force: true }));
  return alive;
};
