// A PostgreSQL server of the caller's own (Debian's, installed by infra/), so a fault run may crash and
// restart it without touching the shared one. Its cluster lives under /var/tmp (the postgres OS user,
// which a root caller runs it as, must reach it) and goes with `remove`.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './ports.ts';
import { waitFor } from './services.ts';

/** the newest PostgreSQL under /usr/lib/postgresql (infra/services/postgres.sh installs it) */
const pgBin = () => {
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root)
    ? readdirSync(root)
        .filter((d) => existsSync(join(root, d, 'bin', 'postgres')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (!majors.length) throw new Error(`no PostgreSQL under ${root}: bash infra/infra.sh up installs it`);
  return join(root, majors[0]!, 'bin');
};

/** root runs postgres as the postgres OS user (postgres refuses root) */
const asPostgres = (command: string, args: string[]): [string, string[]] =>
  process.getuid?.() === 0
    ? ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', '--', command, ...args]]
    : [command, args];

const userIds = () => {
  const id = (flag: string) =>
    Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
  return { uid: id('-u'), gid: id('-g') };
};

export interface OwnPostgres {
  /** postgres://postgres@127.0.0.1:<port>/postgres (trust authentication on loopback) */
  readonly url: string;
  readonly port: number;
  /** starts it again on its data (crash recovery after `crash`) */
  start(): Promise<void>;
  /** an immediate shutdown (SIGQUIT): every connection dropped, no checkpoint, as a crash */
  crash(): Promise<void>;
  /** stops it and removes its cluster */
  remove(): Promise<void>;
}

export const startOwnPostgres = async (): Promise<OwnPostgres> => {
  const bin = pgBin();
  const port = await freePort();
  const dir = mkdtempSync(join('/var/tmp', 'lf-pg-'));
  if (process.getuid?.() === 0) {
    const { uid, gid } = userIds();
    chownSync(dir, uid, gid);
  }
  const [initdb, initArgs] = asPostgres(join(bin, 'initdb'), [
    '-D',
    dir,
    '-U',
    'postgres',
    '--auth=trust',
    '-E',
    'UTF8',
    '--no-locale',
    '--no-sync',
  ]);
  const init = spawnSync(initdb, initArgs, { encoding: 'utf8' });
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed: ${init.stderr || init.stdout}`);
  }
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  let child: ChildProcess | undefined;
  const start = async () => {
    const [postgres, args] = asPostgres(join(bin, 'postgres'), [
      '-D',
      dir,
      '-p',
      String(port),
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      '-c',
      'max_connections=200',
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
    ]);
    child = spawn(postgres, args, { stdio: 'ignore' });
    await waitFor(async () => {
      const probe = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
      probe.on('error', () => {});
      try {
        await probe.connect();
        await probe.query('SELECT 1');
        return true;
      } catch {
        return false;
      } finally {
        await probe.end().catch(() => {});
      }
    }, 30_000);
  };
  const stop = async (signal: NodeJS.Signals) => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill(signal);
    await exited;
  };
  await start();
  return {
    url,
    port,
    start,
    crash: () => stop('SIGQUIT'),
    remove: async () => {
      await stop('SIGINT');
      rmSync(dir, { recursive: true, force: true });
    },
  };
};
