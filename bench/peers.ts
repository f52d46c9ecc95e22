// Peers: Emmett's PostgreSQL event store and logfront (SDK and HTTP) through the same scenarios on the
// same services in one run (DESIGN.md §10). Each system runs in processes of its own, one after the
// other, so none competes with another for the two cores:
//   emmett        bench/peers-worker.ts with Emmett and its load generator (an in-process library)
//   logfront-sdk  bench/peers-worker.ts with createLogfront and its load generator (the same)
//   logfront-http a `logfront serve` process, driven by a load-generator process (node:http keep-alive)
// Emmett gets a database of its own on the same Postgres server, dropped at the end; logfront's topics,
// objects and schemas are removed by the harness (bench/run.ts), its Redis keys here.
// Knobs: BENCH_SECONDS (10), BENCH_WARMUP_SECONDS (2), BENCH_SCENARIOS (all of SCENARIOS, comma-separated),
// BENCH_CLIENTS (16), BENCH_TRIALS (20), BENCH_WRITERS (8), BENCH_TRIAL_PROCESSES (2),
// BENCH_READ_STREAMS (200), BENCH_READ_EVENTS (10), BENCH_STREAMS_PER_CLIENT (8).
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import pg from 'pg';
import { benchConfig, type Figures, ROOT, removeBenchData, report, round, servicesEnv } from './harness.ts';
import {
  type Expected,
  MARK,
  type Measured,
  messageOf,
  OPERATION,
  type RaceResult,
  SCENARIOS,
  type Scenario,
  type TimedJob,
  type TimedScenario,
  type TrialCommand,
} from './peers-load.ts';
import type { SystemSpec, WorkerJob } from './peers-worker.ts';
import { startServe } from './serve-process.ts';

