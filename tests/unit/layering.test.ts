import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FIXTURE = join(ROOT, 'tests/fixtures/layering');
const BIOME = join(ROOT, 'node_modules/.bin/biome');

interface Diagnostic {
  severity: string;
  category: string;
  message: string;
  location: { path: string; start: { line: number } };
}

/** `file:line` of every import the fixture marks `// refused` */
const refusedInFixture = () =>
  readdirSync(FIXTURE, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .flatMap((file) =>
      readFileSync(join(FIXTURE, file), 'utf8')
        .split('\n')
        .flatMap((line, i) => (line.endsWith('// refused') ? [`${file}:${i + 1}`] : [])),
    )
    .sort();

/**
 * Biome on the fixture with the repository's own biome.json (its layering overrides unchanged): the
 * fixture is copied to a folder of its own, so that its core/, connectors/… are where the overrides
 * look, next to the config with only the VCS and the file list set for that folder.
 */
const lintFixture = () => {
  const dir = mkdtempSync(join(tmpdir(), 'logfront-layering-'));
  cpSync(FIXTURE, dir, { recursive: true });
  const config = JSON.parse(readFileSync(join(ROOT, 'biome.json'), 'utf8'));
  writeFileSync(
    join(dir, 'biome.json'),
    JSON.stringify({ ...config, vcs: { enabled: false }, files: { includes: ['**/*.ts'] } }),
  );
  const run = spawnSync(BIOME, ['lint', '--reporter=json', '--max-diagnostics=none', '.'], {
    cwd: dir,
    encoding: 'utf8',
  });
  rmSync(dir, { recursive: true, force: true });
  const { diagnostics } = JSON.parse(run.stdout) as { diagnostics: Diagnostic[] };
  const layering = diagnostics.filter((d) => d.category === 'lint/style/noRestrictedImports');
  const others = diagnostics.filter((d) => d.severity === 'error' && !layering.includes(d));
  return { status: run.status, layering, others };
};

describe('the layering rule (biome.json noRestrictedImports)', () => {
  let status: number | null;
  let layering: Diagnostic[];
  let others: Diagnostic[];
  beforeAll(() => {
    ({ status, layering, others } = lintFixture());
  });

  it('fails the lint run on an import that breaks the layering', () => {
    expect(status).not.toBe(0);
    // and for that alone: the fixture is clean otherwise
    expect(others).toEqual([]);
  });

  it('reports every refused import of the fixture, and nothing else', () => {
    const reported = layering.map((d) => `${d.location.path}:${d.location.start.line}`).sort();
    expect(reported).toEqual(refusedInFixture());
    expect(reported).toHaveLength(17);
  });

  it('says which rule of DESIGN §1 an import breaks', () => {
    const messageAt = (at: string) =>
      layering.find((d) => `${d.location.path}:${d.location.start.line}` === at)?.message;
    expect(messageAt('core/facade.ts:3')).toMatch(/driver is a connector's own dependency/);
    expect(messageAt('core/facade.ts:8')).toMatch(/import no connector/);
    expect(messageAt('projections/runner.ts:1')).toMatch(/app\/ is the driving side/);
    expect(messageAt('connectors/embedded/log.ts:8')).toMatch(/only through a neutral module/);
    expect(messageAt('connectors/sql/sql.ts:3')).toMatch(/a neutral module loads no client library/);
  });
});
