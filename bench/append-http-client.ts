// The load generator of the append benchmark's HTTP run, in a process of its own: one keep-alive socket
// per concurrent appender, real expected versions (bench/append-load.ts). Prints one line of JSON:
// {"seconds", "p50", "p99"}.
import { batchOf, withVersions } from './append-load.ts';
import { drive } from './harness.ts';
import { keepAliveCaller } from './http-load.ts';

const [url, appends, concurrency, batch, streams, prefix] = process.argv.slice(2);
const http = keepAliveCaller(url!, Number(concurrency));
const [b, n] = [Number(batch), Number(streams)];
const append = withVersions(b, n, async (stream, expectedVersion, i) => {
  const r = await http.call('POST', `/v1/streams/${stream}/events`, {
    expectedVersion,
    events: batchOf(i, b, n),
  });
  if (r.status !== 201) throw new Error(`HTTP ${r.status}: ${r.text.slice(0, 200)}`);
  JSON.parse(r.text);
})(prefix!);
const run = await drive(Number(appends), Number(concurrency), append);
http.close();
process.stdout.write(`${JSON.stringify(run)}\n`);
