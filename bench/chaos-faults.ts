// The fault matrix of bench/chaos.ts: each fault is injected, held, then healed, one at a time.
import { type ChaosDependency, type ChaosEnv, DEPENDENCIES } from './chaos-env.ts';

export interface Fault {
  /** `<dependency>/<kind>`, the name CHAOS_FAULTS selects and the results use */
  name: string;
  /** what the fault does, in the results */
  does: string;
  inject(): Promise<void>;
  heal(): Promise<void>;
}

/** what the process faults act on besides the environment: the second server, killed and restarted */
export interface ServeControl {
  killSecond(): Promise<void>;
  restartSecond(): Promise<void>;
}

/** Toxiproxy faults: every connection through the dependency's proxy suffers it until healed */
const TOXICS: Record<string, { does: string; type: string; attributes: Record<string, number> }> = {
  latency: {
    does: '1 s ± 250 ms latency on every answer',
    type: 'latency',
    attributes: { latency: 1000, jitter: 250 },
  },
  timeout: {
    does: 'connections stall: nothing comes back (Toxiproxy timeout 0)',
    type: 'timeout',
    attributes: { timeout: 0 },
  },
  reset_peer: {
    does: 'every connection reset (RST) 100 ms after data',
    type: 'reset_peer',
    attributes: { timeout: 100 },
  },
  bandwidth: { does: 'answers limited to 8 KB/s', type: 'bandwidth', attributes: { rate: 8 } },
};

const toxicFaults = (env: ChaosEnv, dep: ChaosDependency): Fault[] => {
  const proxy = env.proxies[dep];
  const heal = async () => {
    await proxy.clear();
    await proxy.enabled(true);
  };
  return [
    ...Object.entries(TOXICS).map(([kind, t]) => ({
      name: `${dep}/${kind}`,
      does: t.does,
      inject: () => proxy.toxic(t.type, t.attributes, 'downstream'),
      heal,
    })),
    {
      name: `${dep}/down`,
      does: 'proxy disabled: connections closed and refused',
      inject: () => proxy.enabled(false),
      heal,
    },
  ];
};

const processFaults = (env: ChaosEnv, serve: ServeControl): Fault[] => [
  {
    name: 'kafka/sigkill',
    does: "SIGKILL of the run's broker under load, restarted on its data",
    inject: () => env.broker.kill(),
    heal: () => env.broker.restart(),
  },
  {
    name: 'serve/sigkill',
    does: 'SIGKILL of one of the two serve processes (a writer mid-transaction), then started again',
    inject: () => serve.killSecond(),
    heal: () => serve.restartSecond(),
  },
  {
    name: 'postgres/restart',
    does: "the run's Postgres crashed (immediate shutdown: connections dropped, no checkpoint), started again on its data (crash recovery)",
    inject: () => env.postgres.crash(),
    heal: () => env.postgres.start(),
  },
  {
    name: 'redis/restart-empty',
    does: "the run's Redis stopped (SIGKILL) and started again empty",
    inject: () => env.redis.stop(),
    heal: () => env.redis.start(),
  },
];

/** every fault, in the order they run */
export const allFaults = (env: ChaosEnv, serve: ServeControl): Fault[] => [
  ...DEPENDENCIES.flatMap((d) => toxicFaults(env, d)),
  ...processFaults(env, serve),
];

/** the faults CI runs when CHAOS_FAULTS does not say: each dependency down, latency and resets on Kafka and Postgres, every process fault */
export const CI_FAULTS = [
  'kafka/down',
  'kafka/latency',
  'kafka/reset_peer',
  'postgres/down',
  'postgres/latency',
  'redis/down',
  's3/down',
  'schema-registry/down',
  'kafka/sigkill',
  'serve/sigkill',
  'postgres/restart',
  'redis/restart-empty',
];

/** the faults named by `selection` (comma-separated names; `all`), or an error naming the unknown ones */
export const selectFaults = (faults: readonly Fault[], selection: string): Fault[] => {
  if (selection.trim() === 'all') return [...faults];
  const names = selection
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !faults.some((f) => f.name === n));
  if (unknown.length)
    throw new Error(
      `CHAOS_FAULTS: unknown ${unknown.join(', ')} (know all, ${faults.map((f) => f.name).join(', ')})`,
    );
  return faults.filter((f) => names.includes(f.name));
};
