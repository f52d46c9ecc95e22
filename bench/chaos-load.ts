// The chaos run's steady mixed load (bench/chaos.ts): order appends spread over the `logfront serve`
// processes, each retried by the same event ids until it is acknowledged, plus reads under a staleness
// budget. It keeps the ledger the invariants are checked against: what was acknowledged, when, at
// which version, and every answer a client saw.
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';

/** one HTTP answer, or why there was none (a refused or reset connection, no answer in time) */
export interface Answer {
  /** 0: no answer, `error` says why */
  status: number;
  retryAfter: string | undefined;
  body: Record<string, unknown>;
  error?: string;
}

const noAnswer = (error: string): Answer => ({ status: 0, retryAfter: undefined, body: {}, error });

const REQUEST_TIMEOUT_MS = 20_000;
const agent = new Agent({ keepAlive: true, maxSockets: 64 });

export const call = (baseUrl: string | undefined, method: string, path: string, body?: unknown) =>
  new Promise<Answer>((resolve) => {
    if (baseUrl === undefined) return resolve(noAnswer('no server running'));
    const base = new URL(baseUrl);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = request(
      {
        agent,
        host: base.hostname,
        port: base.port,
        method,
        path,
        timeout: REQUEST_TIMEOUT_MS,
        headers: payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e) => resolve(noAnswer(e.message)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: Record<string, unknown> = {};
          try {
            parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
          } catch {
            parsed = { error: 'not_json', message: text.slice(0, 200) };
          }
          const ra = res.headers['retry-after'];
          resolve({
            status: res.statusCode ?? 0,
            retryAfter: ra === undefined ? undefined : String(ra),
            body: parsed,
          });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS / 1000} s`)));
    req.on('error', (e) => resolve(noAnswer((e as NodeJS.ErrnoException).code ?? e.message)));
    req.end(payload);
  });

export const closeAgent = () => agent.destroy();

/** a UUIDv7: 48 bits of ms time, version, random (RFC 9562) */
export const uuidv7 = () => {
  const b = randomBytes(16);
  const ms = BigInt(Date.now());
  for (let i = 0; i < 6; i++) b[i] = Number((ms >> BigInt(8 * (5 - i))) & 0xffn);
  b[6] = (b[6]! & 0x0f) | 0x70;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};

/** an event the load sent, and once acknowledged, at which version and when (ms since the epoch) */
export interface SentEvent {
  id: string;
  type: string;
  version: number | undefined;
  ackedAt: number | undefined;
}

export interface OrderStream {
  orderId: string;
  events: SentEvent[];
  /** the head version acknowledged to this stream's writer */
  version: number;
  /** its writer left it: an answer it cannot explain (counted) */
  abandoned: boolean;
}

/** what the clients saw while one fault was the current one */
export interface Observed {
  appends: number;
  acknowledged: number;
  reads: number;
  readsOk: number;
  /** reads that answered a row older than the budget allows, or no row when one was due */
  staleReads: number;
  staleExamples: string[];
  /** every non-2xx answer by `<status> <error code>`, and the network errors by their code */
  answers: Record<string, number>;
  networkErrors: Record<string, number>;
  /** a few answers no client should see (a 500, a 400), with what was asked */
  oddAnswers: string[];
  /** 429 and 503 answers without Retry-After, by code */
  missingRetryAfter: Record<string, number>;
  /** 409s the writer cannot explain by its own earlier attempt (no other writer touches its streams) */
  unexplainedConflicts: number;
  /** when appends were acknowledged and reads answered (200 or 404), in order */
  ackTimes: number[];
  readTimes: number[];
}

export const emptyObserved = (): Observed => ({
  appends: 0,
  acknowledged: 0,
  reads: 0,
  readsOk: 0,
  staleReads: 0,
  staleExamples: [],
  answers: {},
  networkErrors: {},
  oddAnswers: [],
  missingRetryAfter: {},
  unexplainedConflicts: 0,
  ackTimes: [],
  readTimes: [],
});

const bump = (m: Record<string, number>, k: string) => {
  m[k] = (m[k] ?? 0) + 1;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** the ledger's view of one answer to `what` (method and path): counts it; keeps a few odd ones whole */
const note = (o: Observed, a: Answer, what: string) => {
  if (a.status === 0) {
    bump(o.networkErrors, a.error ?? 'unknown');
    return;
  }
  if (a.status < 300) return;
  const code = String(a.body.error ?? 'no_code');
  bump(o.answers, `${a.status} ${code}`);
  const expected = [404, 409, 429, 503].includes(a.status);
  if (!expected && o.oddAnswers.length < 5)
    o.oddAnswers.push(`${what} → ${a.status} ${JSON.stringify(a.body).slice(0, 400)}`);
  if ((a.status === 429 || a.status === 503) && a.retryAfter === undefined) bump(o.missingRetryAfter, code);
};

/** how long a client waits before it tries again: Retry-After when given (capped), else a short pause */
const pauseAfter = (a: Answer) => {
  if (a.status !== 0 && a.retryAfter !== undefined) {
    const s = Number(a.retryAfter);
    if (Number.isFinite(s)) return Math.min(3000, Math.max(100, s * 1000));
  }
  return 250;
};

export interface LoadOptions {
  /** the servers' base URLs, read at each call (a restarted server has a new port) */
  servers: () => readonly string[];
  writers: number;
  readers: number;
  /** the budgets reads ask for, in ms */
  budgets: readonly number[];
}

/**
 * The load: `writers` loops appending to streams of their own (so that no two writers race for a
 * version), `readers` loops reading rows of acknowledged orders. `observe` is swapped by the driver
 * at every fault; `pause()` lets the in-flight appends finish (retrying) and takes no new work.
 */
export const startLoad = (options: LoadOptions) => {
  const streams = new Map<string, OrderStream>();
  let observed = emptyObserved();
  /** the streams written or attempted while the current fault ran, checked after it */
  let touched = new Set<string>();
  let running = true;
  let stopping = false;
  let inFlight = 0;
  /** streams with an acknowledged event: what readers pick from */
  const readable: OrderStream[] = [];
  const acknowledge = (s: OrderStream, version: number) => {
    if (s.version === 0) readable.push(s);
    s.version = version;
  };
  let rr = 0;
  /** the next running server, round-robin; undefined while none runs (a call then answers no answer) */
  const server = () => {
    const all = options.servers();
    rr = (rr + 1) % Math.max(1, all.length);
    return all[rr];
  };

  // retried by the same event ids until acknowledged; the stream's writer is the only one, so a 409 is
  // explained only by an earlier attempt of this append that went through (then the log holds its ids)
  const appendUntilAcknowledged = async (s: OrderStream, events: SentEvent[], body: unknown) => {
    for (;;) {
      const o = observed;
      o.appends += 1;
      const a = await call(server(), 'POST', `/v1/streams/order-${s.orderId}/events`, body);
      note(o, a, `POST /v1/streams/order-${s.orderId}/events ${JSON.stringify(body).slice(0, 200)}`);
      if (a.status === 201) {
        const from = Number(a.body.fromVersion);
        const at = Date.now();
        events.forEach((e, i) => {
          e.version = from + i;
          e.ackedAt = at;
        });
        acknowledge(s, Number(a.body.toVersion));
        o.acknowledged += events.length;
        o.ackTimes.push(at);
        return;
      }
      if (a.status === 409) {
        if (await foundInLog(s, events)) return;
        o.unexplainedConflicts += 1;
        s.abandoned = true; // the stream is not where this writer believes: leave it
        return;
      }
      if (a.status !== 0 && a.status !== 429 && a.status !== 503 && a.status < 500) {
        s.abandoned = true; // a 4xx the load did not expect: counted in the answers
        return;
      }
      if (stopping) return; // the run ends: an append never acknowledged is no loss
      await sleep(pauseAfter(a));
    }
  };

  /** after a 409: the attempt that went through earlier, as the log has it (acknowledged by the read) */
  const foundInLog = async (s: OrderStream, events: SentEvent[]) => {
    const a = await call(server(), 'GET', `/v1/streams/order-${s.orderId}/events?fromVersion=1&limit=1000`);
    if (a.status !== 200) return false;
    const logged = a.body.events as { id: string; version: number }[];
    const at = Date.now();
    for (const e of events) {
      const found = logged.find((l) => l.id === e.id);
      if (!found) return false;
      e.version = found.version;
      e.ackedAt = at;
    }
    acknowledge(s, Math.max(...logged.map((l) => l.version)));
    observed.acknowledged += events.length;
    observed.ackTimes.push(at);
    return true;
  };

  const writer = async (w: number) => {
    const own: OrderStream[] = [];
    let n = 0;
    while (!stopping) {
      if (!running) {
        await sleep(50);
        continue;
      }
      const open = own.filter((s) => s.version > 0 && s.version < 4 && !s.abandoned);
      const placing = open.length === 0 || Math.random() < 0.4;
      const s = placing
        ? {
            orderId: `w${w}-${(n++).toString(36)}-${randomBytes(3).toString('hex')}`,
            events: [],
            version: 0,
            abandoned: false,
          }
        : open[Math.floor(Math.random() * open.length)]!;
      if (placing) {
        own.push(s);
        streams.set(s.orderId, s);
      }
      const type = placing ? 'OrderPlaced' : s.version === 3 ? 'OrderCancelled' : 'OrderShipped';
      const e: SentEvent = { id: uuidv7(), type, version: undefined, ackedAt: undefined };
      s.events.push(e);
      touched.add(s.orderId);
      const qty = 1 + (n % 3);
      const data =
        type === 'OrderPlaced'
          ? {
              orderId: s.orderId,
              customerId: `c-${w}`,
              customerEmail: `c-${w}@example.com`,
              items: [{ sku: 'sku-1', qty, priceCents: 250 }],
              totalCents: qty * 250,
            }
          : type === 'OrderShipped'
            ? { orderId: s.orderId, carrier: 'DHL' }
            : { orderId: s.orderId, reason: 'chaos' };
      inFlight += 1;
      await appendUntilAcknowledged(s, [e], {
        expectedVersion: placing ? 'no_stream' : s.version,
        events: [{ id: e.id, type, data }],
      }).finally(() => {
        inFlight -= 1;
      });
      if (s.version >= 4 || s.abandoned) own.splice(own.indexOf(s), 1);
    }
  };

  /**
   * A budgeted read of an acknowledged order. Stale means: the row's version is below that of the newest
   * event of its stream acknowledged at least `budget` ms before the read was sent. Such an event was in
   * the log before (read start − budget), so a projection whose staleness is within the budget has
   * applied it (core/read/watermarks.ts: staleness bounds the age of the oldest unapplied event).
   */
  const reader = async () => {
    while (!stopping) {
      if (!running) {
        await sleep(50);
        continue;
      }
      if (readable.length === 0) {
        await sleep(50);
        continue;
      }
      const s = readable[Math.floor(Math.random() * readable.length)]!;
      const budget = options.budgets[Math.floor(Math.random() * options.budgets.length)]!;
      const startedAt = Date.now();
      const due = s.events
        .filter((e) => e.ackedAt !== undefined && e.ackedAt <= startedAt - budget)
        .reduce((v, e) => Math.max(v, e.version ?? 0), 0);
      const o = observed;
      o.reads += 1;
      const path = `/v1/projections/orders/rows/${s.orderId}?maxStalenessMs=${budget}`;
      const a = await call(server(), 'GET', path);
      note(o, a, `GET ${path}`);
      if (a.status === 200 || a.status === 404) {
        o.readsOk += 1;
        o.readTimes.push(Date.now());
        const row = a.status === 200 ? (a.body.data as { version?: number }) : undefined;
        const seen = row?.version ?? 0;
        if (seen < due) {
          o.staleReads += 1;
          if (o.staleExamples.length < 5)
            o.staleExamples.push(
              `order-${s.orderId}: version ${seen} answered, ${due} due (budget ${budget} ms)`,
            );
        }
      } else if (a.status === 0 || a.status >= 500 || a.status === 429) {
        await sleep(pauseAfter(a));
      }
    }
  };

  // a loop that throws is the load's own bug: said, and the run goes on without that loop
  const guarded = (loop: Promise<void>) =>
    loop.catch((error: Error) => {
      process.stderr.write(`chaos load: a loop failed: ${error.stack ?? error.message}\n`);
    });
  const loops = [
    ...Array.from({ length: options.writers }, (_, w) => guarded(writer(w))),
    ...Array.from({ length: options.readers }, () => guarded(reader())),
  ];

  return {
    streams,
    /** starts a new fault's tally; answers the finished one's and the streams it touched */
    observe: () => {
      const done = { observed, touched };
      observed = emptyObserved();
      touched = new Set();
      return done;
    },
    current: () => observed,
    /**
     * The checker's own test (CHAOS_SELFTEST=phantom): the ledger claims an acknowledged event that was
     * never sent, which the next check must report as lost.
     */
    phantom: () => {
      const orderId = `phantom-${randomBytes(4).toString('hex')}`;
      const e: SentEvent = { id: uuidv7(), type: 'OrderPlaced', version: 1, ackedAt: Date.now() };
      streams.set(orderId, { orderId, events: [e], version: 1, abandoned: true });
      touched.add(orderId);
    },
    pause: () => {
      running = false;
    },
    resume: () => {
      running = true;
    },
    /** the appends still being retried */
    inFlight: () => inFlight,
    stop: async () => {
      running = false;
      stopping = true;
      await Promise.all(loops);
    },
  };
};

export type Load = ReturnType<typeof startLoad>;
