import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { defineCommand, type Io, jsonOption, ROOT, refuseOptions, UsageError } from './shared.ts';

/** runs infra/infra.sh with `args`, its output line by line */
const runInfra = (args: string[], io: Io) =>
  new Promise<number>((resolve) => {
    const child = spawn('bash', [join(ROOT, 'infra', 'infra.sh'), ...args], {
      env: { ...io.env } as NodeJS.ProcessEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (d: Buffer) => {
      for (const line of d.toString('utf8').split('\n')) if (line) io.out(line);
    });
    child.stderr.on('data', (d: Buffer) => {
      for (const line of d.toString('utf8').split('\n')) if (line) io.err(line);
    });
    child.on('error', (e) => {
      io.err(`logfront: cannot run infra/infra.sh: ${e.message}`);
      resolve(1);
    });
    child.on('close', (code) => resolve(code ?? 1));
  });

export const infra = defineCommand({
  name: 'infra',
  usage: ['infra up|down|status'],
  does: 'start, stop, show the local real services (no Docker)',
  help: 'Usage: logfront infra up|down|status [service…] [--json]\n\nStarts, stops or shows the local real services (Kafka, Schema Registry, Postgres, Redis, S3, Toxiproxy),\ninstalled from package registries, on 127.0.0.1. --json goes with status. See docs/infra.md.',
  options: { ...jsonOption },
  run: async ({ values, positionals }, io) => {
    const [verb, ...services] = positionals;
    if (verb !== 'up' && verb !== 'down' && verb !== 'status')
      throw new UsageError('infra takes up, down or status');
    if (verb !== 'status') refuseOptions(values, ['json'], `infra ${verb}`, 'infra');
    return await runInfra([verb, ...services, ...(values.json ? ['--json'] : [])], io);
  },
});
