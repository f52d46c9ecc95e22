// What the benchmarks' HTTP load generators share: a keep-alive node:http caller (one socket per client
// in flight), and the child process such a generator runs in, answering one line of JSON.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Agent, request } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));

/** `call` answers a response's status and body text, read to its end */
export const keepAliveCaller = (baseUrl: string, sockets: number) => {
  const base = new URL(baseUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: sockets });
  const call = (method: string, path: string, body?: unknown) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
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
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
          );
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  return { call, close: () => agent.destroy() };
};

/** runs bench/<script> in a node process of its own with `args`; answers the JSON line it prints */
export const runClientProcess = async <T>(script: string, args: readonly (string | number)[]): Promise<T> => {
  const child = spawn(process.execPath, ['--import', 'tsx', join(HERE, script), ...args.map(String)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const out: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`the load generator ${script} exited ${code}`);
  return JSON.parse(Buffer.concat(out).toString('utf8')) as T;
};
