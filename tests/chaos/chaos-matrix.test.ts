// The fault matrix in CI's short mode: `npm run chaos` (bench/chaos.ts) with CI=true runs each fault of
// its CI subset for a few seconds under load, checks the invariants after each, and exits 0 only when
// none is violated. This test runs it as CI would and asserts that it did, fault by fault.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { services } from '../support/services.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'lf-chaos-'));

interface ChaosResults {
  faults: { fault: string; injections: number; acknowledged: number; violations: string[] }[];
  final: { streams: number; violations: string[] };
  violations: number;
}

/** runs the driver with the test run's services and CI's defaults; answers its exit code, output and results */
const runChaos = async (env: Record<string, string>) => {
  const results = join(dir, 'chaos.json');
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'chaos.ts')], {
    cwd: ROOT,
    env: { ...process.env, ...services(), CI: 'true', CHAOS_RESULTS: results, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => {
    output += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    output += c.toString();
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, output, results: JSON.parse(readFileSync(results, 'utf8')) as ChaosResults };
};

describe('npm run chaos, CI mode', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a run whose ledger holds an acknowledged event the log does not have reports it lost and exits 1', async () => {
    const { code, results } = await runChaos({
      CHAOS_FAULTS: '',
      CHAOS_SELFTEST: 'phantom',
      CHAOS_SECONDS: '1',
    });
    expect(results.faults.map((f) => f.fault)).toEqual(['none']);
    expect(results.faults[0]!.violations).toContain('1 acknowledged events lost');
    expect(results.final.violations).toContain('1 acknowledged events lost');
    expect(code).toBe(1);
  }, 240_000);

  it('every fault of the CI matrix keeps the invariants: nothing lost, folds equal, no 500, recovery in time', async () => {
    const { code, output, results } = await runChaos({});
    process.stdout.write(output.slice(output.indexOf('\nfault ')));
    const violated = results.faults
      .filter((f) => f.violations.length)
      .map((f) => `${f.fault}: ${f.violations.join('; ')}`);
    expect(violated.concat(results.final.violations)).toEqual([]);
    expect(results.faults.length).toBeGreaterThan(10);
    for (const f of results.faults) {
      expect(f.injections, f.fault).toBeGreaterThanOrEqual(1);
    }
    // the load ran: appends were acknowledged and read back at the end
    expect(results.faults.reduce((n, f) => n + f.acknowledged, 0)).toBeGreaterThan(100);
    expect(results.final.streams).toBeGreaterThan(50);
    expect(code).toBe(0);
  }, 420_000);
});
