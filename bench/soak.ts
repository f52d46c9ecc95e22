// npm run soak: the scheduled load-and-chaos run (docs/operations.md). A `logfront serve` process on
// the real services takes an open-loop mixed load (bench/soak-load.ts, a process of its own) at a
// target rate for a bounded time; with SOAK_CHAOS=on its Postgres, Redis, S3 and schema registry sit
// behind Toxiproxy and faults come and go on a schedule. At the end the SLOs of docs/observability.md
// are checked against what was measured, and bench/results/soak.json and bench/results/soak.html (plots
// over time) are written. Exits 1 when an SLO is missed or a check fails.
//   SOAK_SECONDS (600; CI: 60)  SOAK_RATE (150 operations/s)  SOAK_BUDGET_MS (2000)  SOAK_CHAOS (off)
//   SOAK_FAULT_SECONDS (15)  SOAK_QUIET_SECONDS (15): a fault's length and the calm after it
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { ROOT, removeBenchData, round, servicesEnv } from './harness.ts';
import { runClientProcess } from './http-load.ts';
import { startServe } from './serve-process.ts';
import { createSoakFaults, type FaultWindow } from './soak-faults.ts';
import type { Kind, Second } from './soak-load.ts';
import { renderReport } from './soak-report.ts';

const num = (name: string, fallback: number) => {
  const raw = process.env[name];
  const n = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name}=${raw}: expected a number > 0`);
  return n;
};

/** the SLOs of docs/observability.md, as the soak measures them */
export const SLOS = {
  errorRatio: 0.001,
  appendP99Ms: 250,
  readSuccess: 0.999,
  stalenessP99Ms: 5000,
} as const;

interface Load {
  seconds: Second[];
  p50: Partial<Record<Kind, number>>;
  p99: Partial<Record<Kind, number>>;
  streams: number;
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

export const run = async () => {
  const SECONDS = num('SOAK_SECONDS', process.env.CI === 'true' ? 60 : 600);
  const RATE = num('SOAK_RATE', 150);
  const BUDGET_MS = num('SOAK_BUDGET_MS', 2000);
  const CHAOS = process.env.SOAK_CHAOS === 'on';
  const FAULT_SECONDS = num('SOAK_FAULT_SECONDS', 15);
  const QUIET_SECONDS = num('SOAK_QUIET_SECONDS', 15);
  for (const [k, v] of Object.entries(servicesEnv())) process.env[k] ??= v;
  const name = `bench_${Date.now().toString(36)}_soak`;
  const faults = CHAOS ? await createSoakFaults(process.env) : undefined;
  const say = (line: string) => console.log(`soak: ${line}`);
  say(
    `${SECONDS} s at ${RATE} operations/s (50 % appends, 45 % reads with a ${BUDGET_MS} ms budget, 5 % blobs)${CHAOS ? `, chaos on: ${faults!.names.join(', ')}` : ''}`,
  );
  const server = await startServe(name, { ...faults?.env, LOGFRONT_LOG_LEVEL: 'error' });
  // warm-up, unmeasured: the topics, schemas and tables exist and the runner is applying
  for (let i = 0; i < 3; i++) {
    await fetch(`${server.url}/v1/streams/order-soakwarmup${i}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        events: [
          {
            type: 'OrderPlaced',
            data: {
              orderId: `soakwarmup${i}`,
              customerId: 'c',
              customerEmail: 'someone@example.com',
              items: [{ sku: 'sku-1', qty: 1, priceCents: 1 }],
              totalCents: 1,
            },
          },
        ],
      }),
    });
  }
  await fetch(`${server.url}/v1/blobs/soakwarmup`, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream' },
    body: Buffer.from('warm-up'),
  });
  for (let waited = 0; waited < 60_000; waited += 250) {
    const r = await fetch(`${server.url}/v1/projections`).catch(() => null);
    const orders = r?.ok
      ? (
          (await r.json()) as { projections: { name: string; state: string; lagEvents: number }[] }
        ).projections.find((p) => p.name === 'orders')
      : undefined;
    if (orders?.state === 'running' && orders.lagEvents === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const staleness: { t: number; ms: number }[] = [];
  const windows: FaultWindow[] = [];
  const began = Date.now();
  let observing = true;
  // the projection's staleness, as an operator's dashboard sees it: once a second
  const observer = (async () => {
    while (observing) {
      const r = await fetch(`${server.url}/v1/projections`).catch(() => null);
      if (r?.ok) {
        const body = (await r.json()) as { projections: { name: string; stalenessMs: number }[] };
        const orders = body.projections.find((p) => p.name === 'orders');
        if (orders) staleness.push({ t: round((Date.now() - began) / 1000), ms: orders.stalenessMs });
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  })();
  const chaos = faults
    ? faults.schedule(SECONDS, FAULT_SECONDS, QUIET_SECONDS, began, (w) => {
        windows.push(w);
        say(`fault ${w.fault} from ${w.from} s to ${w.to} s`);
      })
    : Promise.resolve();
  let load: Load;
  try {
    load = await runClientProcess<Load>('soak-load.ts', [server.url, SECONDS, RATE, BUDGET_MS]);
  } finally {
    await chaos;
    observing = false;
    await observer;
  }
  // after the load: the projection catches up, and the consistency counters are read
  const caughtUpAt = Date.now();
  let recovered: number | null = null;
  for (let waited = 0; waited < 60_000; waited += 500) {
    const r = await fetch(`${server.url}/v1/projections`).catch(() => null);
    const orders = r?.ok
      ? ((await r.json()) as { projections: { name: string; lagEvents: number }[] }).projections.find(
          (p) => p.name === 'orders',
        )
      : undefined;
    if (orders && orders.lagEvents === 0) {
      recovered = round((Date.now() - caughtUpAt) / 1000);
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  const metrics = await fetch(`${server.url}/metrics`)
    .then((r) => r.text())
    .catch(() => '');
  const counter = (metric: string) =>
    sum(
      [...metrics.matchAll(new RegExp(`^${metric}(?:\\{[^}]*\\})? (\\d+(?:\\.\\d+)?)$`, 'gm'))].map((m) =>
        Number(m[1]),
      ),
    );
  const mismatches =
    counter('logfront_cache_probe_mismatches_total') + counter('logfront_blob_checksum_mismatches_total');
  await server.stop();
  await faults?.close();
  await removeBenchData().catch(() => {});

  // --- the SLOs ----------------------------------------------------------------------------------------
  const outcomes: Record<string, number> = {};
  for (const s of load.seconds)
    for (const [k, n] of Object.entries(s.outcomes)) outcomes[k] = (outcomes[k] ?? 0) + n;
  const total = sum(Object.values(outcomes));
  /** the count of outcomes whose `<kind> <status …>` key matches */
  const count = (match: (kind: string, status: string) => boolean) =>
    sum(
      Object.entries(outcomes)
        .filter(([key]) => match(key.split(' ')[0]!, key.split(' ')[1] ?? ''))
        .map(([, n]) => n),
    );
  const fivexx = count((_, status) => status.startsWith('5'));
  const five00 = count((_, status) => status === '500');
  const reads = count((kind) => kind === 'read');
  const readFailures = count(
    (kind, status) => kind === 'read' && (status.startsWith('5') || status === 'network'),
  );
  const stalenessSorted = staleness.map((s) => s.ms).sort((a, b) => a - b);
  const stalenessP99 = stalenessSorted.length
    ? stalenessSorted[Math.min(stalenessSorted.length - 1, Math.floor(0.99 * stalenessSorted.length))]!
    : 0;
  const overBudget = sum(load.seconds.map((s) => s.overBudget));
  const shed = sum(load.seconds.map((s) => s.shed));
  const errorRatio = total ? fivexx / total : 0;
  const slos = [
    {
      slo: 'error ratio (5xx ÷ all)',
      objective: `≤ ${SLOS.errorRatio * 100} %`,
      measured: `${round(errorRatio * 100, 3)} %`,
      met: errorRatio <= SLOS.errorRatio,
    },
    {
      slo: 'append p99',
      objective: `≤ ${SLOS.appendP99Ms} ms`,
      measured: `${load.p99.append ?? 0} ms`,
      met: (load.p99.append ?? 0) <= SLOS.appendP99Ms,
    },
    {
      slo: 'budgeted reads answered (not 5xx)',
      objective: `≥ ${SLOS.readSuccess * 100} %`,
      measured: `${round(reads ? (100 * (reads - readFailures)) / reads : 100, 3)} %`,
      met: reads === 0 || (reads - readFailures) / reads >= SLOS.readSuccess,
    },
    {
      slo: 'staleness p99 (orders)',
      objective: `≤ ${SLOS.stalenessP99Ms} ms`,
      measured: `${stalenessP99} ms`,
      met: stalenessP99 <= SLOS.stalenessP99Ms,
    },
    {
      slo: 'consistency (cache and blob mismatches)',
      objective: '0',
      measured: String(mismatches),
      met: mismatches === 0,
    },
  ];
  const checks = [
    { check: 'no 500 (a bug, never a dependency)', measured: String(five00), ok: five00 === 0 },
    {
      check: `no read older than its budget (${BUDGET_MS} ms)`,
      measured: String(overBudget),
      ok: overBudget === 0,
    },
    {
      check: 'the projection caught up after the load',
      measured: recovered === null ? 'not within 60 s' : `${recovered} s`,
      ok: recovered !== null,
    },
  ];
  const result = {
    name: 'soak',
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, node: process.version },
    params: { seconds: SECONDS, rate: RATE, budgetMs: BUDGET_MS, chaos: CHAOS, faults: faults?.names ?? [] },
    totals: { operations: total, reads, shed, outcomes, p50: load.p50, p99: load.p99, streams: load.streams },
    slos,
    checks,
    faults: windows,
    series: {
      seconds: load.seconds.map((s) => ({
        t: s.t,
        ops: s.ops,
        errors: sum(
          Object.entries(s.outcomes)
            .filter(([k]) => !k.endsWith(' 2xx'))
            .map(([, n]) => n),
        ),
        p99: s.p99,
        maxStalenessMs: s.maxStalenessMs,
      })),
      staleness,
    },
    ok: slos.every((s) => s.met) && checks.every((c) => c.ok),
  };
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench', 'results', 'soak.json'), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(ROOT, 'bench', 'results', 'soak.html'), renderReport(result));
  console.log(`\nsoak — ${result.date}, ${SECONDS} s at ${RATE}/s, chaos ${CHAOS ? 'on' : 'off'}`);
  for (const s of slos)
    console.log(`  ${s.met ? 'met   ' : 'MISSED'} ${s.slo}: ${s.measured} (objective ${s.objective})`);
  for (const c of checks) console.log(`  ${c.ok ? 'ok    ' : 'FAILED'} ${c.check}: ${c.measured}`);
  console.log(`  ${total} operations, ${shed} shed; outcomes ${JSON.stringify(outcomes)}`);
  console.log('  → bench/results/soak.json, bench/results/soak.html\n');
  if (!result.ok) process.exitCode = 1;
};

if (process.argv[1]?.endsWith('soak.ts')) {
  await run();
  process.exit(process.exitCode ?? 0);
}
