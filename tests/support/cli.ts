import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { type Io, main } from '../../app/cli.ts';
import type { Domain } from '../../app/domain.ts';

export interface CliRun {
  code: number;
  out: string;
  err: string;
}

/** runs the CLI in-process; `stop` ends a long-running command (dev, serve) */
export const cli = (argv: string[], env: Record<string, string | undefined> = {}, domain?: Domain) => {
  const out: string[] = [];
  const err: string[] = [];
  let stop: () => void = () => {};
  const stopped = new Promise<void>((resolve) => {
    stop = resolve;
  });
  let onLine: ((line: string) => void) | undefined;
  const io: Io = {
    out: (line) => {
      out.push(line);
      onLine?.(line);
    },
    err: (line) => err.push(line),
    env,
    untilStopped: () => stopped,
    ...(domain ? { domain } : {}),
  };
  const done = main(argv, io).then((code) => ({ code, out: out.join('\n'), err: err.join('\n') }));
  /** resolves with the first output line matching `pattern` */
  const waitForLine = (pattern: RegExp) =>
    new Promise<string>((resolve, reject) => {
      const hit = out.find((l) => pattern.test(l));
      if (hit) return resolve(hit);
      onLine = (line) => {
        if (pattern.test(line)) resolve(line);
      };
      done.then(
        (r) => reject(new Error(`command ended (${r.code}) before printing ${pattern}: ${r.err}`)),
        reject,
      );
    });
  return { done, stop, waitForLine };
};

/** the dev key of each dev server the tests started, by its URL */
export const devTokens = new Map<string, string>();

/** runs the CLI to its end; against a dev server this process started (`--url`), with its dev key */
export const run = (argv: string[], env: Record<string, string | undefined> = {}): Promise<CliRun> => {
  const url = argv.includes('--url') ? argv[argv.indexOf('--url') + 1] : env.LOGFRONT_URL;
  const token = url ? devTokens.get(url) : undefined;
  return cli(argv, { ...(token ? { LOGFRONT_TOKEN: token } : {}), ...env }).done;
};

/** `logfront dev` in-process on a free port with its data in `dir`; resolves once it listens */
export const startDev = async (dir: string, extra: string[] = []) => {
  const server = cli(['dev', '--data', dir, '--port', '0', ...extra], { LOGFRONT_LOG_LEVEL: 'warn' });
  const url = (await server.waitForLine(/^listening on /)).replace('listening on ', '');
  const token = (await server.waitForLine(/^dev key: /)).replace('dev key: ', '');
  devTokens.set(url, token);
  return {
    url,
    token,
    /** stops the server; resolves with its exit code */
    stop: async () => {
      server.stop();
      return (await server.done).code;
    },
  };
};

/** a dev server in a fresh temp dir for the enclosing describe block: started before, removed after */
export const useDevServer = (prefix: string) => {
  const state = { url: '', token: '', dir: '', stop: async () => 0 };
  beforeAll(async () => {
    state.dir = mkdtempSync(join(tmpdir(), prefix));
    Object.assign(state, await startDev(state.dir));
  });
  afterAll(async () => {
    await state.stop();
    if (state.dir) rmSync(state.dir, { recursive: true, force: true });
  });
  return state;
};
