import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ApiError, createClient } from '../../app/client.ts';
import { sampleDomain } from '../../app/domain.ts';
import type { RecordedEvent } from '../../core/types.ts';
import { defineProjection, upsert } from '../../projections/define.ts';
import type { OrderPlacedData } from '../../sample/order-events.ts';
import { cli, run } from '../support/cli.ts';
import { orderPlaced } from '../support/orders.ts';
import { services, uniqueId, waitFor } from '../support/services.ts';

// infra.sh needs a PATH and a HOME (for its install cache)
const shell = { PATH: process.env.PATH, HOME: process.env.HOME };

describe('CLI against real services', () => {
  it('infra status shows every service up, as a table and as JSON', async () => {
    const table = await run(['infra', 'status'], shell);
    expect(table.code).toBe(0);
    for (const s of ['kafka', 'registry', 'postgres', 'redis', 's3', 'toxiproxy']) {
      expect(table.out).toMatch(new RegExp(`^${s}\\s+\\S+\\s+\\S+\\s+up$`, 'm'));
    }
    const json = await run(['infra', 'status', '--json'], shell);
    const rows = JSON.parse(json.out) as {
      service: string;
      version: string;
      address: string;
      state: string;
    }[];
    expect(rows.map((r) => [r.service, r.state])).toEqual([
      ['postgres', 'up'],
      ['redis', 'up'],
      ['s3', 'up'],
      ['registry', 'up'],
      ['kafka', 'up'],
      ['toxiproxy', 'up'],
    ]);
    expect(rows.find((r) => r.service === 'kafka')!.version).toMatch(/^4\./);
  });

  it('infra up with an unknown service exits non-zero naming it', async () => {
    const r = await run(['infra', 'up', 'mongodb'], shell);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unknown service 'mongodb'/);
  });

  it('serve runs the API and the runners on the services from the environment until stopped', async () => {
    const id = uniqueId();
    const server = cli(['serve'], {
      ...services(),
      LOGFRONT_AUTH: 'none',
      LOGFRONT_TOPIC_PREFIX: `t${id}`,
      LOGFRONT_DATABASE_SCHEMA: `t_${id}`,
      LOGFRONT_PORT: '0',
      LOGFRONT_LOG_LEVEL: 'warn',
    });
    const url = (await server.waitForLine(/^logfront serving on /)).replace('logfront serving on ', '');
    try {
      const client = createClient(url);
      expect(await client.ready()).toMatchObject({ status: 'ready' });
      const a = await client.append(`order-${id}`, [orderPlaced(id, 3)], 'no_stream');
      const row = await client.get('orders', id, { after: a.position, maxStalenessMs: 15_000 });
      expect(row.data).toMatchObject({ orderId: id, itemCount: 3 });
      const listed = await client.list('orders', { filters: { orderId: id }, limit: 10 });
      expect(listed.items).toHaveLength(1);
      const stream = await client.readStream(`order-${id}`);
      expect(stream.events).toHaveLength(1);
      expect(stream.nextVersion).toBeNull();
      const g = await run([
        'get',
        'orders',
        id,
        '--consistency',
        'strong',
        '--on-stale',
        'serve',
        '--json',
        '--url',
        url,
      ]);
      expect(g.code, g.err).toBe(0);
    } finally {
      server.stop();
      expect((await server.done).code).toBe(0);
    }
  });

  it('serve with LOGFRONT_RUNNERS=off and a config file builds the stream index and applies no projection', async () => {
    const id = uniqueId();
    const dir = mkdtempSync(join(tmpdir(), 'logfront-serve-'));
    const file = join(dir, 'notes.config.ts');
    writeFileSync(
      file,
      `import { defineConfig, defineEventType, defineProjection, upsert, z } from 'logfront';
const NoteTaken = defineEventType('NoteTaken', z.object({ noteId: z.string(), text: z.string() }));
export default defineConfig({
  eventTypes: [NoteTaken],
  projections: [defineProjection({ name: 'notes', key: 'noteId', columns: { noteId: 'text', text: 'text' },
    categories: ['note'], on: { NoteTaken: (e) => upsert(e.data) } })],
});
`,
    );
    const server = cli(['serve', '--config', file], {
      ...services(),
      LOGFRONT_AUTH: 'none',
      LOGFRONT_TOPIC_PREFIX: `t${id}`,
      LOGFRONT_DATABASE_SCHEMA: `t_${id}`,
      LOGFRONT_PORT: '0',
      LOGFRONT_LOG_LEVEL: 'warn',
      LOGFRONT_RUNNERS: 'off',
    });
    try {
      const banner = await server.waitForLine(/^logfront serving on /);
      const url = /^logfront serving on (\S+) with (.+)$/.exec(banner);
      expect(url?.[2]).toBe(file);
      const client = createClient(url![1]!);
      const a = await client.append(`note-${id}`, [{ type: 'NoteTaken', data: { noteId: id, text: 'hi' } }]);
      // the stream index covers the event...
      const topic = `t${id}.events.note`;
      await waitFor(async () => {
        const metrics = await (await fetch(`${url![1]}/metrics`)).text();
        const lags = metrics
          .split('\n')
          .filter((l) => l.startsWith(`logfront_stream_index_lag_events{topic="${topic}"`));
        return lags.length > 0 && lags.every((l) => l.endsWith(' 0'));
      }, 30_000);
      // ...and no runner applies the projection
      const read = await client
        .get('notes', id, { after: a.position, maxStalenessMs: 500 })
        .catch((e: unknown) => e);
      expect(read).toBeInstanceOf(ApiError);
      expect(read).toMatchObject({ status: 503, code: 'staleness_budget_exceeded' });
    } finally {
      server.stop();
      expect((await server.done).code).toBe(0);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rebuild prints its progress while the new generation catches up', async () => {
    const id = uniqueId();
    // each event takes `slowMs` to apply while it is set; a batch per event leaves the server free between them
    const control = { slowMs: 0 };
    const pause = new Int32Array(new SharedArrayBuffer(4));
    const slowOrders = defineProjection({
      name: 'slow_orders',
      key: 'orderId',
      categories: ['order'],
      columns: { orderId: 'text' },
      on: {
        OrderPlaced: (e: RecordedEvent<OrderPlacedData>) => {
          if (control.slowMs > 0) Atomics.wait(pause, 0, 0, control.slowMs);
          return upsert({ orderId: e.data.orderId });
        },
      },
    });
    const server = cli(
      ['serve'],
      {
        ...services(),
        LOGFRONT_AUTH: 'none',
        LOGFRONT_TOPIC_PREFIX: `t${id}`,
        LOGFRONT_DATABASE_SCHEMA: `t_${id}`,
        LOGFRONT_PORT: '0',
        LOGFRONT_LOG_LEVEL: 'warn',
        LOGFRONT_BATCH_EVENTS: '1',
        LOGFRONT_CACHE: 'off',
      },
      { eventTypes: sampleDomain.eventTypes, projections: [slowOrders] },
    );
    try {
      const url = (await server.waitForLine(/^logfront serving on /)).replace('logfront serving on ', '');
      const client = createClient(url);
      const ids = Array.from({ length: 20 }, () => uniqueId());
      const a = await client.append(
        `order-${id}`,
        ids.map((o) => orderPlaced(o)),
      );
      await client.get('slow_orders', ids.at(-1)!, { after: a.position, maxStalenessMs: 30_000 });
      control.slowMs = 100; // 20 events: at least 2 s of rebuild, which the CLI looks at every 0.5 s
      const r = await run(['rebuild', 'slow_orders', '--url', url]);
      expect(r.code, r.err).toBe(0);
      const lines = r.out.split('\n');
      expect(lines.at(-1)).toMatch(/^slow_orders: generation 2 is active \(\d+\.\d s\)$/);
      const progress = lines.slice(0, -1);
      expect(progress.length, r.out).toBeGreaterThan(0);
      for (const line of progress) {
        expect(line).toMatch(
          /^slow_orders → g2 \[[#-]{20}\] \d+% [\d,]+\/[\d,]+ events, [\d,]+ events\/s, ETA /,
        );
      }
    } finally {
      control.slowMs = 0;
      server.stop();
      expect((await server.done).code).toBe(0);
    }
  });

  it('serve without a key-encryption key exits 1 naming LOGFRONT_KEK and LOGFRONT_ENCRYPTION=off', async () => {
    const r = await run(['serve'], { ...services(), LOGFRONT_KEK: '', LOGFRONT_AUTH: 'none' });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/LOGFRONT_KEK: required when LOGFRONT_MODE=services: .*LOGFRONT_ENCRYPTION=off/);
  });

  it('serve without the required services exits 1 naming the variables', async () => {
    const r = await run(['serve'], {});
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/LOGFRONT_KAFKA_BROKERS: required when LOGFRONT_MODE=services/);
  });
});