const num = (name: string, fallback: number) => {
  const raw = process.env[name];
  const n = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name}=${raw}: expected a number ≥ 0`);
  return n;
};

const SECONDS = num('BENCH_SECONDS', 10);
if (SECONDS <= 0) throw new Error('BENCH_SECONDS: expected a number of seconds > 0');
const WARMUP_SECONDS = num('BENCH_WARMUP_SECONDS', Math.min(2, SECONDS));
const CLIENTS = Math.max(1, Math.round(num('BENCH_CLIENTS', 16)));
const STREAMS_PER_CLIENT = Math.max(1, Math.round(num('BENCH_STREAMS_PER_CLIENT', 8)));
const READ_STREAMS = Math.max(1, Math.round(num('BENCH_READ_STREAMS', 200)));
const READ_EVENTS = Math.min(100, Math.max(1, Math.round(num('BENCH_READ_EVENTS', 10))));
const TRIALS = Math.round(num('BENCH_TRIALS', 20));
const WRITERS = Math.max(2, Math.round(num('BENCH_WRITERS', 8)));
const TRIAL_PROCESSES = Math.max(1, Math.round(num('BENCH_TRIAL_PROCESSES', 2)));

const selected = (): Scenario[] => {
  const raw = process.env.BENCH_SCENARIOS?.trim();
  if (!raw) return [...SCENARIOS];
  const names = raw.split(',').map((s) => s.trim());
  const unknown = names.filter((n) => !(SCENARIOS as readonly string[]).includes(n));
  if (unknown.length)
    throw new Error(`BENCH_SCENARIOS: unknown ${unknown.join(', ')} (know ${SCENARIOS.join(', ')})`);
  return SCENARIOS.filter((s) => names.includes(s));
};

const SYSTEMS = ['emmett', 'logfront-sdk', 'logfront-http', 'raw-kafkajs'] as const;
type SystemName = (typeof SYSTEMS)[number];
const SHORT: Record<SystemName, string> = {
  emmett: 'emmett',
  'logfront-sdk': 'sdk',
  'logfront-http': 'http',
  'raw-kafkajs': 'raw',
};

// --- child processes ---------------------------------------------------------------------------------

const children = new Set<ChildProcess>();
let aborted = false;

/** node flags of this process (package.json's bench script) without its --import of tsx */
const nodeFlags = process.execArgv.filter((a, i, all) => a !== '--import' && all[i - 1] !== '--import');

interface Answer {
  ok: boolean;
  result?: unknown;
  error?: string;
}

interface Worker {
  next(timeoutMs: number): Promise<Answer>;
  send(command: TrialCommand): void;
  exited: Promise<number>;
  stop(): Promise<void>;
}

const track = (child: ChildProcess) => {
  children.add(child);
  const tail: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => {
    tail.push(line);
    if (tail.length > 15) tail.shift();
    if (process.env.BENCH_VERBOSE === '1') process.stderr.write(`  | ${line}\n`);
  });
  const exited = new Promise<number>((resolve) =>
    child.on('exit', (code, signal) => {
      children.delete(child);
      resolve(code ?? (signal ? 128 : 1));
    }),
  );
  const stop = async (graceMs = 20_000) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };
  return { tail, exited, stop };
};

const startWorker = (job: WorkerJob): Worker => {
  const child = spawn(
    process.execPath,
    [...nodeFlags, '--import', 'tsx', join(ROOT, 'bench', 'peers-worker.ts'), JSON.stringify(job)],
    { cwd: ROOT, env: process.env, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const { tail, exited, stop } = track(child);
  const answers: Answer[] = [];
  const waiting: ((a: Answer) => void)[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (!line.startsWith(MARK)) return;
    const a = JSON.parse(line.slice(MARK.length)) as Answer;
    const w = waiting.shift();
    if (w) w(a);
    else answers.push(a);
  });
  const died = exited.then(
    (code): Answer => ({
      ok: false,
      error: `worker exited (${code}): ${tail.slice(-5).join(' | ') || 'no output'}`,
    }),
  );
  return {
    next: (timeoutMs) => {
      const queued = answers.shift();
      if (queued) return Promise.resolve(queued);
      let timer: NodeJS.Timeout | undefined;
      return Promise.race([
        new Promise<Answer>((resolve) => waiting.push(resolve)),
        died,
        new Promise<Answer>((resolve) => {
          timer = setTimeout(
            () => resolve({ ok: false, error: `no answer within ${timeoutMs / 1000} s` }),
            timeoutMs,
          );
        }),
      ]).finally(() => clearTimeout(timer));
    },
    send: (command) => {
      child.stdin!.write(`${JSON.stringify(command)}\n`);
    },
    exited,
    stop: () => stop(),
  };
};

const withTimeout = <T>(p: Promise<T>, ms: number, what: string) => {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms / 1000} s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
};

/** a worker that answered exits by itself (after closing its clients); one that does not is stopped */
const settle = (w: Worker) =>
  withTimeout(w.exited, 30_000, 'worker exit').then(
    () => {},
    () => w.stop(),
  );

const resultOf = async <T>(answer: Promise<Answer>): Promise<T> => {
  const a = await answer;
  if (!a.ok) throw new Error(a.error ?? 'failed');
  return a.result as T;
};

/** a `logfront serve` process on the services, isolated under `name` as benchConfig does it */
const startServer = (name: string, runners: boolean) =>
  startServe(
    name,
    {
      LOGFRONT_LOG_LEVEL: process.env.LOGFRONT_LOG_LEVEL ?? 'error',
      LOGFRONT_RUNNERS: runners ? 'on' : 'off',
    },
    {
      verbose: process.env.BENCH_VERBOSE === '1',
      nodeFlags,
      onSpawn: (child) => {
        children.add(child);
        child.once('exit', () => children.delete(child));
      },
    },
  );

// --- the Emmett database -------------------------------------------------------------------------------

const emmettDatabase = (id: string) => {
  const name = `bench_${id}_emmett`;
  const url = new URL(process.env.LOGFRONT_DATABASE_URL!);
  const adminUrl = url.toString();
  url.pathname = `/${name}`;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    try {
      return (await client.query(sql)).rows as Record<string, string>[];
    } finally {
      await client.end();
    }
  };
  return {
    name,
    url: url.toString(),
    create: () => admin(`CREATE DATABASE "${name}"`),
    /** what a commit costs on this server: the same for both systems, and worth knowing */
    durability: async () => {
      const rows = await admin(
        `SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit') ORDER BY name`,
      );
      return rows.map((r) => `${r.name}=${r.setting}`).join(', ');
    },
    drop: () => admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`),
  };
};

/** the Redis keys logfront kept under these names (cache entries, invalidation marks; they expire, but
 * the harness removes topics, objects and schemas only) */
const removeRedisKeys = async (names: readonly string[]) => {
  const url = process.env.LOGFRONT_REDIS_URL;
  if (!url || names.length === 0) return 0;
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 2 });
  let removed = 0;
  try {
    await redis.connect();
    for (const name of names) {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${name}:*`, 'COUNT', 1000);
        if (keys.length) removed += await redis.del(...keys);
        cursor = next;
      } while (cursor !== '0');
    }
  } finally {
    redis.disconnect();
  }
  return removed;
};

