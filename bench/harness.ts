// Benchmark harness: real services through infra/ (as the tests), results as JSON plus a table.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Config, loadConfig } from '../app/config.ts';
import { benchData, removeRunData } from '../tests/support/cleanup.ts';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

// services mode encrypts sensitive fields and needs a key-encryption key (app/config.ts): the benchmarks
// measure it so, with one KEK per run that every process it starts inherits (`logfront serve`, children)
if (process.env.LOGFRONT_ENCRYPTION !== 'off')
  process.env.LOGFRONT_KEK ??= randomBytes(32).toString('base64');

/** the services' variables: from the environment when given, else started with infra/infra.sh */
export const servicesEnv = (): Record<string, string> => {
  if (process.env.LOGFRONT_KAFKA_BROKERS && process.env.LOGFRONT_DATABASE_URL) {
    return Object.fromEntries(
      Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined),
    );
  }
  const infra = join(ROOT, 'infra', 'infra.sh');
  execFileSync('bash', [infra, 'up'], { stdio: ['ignore', 'inherit', 'inherit'] });
  const exported = execFileSync('bash', [infra, 'env'], { encoding: 'utf8' });
  return Object.fromEntries(
    exported
      .split('\n')
      .map((l) => /^export ([A-Z0-9_]+)=(.*)$/.exec(l.trim()))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1]!, m[2]!]),
  );
};

let services: Record<string, string> | undefined;
const names = new Set<string>();

/** removes what the benchmarks of this process wrote: their topics, objects and database schemas */
export const removeBenchData = async () => {
  if (!services) return;
  for (const name of names) await removeRunData(services, benchData(name));
  names.clear();
};

/**
 * Config for a benchmark on the real services, isolated by `name` (topic prefix, database schema and
 * Redis key prefix; a lower-case SQL identifier), quiet and on a free port.
 */
export const benchConfig = (name: string, overrides: Record<string, string> = {}): Config => {
  services ??= servicesEnv();
  names.add(name);
  return loadConfig({
    ...services,
    LOGFRONT_MODE: 'services',
    LOGFRONT_TOPIC_PREFIX: name,
    LOGFRONT_DATABASE_SCHEMA: name,
    LOGFRONT_REDIS_PREFIX: `${name}:`,
    LOGFRONT_LOG_LEVEL: process.env.LOGFRONT_LOG_LEVEL ?? 'error',
    LOGFRONT_PORT: '0',
    // the benchmarks measure the log and the reads; a token check is one SHA-256 per request
    LOGFRONT_AUTH: 'none',
    ...(process.env.LOGFRONT_KEK ? { LOGFRONT_KEK: process.env.LOGFRONT_KEK } : {}),
    ...(process.env.LOGFRONT_ENCRYPTION ? { LOGFRONT_ENCRYPTION: process.env.LOGFRONT_ENCRYPTION } : {}),
    ...overrides,
  });
};

export interface Figures {
  [key: string]: number | string;
}

export const percentile = (sorted: readonly number[], p: number) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : 0;

/** runs `task` `total` times with `concurrency` in flight; returns wall time and per-call latencies */
export const drive = async (total: number, concurrency: number, task: (i: number) => Promise<void>) => {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (;;) {
        const i = next++;
        if (i >= total) return;
        const t = performance.now();
        await task(i);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
};

export const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

/** writes bench/results/<name>.json and prints a table */
export const report = (
  name: string,
  rows: { label: string; figures: Figures }[],
  result: { ours: Figures; baseline: Figures; ratio: number; params: Figures },
) => {
  const out = {
    name,
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, node: process.version },
    params: result.params,
    ours: result.ours,
    baseline: result.baseline,
    ratio: round(result.ratio, 3),
  };
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench', 'results', `${name}.json`), `${JSON.stringify(out, null, 2)}\n`);
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r.figures)))];
  const widths = [
    Math.max(5, ...rows.map((r) => r.label.length)),
    ...columns.map((c) => Math.max(c.length, 10)),
  ];
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  console.log(`\n${name} — ${out.date}, ${out.machine.cpus} cpus, node ${out.machine.node}`);
  console.log(line(['', ...columns]));
  for (const r of rows) console.log(line([r.label, ...columns.map((c) => String(r.figures[c] ?? ''))]));
  console.log(`ratio (ours ÷ baseline): ${out.ratio}   → bench/results/${name}.json\n`);
};
