// The soak's chaos: Toxiproxy proxies in front of Postgres, Redis, S3 and the schema registry (the
// logfront process under load connects through them), and a schedule that injects one fault at a time,
// each followed by a calm period. Kafka is not proxied here: `npm run chaos` covers Kafka's faults
// (its own broker behind a proxy, a broker SIGKILL); the soak measures SLOs over time.

import { createProxy, type ToxicProxy, throughProxy } from '../tests/support/toxiproxy.ts';

export interface FaultWindow {
  fault: string;
  /** seconds since the soak started */
  from: number;
  to: number;
}

type Env = Record<string, string | undefined>;

/** the faults in the order the schedule injects them, round robin */
const FAULTS: {
  name: string;
  dependency: string;
  toxic?: { type: string; attributes: Record<string, number> };
}[] = [
  { name: 'postgres down', dependency: 'postgres' },
  { name: 'redis down', dependency: 'redis' },
  {
    name: 'postgres latency 200 ms',
    dependency: 'postgres',
    toxic: { type: 'latency', attributes: { latency: 200 } },
  },
  { name: 's3 down', dependency: 's3' },
  { name: 'registry down', dependency: 'registry' },
  { name: 'redis resets', dependency: 'redis', toxic: { type: 'reset_peer', attributes: { timeout: 500 } } },
];

export const createSoakFaults = async (env: Env) => {
  const base = env.LOGFRONT_TOXIPROXY_URL;
  if (!base)
    throw new Error('SOAK_CHAOS=on needs Toxiproxy: LOGFRONT_TOXIPROXY_URL (bash infra/infra.sh up)');
  const proxies = new Map<string, ToxicProxy>();
  const upstreams: Record<string, string> = {
    postgres: new URL(env.LOGFRONT_DATABASE_URL!).host,
    redis: new URL(env.LOGFRONT_REDIS_URL!).host,
    s3: new URL(env.LOGFRONT_S3_ENDPOINT!).host,
    registry: new URL(env.LOGFRONT_SCHEMA_REGISTRY_URL!).host,
  };
  for (const [dependency, upstream] of Object.entries(upstreams))
    proxies.set(dependency, await createProxy(upstream, base));
  const via = (url: string, dependency: string) => throughProxy(url, proxies.get(dependency)!);
  const inject = async (f: (typeof FAULTS)[number]) => {
    const p = proxies.get(f.dependency)!;
    if (f.toxic) await p.toxic(f.toxic.type, f.toxic.attributes);
    else await p.enabled(false);
  };
  const heal = async (f: (typeof FAULTS)[number]) => {
    const p = proxies.get(f.dependency)!;
    if (f.toxic) await p.clear().catch(() => {});
    else await p.enabled(true);
  };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  return {
    names: FAULTS.map((f) => f.name),
    /** the logfront process's variables: its dependencies through the proxies */
    env: {
      LOGFRONT_DATABASE_URL: via(env.LOGFRONT_DATABASE_URL!, 'postgres'),
      LOGFRONT_REDIS_URL: via(env.LOGFRONT_REDIS_URL!, 'redis'),
      LOGFRONT_S3_ENDPOINT: via(env.LOGFRONT_S3_ENDPOINT!, 's3'),
      LOGFRONT_SCHEMA_REGISTRY_URL: via(env.LOGFRONT_SCHEMA_REGISTRY_URL!, 'registry'),
    },
    /** calm, fault, calm, fault, … until `seconds` have passed since `began`; the last fault heals in time */
    schedule: async (
      seconds: number,
      faultSeconds: number,
      quietSeconds: number,
      began: number,
      onWindow: (w: FaultWindow) => void,
    ) => {
      const at = () => (Date.now() - began) / 1000;
      for (let i = 0; ; i++) {
        await sleep(quietSeconds * 1000);
        if (at() + faultSeconds + quietSeconds > seconds) return;
        const f = FAULTS[i % FAULTS.length]!;
        const from = Math.round(at());
        await inject(f);
        await sleep(faultSeconds * 1000);
        await heal(f);
        onWindow({ fault: f.name, from, to: Math.round(at()) });
      }
    },
    close: async () => {
      for (const p of proxies.values()) await p.remove().catch(() => {});
    },
  };
};
