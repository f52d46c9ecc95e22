import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './ports.ts';
import { waitFor } from './services.ts';

/**
 * A Redis server of the test's own (Debian's redis-server, installed by infra/), so a test can stop
 * and restart it without touching the shared one. `keepData`: every write is in its append-only file
 * before Redis answers, so a restart (even after SIGKILL) comes back with everything it held, as a
 * Redis that persists does (or one that was only out of reach); otherwise it comes back empty.
 * `tls`: it takes TLS connections only (`rediss://`), with the server certificate and key, and asks each
 * client for a certificate signed by the CA.
 */
export const startOwnRedis = async (
  options: { keepData?: boolean; tls?: { certFile: string; keyFile: string; caFile: string } } = {},
) => {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const { tls } = options;
  const url = `${tls ? 'rediss' : 'redis'}://127.0.0.1:${port}`;
  const listen = tls
    ? [
        '--port',
        '0',
        '--tls-port',
        String(port),
        '--tls-cert-file',
        tls.certFile,
        '--tls-key-file',
        tls.keyFile,
        '--tls-ca-cert-file',
        tls.caFile,
        '--tls-auth-clients',
        'yes',
      ]
    : ['--port', String(port)];
  // the readiness probe's own TLS: the CA, and the server certificate as its client certificate (same CA)
  const probeTls = tls
    ? {
        tls: {
          ca: readFileSync(tls.caFile, 'utf8'),
          cert: readFileSync(tls.certFile, 'utf8'),
          key: readFileSync(tls.keyFile, 'utf8'),
        },
      }
    : {};
  const dir = options.keepData ? mkdtempSync(join(tmpdir(), 'lf-redis-')) : undefined;
  const persistence = dir
    ? ['--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always']
    : ['--save', '', '--appendonly', 'no'];
  const start = async () => {
    child = spawn('redis-server', [...listen, '--bind', '127.0.0.1', ...persistence], {
      stdio: 'ignore',
    });
    await waitFor(async () => {
      const probe = new Redis(url, {
        lazyConnect: true,
        retryStrategy: () => null,
        maxRetriesPerRequest: 0,
        ...probeTls,
      });
      probe.on('error', () => {});
      try {
        await probe.connect();
        return (await probe.ping()) === 'PONG';
      } catch {
        return false;
      } finally {
        probe.disconnect();
      }
    }, 10_000);
  };
  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
  };
  await start();
  return {
    url,
    port,
    start,
    stop,
    /** stops it and removes its files */
    remove: async () => {
      await stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
};
