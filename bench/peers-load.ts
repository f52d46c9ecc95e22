// The peers benchmark's workload, shared by every system it measures (Emmett, the logfront SDK, logfront
// over HTTP): the same events, stream names, expected versions, checks and timed driver, so the systems
// differ only in their adapter (bench/peers-emmett.ts, bench/peers-sdk.ts, bench/peers-http-client.ts).
import { percentile, round } from './harness.ts';

export const SCENARIOS = ['append1', 'append16', 'visible16', 'read16', 'trials'] as const;
export type Scenario = (typeof SCENARIOS)[number];
export type TimedScenario = Exclude<Scenario, 'trials'>;

/** what a scenario counts as one operation (the unit of its ops/s) */
export const OPERATION: Record<TimedScenario, string> = {
  append1: 'append of 1 OrderPlaced with its expected version',
  append16: 'append of 1 OrderPlaced with its expected version',
  visible16: 'append of 1 OrderPlaced, then a read of its projection row at that append',
  read16: 'read of one whole stream',
};

export type Expected = number | 'no_stream';

export interface Appended {
  /** the stream's version after the append */
  version: number;
  /** logfront's position token (read-your-writes); Emmett's inline projection needs none */
  position?: string;
}

/** an append refused for its expected version: the one failure a concurrency trial expects */
export class PeerConflict extends Error {}

/** one system under test, as the workload sees it */
export interface PeerSystem {
  readonly name: string;
  append(stream: string, expected: Expected, event: PeerEvent): Promise<Appended>;
  /** the `orders` row of `orderId` once it reflects `appended` (null when there is none) */
  readRow(orderId: string, appended: Appended): Promise<{ version: number } | null>;
  /** how many events the stream has (0 when it does not exist) */
  readStream(stream: string): Promise<number>;
  close(): Promise<void>;
}

export interface PeerEvent {
  type: 'OrderPlaced';
  data: {
    orderId: string;
    customerId: string;
    customerEmail: string;
    items: { sku: string; qty: number; priceCents: number }[];
    totalCents: number;
  };
}

/** the sample domain's OrderPlaced (API.md), identical for every system */
export const orderPlaced = (orderId: string): PeerEvent => ({
  type: 'OrderPlaced',
  data: {
    orderId,
    customerId: `c-${orderId.length % 97}`,
    customerEmail: 'someone@example.com',
    items: [
      { sku: 'sku-1', qty: 2, priceCents: 450 },
      { sku: 'sku-2', qty: 1, priceCents: 1299 },
    ],
    totalCents: 2199,
  },
});

export const messageOf = (error: unknown) =>
  (error instanceof Error ? error.message : String(error)).split('\n')[0]!.slice(0, 300);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Measured {
  /** successful operations */
  ops: number;
  seconds: number;
  'ops/s': number;
  'p50 ms': number;
  'p99 ms': number;
  errors: number;
  /** the first error's message, when there was one */
  error?: string;
}

/**
 * Runs `op` in `clients` loops until `seconds` have passed (operations in flight then finish and count).
 * Latencies are those of successful operations. A loop that fails pauses briefly; a run whose first 50
 * operations all fail stops and throws.
 */
export const driveFor = async (
  seconds: number,
  clients: number,
  op: (client: number) => Promise<void>,
): Promise<Measured> => {
  const latencies: number[] = [];
  let errors = 0;
  let first: string | undefined;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      while (performance.now() < deadline) {
        const t = performance.now();
        try {
          await op(client);
          latencies.push(performance.now() - t);
        } catch (error) {
          errors += 1;
          first ??= messageOf(error);
          if (errors >= 50 && latencies.length === 0) return;
          await sleep(5);
        }
      }
    }),
  );
  if (latencies.length === 0) throw new Error(first ?? 'no operation completed');
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    ops: latencies.length,
    seconds: round(elapsed, 2),
    'ops/s': Math.round(latencies.length / elapsed),
    'p50 ms': round(percentile(latencies, 50), 2),
    'p99 ms': round(percentile(latencies, 99), 2),
    errors,
    ...(first ? { error: first } : {}),
  };
};

export interface TimedJob {
  scenario: TimedScenario;
  seconds: number;
  warmupSeconds: number;
  clients: number;
  /** distinguishes the streams of one system from another's where they share a log (SDK and HTTP) */
  tag: string;
  /** streams each client appends to, round robin */
  streamsPerClient: number;
  readStreams: number;
  eventsPerReadStream: number;
}

/**
 * Each client owns `streamsPerClient` streams and appends to them in turn with the version it tracks
 * (0 for a stream it has not written yet). A failed append leaves its stream for a new one, so one
 * unknown outcome does not turn every later append on that stream into a conflict.
 */
