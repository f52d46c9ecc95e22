import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { clientToken } from '../auth.ts';
import { createClient, type ReadQuery } from '../client.ts';
import { type Config, loadConfig } from '../config.ts';
import type { Domain } from '../domain.ts';
import type { ProgressSink } from '../progress.ts';
import { loadDomain } from '../user-config.ts';

export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
  env: Record<string, string | undefined>;
  /** resolves when the process is asked to stop (SIGINT/SIGTERM); long-running commands await it */
  untilStopped: () => Promise<void>;
  /** the event types and projections (default: logfront.config.ts in `cwd`, else the sample domain) */
  domain?: Domain;
  /** where logfront.config.ts is looked for (default: process.cwd()) */
  cwd?: string;
  /** all of standard input (append --file -) */
  stdin?: () => Promise<string>;
  /** stderr when it is a terminal: progress bars are redrawn there */
  tty?: ProgressSink['tty'];
}

/** the command was called wrongly: exit 2 with the message */
export class UsageError extends Error {}

/** the checkout's root (infra/infra.sh lives there) */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface Command {
  readonly name: string;
  /** how to call it, a line each, in `logfront --help` */
  readonly usage: readonly string[];
  /** what it does, in `logfront --help` (beside a short usage, under a long one) */
  readonly does?: string;
  /** the text of `logfront <name> --help` */
  readonly help: string;
  /** the long names of the options it takes, `help` too */
  readonly options: readonly string[];
  readonly run: (args: string[], io: Io) => Promise<number>;
}

type Options = NonNullable<ParseArgsConfig['options']>;
type Parsed<O extends Options> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>
>;

const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const;

/** the first option in `args` that is not among `options`, as it was written (`--reset`, `-x`) */
const unknownOptionIn = (args: string[], options: Options) => {
  const { tokens } = parseArgs({ args, options, allowPositionals: true, strict: false, tokens: true });
  const token = tokens.find((t) => t.kind === 'option' && !Object.hasOwn(options, t.name));
  return token?.kind === 'option' ? token.rawName : undefined;
};

/**
 * Parses a command's arguments against the options it takes and nothing else: an option it does not
 * take is a usage error naming the option and the command (`get does not take --reset`).
 */
export const parseCommand = <O extends Options>(command: string, args: string[], options: O): Parsed<O> => {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true }) as Parsed<O>;
  } catch (error) {
    const code = (error as { code?: string }).code ?? '';
    if (!code.startsWith('ERR_PARSE_ARGS')) throw error;
    const message = (error as Error).message;
    const unknown =
      code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION'
        ? (unknownOptionIn(args, options) ?? /'([^']+)'/.exec(message)?.[1])
        : undefined;
    throw new UsageError(
      `${unknown ? `${command} does not take ${unknown}` : message}; see logfront ${command} --help`,
    );
  }
};

/** a command with its own options; `--help` prints its help */
export const defineCommand = <O extends Options>(spec: {
  name: string;
  usage: readonly string[];
  does?: string;
  help: string;
  options: O;
  run: (args: Parsed<O>, io: Io) => Promise<number>;
}): Command => ({
  name: spec.name,
  usage: spec.usage,
  ...(spec.does ? { does: spec.does } : {}),
  help: spec.help,
  options: [...Object.keys(spec.options), 'help'],
  run: async (args, io) => {
    const parsed = parseCommand(spec.name, args, { ...spec.options, ...HELP_OPTION });
    if ((parsed.values as { help?: boolean }).help) {
      io.out(spec.help);
      return 0;
    }
    return await spec.run(parsed as unknown as Parsed<O>, io);
  },
});

/** refuses the options in `values` that `what` (a verb of `command`) does not take */
export const refuseOptions = (
  values: Record<string, unknown>,
  names: readonly string[],
  what: string,
  command: string,
) => {
  const given = names.find((n) => values[n] !== undefined);
  if (given) throw new UsageError(`${what} does not take --${given}; see logfront ${command} --help`);
};

/** the positional arguments must be `n`, described as `what` */
export const need = (command: string, positionals: readonly string[], n: number, what: string) => {
  if (positionals.length !== n)
    throw new UsageError(`${command} takes ${what}; see logfront ${command} --help`);
};

export const jsonOption = { json: { type: 'boolean' } } as const;

/** prints `value` as one line of JSON with --json, else `text()` */
export const print = (io: Io, json: boolean | undefined, value: unknown, text: () => string) =>
  io.out(json ? JSON.stringify(value) : text());

/** client commands talk to LOGFRONT_URL or --url */
export const clientOptions = { url: { type: 'string' } } as const;

/** the HTTP client of a client command, with the token from the environment or the dev key */
export const clientOf = (io: Io, values: { url?: string | undefined }) => {
  const config = loadConfig({ ...io.env, ...(values.url ? { LOGFRONT_URL: values.url } : {}) });
  return createClient(config.http.url, clientToken(config));
};

/** the read options of get and list, as the server takes them (it checks their values) */
export const readOptions = {
  'max-staleness-ms': { type: 'string' },
  after: { type: 'string' },
  consistency: { type: 'string' },
  'on-stale': { type: 'string' },
} as const;

export const readQuery = (values: {
  'max-staleness-ms'?: string | undefined;
  after?: string | undefined;
  consistency?: string | undefined;
  'on-stale'?: string | undefined;
}): ReadQuery => {
  const max = values['max-staleness-ms'];
  if (max !== undefined && !/^\d+$/.test(max))
    throw new UsageError('--max-staleness-ms takes a whole number of ms');
  return {
    ...(max !== undefined ? { maxStalenessMs: Number(max) } : {}),
    ...(values.after ? { after: values.after } : {}),
    ...(values.consistency ? { consistency: values.consistency as ReadQuery['consistency'] } : {}),
    ...(values['on-stale'] ? { onStale: values['on-stale'] as ReadQuery['onStale'] } : {}),
  };
};

/** dev, serve and schemas load the user's event types and projections */
export const configOption = { config: { type: 'string' } } as const;

/** the user's logfront.config.ts (--config, LOGFRONT_CONFIG), else the sample domain */
export const userDomain = async (io: Io, config: Config, named: string | undefined) =>
  io.domain
    ? { domain: io.domain, file: null }
    : await loadDomain(io.cwd ?? process.cwd(), named ?? config.configFile);
