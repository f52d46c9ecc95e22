// npm run chaos: the fault matrix of issue 15 (docs/testing.md "Chaos"). Two `logfront serve` processes
// run against the services through Toxiproxy (a broker, a Postgres and a Redis of the run's own, so it may
// kill, crash and empty them) under a steady mixed load from this process; each fault is injected, held, healed, and
// then the invariants are checked. Writes bench/results/chaos.json, prints a table, exits 1 on any
// violation (2 when the run itself could not be made).
// Knobs: CHAOS_ROUNDS (times the matrix runs; 1), CHAOS_SECONDS (each fault held; 30, CI 3),
// CHAOS_FAULTS (comma-separated names or `all`; all, CI a subset), CHAOS_RECOVERY_SECONDS (the stated
// recovery time; 60), CHAOS_WRITERS (8), CHAOS_READERS (4), CHAOS_RESULTS (the JSON's path;
// bench/results/chaos.json), CHAOS_VERBOSE=1 (the servers' stderr), CHAOS_SELFTEST=phantom (the ledger
// claims an event never sent: the run must report it lost and exit 1).
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { benchData, removeRunData } from '../tests/support/cleanup.ts';
import { checkStreams, type StreamFindings, secondsAfter, untilCaughtUp } from './chaos-check.ts';
import { type ChaosEnv, type ServeProcess, startChaosEnv, startServe } from './chaos-env.ts';
import { allFaults, CI_FAULTS, type Fault, selectFaults } from './chaos-faults.ts';
import { closeAgent, type Load, type Observed, startLoad } from './chaos-load.ts';
import { ROOT, round, servicesEnv } from './harness.ts';

const CI = process.env.CI === 'true';

const num = (name: string, fallback: number, min: number) => {
  const raw = process.env[name];
  const n = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isFinite(n) || n < min) throw new Error(`${name}=${raw}: expected a number ≥ ${min}`);
  return n;
};

const ROUNDS = Math.round(num('CHAOS_ROUNDS', 1, 1));
const SECONDS = num('CHAOS_SECONDS', CI ? 3 : 30, 0.5);
const RECOVERY_SECONDS = num('CHAOS_RECOVERY_SECONDS', 60, 1);
const WRITERS = Math.round(num('CHAOS_WRITERS', 8, 1));
const READERS = Math.round(num('CHAOS_READERS', 4, 0));
const BUDGETS = [500, 2000, 10_000];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** one fault's row of the results, summed over its injections */
interface FaultResult {
  fault: string;
  does: string;
  injections: number;
  appends: number;
  acknowledged: number;
  reads: number;
  losses: number;
  duplicates: number;
  versionGaps: number;
  foldMismatches: number;
  unreadable: number;
  /** every 5xx answer, by `<status> <code>` */
  fiveXx: Record<string, number>;
  /** every non-2xx answer, by `<status> <code>` */
  answers: Record<string, number>;
  missingRetryAfter: Record<string, number>;
  networkErrors: Record<string, number>;
  unexplainedConflicts: number;
  staleReads: number;
  /** the slowest injection's: first acknowledged append, first answered read, projections caught up */
  recoverySeconds: {
    append: number | null;
    read: number | null;
    caughtUp: number | null;
    total: number | null;
  };
  /** the longest a heal took (a broker or a server started again), before recovery is timed from its end */
  healSeconds: number;
  serverExits: string[];
  violations: string[];
  examples: string[];
}

const emptyResult = (fault: string, does: string): FaultResult => ({
  fault,
  does,
  injections: 0,
  appends: 0,
  acknowledged: 0,
  reads: 0,
  losses: 0,
  duplicates: 0,
  versionGaps: 0,
  foldMismatches: 0,
  unreadable: 0,
  fiveXx: {},
  answers: {},
  missingRetryAfter: {},
  networkErrors: {},
  unexplainedConflicts: 0,
  staleReads: 0,
  recoverySeconds: { append: null, read: null, caughtUp: null, total: null },
  healSeconds: 0,
  serverExits: [],
  violations: [],
  examples: [],
});

const add = (into: Record<string, number>, from: Record<string, number>) => {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
};
const slowest = (a: number | null, b: number | undefined) =>
  b === undefined ? a : a === null ? round(b, 2) : Math.max(a, round(b, 2));

/** answers a client may see under a fault: 409, 429 and 503 (with Retry-After), and 404 of a row not yet projected */
const ALLOWED = new Set(['404', '409', '429', '503']);

