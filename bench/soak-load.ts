// The soak's load generator, in a process of its own: an open-loop mixed load on a logfront server at a
// target rate (operations are started on a clock, whether or not earlier ones have answered, as real
// clients do): appends with real expected versions and retries by the same event id, budgeted reads of
// rows it wrote, and blob uploads with a download of each. Prints one JSON line at the end: one
// record per second of the run with what happened in it.
//   node --import tsx bench/soak-load.ts <url> <seconds> <rate> <budgetMs>
import { randomUUID } from 'node:crypto';
import { keepAliveCaller } from './http-load.ts';

const [url, secondsArg, rateArg, budgetArg] = process.argv.slice(2);
const SECONDS = Number(secondsArg);
const RATE = Number(rateArg);
const BUDGET_MS = Number(budgetArg);
const IN_FLIGHT = 512;
const STREAMS = 200;

export type Kind = 'append' | 'read' | 'blob';
export interface Second {
  t: number;
  /** operations answered in this second, by kind */
  ops: Record<Kind, number>;
  /** answers by kind, status and code: `append 2xx`, `append 409 conflict`, `read 503 dependency_unavailable`, `blob network`, … */
  outcomes: Record<string, number>;
  /** latency (ms) p50 and p99 per kind */
  p50: Partial<Record<Kind, number>>;
  p99: Partial<Record<Kind, number>>;
  /** the largest staleness a successful read reported, and reads older than their budget */
  maxStalenessMs: number;
  overBudget: number;
  /** operations not started because IN_FLIGHT were waiting (the server falls behind the rate) */
  shed: number;
}

const http = keepAliveCaller(url!, IN_FLIGHT);
const started = Date.now();
const seconds: Second[] = [];
const lat: Record<Kind, number[]>[] = [];
const bucket = () => {
  const t = Math.floor((Date.now() - started) / 1000);
  while (seconds.length <= t) {
    seconds.push({
      t: seconds.length,
      ops: { append: 0, read: 0, blob: 0 },
      outcomes: {},
      p50: {},
      p99: {},
      maxStalenessMs: 0,
      overBudget: 0,
      shed: 0,
    });
    lat.push({ append: [], read: [], blob: [] });
  }
  return t;
};

const record = (kind: Kind, began: number, outcome: string) => {
  const t = bucket();
  const s = seconds[t]!;
  s.ops[kind]++;
  const key = `${kind} ${outcome}`;
  s.outcomes[key] = (s.outcomes[key] ?? 0) + 1;
  lat[t]![kind].push(performance.now() - began);
};

/** `2xx`, or the status with the error code of its body: what the SLOs and the invariants read */
const outcomeOf = (status: number, text: string) => {
  if (status >= 200 && status < 300) return '2xx';
  try {
    const code = (JSON.parse(text) as { error?: string }).error;
    return code ? `${status} ${code}` : String(status);
  } catch {
    return String(status);
  }
};

// --- appends: each stream's version is tracked; a failed append is retried with the same event id ----
const versions = new Array<number>(STREAMS).fill(0);
const busy = new Set<number>();
const written: number[] = [];
const run = randomUUID().slice(0, 8);
const orderOf = (k: number) => `soak${run}x${k}`;

const append = async () => {
  let k = Math.floor(Math.random() * STREAMS);
  for (let i = 0; i < STREAMS && busy.has(k); i++) k = (k + 1) % STREAMS;
  if (busy.has(k)) return;
  busy.add(k);
  const order = orderOf(k);
  const id = randomUUID();
  const expected = versions[k]! === 0 ? 'no_stream' : versions[k]!;
  try {
    // a 429 or 503 says when to come back; the same event id makes the retry safe
    for (let attempt = 0; attempt < 5; attempt++) {
      const began = performance.now();
      const r = await http
        .call('POST', `/v1/streams/order-${order}/events`, {
          expectedVersion: expected,
          events: [
            {
              id,
              type: 'OrderPlaced',
              data: {
                orderId: order,
                customerId: `c-${k % 17}`,
                customerEmail: 'someone@example.com',
                items: [{ sku: 'sku-1', qty: 1, priceCents: 450 }],
                totalCents: 450,
              },
            },
          ],
        })
        .catch((error: Error) => ({ status: 0, text: JSON.stringify({ error: error.message }) }));
      const outcome = r.status === 0 ? 'network' : outcomeOf(r.status, r.text);
      record('append', began, outcome);
      if (r.status === 201 || r.status === 200) {
        versions[k] = (JSON.parse(r.text) as { toVersion: number }).toVersion;
        if (versions[k] === 1) written.push(k);
        return;
      }
      if (r.status === 409) {
        // another generator, or an earlier attempt that did commit: read the stream's head and go on
        const head = await http.call('GET', `/v1/streams/order-${order}/events?limit=1000`);
        if (head.status === 200) versions[k] = (JSON.parse(head.text) as { events: unknown[] }).events.length;
        return;
      }
      if (r.status !== 0 && r.status !== 429 && r.status !== 503) return;
      await new Promise((resolve) => setTimeout(resolve, 200 * (attempt + 1)));
    }
  } finally {
    busy.delete(k);
  }
};

