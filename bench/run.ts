// npm run bench -- <name>: runs one benchmark against real services. Benchmarks never gate CI.
const BENCHES: Record<string, () => Promise<{ run: () => Promise<void> }>> = {
  append: () => import('./append.ts'),
  project: () => import('./project.ts'),
  read: () => import('./read.ts'),
  blob: () => import('./blob.ts'),
  peers: () => import('./peers.ts'),
  takeover: () => import('./takeover.ts'),
};

const name = process.argv[2];
if (!name || !(name in BENCHES)) {
  console.error(`usage: npm run bench -- <${Object.keys(BENCHES).join('|')}>`);
  process.exit(2);
}
// Emmett stores events as they come: next to it logfront runs without field encryption, unless
// BENCH_ENCRYPTION=on asks to measure what encryption costs (docs/benchmarks.md). Set before the
// benchmark's modules load, as bench/harness.ts gives every other run a KEK when it loads.
if (name === 'peers' && process.env.BENCH_ENCRYPTION !== 'on' && !process.env.LOGFRONT_KEK) {
  process.env.LOGFRONT_ENCRYPTION ??= 'off';
}
const { run } = await BENCHES[name]!();
await run();
// the results are written: what the benchmark wrote to the services goes
await (await import('./harness.ts')).removeBenchData().catch((error: Error) => {
  console.error(`could not remove the benchmark's data: ${error.message}`);
});
process.exit(0);
