// The soak's chaos: Toxiproxy proxies in front of Postgres, Redis, S3 and the schema registry (the
// logfront process under load connects through them), and a schedule that injects one fault at a time,
// each followed by a calm period. Kafka is not proxied here: `npm run chaos` covers Kafka's faults
// (its own broker behind a proxy, a broker SIGKILL); the soak measures SLOs over time.

export interface FaultWindow {
  fault: string;
  /** seconds since the soak started */
  from: number;
  to: number;
}

interface Proxy {
  name: string;
  dependency: string;
  listen: string;
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
  const api = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${base}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`toxiproxy ${method} ${path}: ${r.status} ${text}`);
    return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  };
  const id = Date.now().toString(36);
  const upstreams: Record<string, string> = {
    postgres: new URL(env.LOGFRONT_DATABASE_URL!).host,
    redis: new URL(env.LOGFRONT_REDIS_URL!).host,
    s3: new URL(env.LOGFRONT_S3_ENDPOINT!).host,
    registry: new URL(env.LOGFRONT_SCHEMA_REGISTRY_URL!).host,
  };
  const proxies: Proxy[] = [];
  for (const [dependency, upstream] of Object.entries(upstreams)) {
    const name = `soak_${id}_${dependency}`;
    const created = await api('POST', '/proxies', { name, listen: '127.0.0.1:0', upstream, enabled: true });
    proxies.push({ name, dependency, listen: String(created.listen) });
  }
  const via = (url: string, dependency: string) => {
    const u = new URL(url);
    u.host = proxies.find((p) => p.dependency === dependency)!.listen;
    return u.toString().replace(/\/$/, url.endsWith('/') ? '/' : '');
  };
  const proxyOf = (dependency: string) => proxies.find((p) => p.dependency === dependency)!;
  const inject = async (f: (typeof FAULTS)[number]) => {
    const p = proxyOf(f.dependency);
    if (f.toxic) {
      await api('POST', `/proxies/${p.name}/toxics`, {
        name: 'soak',
        type: f.toxic.type,
        stream: 'downstream',
        toxicity: 1,
        attributes: f.toxic.attributes,
      });
    } else await api('POST', `/proxies/${p.name}`, { enabled: false });
  };
  const heal = async (f: (typeof FAULTS)[number]) => {
    const p = proxyOf(f.dependency);
    if (f.toxic) await api('DELETE', `/proxies/${p.name}/toxics/soak`).catch(() => {});
    else await api('POST', `/proxies/${p.name}`, { enabled: true });
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
      for (const p of proxies) await api('DELETE', `/proxies/${p.name}`).catch(() => {});
    },
  };
};