// --- scenarios -------------------------------------------------------------------------------------------

type Outcome = { ok: true; measured: Measured } | { ok: false; error: string };

interface TrialStats {
  trials: number;
  'one winner': number;
  'max winners': number;
  'zero winners': number;
  errors: number;
  'length mismatches': number;
  /** trials won by each trial process (a race that one process always wins would not be one) */
  'wins by process': string;
  error?: string;
}

const TRIAL_KINDS: { key: string; short: string; prepare: boolean; expected: Expected; says: string }[] = [
  {
    key: 'same-version',
    short: 'v',
    prepare: true,
    expected: 1,
    says: 'stream with 1 event; every writer appends with expected version 1',
  },
  {
    key: 'no-stream',
    short: 'n',
    prepare: false,
    expected: 'no_stream',
    says: 'new stream; every writer appends with no_stream (Emmett: STREAM_DOES_NOT_EXIST)',
  },
  {
    key: 'version-0',
    short: 'z',
    prepare: false,
    expected: 0,
    says: 'new stream; every writer appends with expected version 0 (Emmett: 0n)',
  },
];

/** TRIALS trials of each kind, the writers spread over TRIAL_PROCESSES worker processes */
const runTrials = async (specOf: (process: number) => SystemSpec): Promise<Record<string, TrialStats>> => {
  const workers: Worker[] = [];
  const out: Record<string, TrialStats> = {};
  try {
    // one after the other: schema migrations and topic creation are not raced here
    for (let i = 0; i < TRIAL_PROCESSES; i++) {
      const w = startWorker({ mode: 'trials', spec: specOf(i) });
      workers.push(w);
      await resultOf(w.next(120_000));
    }
    const call = <T>(w: Worker, command: TrialCommand) => {
      w.send(command);
      return resultOf<T>(w.next(90_000));
    };
    const shares = workers.map(
      (_, i) => Math.floor(WRITERS / workers.length) + (i < WRITERS % workers.length ? 1 : 0),
    );
    for (const kind of TRIAL_KINDS) {
      const stats: TrialStats = {
        trials: 0,
        'one winner': 0,
        'max winners': 0,
        'zero winners': 0,
        errors: 0,
        'length mismatches': 0,
        'wins by process': '',
      };
      const winsBy = workers.map(() => 0);
      for (let t = 0; t < TRIALS && !aborted; t++) {
        const stream = `order-t${kind.short}${t}`;
        // the process that writes the first event owns the partition when the race starts: take turns
        const first = workers[t % workers.length]!;
        if (kind.prepare) await call(first, { op: 'append', stream, expected: 0 });
        const at = Date.now() + 300;
        const results = await Promise.all(
          workers.map((w, i) =>
            call<RaceResult>(w, { op: 'race', stream, expected: kind.expected, writers: shares[i]!, at }),
          ),
        );
        const wins = results.reduce((n, r) => n + r.wins, 0);
        results.forEach((r, i) => {
          winsBy[i]! += r.wins;
        });
        const length = await call<number>(first, { op: 'length', stream });
        stats.trials += 1;
        if (wins === 1) stats['one winner'] += 1;
        if (wins === 0) stats['zero winners'] += 1;
        stats['max winners'] = Math.max(stats['max winners'], wins);
        stats.errors += results.reduce((n, r) => n + r.errors, 0);
        stats.error ??= results.find((r) => r.error)?.error;
        if (length !== (kind.prepare ? 1 : 0) + wins) stats['length mismatches'] += 1;
      }
      stats['wins by process'] = winsBy.join('/');
      if (!stats.error) delete stats.error;
      out[kind.key] = stats;
    }
  } finally {
    for (const w of workers) w.send({ op: 'close' });
    await Promise.all(workers.map(settle));
  }
  return out;
};

