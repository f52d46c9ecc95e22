import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run, startDev, useDevServer } from '../support/cli.ts';
import { uniqueId } from '../support/services.ts';

const placed = (id: string) =>
  JSON.stringify({
    orderId: id,
    customerId: 'c1',
    customerEmail: 'c1@example.com',
    items: [{ sku: 'book', qty: 2, priceCents: 700 }],
    totalCents: 1400,
  });

describe('CLI', () => {
  it('prints help for the program and for every command', async () => {
    const top = await run(['--help']);
    expect(top.code).toBe(0);
    expect(top.out).toMatch(/Usage: logfront <command>/);
    for (const command of [
      'demo',
      'dev',
      'serve',
      'append',
      'get',
      'list',
      'projections',
      'rebuild',
      'schemas',
      'erase',
      'infra',
    ]) {
      const r = await run([command, '--help']);
      expect(r.code, command).toBe(0);
      expect(r.out, command).toMatch(new RegExp(`Usage: logfront ${command}`));
    }
  });

  it('without a command, or with an unknown one or option, exits 2 with a reason', async () => {
    expect((await run([])).code).toBe(2);
    const unknown = await run(['frobnicate']);
    expect(unknown).toMatchObject({ code: 2 });
    expect(unknown.err).toMatch(/unknown command "frobnicate"/);
    const option = await run(['projections', '--colour']);
    expect(option.code).toBe(2);
    expect(option.err).toMatch(/^logfront: .*--colour/);
    expect((await run(['infra', 'sideways'])).err).toMatch(/infra takes up, down or status/);
  });

  it('demo appends sample orders, reads them back and exits 0', async () => {
    const r = await run(['demo', '--json']);
    expect(r.code).toBe(0);
    const { orders } = JSON.parse(r.out) as { orders: { orderId: string; status: string }[] };
    expect(orders.map((o) => [o.orderId, o.status])).toEqual([
      ['A-1001', 'placed'],
      ['A-1002', 'shipped'],
      ['A-1003', 'placed'],
      ['A-1004', 'cancelled'],
      ['A-1005', 'placed'],
    ]);
    const table = await run(['demo']);
    expect(table.code).toBe(0);
    expect(table.out).toMatch(/orderId\s+customerId\s+status/);
  });

  describe('against a dev server', () => {
    const dev = useDevServer('logfront-dev-');

    it('append, get and projections work and speak JSON on request', async () => {
      const id = uniqueId();
      const a = await run([
        'append',
        `order-${id}`,
        'OrderPlaced',
        '--data',
        placed(id),
        '--expected-version',
        'no_stream',
        '--url',
        dev.url,
      ]);
      expect(a.code, a.err).toBe(0);
      expect(a.out).toMatch(new RegExp(`appended order-${id} v1..v1 at `));
      const aj = await run([
        'append',
        `order-${id}`,
        'OrderShipped',
        '--data',
        JSON.stringify({ orderId: id, carrier: 'UPS' }),
        '--expected-version',
        '1',
        '--json',
        '--url',
        dev.url,
      ]);
      const position = (JSON.parse(aj.out) as { position: string }).position;
      const g = await run([
        'get',
        'orders',
        id,
        '--after',
        position,
        '--max-staleness-ms',
        '5000',
        '--json',
        '--url',
        dev.url,
      ]);
      expect(g.code, g.err).toBe(0);
      expect(JSON.parse(g.out).data).toMatchObject({ orderId: id, status: 'shipped', itemCount: 2 });
      const table = await run(['get', 'orders', id, '--url', dev.url]);
      expect(table.out).toMatch(/orderId\s+customerId\s+status/);
      expect(table.out).toMatch(/source cache/); // the read before filled the cache
      const p = await run(['projections', '--url', dev.url]);
      expect(p.out).toMatch(/orders\s+1\s+running/);
      const pj = await run(['projections', '--json', '--url', dev.url]);
      expect(JSON.parse(pj.out).projections[0]).toMatchObject({ name: 'orders', state: 'running' });
    });

    it('bad input exits non-zero with a one-line reason', async () => {
      const id = uniqueId();
      const badJson = await run([
        'append',
        `order-${id}`,
        'OrderPlaced',
        '--data',
        '{nope',
        '--url',
        dev.url,
      ]);
      expect(badJson).toMatchObject({ code: 2, err: 'logfront: --data is not valid JSON' });
      const noData = await run(['append', `order-${id}`, 'OrderPlaced', '--url', dev.url]);
      expect(noData.code).toBe(2);
      const invalid = await run(['append', `order-${id}`, 'OrderPlaced', '--data', '{}', '--url', dev.url]);
      expect(invalid.code).toBe(1);
      expect(invalid.err).toMatch(/^logfront: validation_failed: /);
      expect(invalid.err.split('\n')).toHaveLength(1);
      await run(['append', `order-${id}`, 'OrderPlaced', '--data', placed(id), '--url', dev.url]);
      const conflict = await run([
        'append',
        `order-${id}`,
        'OrderShipped',
        '--data',
        JSON.stringify({ orderId: id, carrier: 'x' }),
        '--expected-version',
        '7',
        '--url',
        dev.url,
      ]);
      expect(conflict.code).toBe(1);
      expect(conflict.err).toMatch(/version_conflict: stream order-.* is at version 1, expected 7/);
      const missing = await run(['get', 'orders', 'no-such-order', '--url', dev.url]);
      expect(missing.code).toBe(1);
      expect(missing.err).toMatch(/not_found/);
      expect((await run(['get', 'orders', '--url', dev.url])).code).toBe(2);
      expect((await run(['get', 'orders', 'x', '--max-staleness-ms', 'soon', '--url', dev.url])).code).toBe(
        2,
      );
      expect((await run(['projections', 'extra', '--url', dev.url])).code).toBe(2);
    });

    it('list pages through rows with filters, in a table or as JSON; bad input exits non-zero', async () => {
      const ids = [uniqueId(), uniqueId(), uniqueId()];
      let position = '';
      for (const id of ids) {
        const a = await run([
          'append',
          `order-${id}`,
          'OrderPlaced',
          '--data',
          placed(id),
          '--json',
          '--url',
          dev.url,
        ]);
        position = JSON.parse(a.out).position;
      }
      const first = await run([
        'list',
        'orders',
        '--filter',
        'customerId=c1',
        '--limit',
        '2',
        '--after',
        position,
        '--json',
        '--url',
        dev.url,
      ]);
      expect(first.code, first.err).toBe(0);
      const page = JSON.parse(first.out) as { items: { customerId: string }[]; next: string | null };
      expect(page.items).toHaveLength(2);
      expect(page.items.every((r) => r.customerId === 'c1')).toBe(true);
      expect(page.next).not.toBeNull();
      const table = await run(['list', 'orders', '--limit', '2', '--cursor', page.next!, '--url', dev.url]);
      expect(table.code, table.err).toBe(0);
      expect(table.out).toMatch(/orderId\s+customerId\s+status/);
      expect(table.out).toMatch(/rows, staleness/);

      const unknown = await run(['list', 'orders', '--filter', 'colour=red', '--url', dev.url]);
      expect(unknown.code).toBe(1);
      expect(unknown.err).toMatch(/colour/);
      expect(unknown.err.split('\n')).toHaveLength(1);
      expect((await run(['list', 'orders', '--filter', 'nonsense', '--url', dev.url])).code).toBe(2);
      expect((await run(['list', 'orders', '--limit', 'many', '--url', dev.url])).code).toBe(2);
      expect((await run(['list', '--url', dev.url])).code).toBe(2);
    });

    it('rebuild follows a blue/green rebuild to the switch', async () => {
      const r = await run(['rebuild', 'orders', '--url', dev.url]);
      expect(r.code, r.err).toBe(0);
      expect(r.out).toMatch(/orders: generation \d+ is active/);
      const p = await run(['projections', '--json', '--url', dev.url]);
      expect(JSON.parse(p.out).projections[0]).toMatchObject({ name: 'orders', rebuilding: null });
      const bad = await run(['rebuild', 'nope', '--url', dev.url]);
      expect(bad).toMatchObject({ code: 1 });
      expect(bad.err).toMatch(/not_found/);
      expect((await run(['rebuild', '--url', dev.url])).code).toBe(2);
    });

    it('client commands say so when no server answers', async () => {
      const r = await run(['projections', '--url', 'http://127.0.0.1:9']);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/unreachable: no logfront server answers at http:\/\/127.0.0.1:9/);
    });
  });

  it('dev keeps its data across restarts and --reset clears it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'logfront-dev-'));
    try {
      const start = (extra: string[] = []) => startDev(dir, extra);
      const first = await start();
      const id = uniqueId();
      const a = await run([
        'append',
        `order-${id}`,
        'OrderPlaced',
        '--data',
        placed(id),
        '--json',
        '--url',
        first.url,
      ]);
      const position = (JSON.parse(a.out) as { position: string }).position;
      expect((await run(['get', 'orders', id, '--after', position, '--url', first.url])).code).toBe(0);
      expect(await first.stop()).toBe(0);

      const second = await start();
      const kept = await run([
        'get',
        'orders',
        id,
        '--max-staleness-ms',
        '5000',
        '--json',
        '--url',
        second.url,
      ]);
      expect(kept.code, kept.err).toBe(0);
      expect(await second.stop()).toBe(0);

      const third = await start(['--reset']);
      expect(third.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const gone = await run(['get', 'orders', id, '--url', third.url]);
      expect(gone.code).toBe(1);
      expect(gone.err).toMatch(/not_found/);
      expect(await third.stop()).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a wrong configuration stops a command with the variable named', async () => {
    const r = await run(['serve'], { LOGFRONT_KAFKA_BROKERS: 'nonsense' });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/LOGFRONT_KAFKA_BROKERS/);
  });
});
