// Uploads stream: the server's memory grows by less than 100 MiB while 200 MiB of blobs go through it
// (the server runs `logfront serve` in its own process, with the blob and archive sinks).
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { services, servicesConfig, waitFor } from '../support/services.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MiB = 1024 * 1024;
const rssOf = (pid: number) => {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) * 1024;
};

describe('server memory while blobs upload', () => {
  it('RSS grows by less than 100 MiB while 200 MiB of blobs upload', async () => {
    const config = servicesConfig();
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    const server: ChildProcess = spawn(process.execPath, [join(ROOT, 'bin/logfront.js'), 'serve'], {
      cwd: ROOT,
      env: {
        ...process.env,
        ...services(),
        LOGFRONT_AUTH: 'none',
        LOGFRONT_TOPIC_PREFIX: config.topicPrefix,
        LOGFRONT_DATABASE_SCHEMA: config.database.schema,
        LOGFRONT_REDIS_PREFIX: config.redis.prefix,
        LOGFRONT_PORT: String(port),
        LOGFRONT_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitFor(async () => (await fetch(`${url}/healthz`).catch(() => null))?.ok ?? false, 60_000, 200);
      // warm up: topics, sequencers, the sink's multipart path, the JIT
      for (let i = 0; i < 2; i++) {
        const r = await fetch(`${url}/v1/blobs/warm-${i}`, { method: 'PUT', body: randomBytes(12 * MiB) });
        expect(r.status).toBe(201);
      }
      await new Promise((r) => setTimeout(r, 2000));
      const before = rssOf(server.pid!);
      let peak = before;
      const sampler = setInterval(() => {
        peak = Math.max(peak, rssOf(server.pid!));
      }, 50);
      const body = randomBytes(50 * MiB);
      let position = '';
      try {
        for (let i = 0; i < 4; i++) {
          const r = await fetch(`${url}/v1/blobs/big-${i}`, { method: 'PUT', body });
          expect(r.status).toBe(201);
          position = ((await r.json()) as { position: string }).position;
        }
        // and the sink has stored them
        const r = await fetch(`${url}/v1/blobs/big-3?after=${position}&maxStalenessMs=120000`, {
          method: 'HEAD',
        });
        expect(r.status).toBe(200);
      } finally {
        clearInterval(sampler);
      }
      const growth = (peak - before) / MiB;
      console.log(
        `server RSS ${Math.round(before / MiB)} MiB before, ${Math.round(peak / MiB)} MiB at peak: +${growth.toFixed(1)} MiB for 200 MiB uploaded`,
      );
      expect(growth).toBeLessThan(100);
    } finally {
      server.kill('SIGTERM');
    }
  }, 240_000);
});
