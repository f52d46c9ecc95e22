import { describe, expect, it, vi } from 'vitest';
import { commands, runCli } from '../../app/cli.ts';
import { run } from '../support/cli.ts';

/** the one line a command answers an option it does not take with */
const refused = (command: string, option: string, what = command) =>
  `logfront: ${what} does not take ${option}; see logfront ${command} --help`;

const NAMES = [
  'demo',
  'dev',
  'serve',
  'append',
  'get',
  'list',
  'projections',
  'rebuild',
  'dead-letters',
  'schemas',
  'erase',
  'keys',
  'audit',
  'infra',
];

describe('CLI options, per command', () => {
  it('knows the commands of the contract', () => {
    expect(commands.map((c) => c.name)).toEqual(NAMES);
  });

  it('--help and -h print the help of every command; the program help names them all', async () => {
    const top = await run(['--help']);
    for (const { name } of commands) {
      expect(top.out, name).toMatch(new RegExp(`^  ${name}\\b`, 'm'));
      for (const flag of ['--help', '-h']) {
        const r = await run([name, flag]);
        expect(r, `${name} ${flag}`).toMatchObject({ code: 0, err: '' });
        expect(r.out, name).toMatch(new RegExp(`^Usage: logfront ${name} `));
      }
    }
  });

  it('get --reset is a usage error naming the option and the command', async () => {
    expect(await run(['get', 'orders', '42', '--reset'])).toEqual({
      code: 2,
      out: '',
      err: refused('get', '--reset'),
    });
  });

  it('every command refuses every option of the others that it does not take, before doing anything', async () => {
    const all = [...new Set(commands.flatMap((c) => c.options))];
    for (const command of commands) {
      const foreign = all.filter((o) => !command.options.includes(o));
      expect(foreign.length, command.name).toBeGreaterThan(0);
      for (const option of foreign) {
        // the client commands would need a server, dev and serve would start one: none is reached
        const r = await run([command.name, `--${option}`], { LOGFRONT_URL: 'http://127.0.0.1:9' });
        expect(r, `${command.name} --${option}`).toEqual({
          code: 2,
          out: '',
          err: refused(command.name, `--${option}`),
        });
      }
    }
  });

  it('an unknown option is named as written: short, with a value, among arguments', async () => {
    expect((await run(['projections', '-x'])).err).toBe(refused('projections', '-x'));
    expect((await run(['erase', 'ada', '--colour=red'])).err).toBe(refused('erase', '--colour'));
    expect((await run(['list', 'orders', '--limit', '2', '--reset', '--json'])).err).toBe(
      refused('list', '--reset'),
    );
  });

  it('an option without its value is a usage error pointing at the command help', async () => {
    const r = await run(['get', 'orders', '42', '--after']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^logfront: .*--after.*; see logfront get --help$/);
    const flag = await run(['projections', '--json=yes']);
    expect(flag.code).toBe(2);
    expect(flag.err).toMatch(/^logfront: .*--json.*; see logfront projections --help$/);
  });

  it('the verbs and modes of a command take only their own options', async () => {
    for (const verb of ['retry', 'skip']) {
      for (const option of ['--state', '--limit', '--cursor']) {
        expect(await run(['dead-letters', verb, 'orders', '1', option, 'x'])).toMatchObject({
          code: 2,
          err: refused('dead-letters', option, `dead-letters ${verb}`),
        });
      }
    }
    expect((await run(['dead-letters', 'skip', 'orders', '--limit', '3'])).err).toBe(
      refused('dead-letters', '--limit', 'dead-letters skip'),
    );
    for (const verb of ['up', 'down']) {
      expect(await run(['infra', verb, '--json'])).toMatchObject({
        code: 2,
        err: refused('infra', '--json', `infra ${verb}`),
      });
    }
    for (const option of ['--data', '--expected-version', '--id']) {
      expect(await run(['append', '--file', 'x.ndjson', option, '1'])).toMatchObject({
        code: 2,
        err: refused('append', option, 'append --file'),
      });
    }
    expect(await run(['append', 'order-1', 'OrderPlaced', '--data', '{}', '--batch', '5'])).toMatchObject({
      code: 2,
      err: refused('append', '--batch', 'append without --file'),
    });
  });

  it('wrong arguments name the command and its help', async () => {
    for (const [argv, err] of [
      [['demo', 'now'], 'logfront: demo takes no arguments; see logfront demo --help'],
      [['dev', 'here'], 'logfront: dev takes no arguments; see logfront dev --help'],
      [['serve', 'there'], 'logfront: serve takes no arguments; see logfront serve --help'],
      [['dead-letters', 'burn', 'orders'], /^logfront: dead-letters takes list <projection>, retry/],
      [['dead-letters', 'retry', 'orders'], /^logfront: dead-letters takes list <projection>, retry/],
      [['schemas'], 'logfront: schemas takes register or check'],
      [['infra'], 'logfront: infra takes up, down or status'],
    ] as const) {
      const r = await run([...argv]);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.err, argv.join(' ')).toMatch(err);
    }
  });
});

class Exited extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

describe('the process entry (bin/logfront.js)', () => {
  /** removes the listeners of `event` that were not there before */
  const unhook = (emitter: NodeJS.EventEmitter, event: string, kept: readonly unknown[]) => {
    for (const l of emitter.listeners(event)) {
      if (!kept.includes(l)) emitter.removeListener(event, l as (...args: unknown[]) => void);
    }
  };

  /** runCli with `argv` in this process: what it writes and the code it exits with */
  const runProcess = async (argv: string[]) => {
    const before = {
      argv: process.argv,
      sigint: process.listeners('SIGINT'),
      sigterm: process.listeners('SIGTERM'),
      stdout: process.stdout.listeners('error'),
      stderr: process.stderr.listeners('error'),
    };
    const written = { out: '', err: '' };
    const out = vi.spyOn(process.stdout, 'write').mockImplementation((text) => {
      written.out += String(text);
      return true;
    });
    const err = vi.spyOn(process.stderr, 'write').mockImplementation((text) => {
      written.err += String(text);
      return true;
    });
    // process.exit does not return: here it throws what it was called with
    const exit = vi.spyOn(process, 'exit').mockImplementation((code) => {
      throw new Exited(Number(code));
    });
    try {
      process.argv = ['node', 'logfront', ...argv];
      const code = await runCli().then(
        () => undefined,
        (e: unknown) => (e instanceof Exited ? e.code : e),
      );
      // a reader that stops early (`| head`) ends the process quietly; another write error is thrown
      const epipe = Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
      expect(() => process.stdout.emit('error', epipe)).toThrow(new Exited(0));
      expect(() => process.stderr.emit('error', new Error('disk on fire'))).toThrow('disk on fire');
      return { code, ...written };
    } finally {
      out.mockRestore();
      err.mockRestore();
      exit.mockRestore();
      process.argv = before.argv;
      // what runCli hooked on this process goes again: it outlives no test
      unhook(process, 'SIGINT', before.sigint);
      unhook(process, 'SIGTERM', before.sigterm);
      unhook(process.stdout, 'error', before.stdout);
      unhook(process.stderr, 'error', before.stderr);
    }
  };

  it('prints to stdout and exits 0; a usage error is one line on stderr and exit 2', async () => {
    const help = await runProcess(['get', '--help']);
    expect(help).toMatchObject({ code: 0, err: '' });
    expect(help.out).toMatch(/^Usage: logfront get <projection> <key>/);
    expect(await runProcess(['get', '--reset'])).toEqual({
      code: 2,
      out: '',
      err: `${refused('get', '--reset')}\n`,
    });
  });
});
