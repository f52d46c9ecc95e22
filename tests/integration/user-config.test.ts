import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../app/client.ts';
import { cli, devTokens, run } from '../support/cli.ts';
import { services, uniqueId } from '../support/services.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'bin', 'logfront.js');
const DOC = readFileSync(join(ROOT, 'docs', 'writing-projections.md'), 'utf8');
const exec = promisify(execFile);

/** the config block of docs/writing-projections.md, exactly as written there */
const docConfig = () => {
  const block = [...DOC.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const config = block.find((b) => b.startsWith('// logfront.config.ts\n'));
  if (!config) throw new Error('docs/writing-projections.md has no logfront.config.ts block');
  return config;
};

/** the shell commands of the doc's example, in order */
const docCommands = () => {
  const start = DOC.indexOf('Then, in the same directory:');
  const block = /```sh\n([\s\S]*?)```/.exec(DOC.slice(start))![1]!;
  return block.split('\n').filter((l) => l.trim());
};

const review = (id: string, sku: string, stars: number) =>
  JSON.stringify({ reviewId: id, sku, stars, authorEmail: `${id}@example.com` });

describe('a user config written as docs/writing-projections.md says', () => {
  let dir = '';
  let child: ChildProcess | undefined;
  let url = '';
  let banner = '';
  let get = '';
  let token = '';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'logfront-user-'));
    writeFileSync(join(dir, 'logfront.config.ts'), docConfig());
    const [devLine, ...rest] = docCommands();
    expect(devLine).toBe('npx logfront dev --reset');
    // the doc's `npx logfront dev --reset`, in the config's directory, on a free port
    child = spawn(process.execPath, [BIN, 'dev', '--reset', '--port', '0'], {
      cwd: dir,
      env: { ...process.env, LOGFRONT_LOG_LEVEL: 'warn', LOGFRONT_CONFIG: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let errors = '';
    child.stderr!.on('data', (d: Buffer) => {
      errors += d.toString();
    });
    url = await new Promise<string>((resolve, reject) => {
      child!.stdout!.on('data', (d: Buffer) => {
        banner += d.toString();
        const m = /listening on (\S+)/.exec(banner);
        if (m && banner.includes('try:')) resolve(m[1]!);
      });
      child!.on('exit', (code) => reject(new Error(`dev exited ${code}: ${errors}`)));
    });
    // its dev key, for the commands below run from elsewhere
    token = readFileSync(join(dir, '.logfront', 'dev-key'), 'utf8').trim();
    devTokens.set(url, token);
    // the doc's append and get, as written, against that server
    for (const line of rest) {
      const command = line.replace('npx logfront', `node ${BIN}`);
      const r = await exec('bash', ['-c', command], {
        cwd: dir,
        env: { ...process.env, LOGFRONT_URL: url, LOGFRONT_LOG_LEVEL: 'warn' },
      });
      if (line.includes(' get ')) get = r.stdout;
    }
  });

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('dev loads it from the working directory and says so', () => {
    expect(banner).toContain(`config: ${join(dir, 'logfront.config.ts')}`);
    expect(banner).toMatch(/event types: OrderPlaced, OrderShipped, OrderCancelled, ReviewPosted/);
    expect(banner).toMatch(/projections: orders, product_ratings/);
    // the compiled copy it imports is gone
    expect(readdirSync(dir).filter((f) => f.endsWith('.mjs'))).toEqual([]);
  });

  it("the doc's append of the new event type and read of the new projection work", () => {
    expect(get).toMatch(/sku\s+reviews\s+stars/);
    expect(get).toMatch(/lamp\s+1\s+4/);
  });

  it('the new projection folds further appends; the sample domain it kept still works', async () => {
    const sku = `sku-${uniqueId()}`;
    for (const [i, stars] of [5, 3].entries()) {
      const r = await run([
        'append',
        `review-${sku}-${i}`,
        'ReviewPosted',
        '--data',
        review(`r${i}`, sku, stars),
        '--url',
        url,
        '--json',
      ]);
      expect(r.code, r.err).toBe(0);
    }
    const client = createClient(url, token);
    const last = await client.append(`review-${sku}-2`, [
      { type: 'ReviewPosted', data: JSON.parse(review('r2', sku, 1)) },
    ]);
    const row = await client.get('product_ratings', sku, { after: last.position, maxStalenessMs: 5000 });
    expect(row.data).toEqual({ sku, reviews: 3, stars: 9 });

    const placed = await client.append(`order-${sku}`, [
      {
        type: 'OrderPlaced',
        data: {
          orderId: sku,
          customerId: 'c1',
          customerEmail: 'c1@example.com',
          items: [{ sku, qty: 1, priceCents: 100 }],
          totalCents: 100,
        },
      },
    ]);
    const order = await client.get('orders', sku, { after: placed.position, maxStalenessMs: 5000 });
    expect(order.data).toMatchObject({ orderId: sku, status: 'placed' });
  });

  it("the new event type is validated by the config's schema", async () => {
    const bad = await run([
      'append',
      'review-x',
      'ReviewPosted',
      '--data',
      JSON.stringify({ reviewId: 'x', sku: 'lamp', stars: 9, authorEmail: 'x@example.com' }),
      '--url',
      url,
    ]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/^logfront: validation_failed: .*events\.0\.data\.stars/);
  });
});