export const run = async () => {
  const scenarios = selected();
  // the services' variables once, for this process's configs and every child's environment
  for (const [k, v] of Object.entries(servicesEnv())) process.env[k] ??= v;
  const id = Date.now().toString(36);
  const emmett = emmettDatabase(id);
  const timed: Partial<Record<TimedScenario, Partial<Record<SystemName, Outcome>>>> = {};
  const trials: Partial<Record<'emmett' | 'logfront', Record<string, TrialStats> | { error: string }>> = {};

  const onSignal = () => {
    aborted = true;
    for (const child of children) child.kill('SIGKILL');
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const say = (line: string) => console.log(`peers: ${line}`);
  const describe = (m: Measured) =>
    `${m['ops/s']} ops/s, p50 ${m['p50 ms']} ms, p99 ${m['p99 ms']} ms${m.errors ? `, ${m.errors} errors (${m.error})` : ''}`;

  await emmett.create();
  let topics = '';
  const names: string[] = [];
  const durability = await emmett.durability().catch((error) => `unknown (${messageOf(error)})`);
  say(`Emmett database ${emmett.name}; ${SECONDS} s per run after ${WARMUP_SECONDS} s of warm-up`);
  try {
    for (const scenario of scenarios) {
      if (aborted) break;
      const name = `bench_${id}_${scenario}`;
      // logfront's data under this name is removed at the end (bench/run.ts)
      const { kafka } = benchConfig(name);
      names.push(name);
      topics = `${kafka.partitions} partitions per topic, replication ${kafka.replication}`;
      if (scenario === 'trials') {
        for (const [system, specOf] of [
          [
            'emmett',
            (): SystemSpec => ({
              system: 'emmett',
              connectionString: emmett.url,
              poolSize: WRITERS + 2,
              inlineProjection: false,
            }),
          ],
          ['logfront', (): SystemSpec => ({ system: 'sdk', name, runners: false })],
        ] as const) {
          if (aborted) break;
          try {
            trials[system] = await runTrials(specOf);
            for (const [kind, s] of Object.entries(trials[system] as Record<string, TrialStats>)) {
              say(
                `trials ${kind} ${system}: ${s['one winner']}/${s.trials} with exactly one winner, at most ${s['max winners']}${s.errors ? `, ${s.errors} errors (${s.error})` : ''}`,
              );
            }
          } catch (error) {
            trials[system] = { error: messageOf(error) };
            say(`trials ${system} failed: ${messageOf(error)}`);
          }
        }
        continue;
      }
      const job: TimedJob = {
        scenario,
        seconds: SECONDS,
        warmupSeconds: WARMUP_SECONDS,
        clients: scenario === 'append1' ? 1 : CLIENTS,
        tag: '',
        streamsPerClient: STREAMS_PER_CLIENT,
        readStreams: READ_STREAMS,
        eventsPerReadStream: READ_EVENTS,
      };
      const visible = scenario === 'visible16';
      const results: Partial<Record<SystemName, Outcome>> = {};
      timed[scenario] = results;
      const budgetMs = 180_000 + 3 * 1000 * (SECONDS + WARMUP_SECONDS);
      const measure = async (system: SystemName, specOf: (url: string) => SystemSpec, tag: string) => {
        if (aborted) return;
        let server: Awaited<ReturnType<typeof startServer>> | undefined;
        try {
          if (system === 'logfront-http') server = await startServer(name, visible);
          const w = startWorker({ mode: 'timed', job: { ...job, tag }, spec: specOf(server?.url ?? '') });
          const measured = await resultOf<Measured>(w.next(budgetMs)).finally(() => settle(w));
          results[system] = { ok: true, measured };
          say(`${scenario} ${system}: ${describe(measured)}`);
        } catch (error) {
          results[system] = { ok: false, error: messageOf(error) };
          say(`${scenario} ${system} failed: ${messageOf(error)}`);
        } finally {
          await server?.stop();
        }
      };
      // Emmett's streams share one database across scenarios: their names carry the scenario
      await measure(
        'emmett',
        () => ({
          system: 'emmett',
          connectionString: emmett.url,
          poolSize: job.clients,
          inlineProjection: visible,
        }),
        `e${scenario}-`,
      );
      await measure('logfront-sdk', () => ({ system: 'sdk', name, runners: visible }), 's');
      await measure('logfront-http', (url) => ({ system: 'http', url, sockets: job.clients }), 'h');
      // the floor of an append: the same broker's raw transactions, group-committed, nothing else
      if (scenario === 'append1' || scenario === 'append16') {
        await measure(
          'raw-kafkajs',
          () => ({
            system: 'raw',
            brokers: kafka.brokers,
            topic: `${name}.raw`,
            partitions: kafka.partitions,
          }),
          'r',
        );
      }
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    for (const child of children) child.kill('SIGKILL');
    await emmett
      .drop()
      .then(() => say(`dropped ${emmett.name}`))
      .catch((error) => console.error(`could not drop ${emmett.name}: ${messageOf(error)}`));
    await removeRedisKeys(names).catch((error) =>
      console.error(`could not remove the Redis keys of ${names.join(', ')}: ${messageOf(error)}`),
    );
  }
  if (aborted) {
    await removeBenchData().catch(() => {});
    throw new Error('peers: interrupted; no results written');
  }

  // --- the report --------------------------------------------------------------------------------------
  const rows: { label: string; figures: Figures }[] = [];
  const ours: Figures = {};
  const baseline: Figures = {};
  const sdkRatios: number[] = [];
  const errors: string[] = [];
  for (const [scenario, results] of Object.entries(timed) as [TimedScenario, Record<SystemName, Outcome>][]) {
    const peer = results.emmett?.ok ? results.emmett.measured['ops/s'] : undefined;
    for (const system of SYSTEMS) {
      const outcome = results[system];
      if (!outcome) continue;
      const into = system === 'emmett' || system === 'raw-kafkajs' ? baseline : ours;
      const key = `${scenario} ${SHORT[system]}`;
      if (!outcome.ok) {
        into[`${key} error`] = outcome.error;
        rows.push({ label: `${scenario} ${system}`, figures: { 'ops/s': 'failed' } });
        errors.push(`${scenario} ${system}: ${outcome.error}`);
        continue;
      }
      const m = outcome.measured;
      const figures: Figures = {
        'ops/s': m['ops/s'],
        'p50 ms': m['p50 ms'],
        'p99 ms': m['p99 ms'],
        ratio: '',
      };
      for (const [k, v] of Object.entries(m)) if (k !== 'error' || v) into[`${key} ${k}`] = v;
      if (system !== 'emmett' && peer) {
        const ratio = round(m['ops/s'] / peer, 3);
        figures.ratio = ratio;
        ours[`${key} ratio`] = ratio;
        if (system === 'logfront-sdk') sdkRatios.push(ratio);
      }
      figures.errors = m.errors;
      if (m.error) errors.push(`${scenario} ${system}: ${m.errors} failed operations, first: ${m.error}`);
      rows.push({ label: `${scenario} ${system}`, figures });
    }
  }
  for (const [system, result] of Object.entries(trials)) {
    const into = system === 'emmett' ? baseline : ours;
    if ('error' in result) {
      into[`trials ${system} error`] = String(result.error);
      rows.push({ label: `trials ${system}`, figures: { trials: 'failed' } });
      errors.push(`trials ${system}: ${result.error}`);
      continue;
    }
    for (const [kind, s] of Object.entries(result as Record<string, TrialStats>)) {
      for (const [k, v] of Object.entries(s)) into[`trials ${kind} ${k}`] = v;
      rows.push({
        label: `trials ${kind} ${system}`,
        figures: {
          trials: s.trials,
          'one winner': s['one winner'],
          'max winners': s['max winners'],
          errors: s.errors,
        },
      });
      if (s.error) errors.push(`trials ${kind} ${system}: ${s.errors} errors, first: ${s.error}`);
    }
  }

  const params: Figures = {
    scenarios: scenarios.join(','),
    'seconds per run': SECONDS,
    'warm-up seconds': WARMUP_SECONDS,
    clients: CLIENTS,
    'streams per client': STREAMS_PER_CLIENT,
    'read streams': READ_STREAMS,
    'events per read stream': READ_EVENTS,
    trials: TRIALS,
    'trial writers': WRITERS,
    'trial processes': TRIAL_PROCESSES,
    ...Object.fromEntries(Object.entries(OPERATION).map(([s, op]) => [`op ${s}`, op])),
    ...Object.fromEntries(TRIAL_KINDS.map((k) => [`trial ${k.key}`, k.says])),
    emmett:
      'Emmett 0.42.0 PostgreSQL event store, in-process with its load generator in a worker process; own database on the same Postgres server (dropped at the end); pg pool of one connection per client',
    'emmett projection':
      'visible16 only: inline Pongo single-stream projection (orders row, applied in the append transaction), read back with Pongo findOne by id',
    'logfront-sdk':
      'createLogfront (Kafka log, Postgres projections, Redis cache), in-process with its load generator in a worker process',
    'logfront projection':
      'visible16 only: the orders projection runner (async, Kafka consumer → Postgres) and facade.get(after: append position) / GET …/rows/{id}?after= (read-your-writes)',
    'logfront-http':
      '`logfront serve` process; load generator in another process (node:http keep-alive, one socket per client)',
    'logfront streams':
      'read16: lf.log.readStream(stream, 1, 100) / GET /v1/streams/{s}/events; Emmett readStream(stream)',
    'trial processes note':
      'writers spread over the trial processes: each logfront process is its own createLogfront (own sequencers, fenced by Kafka transactions); each Emmett process its own pool',
    'postgres durability': `${durability} (the server both systems use)`,
    kafka: `logfront: ${topics || 'not used'}; appends acks=all in Kafka transactions`,
    'field encryption': process.env.LOGFRONT_KEK ? 'on (LOGFRONT_KEK)' : 'off (no LOGFRONT_KEK)',
    'raw-kafkajs':
      "append1 and append16 only, the floor of an append: raw kafkajs transactions on the same broker and partitions, in-process with its load generator in a worker process; per partition a pair of transactional producers in turn, appends group-committed (as the sequencer), with no version check, event id, validation, encoding or stream index. Its ratio is its ops/s ÷ Emmett's",
    order: 'per scenario: emmett, then logfront-sdk, then logfront-http, then raw-kafkajs, one at a time',
    ratio:
      'logfront ops/s ÷ Emmett ops/s in the same run, per scenario (higher is better); top level: the smallest SDK ratio',
  };
  report('peers', rows, {
    params,
    ours,
    baseline,
    ratio: sdkRatios.length ? Math.min(...sdkRatios) : Number.NaN,
  });
  for (const e of errors) console.log(`  ! ${e}`);
};
