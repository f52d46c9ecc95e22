// The invariants bench/chaos.ts checks after each fault, read through the HTTP API as a client would:
// the log holds every acknowledged append exactly once with contiguous versions, the orders projection
// equals a reference fold of the log, and the system recovers.
import type { RecordedEvent } from '../core/types.ts';
import { foldOrders } from '../tests/support/orders.ts';
import { call, type Load, type OrderStream } from './chaos-load.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface StreamFindings {
  streams: number;
  /** acknowledged events the log does not hold (at their acknowledged version) */
  losses: number;
  /** event ids the log holds more than once */
  duplicates: number;
  /** streams whose versions are not 1..n */
  gaps: number;
  /** rows that differ from the fold of their stream */
  foldMismatches: number;
  /** streams that could not be read back (no 200 or 404 after retries) */
  unreadable: number;
  examples: string[];
}

type Envelope = { id: string; version: number; type: string; data: unknown };

/** a stream's events as the log has them (all pages), [] when it does not exist, undefined when unreadable */
const readStream = async (server: () => string, stream: string): Promise<Envelope[] | undefined> => {
  const events: Envelope[] = [];
  let from = 1;
  for (let tries = 0; tries < 10; ) {
    const a = await call(server(), 'GET', `/v1/streams/${stream}/events?fromVersion=${from}&limit=1000`);
    if (a.status === 404) return events;
    if (a.status !== 200) {
      tries += 1;
      await sleep(500);
      continue;
    }
    events.push(...(a.body.events as Envelope[]));
    const next = a.body.nextVersion as number | null;
    if (next === null) return events;
    from = next;
  }
  return undefined;
};

const readRow = async (server: () => string, orderId: string) => {
  for (let tries = 0; tries < 10; tries++) {
    const a = await call(server(), 'GET', `/v1/projections/orders/rows/${orderId}?consistency=strong`);
    if (a.status === 200) return a.body.data as Record<string, unknown>;
    if (a.status === 404) return null;
    await sleep(500);
  }
  return undefined;
};

const FOLDED = ['orderId', 'customerId', 'status', 'totalCents', 'itemCount', 'version'] as const;

/** checks one stream: the log against the ledger, the row against the fold */
const checkStream = async (server: () => string, s: OrderStream, f: StreamFindings) => {
  const say = (m: string) => {
    if (f.examples.length < 10) f.examples.push(`order-${s.orderId}: ${m}`);
  };
  const logged = await readStream(server, `order-${s.orderId}`);
  if (!logged) {
    f.unreadable += 1;
    say('its events could not be read back');
    return;
  }
  const seen = new Map<string, Envelope[]>();
  for (const e of logged) seen.set(e.id, [...(seen.get(e.id) ?? []), e]);
  for (const [id, copies] of seen) {
    if (copies.length > 1) {
      f.duplicates += copies.length - 1;
      say(`event ${id} is in the log ${copies.length} times`);
    }
  }
  if (logged.some((e, i) => e.version !== i + 1)) {
    f.gaps += 1;
    say(`versions ${logged.map((e) => e.version).join(',')} are not 1..${logged.length}`);
  }
  for (const e of s.events) {
    if (e.ackedAt === undefined) continue;
    const copy = seen.get(e.id)?.[0];
    if (!copy || copy.version !== e.version) {
      f.losses += 1;
      say(
        `acknowledged event ${e.id} (version ${e.version}) is ${copy ? `at version ${copy.version}` : 'missing'}`,
      );
    }
  }
  const expected = foldOrders(logged as unknown as RecordedEvent[]).get(s.orderId) ?? null;
  const row = await readRow(server, s.orderId);
  if (row === undefined) {
    f.unreadable += 1;
    say('its row could not be read');
    return;
  }
  const differs =
    (expected === null) !== (row === null) ||
    (expected !== null && row !== null && FOLDED.some((k) => expected[k] !== row[k]));
  if (differs) {
    f.foldMismatches += 1;
    say(`row ${JSON.stringify(row)} differs from the fold ${JSON.stringify(expected)}`);
  }
};

/** checks `orderIds` of the ledger, `parallel` at a time */
export const checkStreams = async (
  load: Load,
  orderIds: Iterable<string>,
  server: () => string,
  parallel = 8,
): Promise<StreamFindings> => {
  const f: StreamFindings = {
    streams: 0,
    losses: 0,
    duplicates: 0,
    gaps: 0,
    foldMismatches: 0,
    unreadable: 0,
    examples: [],
  };
  const queue = [...orderIds].map((id) => load.streams.get(id)!).filter(Boolean);
  f.streams = queue.length;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      for (let s = queue.pop(); s; s = queue.pop()) await checkStream(server, s, f);
    }),
  );
  return f;
};

/** the first of `times` at or after `t`, as seconds after `t`; undefined when none */
export const secondsAfter = (times: readonly number[], t: number) => {
  const first = times.find((x) => x >= t);
  return first === undefined ? undefined : (first - t) / 1000;
};

/**
 * Waits until every projection is running with no lag (as GET /v1/projections reports it), up to
 * `timeoutMs`; answers the moment it was so, or undefined, and the last summary seen.
 */
export const untilCaughtUp = async (server: () => string, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    const a = await call(server(), 'GET', '/v1/projections');
    if (a.status === 200) {
      const ps = a.body.projections as { name: string; state: string; lagEvents: number }[];
      last = ps.map((p) => `${p.name} ${p.state} lag ${p.lagEvents}`).join(', ');
      if (ps.every((p) => p.state === 'running' && p.lagEvents === 0)) return { at: Date.now(), last };
    } else {
      last = a.status === 0 ? (a.error ?? 'no answer') : `${a.status} ${String(a.body.error)}`;
    }
    await sleep(250);
  }
  return { at: undefined, last };
};
