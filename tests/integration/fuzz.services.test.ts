// The HTTP fuzzer (issue 13) against `logfront serve` on the real services (Kafka, the Schema
// Registry, Postgres, Redis, S3), run as its own process the way an operator runs it. Settings as in
// fuzz.embedded.test.ts: LOGFRONT_FUZZ_RUNS (default 5000), LOGFRONT_FUZZ_SEED, LOGFRONT_FUZZ_CONCURRENCY,
// LOGFRONT_FUZZ_REPORT. Known open findings: tests/support/fuzz/known-open.ts.
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogfront, type Logfront } from '../../app/compose.ts';
import { formatFinding, formatReport } from '../support/fuzz/findings.ts';
import { KNOWN_OPEN } from '../support/fuzz/known-open.ts';
import { fuzzOptions, runFuzz } from '../support/fuzz/run.ts';
import { services, servicesConfig, uniqueId } from '../support/services.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const LIMITS = { maxAppendBytes: 16_384, maxAppendEvents: 10, maxBlobBytes: 65_536 };

/** `logfront serve` as a child process; resolves with its URL once it listens */
const startServe = (env: NodeJS.ProcessEnv, errors: string[]) =>
  new Promise<{ child: ChildProcess; url: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/logfront.js'), 'serve'], {
      env,
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const url = /^logfront serving on (\S+)/m.exec(out)?.[1];
      if (url) resolve({ child, url });
    });
    child.stderr!.on('data', (d: Buffer) => errors.push(...d.toString().split('\n').filter(Boolean)));
    child.once('exit', (code) =>
      reject(new Error(`serve exited with ${code} before it listened: ${errors.slice(-5).join('\n')}`)),
    );
  });

/** SIGTERM, and SIGKILL if it has not stopped in 30 s; resolves with the exit code */
const stop = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    const kill = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.removeAllListeners('exit');
    child.once('exit', (code) => {
      clearTimeout(kill);
      resolve(code);
    });
    child.kill('SIGTERM');
  });

describe('HTTP fuzzer on serve against the real services', () => {
  const id = uniqueId();
  const isolation = {
    LOGFRONT_TOPIC_PREFIX: `t${id}`,
    LOGFRONT_DATABASE_SCHEMA: `t_${id}`,
    LOGFRONT_REDIS_PREFIX: `t${id}:`,
    // the fuzzer probes the routes, not the tokens (tests/integration/auth.test.ts does)
    LOGFRONT_AUTH: 'none',
  };
  let server: ChildProcess | undefined;
  let url: string;
  // the test's own view of the same log and store (runners off): for the checks after the requests
  let lf: Logfront;
  const serverErrors: string[] = [];
  beforeAll(async () => {
    ({ child: server, url } = await startServe(
      {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        ...services(),
        ...isolation,
        LOGFRONT_PORT: '0',
        LOGFRONT_LOG_LEVEL: 'error',
        LOGFRONT_MAX_APPEND_BYTES: String(LIMITS.maxAppendBytes),
        LOGFRONT_MAX_APPEND_EVENTS: String(LIMITS.maxAppendEvents),
        LOGFRONT_MAX_BLOB_BYTES: String(LIMITS.maxBlobBytes),
        LOGFRONT_READ_WAIT_MS: '1000',
      },
      serverErrors,
    ));
    lf = await createLogfront(servicesConfig({ ...isolation, LOGFRONT_RUNNERS: 'off' }));
  });
  afterAll(async () => {
    if (server) await stop(server);
    await lf?.close();
  });

  it('no request gets a 5xx or an error out of shape; refused appends leave nothing; the projections equal a fold of the log', async () => {
    const options = fuzzOptions(5000, id);
    console.log(
      `[fuzz services] seed=${options.seed} runs=${options.runs} concurrency=${options.concurrency}`,
    );
    const report = await runFuzz(
      {
        name: 'services',
        url,
        log: lf.log,
        store: lf.store,
        projections: lf.domain.projections,
        // app/http.ts: twice the append limit and 64 KiB for the envelope
        limits: { ...LIMITS, bodyLimit: LIMITS.maxAppendBytes * 2 + 64 * 1024 },
        serverErrors: () => serverErrors,
      },
      options,
      KNOWN_OPEN,
    );
    console.log(formatReport('services', report));
    expect(report.requests).toBeGreaterThanOrEqual(options.runs);
    expect(
      report.findings.map((f) => formatFinding(f)),
      `fuzz services, seed ${options.seed}: replay with LOGFRONT_FUZZ_SEED=${options.seed}`,
    ).toEqual([]);
    // and serve is still up, and stops cleanly
    expect(server!.exitCode).toBeNull();
    expect(await stop(server!)).toBe(0);
    server = undefined;
  }, 900_000);
});
