import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { type Io, main } from '../../app/cli.ts';
import { createClient } from '../../app/client.ts';
import { devTokens, run, useDevServer } from '../support/cli.ts';
import { uniqueId } from '../support/services.ts';

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'logfront.js');

const placed = (orderId: string, qty = 1) => ({
  type: 'OrderPlaced',
  data: {
    orderId,
    customerId: 'c1',
    customerEmail: 'c1@example.com',
    items: [{ sku: 'book', qty, priceCents: 100 }],
    totalCents: qty * 100,
  },
});
const shipped = (orderId: string) => ({ type: 'OrderShipped', data: { orderId, carrier: 'DHL' } });

/** runs the CLI in-process with a given stdin and a fake terminal on stderr */
const runWith = async (argv: string[], options: { stdin?: string; tty?: boolean } = {}) => {
  const out: string[] = [];
  const err: string[] = [];
  const drawn: string[] = [];
  const io: Io = {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    env: { LOGFRONT_LOG_LEVEL: 'warn', LOGFRONT_TOKEN: devTokens.get(argv[argv.indexOf('--url') + 1]!) },
    untilStopped: () => Promise.resolve(),
    ...(options.stdin === undefined ? {} : { stdin: async () => options.stdin! }),
    ...(options.tty ? { tty: { write: (s: string) => drawn.push(s), columns: 120 } } : {}),
  };
  const code = await main(argv, io);
  return { code, out: out.join('\n'), err: err.join('\n'), drawn };
};

describe('logfront append --file', () => {
  const dev = useDevServer('logfront-bulk-');
  const dir = mkdtempSync(join(tmpdir(), 'logfront-ndjson-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('appends every line of an NDJSON file, each stream in order, with a progress bar on a terminal', async () => {
    const run = uniqueId();
    const lines: string[] = [];
    for (let i = 0; i < 120; i++) {
      const id = `${run}-${i}`;
      lines.push(JSON.stringify({ stream: `order-${id}`, ...placed(id, 1 + (i % 3)) }));
      if (i % 2 === 0) lines.push(JSON.stringify({ stream: `order-${id}`, ...shipped(id) }));
    }
    const file = join(dir, 'orders.ndjson');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const r = await runWith(['append', '--file', file, '--batch', '50', '--url', dev.url], { tty: true });
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(
      /^appended 180 events to 120 streams in 120 batches, [\d.]+ s \([\d,]+ events\/s\)$/,
    );
    expect(r.drawn.at(-2)).toMatch(/orders\.ndjson \[#{20}\] 100% 180\/180 events/);
    expect(r.drawn.at(-1)).toBe('\n');
    const client = createClient(dev.url, dev.token);
    const stream = await client.readStream(`order-${run}-4`);
    expect(stream.events.map((e) => e.type)).toEqual(['OrderPlaced', 'OrderShipped']);
    const row = await client.get('orders', `${run}-118`, { consistency: 'strong' });
    expect(row.data).toMatchObject({ status: 'shipped', itemCount: 2 });
  });

  it('reads stdin with -, sends lines without a stream to the argument, and answers JSON', async () => {
    const id = uniqueId();
    const stdin = [placed(id), shipped(id)].map((e) => JSON.stringify(e)).join('\n');
    const r = await runWith(['append', `order-${id}`, '--file', '-', '--json', '--url', dev.url], { stdin });
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ events: 2, streams: 1, batches: 1 });
    expect(r.err).toBe('');
    const events = await createClient(dev.url, dev.token).readStream(`order-${id}`);
    expect(events.events.map((e) => e.version)).toEqual([1, 2]);
  });

  it('from the real binary on a pipe: no bar, the summary on stdout', async () => {
    const id = uniqueId();
    const child = spawn(process.execPath, [BIN, 'append', `order-${id}`, '--file', '-', '--url', dev.url], {
      env: { ...process.env, LOGFRONT_TOKEN: dev.token },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.stdin.end(`${JSON.stringify(placed(id))}\n`);
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code, err).toBe(0);
    expect(out).toMatch(/^appended 1 events to 1 streams in 1 batches/);
    expect(err).toBe('');
  });

  it('a line that is not JSON fails the run naming the line, and nothing is appended', async () => {
    const id = uniqueId();
    const file = join(dir, 'broken.ndjson');
    writeFileSync(file, `${JSON.stringify({ stream: `order-${id}`, ...placed(id) })}\n{"stream": oops\n`);
    const r = await run(['append', '--file', file, '--url', dev.url]);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`logfront: ${file}: line 2: not valid JSON`);
    await expect(createClient(dev.url, dev.token).readStream(`order-${id}`)).rejects.toMatchObject({
      status: 404,
    });
  });

  it('an event the server refuses stops the run naming its line; batches before it stay appended', async () => {
    const id = uniqueId();
    const bad = { ...placed(`${id}-b`), data: { ...placed(`${id}-b`).data, items: [] } };
    const file = join(dir, 'refused.ndjson');
    writeFileSync(
      file,
      [
        { stream: `order-${id}-a`, ...placed(`${id}-a`) },
        { stream: `order-${id}-b`, ...placed(`${id}-b`) },
        { stream: `order-${id}-b`, ...bad },
      ]
        .map((l) => JSON.stringify(l))
        .join('\n'),
    );
    const r = await runWith(['append', '--file', file, '--url', dev.url]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      new RegExp(
        `^logfront: ${file}: line 3: validation_failed: data\\.items: .* \\(appended 1 of 3 events before it\\)$`,
      ),
    );
    expect((await createClient(dev.url, dev.token).readStream(`order-${id}-a`)).events).toHaveLength(1);
    await expect(createClient(dev.url, dev.token).readStream(`order-${id}-b`)).rejects.toMatchObject({
      status: 404,
    });
  });

  it('bad arguments: a missing file, --data with --file, a bad --batch', async () => {
    const missing = await run(['append', '--file', join(dir, 'nope.ndjson'), '--url', dev.url]);
    expect(missing).toMatchObject({
      code: 1,
      err: `logfront: cannot read ${join(dir, 'nope.ndjson')}: ENOENT`,
    });
    const both = await run(['append', 's-1', 'T', '--file', 'x', '--data', '{}']);
    expect(both.code).toBe(2);
    expect(both.err).toMatch(/append --file takes at most a <stream>/);
    const batch = await run(['append', '--file', 'x', '--batch', '0']);
    expect(batch).toMatchObject({
      code: 2,
      err: 'logfront: --batch takes a whole number of events from 1 to 100000',
    });
    const empty = await runWith(['append', '--file', '-', '--url', dev.url], { stdin: '\n' });
    expect(empty).toMatchObject({ code: 1, err: 'logfront: stdin: no events' });
  });
});
