import { services, uniqueId } from './services.ts';

/** A Toxiproxy proxy in front of a real service: connect to `url` instead of the service's own. */
export interface ToxicProxy {
  readonly name: string;
  /** host:port the proxy listens on */
  readonly listen: string;
  /** adds a toxic (latency, timeout, …) in one direction */
  toxic(type: string, attributes: Record<string, number>, stream?: 'upstream' | 'downstream'): Promise<void>;
  /** removes every toxic of the proxy (the faults it injects end; it stays enabled or disabled) */
  clear(): Promise<void>;
  /** false: the service is down (open connections are closed, new ones refused); true: it is back */
  enabled(on: boolean): Promise<void>;
  remove(): Promise<void>;
}

const api = async (base: string, method: string, path: string, body?: unknown) => {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`toxiproxy ${method} ${path}: ${response.status} ${text}`);
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
};

/**
 * A proxy on a free loopback port in front of `upstream` (host:port), made through the Toxiproxy API at
 * `apiUrl` (default: the test run's, from its services; a process outside vitest, as bench/chaos.ts, names
 * it).
 */
export const createProxy = async (upstream: string, apiUrl?: string): Promise<ToxicProxy> => {
  const base = apiUrl ?? services().LOGFRONT_TOXIPROXY_URL;
  const call = (method: string, path: string, body?: unknown) => api(base, method, path, body);
  const name = `p${uniqueId()}`;
  const created = await call('POST', '/proxies', { name, listen: '127.0.0.1:0', upstream, enabled: true });
  const listen = String(created.listen);
  return {
    name,
    listen,
    toxic: async (type, attributes, stream = 'downstream') => {
      await call('POST', `/proxies/${name}/toxics`, {
        name: `${type}_${stream}_${uniqueId()}`,
        type,
        stream,
        toxicity: 1,
        attributes,
      });
    },
    clear: async () => {
      const toxics = (await call('GET', `/proxies/${name}/toxics`)) as unknown as { name: string }[];
      for (const t of toxics) await call('DELETE', `/proxies/${name}/toxics/${t.name}`);
    },
    enabled: async (on) => {
      await call('POST', `/proxies/${name}`, { enabled: on });
    },
    remove: async () => {
      await call('DELETE', `/proxies/${name}`);
    },
  };
};

/** `url` with its host:port replaced by the proxy's (and no trailing slash it did not have) */
export const throughProxy = (url: string, proxy: ToxicProxy) => {
  const u = new URL(url);
  u.host = proxy.listen;
  const through = u.toString();
  return url.endsWith('/') ? through : through.replace(/\/$/, '');
};
