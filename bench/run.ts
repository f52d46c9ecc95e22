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
const { run } = await BENCHES[name]!();
await run();
// the results are written: what the benchmark wrote to the services goes
await (await import('./harness.ts')).removeBenchData().catch((error: Error) => {
  console.error(`could not remove the benchmark's data: ${error.message}`);
});
process.exit(0);