/** folds one injection's observations and findings into the fault's row, with the violations they show */
const tally = (
  r: FaultResult,
  o: Observed,
  f: StreamFindings,
  recovery: { append?: number; read?: number; caughtUp?: number },
  lastStatus: string,
) => {
  r.injections += 1;
  r.appends += o.appends;
  r.acknowledged += o.acknowledged;
  r.reads += o.reads;
  r.losses += f.losses;
  r.duplicates += f.duplicates;
  r.versionGaps += f.gaps;
  r.foldMismatches += f.foldMismatches;
  r.unreadable += f.unreadable;
  r.staleReads += o.staleReads;
  r.unexplainedConflicts += o.unexplainedConflicts;
  add(r.answers, o.answers);
  add(r.fiveXx, Object.fromEntries(Object.entries(o.answers).filter(([k]) => k.startsWith('5'))));
  add(r.missingRetryAfter, o.missingRetryAfter);
  add(r.networkErrors, o.networkErrors);
  r.examples.push(...[...o.oddAnswers, ...f.examples, ...o.staleExamples].slice(0, 10 - r.examples.length));
  const rec = r.recoverySeconds;
  rec.append = slowest(rec.append, recovery.append);
  rec.read = slowest(rec.read, recovery.read);
  rec.caughtUp = slowest(rec.caughtUp, recovery.caughtUp);
  const parts = [recovery.append, recovery.read, recovery.caughtUp];
  if (parts.every((p) => p !== undefined)) rec.total = slowest(rec.total, Math.max(...(parts as number[])));
  const v = r.violations;
  const say = (m: string) => {
    if (!v.includes(m)) v.push(m);
  };
  if (f.losses) say(`${f.losses} acknowledged events lost`);
  if (f.duplicates) say(`${f.duplicates} events in the log twice`);
  if (f.gaps) say(`${f.gaps} streams with versions not contiguous`);
  if (f.foldMismatches) say(`${f.foldMismatches} rows differ from the fold of the log`);
  if (f.unreadable) say(`${f.unreadable} streams or rows could not be read back after recovery`);
  if (o.staleReads) say(`${o.staleReads} reads older than their budget`);
  if (o.unexplainedConflicts)
    say(`${o.unexplainedConflicts} retries by the same ids answered 409 without the ids in the log`);
  for (const k of Object.keys(o.answers).filter((k) => !ALLOWED.has(k.split(' ')[0]!)))
    say(`answered ${k} (${o.answers[k]}×)`);
  for (const [k, n] of Object.entries(o.missingRetryAfter)) say(`${k}: ${n} answers without Retry-After`);
  // an append has a deadline (10 s by default, issue 15): a request with no answer at all is no answer a client can act on
  const unanswered = Object.entries(o.networkErrors).filter(([k]) => k.startsWith('no answer within'));
  for (const [k, n] of unanswered) say(`${n} requests had ${k}`);
  if (rec.total === null || rec.total > RECOVERY_SECONDS)
    say(
      `not recovered within ${RECOVERY_SECONDS} s (append ${recovery.append ?? 'none'}, read ${recovery.read ?? 'none'}, caught up ${recovery.caughtUp ?? `no: ${lastStatus}`})`,
    );
};

interface Run {
  env: ChaosEnv;
  servers: ServeProcess[];
  load: Load;
  /** server exits nobody asked for, since the last look */
  exits: string[];
}

const watch = (run: Run, s: ServeProcess, expected: () => boolean) => {
  void s.exited.then((how) => {
    if (!expected()) run.exits.push(`a serve process ended (${how}): ${s.tail.slice(-30).join(' | ')}`);
  });
};

