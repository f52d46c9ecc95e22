// Partition takeover: how long the first append of a fresh process takes, and how much memory that
// process holds after it, when its partition already holds 1M and then 10M events (DESIGN.md §2, "The
// stream index": takeover cost must not grow with the log).
//
// Each step runs in its own process: a load generator fills the partition (bench/takeover-fill.ts), the
// stream index, when this logfront has one, catches up (bench/takeover-index.ts), then a fresh writer
// appends (bench/takeover-writer.ts). The sizes grow one partition: fill to the first size, measure,
// add events up to the next size, measure again. A takeover that fails or times out is a result (its
// error text), not a crash: today's sequencer reads the whole partition and may not finish at 10M.
import { Kafka, logLevel } from 'kafkajs';
import { benchConfig, type Figures, removeBenchData, report, round, servicesEnv } from './harness.ts';
import {
  type FillResult,
  headVersion,
  type IndexResult,
  runChild,
  stream,
  type WriterResult,
} from './takeover-child.ts';

const SIZES = (process.env.BENCH_TAKEOVER_SIZES ?? '1000000,10000000')
  .split(',')
  .map((s) => Number(s.trim()));
const STREAMS = Number(process.env.BENCH_TAKEOVER_STREAMS ?? 100_000);
/**
 * records per send (fewer when a record batch would pass 900 kB; kafkajs groups a send's records in time
 * quadratic in their number, so more is not faster), sends in flight, producers they are spread over
 */
const BATCH = Number(process.env.BENCH_TAKEOVER_BATCH ?? 1000);
const IN_FLIGHT = Number(process.env.BENCH_TAKEOVER_IN_FLIGHT ?? 8);
const PRODUCERS = Number(process.env.BENCH_TAKEOVER_PRODUCERS ?? 2);
/** the writer child's limit (and the index's catch-up limit) */
const TIMEOUT_MS = Number(process.env.BENCH_TAKEOVER_TIMEOUT_MS ?? 600_000);
/** the writer answers at the sequencer's first failed takeover instead of waiting through its retries */
const FAIL_FAST = process.env.BENCH_TAKEOVER_FAIL_FAST !== '0';
const ONE_MILLION = 1_000_000;
const TARGET = { firstAppendMs: 1000, ratio: 1.5, rssMiB: 300 };

const label = (n: number) =>
  n % ONE_MILLION === 0 ? `${n / ONE_MILLION}M` : n % 1000 === 0 ? `${n / 1000}k` : String(n);

interface SizeResult {
  size: number;
  fill?: FillResult;
  index?: IndexResult;
  writer?: WriterResult;
  error?: string;
}

const figuresOf = (r: SizeResult): Figures => {
  const f: Figures = { events: r.size };
  if (r.fill) {
    f['fill s'] = round(r.fill.seconds, 1);
    f['fill events/s'] = Math.round(r.fill.events / r.fill.seconds);
    f['fill CPU s'] = round(r.fill.cpuSeconds, 1);
  }
  if (r.index) f['index catch-up s'] = r.index.supported ? round(r.index.seconds, 1) : 'no index';
  const w = r.writer;
  if (w) {
    f['startup ms'] = Math.round(w.startupMs);
    f['first append ms'] =
      w.failed === 'first' ? `failed after ${Math.round(w.firstMs)}` : Math.round(w.firstMs);
    f['second append ms'] = w.secondMs === undefined ? '' : round(w.secondMs, 1);
    f['RSS before MiB'] = Math.round(w.rssBeforeMiB);
    f['RSS MiB'] = Math.round(w.rssMiB);
    f['peak RSS MiB'] = Math.round(w.peakRssMiB);
  }
  f.error = r.error ?? '';
  return f;
};

/** the benchmark's topics must be gone (10M events are gigabytes); its consumer groups and subjects too */
const cleanUp = async (name: string, brokers: string[], registryUrl: string | undefined) => {
  const notes: string[] = [];
  await removeBenchData();
  const kafka = new Kafka({ brokers, clientId: 'bench-takeover-cleanup', logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const ours = (t: string) => t.startsWith(`${name}.`);
    const deadline = Date.now() + 60_000;
    let left = (await admin.listTopics()).filter(ours);
    while (left.length && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 1000));
      left = (await admin.listTopics()).filter(ours);
    }
    notes.push(left.length ? `topics NOT deleted: ${left.join(', ')}` : 'topics deleted');
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter(ours);
    if (groups.length) await admin.deleteGroups(groups).catch(() => {});
    notes.push(`${groups.length} consumer groups deleted`);
  } finally {
    await admin.disconnect();
  }
  if (registryUrl) {
    const base = registryUrl.replace(/\/+$/, '');
    const subjects = ((await (await fetch(`${base}/subjects`)).json()) as string[]).filter((s) =>
      s.startsWith(`${name}.`),
    );
    for (const s of subjects) {
      const path = `${base}/subjects/${encodeURIComponent(s)}`;
      await fetch(path, { method: 'DELETE' });
      await fetch(`${path}?permanent=true`, { method: 'DELETE' });
    }
    notes.push(`${subjects.length} registry subjects deleted`);
  }
  return notes.join('; ');
};

