// Mutation testing of the critical pure modules (docs/testing.md, "Mutation testing"): Stryker changes
// each module in small ways (a `<` for a `<=`, a condition for `true`, …) and runs the unit tests that
// import it; a change no test notices is a surviving mutant. Each module must keep a score of at least
// MIN_SCORE %.
//
//   npm run mutate                      every critical module; writes reports/mutation.md and .json
//   npm run mutate -- --changed         only the critical modules changed against main (CI's short mode)
//   npm run mutate -- core/fold.ts …    the modules named (one at a time while iterating)
//
// `--changed` compares the work tree with its merge base with `main` (MUTATE_BASE); on main itself
// (CI's clone), with the commit before HEAD (its first parent), which is what the last landing changed.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Stryker } from '@stryker-mutator/core';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MIN_SCORE = 80;

/** the modules under mutation: pure logic the platform's guarantees rest on */
export const CRITICAL = [
  'core/log/expected-version.ts',
  'core/read/positions.ts',
  'core/read/watermarks.ts',
  'core/fold.ts',
  'core/read/cache.ts',
  'core/security/crypto.ts',
  'core/poll.ts',
  'core/log/storable.ts',
  'projections/column-bounds.ts',
  'connectors/kafka/sequencer-plan.ts',
] as const;

const git = (...args: string[]) =>
  execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
const tryGit = (...args: string[]) => {
  try {
    return git(...args);
  } catch {
    return undefined;
  }
};

/** the critical modules the work tree changes against its base, and what the base was */
const changedModules = (): { modules: string[]; against: string } | { reason: string } => {
  const base = process.env.MUTATE_BASE ?? 'main';
  const head = tryGit('rev-parse', 'HEAD');
  if (!head) return { reason: 'not a git work tree' };
  const mergeBase = tryGit('merge-base', 'HEAD', base);
  let against = mergeBase && mergeBase !== head ? mergeBase : undefined;
  let label = `${base} (merge base ${mergeBase?.slice(0, 10)})`;
  if (!against) {
    // on the base itself (CI's clone of main), or no such base: what the last commit (or merge) changed
    against = tryGit('rev-parse', '--verify', '--quiet', 'HEAD^1');
    if (!against) return { reason: 'no commit before HEAD to compare with' };
    label = `HEAD^1 (${against.slice(0, 10)}), HEAD being ${mergeBase ? base : `off any ref ${base}`}`;
  }
  const files = new Set(git('diff', '--name-only', against).split('\n'));
  return { modules: CRITICAL.filter((m) => files.has(m)), against: label };
};

interface ModuleScore {
  module: string;
  mutants: number;
  killed: number;
  timeout: number;
  survived: number;
  noCoverage: number;
  ignored: number;
  errors: number;
  score: number;
}

const scoresOf = (results: { fileName: string; status: string }[], modules: readonly string[]) =>
  modules.map((module): ModuleScore => {
    const mine = results.filter((r) => r.fileName.replaceAll('\\', '/').endsWith(module));
    const count = (status: string) => mine.filter((r) => r.status === status).length;
    const s = {
      killed: count('Killed'),
      timeout: count('Timeout'),
      survived: count('Survived'),
      noCoverage: count('NoCoverage'),
      ignored: count('Ignored'),
      errors: count('CompileError') + count('RuntimeError'),
    };
    const detected = s.killed + s.timeout;
    const valid = detected + s.survived + s.noCoverage;
    return {
      module,
      mutants: mine.length,
      ...s,
      score: valid === 0 ? 100 : Math.floor((detected / valid) * 10_000) / 100,
    };
  });

const table = (scores: readonly ModuleScore[]) =>
  [
    '| module | score | killed | timeout | survived | no coverage | ignored |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...scores.map(
      (s) =>
        `| \`${s.module}\` | ${s.score.toFixed(2)} % | ${s.killed} | ${s.timeout} | ${s.survived} | ${s.noCoverage} | ${s.ignored} |`,
    ),
  ].join('\n');