/** one injection of `fault`: inject, hold, heal, recover, check */
const inject = async (run: Run, fault: Fault, r: FaultResult) => {
  const { load } = run;
  process.stdout.write(`  ${fault.name} … `);
  await fault.inject();
  await sleep(SECONDS * 1000);
  const healing = Date.now();
  await fault.heal();
  const healedAt = Date.now();
  r.healSeconds = Math.max(r.healSeconds, round((healedAt - healing) / 1000, 2));
  // servers that died under the fault are started again, so that the run goes on; the exit is a violation
  for (let i = 0; i < run.servers.length; i++) {
    if (run.servers[i]!.child.exitCode !== null || run.servers[i]!.child.signalCode !== null)
      run.servers[i] = await restart(run);
  }
  const deadline = healedAt + RECOVERY_SECONDS * 1000;
  const o = load.current();
  while (Date.now() < deadline) {
    if (secondsAfter(o.ackTimes, healedAt) !== undefined && secondsAfter(o.readTimes, healedAt) !== undefined)
      break;
    await sleep(100);
  }
  load.pause();
  while (load.inFlight() > 0 && Date.now() < deadline) await sleep(100);
  const server = () => run.servers[0]!.url;
  const caught = await untilCaughtUp(server, Math.max(1000, deadline - Date.now()));
  const { observed, touched } = load.observe();
  const findings = await checkStreams(load, touched, server);
  const recovery = {
    append: secondsAfter(observed.ackTimes, healedAt),
    read: secondsAfter(observed.readTimes, healedAt),
    caughtUp: caught.at === undefined ? undefined : (caught.at - healedAt) / 1000,
  };
  tally(r, observed, findings, recovery, caught.last);
  r.serverExits.push(...run.exits.splice(0));
  for (const e of r.serverExits) if (!r.violations.includes(e)) r.violations.push(e);
  load.resume();
  process.stdout.write(`${r.violations.length ? `${r.violations.length} violations` : 'ok'}\n`);
};

/** the run ends, or the serve/sigkill fault kills a server: an exit then is no violation */
let stopping = false;
let killing = false;
const restart = async (run: Run) => {
  const s = await startServe(run.env.serveEnv);
  watch(run, s, () => stopping || killing);
  return s;
};

/** `503×12 500×1`: the 5xx answers summed by status */
const fiveXxByStatus = (byCode: Record<string, number>) => {
  const sums: Record<string, number> = {};
  for (const [k, n] of Object.entries(byCode)) sums[k.split(' ')[0]!] = (sums[k.split(' ')[0]!] ?? 0) + n;
  return (
    Object.entries(sums)
      .map(([status, n]) => `${status}×${n}`)
      .join(' ') || '0'
  );
};

/** the table on stdout */
const print = (rows: FaultResult[]) => {
  const cols = ['fault', 'inj', 'acked', 'lost', 'fold≠', '5xx', 'stale', 'recover s', 'violations'];
  const cells = rows.map((r) => [
    r.fault,
    String(r.injections),
    String(r.acknowledged),
    String(r.losses + r.duplicates + r.versionGaps),
    String(r.foldMismatches),
    fiveXxByStatus(r.fiveXx),
    String(r.staleReads),
    r.recoverySeconds.total === null ? '—' : String(r.recoverySeconds.total),
    String(r.violations.length),
  ]);
  const widths = cols.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const line = (row: string[]) => row.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  console.log(`\n${line(cols)}`);
  for (const row of cells) console.log(line(row));
  for (const r of rows.filter((x) => x.violations.length))
    console.log(`\n${r.fault}:\n${r.violations.map((v) => `  - ${v}`).join('\n')}`);
};

const removeRegistrySubjects = async (registryUrl: string, prefix: string) => {
  const subjects = (await (await fetch(`${registryUrl}/subjects`)).json()) as string[];
  for (const subject of subjects.filter((s) => s.startsWith(`${prefix}.`))) {
    const at = `${registryUrl}/subjects/${encodeURIComponent(subject)}`;
    await fetch(at, { method: 'DELETE' });
    await fetch(`${at}?permanent=true`, { method: 'DELETE' });
  }
};

