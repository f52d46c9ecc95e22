import { describe, expect, it } from 'vitest';
import { createClient } from '../../app/client.ts';
import { cli, run } from '../support/cli.ts';
import { orderPlaced } from '../support/orders.ts';
import { services, uniqueId } from '../support/services.ts';

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
