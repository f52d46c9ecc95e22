import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { useDevServer } from '../support/cli.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const run = promisify(execFile);

/** the shell commands of docs/getting-started.md, one per entry, continuation lines joined */
const commands = () => {
  const text = readFileSync(join(ROOT, 'docs', 'getting-started.md'), 'utf8');
  const blocks = [...text.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  return blocks.flatMap((block) =>
    block
      .replace(/\\\n\s*/g, ' ')
      .split('\n')
      .filter((l) => l.trim()),
  );
};

// started by the test itself: the installation, the demo (tested elsewhere) and the dev server
// and the dev key, which the test gives the commands itself (its dev server keeps its data elsewhere)
const SETUP = /^(npm ci|npm run demo|npx logfront dev|export LOGFRONT_TOKEN=)/;

describe('docs/getting-started.md', () => {
  const dev = useDevServer('logfront-gs-');

  it('every command runs as written against a dev server (state carried from one to the next)', async () => {
    const all = commands();
    expect(all.length).toBeGreaterThan(8);
    const port = new URL(dev.url).port;
    let state = '';
    for (const line of all.filter((l) => !SETUP.test(l))) {
      const expectFailure = /#\s*exits 1\s*$/.test(line);
      const command = line
        .replace(/#\s*exits 1\s*$/, '')
        .replaceAll('npx logfront', `node ${join(ROOT, 'bin', 'logfront.js')}`)
        .replaceAll('localhost:7070', `127.0.0.1:${port}`);
      // a variable set by one line (POS=…) is used by later ones: keep its value, not the command
      const assigned = /^([A-Z_]+)=/.exec(line)?.[1];
      const script = `${state}\n${command}${assigned ? `\necho "$${assigned}"` : ''}`;
      const result = await run('bash', ['-c', script], {
        cwd: ROOT,
        env: { ...process.env, LOGFRONT_URL: dev.url, LOGFRONT_TOKEN: dev.token, LOGFRONT_LOG_LEVEL: 'warn' },
      }).then(
        (r) => ({ code: 0, out: r.stdout, err: r.stderr }),
        (e: { code: number; stdout: string; stderr: string }) => ({
          code: e.code,
          out: e.stdout,
          err: e.stderr,
        }),
      );
      if (expectFailure) {
        expect(result.code, line).toBe(1);
        expect(result.err.trim().split('\n'), line).toHaveLength(1);
      } else {
        expect(result.code, `${line}\n${result.err}`).toBe(0);
      }
      if (assigned) {
        const value = result.out.trim().split('\n').at(-1)!;
        expect(value, line).not.toBe('');
        state += `\n${assigned}='${value}'`;
      }
    }
  }, 120_000);
});
