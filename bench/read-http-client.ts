// The load generator of the read benchmark's HTTP run, in a process of its own (a client's work never
// shares the server's event loop): one keep-alive socket per concurrent reader, every answer read to
// its end and parsed as JSON as a client would. Prints one line of JSON: {"seconds", "p50", "p99"}.
import { drive } from './harness.ts';
import { keepAliveCaller } from './http-load.ts';

const [url, reads, concurrency, hotKeys, budgetMs] = process.argv.slice(2);
const http = keepAliveCaller(url!, Number(concurrency));
const hot = (i: number) => String((i * 7919) % Number(hotKeys));
const read = async (i: number) => {
  const r = await http.call('GET', `/v1/projections/orders/rows/${hot(i)}?maxStalenessMs=${budgetMs}`);
  if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${r.text.slice(0, 200)}`);
  JSON.parse(r.text);
};
// every socket opened and every hot row asked once, then the measured run
await drive(Number(hotKeys), Number(concurrency), read);
const run = await drive(Number(reads), Number(concurrency), read);
http.close();
process.stdout.write(`${JSON.stringify(run)}\n`);
