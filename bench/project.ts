// Projection throughput: events/s the runner applies to Postgres for the sample `orders` projection,
// next to a raw batched INSERT … ON CONFLICT of the same rows (same batch size, a checkpoint UPDATE per
// batch, one transaction each) through pg, in one run; plus the time to rebuild the projection from a
// log of BENCH_REBUILD_EVENTS events.
import pg from 'pg';
import { createLogfront, type Logfront } from '../app/compose.ts';
import type { EventLog, LogBatch } from '../core/ports.ts';
import type { NewEvent } from '../core/types.ts';
import { orders } from '../sample/orders-projection.ts';
import { benchConfig, drive, type Figures, percentile, report, round } from './harness.ts';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 200_000);
const REBUILD_EVENTS = Number(process.env.BENCH_REBUILD_EVENTS ?? 1_000_000);
/** events per append while loading (not timed) */
const APPEND_BATCH = Number(process.env.BENCH_APPEND_BATCH ?? 50);
const REBUILD_APPEND_BATCH = Number(process.env.BENCH_REBUILD_APPEND_BATCH ?? 500);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const STREAMS = Number(process.env.BENCH_STREAMS ?? 400);
/** give up on the rebuild after this long and extrapolate */
const REBUILD_LIMIT_S = Number(process.env.BENCH_REBUILD_LIMIT_S ?? 360);
const KEEP = process.env.BENCH_KEEP === '1';
const POLL_MS = 50;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const elapsed = (since: number) => (performance.now() - since) / 1000;

// --- the workload ---------------------------------------------------------------------------------
// `streams` streams (order-s<n>), each appended once per round, in order. An append ships (up to half
// of its events) the orders its stream placed in its previous append and places new orders with the
// rest: ~2 events per order, and an OrderShipped patches a row an earlier batch wrote. Placed and
// shipped events of an order are on one stream, so one partition, in order. Deterministic, so the
// baseline folds the same rows the runner does.

interface Append {
  stream: string;
  /** stream version of the first event */
  fromVersion: number;
  events: NewEvent[];
}

const orderPlaced = (orderId: string, n: number): NewEvent => {
  const items = Array.from({ length: 1 + (n % 3) }, (_, i) => ({
    sku: `sku-${(n + i) % 100}`,
    qty: 1 + ((n + i) % 4),
    priceCents: 199 + ((n * 7 + i) % 5000),
  }));
  return {
    type: 'OrderPlaced',
    data: {
      orderId,
      customerId: `c-${n % 997}`,
      customerEmail: `customer${n % 997}@example.com`,
      items,
      totalCents: items.reduce((t, i) => t + i.qty * i.priceCents, 0),
    },
  };
};
const orderShipped = (orderId: string): NewEvent => ({
  type: 'OrderShipped',
  data: { orderId, carrier: 'DHL' },
});

/** the appends of the workload, round by round (appends in a round are on distinct streams) */
function* rounds(events: number, batch: number, streams: number): Generator<Append[]> {
  const appends = Math.ceil(events / batch);
  const s = Math.max(1, Math.min(streams, appends));
  const pending: string[][] = Array.from({ length: s }, () => []);
  const versions = new Array<number>(s).fill(0);
  let emitted = 0;
  let next = 0;
  while (emitted < events) {
    const out: Append[] = [];
    for (let i = 0; i < s && emitted < events; i++) {
      const size = Math.min(batch, events - emitted);
      const shipped = pending[i]!.slice(0, Math.floor(size / 2));
      const list = shipped.map(orderShipped);
      const placed: string[] = [];
      while (list.length < size) {
        const id = `o${next}`;
        placed.push(id);
        list.push(orderPlaced(id, next++));
      }
      pending[i] = placed;
      out.push({ stream: `order-s${i}`, fromVersion: versions[i]! + 1, events: list });
      versions[i]! += size;
      emitted += size;
    }
    yield out;
  }
}

