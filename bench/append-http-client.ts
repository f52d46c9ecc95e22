// The load generator of the append benchmark's HTTP run, in a process of its own: node:http with a
// keep-alive agent, one socket per concurrent appender, real expected versions (bench/append-load.ts).
// Prints one line of JSON: {"seconds", "p50", "p99"}.
import { Agent, request } from 'node:http';
import { batchOf, withVersions } from './append-load.ts';
import { drive } from './harness.ts';

const [url, appends, concurrency, batch, streams, prefix] = process.argv.slice(2);
const base = new URL(url!);
const agent = new Agent({ keepAlive: true, maxSockets: Number(concurrency) });

const post = (path: string, body: unknown) =>
  new Promise<void>((resolve, reject) => {
    const payload = Buffer.from(JSON.stringify(body));
    const req = request(
      {
        agent,
        host: base.hostname,
        port: base.port,
        method: 'POST',
        path,
        headers: { 'content-type': 'application/json', 'content-length': payload.length },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 201) reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
          else {
            JSON.parse(text);
            resolve();
          }
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });

const [b, n] = [Number(batch), Number(streams)];
const append = withVersions(b, n, (stream, expectedVersion, i) =>
  post(`/v1/streams/${stream}/events`, { expectedVersion, events: batchOf(i, b, n) }),
)(prefix!);
const run = await drive(Number(appends), Number(concurrency), append);
agent.destroy();
process.stdout.write(`${JSON.stringify(run)}\n`);
