import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * Starts tests/support/runner-process.ts (logfront's runners and sinks, config from `env`) and resolves
 * once it is ready; the `applied <topic>/<partition>` lines it prints are collected into `batches`.
 */
export const startRunner = (env: NodeJS.ProcessEnv, batches?: string[]) =>
  new Promise<ChildProcess>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'tests/support/runner-process.ts')],
      {
        env,
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    child.stdout!.on('data', (d: Buffer) => {
      const text = d.toString();
      if (batches) batches.push(...text.split('\n').filter((l) => l.startsWith('applied ')));
      if (text.includes('runner ready')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`runner exited early with ${code}`)));
  });

/** SIGKILL: no shutdown, whatever it was doing is cut off */
export const kill = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    child.removeAllListeners('exit');
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
