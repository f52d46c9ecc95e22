// What the takeover benchmark (bench/takeover.ts) shares with its child processes: how a child is
// started and answers (one JSON line on stdout, or {error}), and the layout of the streams it fills.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './harness.ts';

/** what every child is given: the benchmark's name and config overrides (services come from the env) */
export interface ChildBase {
  name: string;
  overrides: Record<string, string>;
}

export interface FillParams extends ChildBase {
  /** streams `order-0` … `order-<streams-1>`, written round robin */
  streams: number;
  /** events the fills wrote before this one (the global index of the first event of this fill) */
  from: number;
  /** events to write now */
  count: number;
  /** where the last fill ended: the records from there on were written by others (the writer child) */
  after: string;
  /** per stream, the events others appended to it so far */
  bumps: Record<string, number>;
  /** records per send, sends in flight, producers they are spread over */
  batch: number;
  inFlight: number;
  producers: number;
}

export interface FillResult {
  seconds: number;
  /** the load generator's CPU time while it filled */
  cpuSeconds: number;
  events: number;
  /** the committed end of the partition after the fill */
  end: string;
  bumps: Record<string, number>;
  /** records found after the previous fill (the writer's appends) */
  tail: number;
  batch: number;
  inFlight: number;
  producers: number;
  recordBytes: number;
}

export interface IndexParams extends ChildBase {
  timeoutMs: number;
}

export type IndexResult = { supported: false } | { supported: true; seconds: number; startMs: number };

export interface WriterTarget {
  stream: string;
  /** its current version: the append expects it */
  expected: number;
}

export interface WriterParams extends ChildBase {
  first: WriterTarget;
  second: WriterTarget;
  /** answer as soon as the sequencer retries its takeover (today's code: a read past its limit) */
  failFast: boolean;
}

export interface WriterResult {
  startupMs: number;
  /** RSS once logfront is built, before any append */
  rssBeforeMiB: number;
  /** the first append (takeover included), or how long it ran until it failed */
  firstMs: number;
  secondMs?: number;
  /** RSS after the first append, or when it failed */
  rssMiB: number;
  rssAfterSecondMiB?: number;
  peakRssMiB: number;
  heapUsedMiB: number;
  versions?: { first: [number, number]; second: [number, number] };
  /** why an append failed, and which: the figures of a failed first append are those of its failure */
  error?: string;
  failed?: 'first' | 'second';
}

export type ChildAnswer<R> = { ok: true; value: R } | { ok: false; error: string };

export const stream = (n: number) => `order-${n}`;

/**
 * The fills write event `i` (counted over all fills) to stream `i % streams`, so a stream's versions are
 * contiguous and in offset order. Its version: how many of the fills' events before it went to the
 * same stream, plus what others appended to that stream before (`bump`), plus one.
 */
export const fillVersion = (i: number, streams: number, bump: number) => Math.floor(i / streams) + 1 + bump;

/** the version of stream `n` once the fills wrote `total` events and others appended `bump` to it */
export const headVersion = (n: number, total: number, streams: number, bump: number) =>
  (n < total ? Math.floor((total - 1 - n) / streams) + 1 : 0) + bump;

/**
 * Runs `node --import tsx bench/<file> <params as JSON>` and reads the JSON line it prints last; a child
 * that fails, prints nothing or outlives `timeoutMs` (it is killed) is an error, never a hang.
 */
export const runChild = <R>(file: string, params: object, timeoutMs: number): Promise<ChildAnswer<R>> =>
  new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'bench', file), JSON.stringify(params)],
      {
        cwd: ROOT,
        // the AWS SDK's warning about Node 20 is printed once by the parent, not again by every child
        env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...process.env },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ ok: false, error: `could not start ${file}: ${error.message}` });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) {
        resolve({
          ok: false,
          error: `timeout: ${file} did not finish within ${timeoutMs / 1000} s (killed)`,
        });
        return;
      }
      const last = out.trim().split('\n').at(-1) ?? '';
      try {
        const answer = JSON.parse(last) as R | { error: string };
        if (typeof answer === 'object' && answer !== null && 'error' in answer) {
          resolve({ ok: false, error: answer.error });
        } else resolve({ ok: true, value: answer });
      } catch {
        resolve({
          ok: false,
          error: `${file} exited (code ${code}, signal ${signal}) without an answer${last ? `: ${last.slice(0, 500)}` : ''}`,
        });
      }
    });
  });

/** a child's main: its params from argv, its answer (or {error}) as one JSON line on stdout, then exit */
export const childMain = async <P, R>(work: (params: P) => Promise<R>) => {
  let answer: R | { error: string };
  try {
    answer = await work(JSON.parse(process.argv[2] ?? '{}') as P);
  } catch (error) {
    answer = { error: error instanceof Error ? error.message : String(error) };
  }
  process.stdout.write(`${JSON.stringify(answer)}\n`, () => process.exit(0));
};

/** `promise`, or the answer of `onTimeout` after `ms` */
export const within = <T>(promise: Promise<T>, ms: number, onTimeout: () => T) =>
  Promise.race([
    promise,
    new Promise<T>((resolve) => {
      setTimeout(() => resolve(onTimeout()), ms).unref();
    }),
  ]);