describe('a broken user config', () => {
  const dir = mkdtempSync(join(tmpdir(), 'logfront-badcfg-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const devWith = async (name: string, source: string, via: 'flag' | 'env' = 'flag') => {
    const file = join(dir, name);
    writeFileSync(file, source);
    const r = await cli(
      ['dev', '--data', join(dir, 'data'), '--port', '0', ...(via === 'flag' ? ['--config', file] : [])],
      { LOGFRONT_LOG_LEVEL: 'warn', ...(via === 'env' ? { LOGFRONT_CONFIG: file } : {}) },
    ).done;
    expect(r.code).toBe(1);
    expect(r.err.split('\n')).toHaveLength(1);
    return r.err;
  };

  it('that does not compile stops dev with the file, line and reason', async () => {
    const err = await devWith(
      'syntax.config.ts',
      "import { defineConfig } from 'logfront';\nconst x = oops oops;\n",
    );
    expect(err).toMatch(/^logfront: config_invalid: invalid configuration: syntax\.config\.ts:2:\d+: /);
  });

  it('that throws while loading stops dev with the reason', async () => {
    const err = await devWith(
      'throws.config.ts',
      "import { defineProjection } from 'logfront';\nexport default { eventTypes: [], projections: [defineProjection({ name: 'Bad Name', key: 'k', columns: { k: 'text' }, categories: ['x'], on: {} })] };\n",
    );
    expect(err).toMatch(/throws\.config\.ts: failed to load: projection name "Bad Name" must match/);
  });

  it('named by LOGFRONT_CONFIG, whose projection handles an unknown event type, stops dev', async () => {
    const err = await devWith(
      'unknown-type.config.ts',
      `import { defineConfig, defineEventType, defineProjection, upsert, z } from 'logfront';
const A = defineEventType('A', z.object({ id: z.string() }));
export default defineConfig({
  eventTypes: [A],
  projections: [defineProjection({ name: 'a', key: 'id', columns: { id: 'text' }, categories: ['a'], on: { B: () => upsert({ id: 'x' }) } })],
});
`,
      'env',
    );
    expect(err).toMatch(/unknown-type\.config\.ts: projection a handles B, which is not among eventTypes/);
  });

  it('that exports no config, or that does not exist, stops dev', async () => {
    expect(await devWith('empty.config.ts', 'export const x = 1;\n')).toMatch(
      /empty\.config\.ts: the default export must be defineConfig/,
    );
    const missing = await run(['dev', '--config', join(dir, 'nope.ts'), '--data', join(dir, 'data')]);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/nope\.ts: no such file/);
  });

  it('serve refuses a broken config before it connects to anything', async () => {
    const file = join(dir, 'serve.config.ts');
    writeFileSync(file, 'export default 42;\n');
    const r = await cli(['serve', '--config', file], { ...services(), LOGFRONT_LOG_LEVEL: 'warn' }).done;
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      'logfront: config_invalid: invalid configuration: serve.config.ts: the default export must be defineConfig({ eventTypes, projections })',
    );
  });

  it("schemas register reads the config's event types too", async () => {
    const cfg = join(dir, 'schemas');
    mkdirSync(cfg, { recursive: true });
    writeFileSync(join(cfg, 'logfront.config.ts'), docConfig());
    const prefix = `t${uniqueId()}`;
    const r = await cli(['schemas', 'register', '--json', '--config', join(cfg, 'logfront.config.ts')], {
      LOGFRONT_SCHEMA_REGISTRY_URL: services().LOGFRONT_SCHEMA_REGISTRY_URL,
      LOGFRONT_TOPIC_PREFIX: prefix,
    }).done;
    expect(r.code, r.err).toBe(0);
    expect(
      (JSON.parse(r.out) as { subjects: { subject: string }[] }).subjects.map((s) => s.subject),
    ).toContain(`${prefix}.ReviewPosted`);
  });
});
