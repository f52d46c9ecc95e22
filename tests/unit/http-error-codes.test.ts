// docs/http-api.md lists every error code the API can answer, with its HTTP status, in one table.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const sources = (dir: string): string[] =>
  readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );

/** the documented table: code → status */
const documented = () => {
  const table = new Map<string, number>();
  for (const [, code, status] of read('docs/http-api.md').matchAll(/^\| `([a-z_]+)` +\| (\d{3}) +\|/gm)) {
    expect(table.has(code!), `${code} is listed twice`).toBe(false);
    table.set(code!, Number(status));
  }
  return table;
};

/** every error class (LogfrontError and its subclasses): code → status, a status inherited when not set */
const errorClasses = () => {
  const classes = new Map<string, { parent: string; code?: string; status?: number }>();
  for (const file of ['core', 'connectors', 'projections', 'app'].flatMap(sources)) {
    const text = read(file);
    const starts = [...text.matchAll(/class (\w+) extends (\w+) \{/g)];
    for (const [i, m] of starts.entries()) {
      const body = text.slice(m.index, starts[i + 1]?.index ?? text.length);
      const code = /readonly code(?:: string)? = '([a-z_]+)'/.exec(body)?.[1];
      const status = /readonly status = (\d{3})/.exec(body)?.[1];
      classes.set(m[1]!, {
        parent: m[2]!,
        ...(code ? { code } : {}),
        ...(status ? { status: Number(status) } : {}),
      });
    }
  }
  const statusOf = (name: string): number | undefined =>
    classes.get(name)?.status ?? (classes.has(name) ? statusOf(classes.get(name)!.parent) : undefined);
  const isError = (name: string): boolean =>
    name === 'LogfrontError' || (classes.has(name) && isError(classes.get(name)!.parent));
  const out = new Map<string, number>();
  for (const [name, c] of classes) {
    if (c.code && isError(name)) out.set(c.code, statusOf(name)!);
  }
  return out;
};

describe('the error codes of the HTTP API', () => {
  it('every error class is in the table of docs/http-api.md, with its status', () => {
    const table = documented();
    const classes = errorClasses();
    expect(classes.size).toBeGreaterThanOrEqual(15);
    for (const [code, status] of classes) expect(table.get(code), code).toBe(status);
  });

  it("every code app/http.ts answers with itself is in the table, the refusals' with their status", () => {
    const table = documented();
    const http = read('app/http.ts');
    for (const [, status, code] of http.matchAll(/^ {2}(\d{3}): '([a-z_]+)',$/gm)) {
      expect(table.get(code!), code).toBe(Number(status));
    }
    const answered = [...http.matchAll(/error: '([a-z_]+)'/g)].map((m) => m[1]!);
    expect(answered).toEqual(expect.arrayContaining(['invalid_json', 'internal', 'too_long']));
    for (const code of answered) expect(table.has(code), code).toBe(true);
  });

  it('the table lists no code nothing answers', () => {
    const known = new Set([
      ...errorClasses().keys(),
      ...[...read('app/http.ts').matchAll(/'([a-z_]+)'/g)].map((m) => m[1]!),
    ]);
    expect([...documented().keys()].filter((code) => !known.has(code))).toEqual([]);
  });
});