/** appends the workload with `concurrency` appends in flight (rounds one after the other) */
const load = async (lf: Logfront, events: number, batch: number) => {
  const started = performance.now();
  let done = 0;
  let said = started;
  for (const appends of rounds(events, batch, STREAMS)) {
    await drive(appends.length, CONCURRENCY, async (i) => {
      const a = appends[i]!;
      await lf.append.appendToStream(a.stream, { expectedVersion: 'any', events: a.events });
    });
    done += appends.reduce((n, a) => n + a.events.length, 0);
    if (performance.now() - said > 15_000) {
      said = performance.now();
      console.log(`  loaded ${done}/${events} events in ${round(elapsed(started))} s`);
    }
  }
  return elapsed(started);
};

// --- instrumenting the runner (wraps the store's and the log's methods; no source change) ----------

const instrument = (lf: Logfront) => {
  const applyMs: number[] = [];
  const rowsPerBatch: number[] = [];
  let onBatchMs = 0;
  let gapMs = 0;
  let lastBatchEnd: number | undefined;
  let firstApplyAt: number | undefined;
  const store = lf.store;
  const applyBatch = store.applyBatch;
  store.applyBatch = async (spec, generation, changes, advance) => {
    const t = performance.now();
    firstApplyAt ??= t;
    await applyBatch(spec, generation, changes, advance);
    applyMs.push(performance.now() - t);
    rowsPerBatch.push(changes.length);
  };
  const log: EventLog = lf.log;
  const subscribe = log.subscribe;
  log.subscribe = (options) =>
    subscribe({
      ...options,
      onBatch: async (batch: LogBatch) => {
        const t = performance.now();
        if (lastBatchEnd !== undefined) gapMs += t - lastBatchEnd;
        try {
          await options.onBatch(batch);
        } finally {
          lastBatchEnd = performance.now();
          onBatchMs += lastBatchEnd - t;
        }
      },
    });
  return {
    get firstApplyAt() {
      return firstApplyAt;
    },
    summary: () => {
      const sorted = [...applyMs].sort((a, b) => a - b);
      return {
        batches: applyMs.length,
        applyTotalMs: applyMs.reduce((a, b) => a + b, 0),
        p50: percentile(sorted, 50),
        p99: percentile(sorted, 99),
        changesPerBatch: rowsPerBatch.length
          ? rowsPerBatch.reduce((a, b) => a + b, 0) / rowsPerBatch.length
          : 0,
        onBatchMs,
        gapMs,
      };
    },
  };
};

/** polls the checkpoints of `orders` until they reach the ends of the log, or `limitS` passes */
const caughtUp = async (lf: Logfront, topic: string, started: number, limitS: number) => {
  let said = performance.now();
  for (;;) {
    const [status, ends] = await Promise.all([lf.store.status('orders'), lf.log.endOffsets([topic])]);
    const applied = (status?.checkpoints ?? [])
      .filter((c) => c.topic === topic)
      .reduce((n, c) => n + c.nextOffset, 0n);
    const end = ends.reduce((n, e) => n + e.offset, 0n);
    const seconds = elapsed(started);
    if (applied >= end) return { done: true, seconds, applied, end };
    if (seconds > limitS) return { done: false, seconds, applied, end };
    if (performance.now() - said > 15_000) {
      said = performance.now();
      console.log(`  applied offsets ${applied}/${end} after ${round(seconds)} s`);
    }
    await sleep(POLL_MS);
  }
};

// --- the baseline: the same rows, batched, straight through pg ------------------------------------

const COLUMNS = Object.keys(orders.columns);
type Row = Record<string, string | number>;

/** the rows the projection writes per batch of `batchEvents` events, in log order (fold in memory) */
const baselineBatches = (events: number, appendBatch: number, batchEvents: number) => {
  const state = new Map<string, Row>();
  const batches: Row[][] = [];
  let touched = new Set<string>();
  let inBatch = 0;
  const at = new Date().toISOString();
  const flush = () => {
    batches.push([...touched].map((k) => state.get(k)!));
    touched = new Set();
    inBatch = 0;
  };
  for (const appends of rounds(events, appendBatch, STREAMS)) {
    for (const a of appends) {
      a.events.forEach((e, i) => {
        const d = e.data as {
          orderId: string;
          customerId: string;
          totalCents: number;
          items: { qty: number }[];
        };
        const version = a.fromVersion + i;
        if (e.type === 'OrderPlaced') {
          state.set(d.orderId, {
            orderId: d.orderId,
            customerId: d.customerId,
            status: 'placed',
            totalCents: d.totalCents,
            itemCount: d.items.reduce((n, x) => n + x.qty, 0),
            updatedAt: at,
            version,
          });
        } else {
          const row = state.get(d.orderId);
          if (row) state.set(d.orderId, { ...row, status: 'shipped', updatedAt: at, version });
        }
        touched.add(d.orderId);
        if (++inBatch === batchEvents) flush();
      });
    }
  }
  if (inBatch) flush();
  return batches;
};

