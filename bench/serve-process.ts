// A `logfront serve` process for the benchmarks and the soak: services mode, isolated under `name` (topic
// prefix, database schema, Redis key prefix), on a free loopback port. Answers its URL once it serves.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ROOT } from './harness.ts';

export interface ServeProcess {
  url: string;
  child: ChildProcess;
  /** the last lines it wrote (stdout and stderr) */
  tail: string[];
  /** SIGTERM, then SIGKILL after `graceMs` */
  stop(graceMs?: number): Promise<void>;
}

export const startServe = async (
  name: string,
  env: Record<string, string> = {},
  options: {
    verbose?: boolean;
    startMs?: number;
    /** node flags of the child (the benchmark's own, say) */
    nodeFlags?: readonly string[];
    /** told of the child as soon as it is spawned (a benchmark that kills its children on a signal) */
    onSpawn?: (child: ChildProcess) => void;
  } = {},
): Promise<ServeProcess> => {
  const { LOGFRONT_CONFIG: _ignored, ...inherited } = process.env;
  const child = spawn(
    process.execPath,
    [...(options.nodeFlags ?? []), join(ROOT, 'bin', 'logfront.js'), 'serve'],
    {
      cwd: ROOT,
      env: {
        ...inherited,
        LOGFRONT_TOPIC_PREFIX: name,
        LOGFRONT_DATABASE_SCHEMA: name,
        LOGFRONT_REDIS_PREFIX: `${name}:`,
        LOGFRONT_LOG_LEVEL: process.env.LOGFRONT_LOG_LEVEL ?? 'warn',
        LOGFRONT_HOST: '127.0.0.1',
        LOGFRONT_PORT: '0',
        LOGFRONT_AUTH: 'none',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  options.onSpawn?.(child);
  const tail: string[] = [];
  const keep = (line: string) => {
    tail.push(line);
    if (tail.length > 50) tail.shift();
    if (options.verbose) process.stderr.write(`  serve | ${line}\n`);
  };
  createInterface({ input: child.stderr! }).on('line', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = async (graceMs = 20_000) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };
  const startMs = options.startMs ?? 90_000;
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`logfront serve did not start within ${startMs / 1000} s`)),
      startMs,
    );
    createInterface({ input: child.stdout! }).on('line', (line) => {
      keep(line);
      const m = /serving on (http:\/\/\S+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`logfront serve exited (${code}): ${tail.slice(-5).join(' | ') || 'no output'}`));
    });
  }).catch(async (error) => {
    await stop();
    throw error;
  });
  return { url, child, tail, stop };
};