const appender = (system: PeerSystem, job: TimedJob) => {
  const clients = Array.from({ length: job.clients }, () => ({
    next: 0,
    versions: new Array<number>(job.streamsPerClient).fill(0),
    generations: new Array<number>(job.streamsPerClient).fill(0),
  }));
  return async (client: number): Promise<{ orderId: string; appended: Appended }> => {
    const state = clients[client]!;
    const k = state.next++ % job.streamsPerClient;
    const orderId = `${job.tag}${client}x${k}g${state.generations[k]}`;
    const expected = state.versions[k]!;
    try {
      const appended = await system.append(`order-${orderId}`, expected, orderPlaced(orderId));
      if (appended.version !== expected + 1) {
        throw new Error(
          `order-${orderId}: appended at version ${appended.version}, expected ${expected + 1}`,
        );
      }
      state.versions[k] = appended.version;
      return { orderId, appended };
    } catch (error) {
      state.generations[k]! += 1;
      state.versions[k] = 0;
      throw error;
    }
  };
};

const readStreamName = (k: number) => `order-r${k}`;

/** the read scenario's streams: `eventsPerReadStream` rounds of one event on each stream (so a stream's
 * events lie apart in the log, as when streams grow side by side); skipped when they are already there */
export const prepareReadStreams = async (system: PeerSystem, job: TimedJob) => {
  const last = readStreamName(job.readStreams - 1);
  const have = await system.readStream(last);
  if (have === job.eventsPerReadStream) return;
  if (have !== 0) throw new Error(`${last} has ${have} events, expected 0 or ${job.eventsPerReadStream}`);
  for (let round = 0; round < job.eventsPerReadStream; round++) {
    let next = 0;
    await Promise.all(
      Array.from({ length: job.clients }, async () => {
        for (let k = next++; k < job.readStreams; k = next++) {
          await system.append(readStreamName(k), round, orderPlaced(`r${k}`));
        }
      }),
    );
  }
};

/** the operation of a timed scenario */
export const operationOf = (system: PeerSystem, job: TimedJob): ((client: number) => Promise<void>) => {
  switch (job.scenario) {
    case 'append1':
    case 'append16': {
      const append = appender(system, job);
      return async (client) => {
        await append(client);
      };
    }
    case 'visible16': {
      const append = appender(system, job);
      return async (client) => {
        const { orderId, appended } = await append(client);
        const row = await system.readRow(orderId, appended);
        if (!row) throw new Error(`no orders row for ${orderId} after its append`);
        if (row.version !== appended.version) {
          throw new Error(`orders row ${orderId} at version ${row.version}, appended ${appended.version}`);
        }
      };
    }
    case 'read16': {
      let next = 0;
      return async () => {
        const stream = readStreamName(next++ % job.readStreams);
        const n = await system.readStream(stream);
        if (n !== job.eventsPerReadStream) {
          throw new Error(`${stream}: read ${n} events, expected ${job.eventsPerReadStream}`);
        }
      };
    }
  }
};

/** prepares, warms up (untimed) and measures one timed scenario */
export const runTimed = async (system: PeerSystem, job: TimedJob): Promise<Measured> => {
  if (job.scenario === 'read16') await prepareReadStreams(system, job);
  const op = operationOf(system, job);
  if (job.warmupSeconds > 0) await driveFor(job.warmupSeconds, job.clients, op);
  return driveFor(job.seconds, job.clients, op);
};

// --- concurrency trials ----------------------------------------------------------------------------

export interface RaceResult {
  wins: number;
  conflicts: number;
  errors: number;
  error?: string;
}

/** `writers` appends of one event to `stream`, all with `expected`, started together at `at` (epoch ms) */
export const race = async (
  system: PeerSystem,
  stream: string,
  expected: Expected,
  writers: number,
  at: number,
): Promise<RaceResult> => {
  const result: RaceResult = { wins: 0, conflicts: 0, errors: 0 };
  const orderId = stream.slice('order-'.length);
  await sleep(Math.max(0, at - Date.now()));
  await Promise.all(
    Array.from({ length: writers }, async () => {
      try {
        await system.append(stream, expected, orderPlaced(orderId));
        result.wins += 1;
      } catch (error) {
        if (error instanceof PeerConflict) result.conflicts += 1;
        else {
          result.errors += 1;
          result.error ??= messageOf(error);
        }
      }
    }),
  );
  return result;
};

/** the commands a trial worker takes on stdin (one JSON object a line) */
export type TrialCommand =
  | { op: 'append'; stream: string; expected: Expected }
  | { op: 'race'; stream: string; expected: Expected; writers: number; at: number }
  | { op: 'length'; stream: string }
  | { op: 'close' };

/** a worker prints its answers on stdout behind this mark (logs may share stdout) */
export const MARK = '@@peers ';