const q = (name: string) => `"${name.replaceAll('"', '""')}"`;

const rawBaseline = async (
  pool: pg.Pool,
  schema: string,
  shape: 'jsonb' | 'values',
  batches: readonly Row[][],
  events: number,
) => {
  const table = `${q(schema)}.${q(`orders_${shape}`)}`;
  const checkpoint = `${q(schema)}.${q(`checkpoint_${shape}`)}`;
  await pool.query(
    `CREATE TABLE ${table} (${COLUMNS.map(
      (c) =>
        `${q(c)} ${c === 'updatedAt' ? 'timestamptz' : ['totalCents', 'itemCount', 'version'].includes(c) ? 'integer' : 'text'}${c === 'orderId' ? ' PRIMARY KEY' : ''}`,
    ).join(', ')})`,
  );
  await pool.query(
    `CREATE TABLE ${checkpoint} (id integer PRIMARY KEY, next_offset bigint NOT NULL, updated_at timestamptz)`,
  );
  await pool.query(`INSERT INTO ${checkpoint} VALUES (1, 0, now())`);
  const list = COLUMNS.map(q).join(', ');
  const conflict = `ON CONFLICT ("orderId") DO UPDATE SET ${COLUMNS.filter((c) => c !== 'orderId')
    .map((c) => `${q(c)} = EXCLUDED.${q(c)}`)
    .join(', ')}`;
  const client = await pool.connect();
  const latencies: number[] = [];
  const started = performance.now();
  try {
    let offset = 0;
    for (const rows of batches) {
      const t = performance.now();
      await client.query('BEGIN');
      if (shape === 'jsonb') {
        await client.query(
          `INSERT INTO ${table} (${list}) SELECT ${list} FROM jsonb_populate_recordset(NULL::${table}, $1::jsonb) ${conflict}`,
          [JSON.stringify(rows)],
        );
      } else {
        const params: (string | number)[] = [];
        const tuples = rows.map((r) => {
          const base = params.length;
          for (const c of COLUMNS) params.push(r[c]!);
          return `(${COLUMNS.map((_, i) => `$${base + i + 1}`).join(', ')})`;
        });
        await client.query(`INSERT INTO ${table} (${list}) VALUES ${tuples.join(', ')} ${conflict}`, params);
      }
      const r = await client.query(
        `UPDATE ${checkpoint} SET next_offset = $1, updated_at = now() WHERE id = 1 AND next_offset = $2`,
        [offset + rows.length, offset],
      );
      if (r.rowCount !== 1) throw new Error('baseline checkpoint moved');
      offset += rows.length;
      await client.query('COMMIT');
      latencies.push(performance.now() - t);
    }
  } finally {
    client.release();
  }
  const seconds = elapsed(started);
  latencies.sort((a, b) => a - b);
  return {
    table,
    figures: {
      'events/s': Math.round(events / seconds),
      seconds: round(seconds, 2),
      'batch p50 ms': round(percentile(latencies, 50), 2),
      'batch p99 ms': round(percentile(latencies, 99), 2),
    } satisfies Figures,
  };
};

// --- the run ----------------------------------------------------------------------------------------