export const runChaos = async () => {
  const name = `chaos_${randomBytes(4).toString('hex')}`;
  const services = servicesEnv();
  const started = Date.now();
  console.log(
    `chaos ${name}: ${ROUNDS} round(s), ${SECONDS} s per fault, recovery stated as ≤ ${RECOVERY_SECONDS} s${CI ? ' (CI)' : ''}`,
  );
  const env = await startChaosEnv(services, name);
  const run: Run = { env, servers: [], load: undefined as unknown as Load, exits: [] };
  const rows: FaultResult[] = [];
  let final: StreamFindings | undefined;
  let cleaned: Promise<void> | undefined;
  // what the run made goes, however it ends: Ctrl-C, a kill, a bug
  const cleanup = () =>
    (cleaned ??= (async () => {
      stopping = true;
      await run.load?.stop().catch(() => undefined);
      closeAgent();
      for (const s of run.servers) await s.stop().catch(() => undefined);
      await env.close();
      await removeRunData(services, benchData(name)).catch((e: Error) =>
        console.error(`cleanup: ${e.message}`),
      );
      await removeRegistrySubjects(services.LOGFRONT_SCHEMA_REGISTRY_URL!, name).catch((e: Error) =>
        console.error(`cleanup of the registry: ${e.message}`),
      );
    })());
  const abort = (why: string) => {
    console.error(`chaos run stopped: ${why}`);
    void cleanup().finally(() => process.exit(2));
  };
  process.once('SIGINT', () => abort('SIGINT'));
  process.once('SIGTERM', () => abort('SIGTERM'));
  process.once('uncaughtException', (e) => abort(e.stack ?? e.message));
  // at the very end no await runs: the children are killed where they stand
  process.once('exit', () => {
    for (const s of run.servers) s.child.kill('SIGKILL');
    void env.redis.stop();
    void env.postgres.crash();
  });
  try {
    // one after the other: the first makes the topics, schemas and tables
    for (let i = 0; i < 2; i++) run.servers.push(await restart(run));
    const faults = selectFaults(
      allFaults(env, {
        killSecond: async () => {
          killing = true;
          await run.servers[1]!.kill();
        },
        restartSecond: async () => {
          run.servers[1] = await restart(run);
          killing = false;
        },
      }),
      process.env.CHAOS_FAULTS ?? (CI ? CI_FAULTS.join(',') : 'all'),
    );
    run.load = startLoad({
      servers: () =>
        run.servers.filter((s) => s.child.exitCode === null && s.child.signalCode === null).map((s) => s.url),
      writers: WRITERS,
      readers: READERS,
      budgets: BUDGETS,
    });
    // a control: the same load and checks with no fault
    const baseline = emptyResult('none', 'no fault: the load and the checks alone');
    rows.push(baseline);
    if (process.env.CHAOS_SELFTEST === 'phantom') run.load.phantom();
    await inject(
      run,
      { name: 'none', does: baseline.does, inject: async () => {}, heal: async () => {} },
      baseline,
    );
    for (const fault of faults) rows.push(emptyResult(fault.name, fault.does));
    for (let round = 1; round <= ROUNDS; round++) {
      console.log(`round ${round}/${ROUNDS}`);
      for (const fault of faults) {
        const r = rows.find((x) => x.fault === fault.name)!;
        await inject(run, fault, r);
      }
    }
    await run.load.stop();
    final = await checkStreams(run.load, run.load.streams.keys(), () => run.servers[0]!.url);
  } finally {
    await cleanup();
  }
  if (!final) throw new Error('the run ended without its final check');
  const finalViolations = [
    ...(final.losses ? [`${final.losses} acknowledged events lost`] : []),
    ...(final.duplicates ? [`${final.duplicates} events in the log twice`] : []),
    ...(final.gaps ? [`${final.gaps} streams with versions not contiguous`] : []),
    ...(final.foldMismatches ? [`${final.foldMismatches} rows differ from the fold`] : []),
    ...(final.unreadable ? [`${final.unreadable} streams or rows unreadable`] : []),
  ];
  const violations = rows.reduce((n, r) => n + r.violations.length, 0) + finalViolations.length;
  const out = {
    name: 'chaos',
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, node: process.version },
    params: {
      rounds: ROUNDS,
      secondsPerFault: SECONDS,
      recoverySecondsStated: RECOVERY_SECONDS,
      writers: WRITERS,
      readers: READERS,
      readBudgetsMs: BUDGETS,
      ci: CI,
      runSeconds: round((Date.now() - started) / 1000, 1),
    },
    notes: [
      "a stale read: a row whose version is below that of the newest event of its stream acknowledged at least the read's budget before the read was sent",
    ],
    faults: rows,
    final: { ...final, violations: finalViolations },
    violations,
  };
  const file = process.env.CHAOS_RESULTS || join(ROOT, 'bench', 'results', 'chaos.json');
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
  print(rows);
  console.log(
    `\nfinal check of all ${final.streams} streams: ${finalViolations.length ? finalViolations.join('; ') : 'ok'}`,
  );
  console.log(`${violations} violation(s) in ${out.params.runSeconds} s → ${file}`);
  return violations;
};

const isMain = process.argv[1] && join(process.argv[1]) === join(ROOT, 'bench', 'chaos.ts');
if (isMain) {
  runChaos().then(
    (violations) => process.exit(violations ? 1 : 0),
    (error: Error) => {
      console.error(`chaos run failed: ${error.stack ?? error.message}`);
      process.exit(2);
    },
  );
}
