import { services, uniqueId } from './services.ts';

/** A Toxiproxy proxy in front of a real service: connect to `url` instead of the service's own. */
export interface ToxicProxy {
  readonly name: string;
  /** host:port the proxy listens on */
  readonly listen: string;
  /** adds a toxic (latency, timeout, …) in one direction */
  toxic(type: string, attributes: Record<string, number>, stream?: 'upstream' | 'downstream'): Promise<void>;
  /** false: the service is down (open connections are closed, new ones refused); true: it is back */
  enabled(on: boolean): Promise<void>;
  remove(): Promise<void>;
}

const api = async (method: string, path: string, body?: unknown) => {
  const response = await fetch(`${services().LOGFRONT_TOXIPROXY_URL}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`toxiproxy ${method} ${path}: ${response.status} ${text}`);
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
};

/** a proxy on a free loopback port in front of `upstream` (host:port) */
export const createProxy = async (upstream: string): Promise<ToxicProxy> => {
  const name = `p${uniqueId()}`;
  const created = await api('POST', '/proxies', { name, listen: '127.0.0.1:0', upstream, enabled: true });
  const listen = String(created.listen);
  return {
    name,
    listen,
    toxic: async (type, attributes, stream = 'downstream') => {
      await api('POST', `/proxies/${name}/toxics`, {
        name: `${type}_${stream}_${uniqueId()}`,
        type,
        stream,
        toxicity: 1,
        attributes,
      });
    },
    enabled: async (on) => {
      await api('POST', `/proxies/${name}`, { enabled: on });
    },
    remove: async () => {
      await api('DELETE', `/proxies/${name}`);
    },
  };
};

/** `url` with its host:port replaced by the proxy's */
export const throughProxy = (url: string, proxy: ToxicProxy) => {
  const u = new URL(url);
  u.host = proxy.listen;
  return u.toString();
};
