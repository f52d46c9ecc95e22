// logfront over its HTTP API (API.md), as a client process sees it: node:http with a keep-alive agent
// (one socket per client), JSON bodies parsed as a real client would. The server is a `logfront serve`
// process of its own; this adapter runs in the load-generator process (bench/peers-worker.ts).
import { Agent, request } from 'node:http';
import { PeerConflict, type PeerSystem } from './peers-load.ts';

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

export const createHttpSystem = (baseUrl: string, options: { sockets: number }): PeerSystem => {
  const base = new URL(baseUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: options.sockets });
  const call = (method: string, path: string, body?: unknown) =>
    new Promise<Answer>((resolve, reject) => {
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = request(
        {
          agent,
          host: base.hostname,
          port: base.port,
          method,
          path,
          headers: payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {},
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            try {
              resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : {} });
            } catch {
              resolve({ status: res.statusCode ?? 0, body: { message: text.slice(0, 200) } });
            }
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
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
      agent.destroy();
    },
  };
};
