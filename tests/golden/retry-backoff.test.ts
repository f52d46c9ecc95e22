// Golden test: the waits of the retry policy (core/resilience/retry.ts) with a seeded random source.
// A change to the backoff (its doubling, its cap, its jitter) or to the seeded generator shows here as
// a diff against tests/golden/expected/retry-backoff.json.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type RetryPolicy, retry, schedule, seededRandom } from '../../core/resilience/retry.ts';

const here = import.meta.dirname;
const load = <T>(kind: 'fixtures' | 'expected', name: string) =>
  JSON.parse(readFileSync(join(here, kind, `${name}.json`), 'utf8')) as T;

const fixture = load<{ seed: number; policies: Record<string, RetryPolicy> }>('fixtures', 'retry-backoff');
const expected = load<Record<string, number[]>>('expected', 'retry-backoff');

/** waits rounded to µs: the golden file pins the policy, not the last bits of a float */
const rounded = (waits: number[]) => waits.map((ms) => Math.round(ms * 1000) / 1000);

const randoms = (seed: number, n: number) => {
  const next = seededRandom(seed);
  return Array.from({ length: n }, () => next());
};

describe('golden: retry backoff with a seeded policy', () => {
  it('schedule(policy, seededRandom(42)) takes the pinned waits', () => {
    const waits = Object.fromEntries(
      Object.entries(fixture.policies).map(([name, policy]) => [
        name,
        rounded(schedule(policy, randoms(fixture.seed, policy.maxAttempts))),
      ]),
    );
    expect(waits).toEqual(expected);
  });

  it('retry waits exactly what schedule says, then gives up with the last error', async () => {
    for (const [name, policy] of Object.entries(fixture.policies)) {
      const waits: number[] = [];
      let t = 0;
      const error = new Error('down');
      await expect(
        retry(
          async () => {
            throw error;
          },
          {
            dependency: 'postgres',
            operation: 'golden',
            policy: { ...policy, budgetMs: Number.MAX_SAFE_INTEGER },
            retryable: () => true,
            random: seededRandom(fixture.seed),
            now: () => t,
            sleep: async (ms) => {
              waits.push(ms);
              t += ms;
            },
          },
        ),
      ).rejects.toBe(error);
      expect(rounded(waits), name).toEqual(expected[name]);
    }
  });
});