const main = async () => {
  const args = process.argv.slice(2);
  const changed = args.includes('--changed') || process.env.MUTATE_CHANGED === '1';
  const named = args.filter((a) => !a.startsWith('--'));
  const unknown = named.filter((m) => !(CRITICAL as readonly string[]).includes(m));
  if (unknown.length) {
    console.error(`mutate: not a critical module: ${unknown.join(', ')} (they are: ${CRITICAL.join(', ')})`);
    return 2;
  }
  let modules: string[] = named.length ? named : [...CRITICAL];
  if (changed) {
    const found = changedModules();
    if ('reason' in found) {
      console.log(`mutate: skipped, ${found.reason}`);
      return 0;
    }
    if (found.modules.length === 0) {
      console.log(`mutate: skipped, no critical module changed against ${found.against}`);
      return 0;
    }
    modules = found.modules;
    console.log(`mutate: ${modules.join(', ')} changed against ${found.against}`);
  }
  const full = modules.length === CRITICAL.length;
  const started = Date.now();
  const results = await new Stryker({
    testRunner: 'vitest',
    plugins: ['@stryker-mutator/vitest-runner'],
    // the unit project alone, and of it only the test files that import the mutated module
    vitest: { configFile: 'tests/mutation/vitest.config.ts', related: true },
    coverageAnalysis: 'perTest',
    mutate: modules,
    // Stryker copies the project into a sandbox: not what git ignores (services' data, coverage, reports)
    ignorePatterns: readFileSync(join(ROOT, '.gitignore'), 'utf8')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#')),
    // the machine's 2 cores are shared
    concurrency: Math.min(2, availableParallelism()),
    reporters: ['clear-text', process.stdout.isTTY ? 'progress' : 'dots', 'json', 'html'],
    jsonReporter: { fileName: 'reports/mutation/mutation.json' },
    htmlReporter: { fileName: 'reports/mutation/mutation.html' },
    clearTextReporter: { allowColor: process.stdout.isTTY, logTests: false, reportScoreTable: true },
    thresholds: { high: 90, low: MIN_SCORE, break: null },
    tempDirName: '.stryker-tmp',
    cleanTempDir: 'always',
  }).runMutationTest();
  const seconds = Math.round((Date.now() - started) / 1000);
  const scores = scoresOf(results, modules);
  const summary = { minScore: MIN_SCORE, seconds, modules: scores };
  const survivors = results
    .filter((r) => r.status === 'Survived' || r.status === 'NoCoverage')
    .map(
      (r) =>
        `- \`${relative(ROOT, r.fileName)}:${r.location.start.line}\` ${r.mutatorName}: \`\` ${(r.replacement ?? '').replace(/\s+/g, ' ')} \`\`${r.status === 'NoCoverage' ? ' (no test runs it)' : ''}`,
    );
  const text = [
    '# Mutation scores',
    '',
    `\`npm run mutate\` (Stryker, the unit tests) in ${seconds} s; each module must score at least ${MIN_SCORE} %.`,
    '',
    table(scores),
    '',
    ...(survivors.length ? ['Surviving mutants:', '', ...survivors, ''] : []),
  ].join('\n');
  // the committed report is the one of every module; a partial run's goes beside Stryker's own
  const dir = join(ROOT, 'reports', full ? '' : 'mutation');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'mutation.md'), text);
  writeFileSync(join(dir, 'mutation-summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  console.log(`\n${table(scores)}\n`);
  const low = scores.filter((s) => s.score < MIN_SCORE);
  for (const s of low) console.error(`mutate: ${s.module} scores ${s.score} %, below ${MIN_SCORE} %`);
  console.log(
    `mutate: ${modules.length} module(s) in ${seconds} s, ${low.length ? 'FAILED' : 'all at or above'} ${MIN_SCORE} %`,
  );
  return low.length ? 1 : 0;
};

process.exitCode = await main();