export const run = async () => {
  const wall = performance.now();
  const id = Date.now().toString(36);
  // the projection engine alone: no cache invalidation, blob or archive consumers beside it
  // (in production they can run in other processes: LOGFRONT_SINKS=off, LOGFRONT_CACHE=off)
  const configOf = (prefix: string, schema: string) =>
    benchConfig(prefix, { LOGFRONT_DATABASE_SCHEMA: schema, LOGFRONT_CACHE: 'off', LOGFRONT_SINKS: 'off' });
  const config = configOf(`benchproj${id}`, `benchproj_${id}`);
  const batchEvents = config.limits.batchEvents;
  const pool = new pg.Pool({ connectionString: config.database.url!, max: 2 });
  const schemas = [config.database.schema];

  // 1. ours: load EVENTS (not timed), then time the runner from start to caught up
  const lf = await createLogfront(config);
  await lf.log.ensureTopics(['order']);
  const topic = lf.log.topicFor('order');
  console.log(`project: loading ${EVENTS} events (${APPEND_BATCH}/append, ${CONCURRENCY} in flight)…`);
  const loadSeconds = await load(lf, EVENTS, APPEND_BATCH);
  console.log(`  loaded in ${round(loadSeconds)} s; starting the runner`);
  const probe = instrument(lf);
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  await lf.startRunners();
  const ours = await caughtUp(lf, topic, started, 1800);
  const cpu = process.cpuUsage(cpuBefore);
  const startup = ((probe.firstApplyAt ?? started) - started) / 1000;
  await lf.stopRunners();
  const s = probe.summary();
  const runnerTable = `${q(config.database.schema)}.${q('proj_orders_g1')}`;
  console.log(`  runner caught up in ${round(ours.seconds, 2)} s (first batch after ${round(startup, 2)} s)`);

  // 2. baseline: the same rows, batches of batchEvents, raw pg; both statement shapes
  const baseSchema = `benchproj_${id}_raw`;
  schemas.push(baseSchema);
  await pool.query(`CREATE SCHEMA ${q(baseSchema)}`);
  const batches = baselineBatches(EVENTS, APPEND_BATCH, batchEvents);
  const jsonb = await rawBaseline(pool, baseSchema, 'jsonb', batches, EVENTS);
  const values = await rawBaseline(pool, baseSchema, 'values', batches, EVENTS);
  const best = jsonb.figures['events/s'] >= values.figures['events/s'] ? jsonb : values;
  console.log(
    `  baseline: jsonb_populate_recordset ${jsonb.figures['events/s']} events/s, VALUES ${values.figures['events/s']} events/s`,
  );

  // the runner wrote the same rows as the baseline (updatedAt aside)
  const digest = async (table: string) =>
    (
      await pool.query<{ d: string }>(
        `SELECT count(*) || '/' || count(*) FILTER (WHERE status = 'shipped') || '/' || sum(version) || '/' ||
           sum("totalCents") || '/' || sum("itemCount") AS d FROM ${table}`,
      )
    ).rows[0]!.d;
  const [ourDigest, baseDigest] = await Promise.all([digest(runnerTable), digest(best.table)]);
  const same = ourDigest === baseDigest;
  console.log(`  rows/shipped/Σversion/Σtotal/Σitems: runner ${ourDigest}, baseline ${baseDigest}`);
  await lf.close();

  // 3. rebuild: load REBUILD_EVENTS into fresh topics (its own prefix), then a fresh runner (new schema)
  const rebuildPrefix = `benchrb${id}`;
  const loader = await createLogfront(configOf(rebuildPrefix, `benchrb_${id}_load`));
  schemas.push(`benchrb_${id}_load`);
  await loader.log.ensureTopics(['order']);
  console.log(`project: loading ${REBUILD_EVENTS} events for the rebuild (${REBUILD_APPEND_BATCH}/append)…`);
  const rebuildLoadSeconds = await load(loader, REBUILD_EVENTS, REBUILD_APPEND_BATCH);
  await loader.close();
  console.log(`  loaded in ${round(rebuildLoadSeconds)} s; rebuilding`);
  const rebuilder = await createLogfront(configOf(rebuildPrefix, `benchrb_${id}_new`));
  schemas.push(`benchrb_${id}_new`);
  const rebuildProbe = instrument(rebuilder);
  const rebuildStarted = performance.now();
  await rebuilder.startRunners();
  const rebuild = await caughtUp(rebuilder, rebuilder.log.topicFor('order'), rebuildStarted, REBUILD_LIMIT_S);
  await rebuilder.stopRunners();
  const rs = rebuildProbe.summary();
  // offsets count transaction markers too: the share of offsets applied estimates the share of events
  const rebuildApplied = rebuild.done
    ? REBUILD_EVENTS
    : Math.round((REBUILD_EVENTS * Number(rebuild.applied)) / Number(rebuild.end));
  const rebuildRate = rebuildApplied / rebuild.seconds;
  const rebuildSeconds = rebuild.done ? rebuild.seconds : REBUILD_EVENTS / rebuildRate;
  console.log(
    rebuild.done
      ? `  rebuilt ${REBUILD_EVENTS} events in ${round(rebuild.seconds, 1)} s`
      : `  rebuild stopped after ${round(rebuild.seconds)} s at ~${rebuildApplied} events; extrapolated ${round(rebuildSeconds)} s`,
  );
  await rebuilder.close();

  if (!KEEP) for (const schema of schemas) await pool.query(`DROP SCHEMA IF EXISTS ${q(schema)} CASCADE`);
  await pool.end();

  const oursFigures: Figures = {
    'events/s': Math.round(EVENTS / ours.seconds),
    seconds: round(ours.seconds, 2),
    'batch p50 ms': round(s.p50, 2),
    'batch p99 ms': round(s.p99, 2),
  };
  const steady = ours.seconds - startup;
  const rk = `rebuild ${REBUILD_EVENTS >= 1e6 ? `${REBUILD_EVENTS / 1e6}M` : REBUILD_EVENTS}`;
  report(
    'project',
    [
      { label: 'runner (orders)', figures: oursFigures },
      { label: 'raw pg jsonb_populate_recordset', figures: jsonb.figures },
      { label: 'raw pg multi-row VALUES', figures: values.figures },
      {
        label: `runner ${rk}`,
        figures: {
          'events/s': Math.round(rebuildRate),
          seconds: round(rebuildSeconds, 1),
          'batch p50 ms': round(rs.p50, 2),
          'batch p99 ms': round(rs.p99, 2),
        },
      },
    ],
    {
      params: {
        events: EVENTS,
        'batch events': batchEvents,
        partitions: config.kafka.partitions,
        'append batch (load)': APPEND_BATCH,
        'append concurrency (load)': CONCURRENCY,
        streams: STREAMS,
        'rebuild events': REBUILD_EVENTS,
        'rebuild append batch (load)': REBUILD_APPEND_BATCH,
        baseline: best === jsonb ? 'jsonb_populate_recordset' : 'multi-row VALUES',
      },
      ours: {
        ...oursFigures,
        'startup s': round(startup, 2),
        'events/s after first batch': Math.round(EVENTS / steady),
        // this process's CPU (the runner, plus the bench's polling) per event: independent of a busy machine
        'process CPU µs/event': round((cpu.user + cpu.system) / EVENTS, 2),
        batches: s.batches,
        'changes/batch': round(s.changesPerBatch, 1),
        'share in applyBatch': round(s.applyTotalMs / 1000 / steady, 3),
        'share in onBatch': round(s.onBatchMs / 1000 / steady, 3),
        'share between batches': round(s.gapMs / 1000 / steady, 3),
        'rows match baseline': same ? 'yes' : `no (${ourDigest} vs ${baseDigest})`,
        'load s': round(loadSeconds, 1),
        [`${rk} s`]: round(rebuildSeconds, 1),
        [`${rk} events/s`]: Math.round(rebuildRate),
        [`${rk} finished`]: rebuild.done
          ? 'yes'
          : `no: ~${rebuildApplied} events in ${round(rebuild.seconds)} s, extrapolated`,
        [`${rk} batch p50 ms`]: round(rs.p50, 2),
        [`${rk} batch p99 ms`]: round(rs.p99, 2),
        [`${rk} share in applyBatch`]: round(rs.applyTotalMs / 1000 / rebuild.seconds, 3),
        [`${rk} load s`]: round(rebuildLoadSeconds, 1),
        [`${rk} load events/s`]: Math.round(REBUILD_EVENTS / rebuildLoadSeconds),
        'whole run s': round(elapsed(wall), 1),
      },
      baseline: { ...best.figures, shape: best === jsonb ? 'jsonb_populate_recordset' : 'multi-row VALUES' },
      ratio: Number(oursFigures['events/s']) / Number(best.figures['events/s']),
    },
  );
};
