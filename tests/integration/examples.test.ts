import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createClient } from '../../app/client.ts';
import { useDevServer } from '../support/cli.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('examples/ against a dev server', () => {
  const dev = useDevServer('logfront-ex-');
  const run = (args: string[], input?: string) =>
    new Promise<{ code: number; out: string; err: string }>((resolve) => {
      const child = execFile(
        process.execPath,
        args,
        { cwd: ROOT, env: { ...process.env, LOGFRONT_URL: dev.url, LOGFRONT_TOKEN: dev.token } },
        (error, out, err) => resolve({ code: error ? Number(error.code ?? 1) : 0, out, err }),
      );
      child.stdin?.end(input ?? '');
    });

  it('the order service places and ships orders through the SDK', async () => {
    const r = await run(['--import', 'tsx', 'examples/order-service.ts', '2']);
    expect(r.code, r.err).toBe(0);
    const orders = r.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { orderId: string; version: number; position: string });
    expect(orders).toHaveLength(2);
    const row = await createClient(dev.url, dev.token).get('orders', orders[1]!.orderId, {
      after: orders[1]!.position,
    });
    expect(row.data).toMatchObject({ status: 'shipped', version: 2, itemCount: 2 });
  });

  it('the HTTP producer appends a line each, and names what it refused', async () => {
    const id = Date.now().toString(36);
    const r = await run(['examples/producer.mjs'], `p${id},c1,2\nq${id},c2,1\np${id},c1,2\n`);
    expect(r.code).toBe(1); // the third line repeats an order: no_stream refuses it
    expect(r.out.trim().split('\n')).toHaveLength(2);
    expect(r.err).toMatch(new RegExp(`p${id}: version_conflict`));
  });

  it('the reader sees its own write', async () => {
    const r = await run(['--import', 'tsx', 'examples/reader.ts']);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ status: 'placed', source: 'store' });
  });
});
