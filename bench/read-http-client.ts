// The load generator of the read benchmark's HTTP run, in a process of its own (a client's work never
// shares the server's CPU time slices with it in one event loop): node:http with a keep-alive agent, one
// socket per concurrent reader, every answer read to its end and parsed as JSON as a client would.
// Prints one line of JSON: {"seconds", "p50", "p99", "reads"}.
import { Agent, request } from 'node:http';
import { drive } from './harness.ts';

const [url, reads, concurrency, hotKeys, budgetMs] = process.argv.slice(2);
const base = new URL(url!);
const agent = new Agent({ keepAlive: true, maxSockets: Number(concurrency) });

const get = (path: string) =>
  new Promise<void>((resolve, reject) => {
    const req = request({ agent, host: base.hostname, port: base.port, path }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
        else {
          JSON.parse(text);
          resolve();
        }
      });
    });
    req.on('error', reject);
    req.end();
  });

const hot = (i: number) => String((i * 7919) % Number(hotKeys));
const path = (i: number) => `/v1/projections/orders/rows/${hot(i)}?maxStalenessMs=${budgetMs}`;
// every socket opened and every hot row asked once, then the measured run
await drive(Number(hotKeys), Number(concurrency), (i) => get(path(i)));
const run = await drive(Number(reads), Number(concurrency), (i) => get(path(i)));
agent.destroy();
process.stdout.write(`${JSON.stringify({ ...run, reads: Number(reads) })}\n`);
