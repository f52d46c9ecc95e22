// logfront over its HTTP API (API.md), as a client process sees it: node:http with a keep-alive agent
// (one socket per client), JSON bodies parsed as a real client would. The server is a `logfront serve`
// process of its own; this adapter runs in the load-generator process (bench/peers-worker.ts).
import { keepAliveCaller } from './http-load.ts';
import { PeerConflict, type PeerSystem } from './peers-load.ts';

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

export const createHttpSystem = (baseUrl: string, options: { sockets: number }): PeerSystem => {
  const http = keepAliveCaller(baseUrl, options.sockets);
  const call = async (method: string, path: string, body?: unknown): Promise<Answer> => {
    const { status, text } = await http.call(method, path, body);
    try {
      return { status, body: text ? JSON.parse(text) : {} };
    } catch {
      return { status, body: { message: text.slice(0, 200) } };
    }
  };
  const failed = (what: string, a: Answer) =>
    new Error(
      `${what}: HTTP ${a.status} ${String(a.body.error ?? '')} ${String(a.body.message ?? '')}`.trim(),
    );
  return {
    name: 'logfront-http',
    append: async (stream, expectedVersion, event) => {
      const a = await call('POST', `/v1/streams/${encodeURIComponent(stream)}/events`, {
        expectedVersion,
        events: [event],
      });
      if (a.status === 409) throw new PeerConflict(String(a.body.message ?? 'version_conflict'));
      if (a.status !== 201) throw failed(`append to ${stream}`, a);
      return { version: Number(a.body.toVersion), position: String(a.body.position) };
    },
    readRow: async (orderId, appended) => {
      const query = appended.position ? `?after=${encodeURIComponent(appended.position)}` : '';
      const a = await call('GET', `/v1/projections/orders/rows/${encodeURIComponent(orderId)}${query}`);
      if (a.status === 404) return null;
      if (a.status !== 200) throw failed(`row ${orderId}`, a);
      return { version: Number((a.body.data as Record<string, unknown>).version) };
    },
    readStream: async (stream) => {
      const a = await call('GET', `/v1/streams/${encodeURIComponent(stream)}/events`);
      if (a.status === 404) return 0;
      if (a.status !== 200) throw failed(`stream ${stream}`, a);
      return (a.body.events as unknown[]).length;
    },
    close: async () => {
      http.close();
    },
  };
};