export const run = async () => {
  if (
    !SIZES.length ||
    SIZES.some((s, i) => !Number.isSafeInteger(s) || s < 1 || (i > 0 && s <= SIZES[i - 1]!))
  ) {
    throw new Error(
      `BENCH_TAKEOVER_SIZES: ascending positive event counts, got "${process.env.BENCH_TAKEOVER_SIZES}"`,
    );
  }
  // the children read the services from the environment, as this process does
  Object.assign(process.env, servicesEnv());
  const name = `bench_takeover_${Date.now().toString(36)}`;
  // one partition per category topic (the variable is LOGFRONT_TOPIC_PARTITIONS; config ignores others)
  const overrides = { LOGFRONT_TOPIC_PARTITIONS: '1' };
  const config = benchConfig(name, overrides);
  if (config.kafka.partitions !== 1) throw new Error('the category topic must have one partition');
  const base = { name, overrides };

  const results: SizeResult[] = [];
  let cleanup = 'not run';
  try {
    let total = 0;
    let after = '0';
    let bumps: Record<string, number> = {};
    for (const size of SIZES) {
      const r: SizeResult = { size };
      results.push(r);
      const count = size - total;
      console.log(`takeover: filling ${label(count)} events (to ${label(size)})…`);
      const fill = await runChild<FillResult>(
        'takeover-fill.ts',
        {
          ...base,
          streams: STREAMS,
          from: total,
          count,
          after,
          bumps,
          batch: BATCH,
          inFlight: IN_FLIGHT,
          producers: PRODUCERS,
        },
        Math.max(TIMEOUT_MS, 120_000 + (count / 20_000) * 1000),
      );
      if (!fill.ok) {
        r.error = `fill: ${fill.error}`;
        break; // the next sizes would not be what they say
      }
      r.fill = fill.value;
      total = size;
      after = fill.value.end;
      bumps = fill.value.bumps;
      console.log(
        `takeover: filled in ${round(fill.value.seconds, 1)} s (${Math.round(count / fill.value.seconds)} events/s); stream index…`,
      );

      const index = await runChild<IndexResult>(
        'takeover-index.ts',
        { ...base, timeoutMs: TIMEOUT_MS },
        TIMEOUT_MS + 60_000,
      );
      if (index.ok) r.index = index.value;
      else r.error = `index: ${index.error}`;

      // streams written round robin: every head is within the last `streams` events of the fill
      const targetOf = (n: number) => ({
        stream: stream(n),
        expected: headVersion(n, total, STREAMS, bumps[stream(n)] ?? 0),
      });
      const first = Math.floor(Math.min(STREAMS, total) / 3);
      console.log(`takeover: first append of a fresh process…`);
      const writer = await runChild<WriterResult>(
        'takeover-writer.ts',
        { ...base, first: targetOf(first), second: targetOf(first === 0 ? 1 : 0), failFast: FAIL_FAST },
        TIMEOUT_MS,
      );
      if (writer.ok) r.writer = writer.value;
      const failure = writer.ok ? writer.value.error : writer.error;
      if (failure) r.error = [r.error, `writer: ${failure}`].filter(Boolean).join('; ');
      console.log(`takeover: ${label(size)}: ${JSON.stringify(figuresOf(r))}`);
    }
  } finally {
    cleanup = await cleanUp(name, config.kafka.brokers, config.schemaRegistryUrl).catch(
      (error: Error) => `failed: ${error.message}`,
    );
  }

  const fine = (r: SizeResult) => r.writer !== undefined && r.writer.error === undefined;
  const measured = results.filter(fine);
  const baseSize = measured.find((r) => r.size === ONE_MILLION) ?? measured[0];
  const largest = results.at(-1)!;
  const ratio = baseSize && fine(largest) ? largest.writer!.firstMs / baseSize.writer!.firstMs : Number.NaN;
  const ours: Figures = {};
  for (const r of results) {
    for (const [k, v] of Object.entries(figuresOf(r))) if (k !== 'events') ours[`${label(r.size)} ${k}`] = v;
  }
  const yes = (ok: boolean) => (ok ? 'yes' : 'no');
  ours['meets first append < 1000 ms (every size)'] = yes(
    results.every((r) => fine(r) && r.writer!.firstMs < TARGET.firstAppendMs),
  );
  ours['meets ratio ≤ 1.5'] = yes(ratio <= TARGET.ratio);
  ours['meets RSS < 300 MiB (every size)'] = yes(
    results.every((r) => fine(r) && r.writer!.rssMiB < TARGET.rssMiB),
  );
  const index = results.find((r) => r.index)?.index;
  report(
    'takeover',
    results.map((r) => ({ label: label(r.size), figures: figuresOf(r) })),
    {
      params: {
        sizes: SIZES.join(','),
        streams: STREAMS,
        'versions per stream at the largest size': Math.ceil(SIZES.at(-1)! / STREAMS),
        partitions: 1,
        'fill records per send': results[0]?.fill?.batch ?? BATCH,
        'fill sends in flight': results[0]?.fill?.inFlight ?? IN_FLIGHT,
        'fill producers': results[0]?.fill?.producers ?? PRODUCERS,
        'record bytes (about)': results[0]?.fill?.recordBytes ?? '',
        'fill producer': 'raw kafkajs in its own process: idempotent, acks -1, no compression',
        'stream index': index
          ? index.supported
            ? 'yes: caught up before each measurement, from where it stood (the events added since)'
            : 'no'
          : 'not run',
        'first append': 'a fresh process: takeover of the partition + one append (expected version checked)',
        'RSS MiB': 'of the writer after the first append (RSS before: once logfront is built, before it)',
        ratio: baseSize
          ? `first append ms at ${label(largest.size)} ÷ at ${label(baseSize.size)}`
          : 'no measurement',
        'writer timeout s': TIMEOUT_MS / 1000,
        cleanup,
      },
      ours,
      baseline: {
        'target first append ms': `< ${TARGET.firstAppendMs} at every size`,
        'target ratio': `≤ ${TARGET.ratio} (largest ÷ 1M)`,
        'target RSS MiB': `< ${TARGET.rssMiB}`,
      },
      ratio,
    },
  );
  console.log(
    `ratio here is first-append ms at ${label(largest.size)} ÷ at ${baseSize ? label(baseSize.size) : '?'} (target ≤ ${TARGET.ratio}); lower is better`,
  );
};
