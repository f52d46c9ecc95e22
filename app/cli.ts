import { text } from 'node:stream/consumers';
import { isLogfrontError } from '../core/errors.ts';
import { errorMessage } from '../core/security/redaction.ts';
import { append } from './cli/append.ts';
import { audit } from './cli/audit.ts';
import { deadLetters } from './cli/dead-letters.ts';
import { demo } from './cli/demo.ts';
import { dev } from './cli/dev.ts';
import { erase } from './cli/erase.ts';
import { get } from './cli/get.ts';
import { infra } from './cli/infra.ts';
import { keys } from './cli/keys.ts';
import { list } from './cli/list.ts';
import { projections } from './cli/projections.ts';
import { rebuild } from './cli/rebuild.ts';
import { schemas } from './cli/schemas.ts';
import { serve } from './cli/serve.ts';
import type { Command, Io } from './cli/shared.ts';
import { UsageError } from './cli/shared.ts';
import { ApiError } from './client.ts';

export { progressLine } from './cli/rebuild.ts';
export type { Command, Io } from './cli/shared.ts';

/** every command, in the order of `logfront --help`; each module holds its options, help and run */
export const commands: readonly Command[] = [
  demo,
  dev,
  serve,
  append,
  get,
  list,
  projections,
  rebuild,
  deadLetters,
  schemas,
  erase,
  keys,
  audit,
  infra,
];

const USAGE_WIDTH = 26;

/** a command's lines in `logfront --help`: what it does beside a short usage, under a long one */
const entry = ({ usage, does }: Command) => {
  const lines = usage.map((u) => `  ${u}`);
  const [first, ...more] = does ? does.split('\n') : [];
  const indent = ' '.repeat(USAGE_WIDTH + 2);
  if (first !== undefined) {
    if (usage.length === 1 && usage[0]!.length < USAGE_WIDTH)
      lines[0] = `  ${usage[0]!.padEnd(USAGE_WIDTH)}${first}`;
    else lines.push(`${indent}${first}`);
  }
  return [...lines, ...more.map((m) => `${indent}${m}`)].join('\n');
};

const HELP = `logfront — an event-sourced, stream-first data platform

Usage: logfront <command> [options]

Commands:
${commands.map(entry).join('\n')}

Every command takes --help; demo, append, get, list, projections, rebuild, dead-letters, erase, keys, schemas and infra status take --json.
Client commands talk to LOGFRONT_URL (default http://127.0.0.1:7070).
dev, serve and schemas load your event types and projections from ./logfront.config.ts (or --config FILE,
LOGFRONT_CONFIG); without one they use the sample order domain. See docs/writing-projections.md.`;

/** one line on stderr and the exit code: 2 for a usage error, 1 for any other failure */
const report = (error: unknown, io: Io) => {
  if (error instanceof UsageError) {
    io.err(`logfront: ${error.message}`);
    return 2;
  }
  if (error instanceof ApiError || isLogfrontError(error)) {
    io.err(`logfront: ${error.code}: ${error.message}`);
    return 1;
  }
  // stderr is where the server logs too: the message as a log line may show it (docs/security.md#logs)
  io.err(`logfront: ${errorMessage(error)}`);
  return 1;
};

export const main = async (argv: string[], io: Io): Promise<number> => {
  const [name = '', ...rest] = argv;
  if (name === '' || name === '--help' || name === '-h' || name === 'help') {
    io.out(HELP);
    return name === '' ? 2 : 0;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    io.err(`logfront: unknown command "${name}"; run logfront --help`);
    return 2;
  }
  try {
    return await command.run(rest, io);
  } catch (error) {
    return report(error, io);
  }
};

export const runCli = async () => {
  // a reader that stops early (`| head`) is not an error
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') process.exit(0);
      throw error;
    });
  }
  let stop: () => void = () => {};
  const stopped = new Promise<void>((resolve) => {
    stop = resolve;
  });
  process.once('SIGINT', () => stop());
  process.once('SIGTERM', () => stop());
  const code = await main(process.argv.slice(2), {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    env: process.env,
    untilStopped: () => stopped,
    stdin: () => text(process.stdin),
    tty: process.stderr.isTTY
      ? { write: (text) => process.stderr.write(text), columns: process.stderr.columns }
      : undefined,
  });
  process.exit(code);
};
