import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const docs = readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md'));

describe('the docs', () => {
  it('README links every guide in docs/', () => {
    const readme = read('README.md');
    for (const doc of docs) expect(readme, doc).toContain(`(docs/${doc})`);
  });

  it('every relative link in README and docs/ points at a file that exists', () => {
    let checked = 0;
    for (const file of ['README.md', ...docs.map((d) => `docs/${d}`)]) {
      for (const [, target] of read(file).matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue;
        checked++;
        expect(existsSync(join(ROOT, dirname(file), target!)), `${file} → ${target}`).toBe(true);
      }
    }
    expect(checked).toBeGreaterThan(15);
  });

  it('the runbooks name only metrics the code emits, and docs/metrics.md names every one', () => {
    const emitted = new Set<string>();
    for (const file of ['app/metrics.ts', 'app/metrics-activity.ts']) {
      for (const [, name] of read(file).matchAll(/name: '(logfront_[a-z_]+)'/g)) emitted.add(name!);
      for (const [, name] of read(file).matchAll(/(?:gauge|total)\(\s*'(logfront_[a-z_]+)'/g))
        emitted.add(name!);
    }
    const named = new Set([...read('docs/runbooks.md').matchAll(/`(logfront_[a-z_]+)/g)].map((m) => m[1]!));
    expect(emitted.size).toBeGreaterThanOrEqual(6);
    for (const name of named) expect(emitted.has(name), `docs/runbooks.md names ${name}`).toBe(true);
    const documented = new Set(
      [...read('docs/metrics.md').matchAll(/^\| `(logfront_[a-z_]+)`/gm)].map((m) => m[1]!),
    );
    expect([...documented].sort()).toEqual([...emitted].sort());
  });

  it('the runbooks cover every situation the operations guide promises', () => {
    const headings = [...read('docs/runbooks.md').matchAll(/^## (.+)$/gm)].map((m) => m[1]);
    expect(headings).toEqual([
      'Deploy',
      'Rollback',
      'Projection lagging or stuck',
      'Dead letters growing',
      'Broker down (Kafka)',
      'Postgres failover',
      'Redis down',
      'Alerts and SLOs',
      'Replay from the archive',
    ]);
  });
});