const read = async () => {
  if (written.length === 0) return append();
  const k = written[Math.floor(Math.random() * written.length)]!;
  const began = performance.now();
  const r = await http
    .call('GET', `/v1/projections/orders/rows/${orderOf(k)}?maxStalenessMs=${BUDGET_MS}`)
    .catch((error: Error) => ({ status: 0, text: JSON.stringify({ error: error.message }) }));
  record('read', began, r.status === 0 ? 'network' : outcomeOf(r.status, r.text));
  if (r.status === 200) {
    const meta = (JSON.parse(r.text) as { meta: { stalenessMs: number; stale?: boolean } }).meta;
    const s = seconds[bucket()]!;
    s.maxStalenessMs = Math.max(s.maxStalenessMs, meta.stalenessMs);
    if (meta.stalenessMs > BUDGET_MS && !meta.stale) s.overBudget++;
  }
};

const blob = async () => {
  const id = `soak${run}b${randomUUID().slice(0, 12)}`;
  const bytes = Buffer.alloc(16 * 1024, 7);
  const began = performance.now();
  const put = await fetch(`${url}/v1/blobs/${id}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream' },
    body: bytes,
  })
    .then(async (r) => ({ status: r.status, text: await r.text() }))
    .catch((error: Error) => ({ status: 0, text: JSON.stringify({ error: error.message }) }));
  record('blob', began, put.status === 0 ? 'network' : outcomeOf(put.status, put.text));
  if (put.status !== 201 && put.status !== 200) return;
  const position = (JSON.parse(put.text) as { position?: string }).position;
  const began2 = performance.now();
  const get = await fetch(`${url}/v1/blobs/${id}${position ? `?after=${encodeURIComponent(position)}` : ''}`)
    .then(async (r) => {
      const body = Buffer.from(await r.arrayBuffer());
      return { status: r.status, size: body.length, text: r.ok ? '' : body.toString('utf8') };
    })
    .catch((error: Error) => ({ status: 0, size: 0, text: JSON.stringify({ error: error.message }) }));
  record('blob', began2, get.status === 0 ? 'network' : outcomeOf(get.status, get.text));
};

// --- the clock: 100 ticks a second, each starting its share of RATE; the mix is 50/45/5 --------------
let inFlight = 0;
const start = (op: () => Promise<unknown>) => {
  if (inFlight >= IN_FLIGHT) {
    seconds[bucket()]!.shed++;
    return;
  }
  inFlight++;
  void op()
    .catch(() => {})
    .finally(() => {
      inFlight--;
    });
};
let owed = 0;
const tick = setInterval(() => {
  owed += RATE / 100;
  for (; owed >= 1; owed--) {
    const x = Math.random();
    start(x < 0.5 ? append : x < 0.95 ? read : blob);
  }
}, 10);
await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
clearInterval(tick);
// what is still in flight answers (or times out) before the figures close
for (let waited = 0; inFlight > 0 && waited < 30_000; waited += 100) {
  await new Promise((resolve) => setTimeout(resolve, 100));
}
http.close();
const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return undefined;
  const sorted = [...xs].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! * 10) / 10;
};
seconds.forEach((s, t) => {
  for (const kind of ['append', 'read', 'blob'] as const) {
    const p50 = pct(lat[t]![kind], 50);
    const p99 = pct(lat[t]![kind], 99);
    if (p50 !== undefined) s.p50[kind] = p50;
    if (p99 !== undefined) s.p99[kind] = p99;
  }
});
const all: Record<Kind, number[]> = { append: [], read: [], blob: [] };
for (const l of lat) for (const kind of ['append', 'read', 'blob'] as const) all[kind].push(...l[kind]);
process.stdout.write(
  `${JSON.stringify({
    seconds,
    p50: { append: pct(all.append, 50), read: pct(all.read, 50), blob: pct(all.blob, 50) },
    p99: { append: pct(all.append, 99), read: pct(all.read, 99), blob: pct(all.blob, 99) },
    streams: written.length,
  })}\n`,
);
process.exit(0);
