// The client commands in-process against a dev server of a domain the test controls (rebuild --json and
// a rebuild that fails, a stale read, an erasure with no subject column), and dev's banner without
// authentication and with a config file.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../app/client.ts';
import { sampleDomain } from '../../app/domain.ts';
import type { RecordedEvent } from '../../core/types.ts';
import { defineProjection, upsert } from '../../projections/define.ts';
import type { OrderPlacedData } from '../../sample/order-events.ts';
import { cli, devTokens, run } from '../support/cli.ts';
import { orderPlaced } from '../support/orders.ts';
import { uniqueId } from '../support/services.ts';

/** how the projection below behaves: with `refuse` set, every event is poison */
const control = { refuse: false };
const tallies = defineProjection({
  name: 'tallies',
  key: 'orderId',
  categories: ['order'],
  onError: 'halt',
  retries: 0,
  columns: { orderId: 'text', lines: 'integer' },
  on: {
    OrderPlaced: (e: RecordedEvent<OrderPlacedData>) => {
      if (control.refuse) throw new Error('tallies are closed');
      return upsert({ orderId: e.data.orderId, lines: e.data.items.length });
    },
  },
});

describe('client commands against a dev server of a controlled domain', () => {
  const dir = mkdtempSync(join(tmpdir(), 'logfront-cmds-'));
  let server: ReturnType<typeof cli>;
  let url = '';
  let token = '';
  const orderIds = Array.from({ length: 30 }, () => uniqueId());

  beforeAll(async () => {
    server = cli(
      ['dev', '--data', dir, '--port', '0'],
      { LOGFRONT_LOG_LEVEL: 'fatal' },
      { eventTypes: sampleDomain.eventTypes, projections: [tallies] },
    );
    url = (await server.waitForLine(/^listening on /)).replace('listening on ', '');
    token = (await server.waitForLine(/^dev key: /)).replace('dev key: ', '');
    devTokens.set(url, token);
    const client = createClient(url, token);
    const r = await client.append(
      `order-${uniqueId()}`,
      orderIds.map((id) => orderPlaced(id)),
    );
    await client.get('tallies', orderIds.at(-1)!, { after: r.position, maxStalenessMs: 30_000 });
  });
  afterAll(async () => {
    server?.stop();
    await server?.done;
    rmSync(dir, { recursive: true, force: true });
  });

  it('rebuild --json prints the generation that became active and how long it took', async () => {
    const r = await run(['rebuild', 'tallies', '--json', '--url', url]);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ name: 'tallies', generation: 2, seconds: expect.any(Number) });
  });

  it('rebuild exits 1 with the reason when the new generation halts; the active one still serves', async () => {
    control.refuse = true;
    const r = await run(['rebuild', 'tallies', '--url', url]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /^logfront: the rebuild of tallies stopped before the switch: Error: tallies are closed/,
    );
    const p = await run(['projections', '--json', '--url', url]);
    expect(JSON.parse(p.out).projections[0]).toMatchObject({
      name: 'tallies',
      generation: 2,
      rebuilding: null,
    });
    expect((await run(['get', 'tallies', orderIds[0]!, '--url', url])).code).toBe(0);
  });

  it('get marks a row served past its staleness budget as stale', async () => {
    control.refuse = true;
    // the active generation halts on this event: the projection is stale from now on
    await createClient(url, token).append(`order-${uniqueId()}`, [orderPlaced(uniqueId())]);
    const r = await run([
      'get',
      'tallies',
      orderIds[1]!,
      '--max-staleness-ms',
      '0',
      '--on-stale',
      'serve',
      '--url',
      url,
    ]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/orderId\s+lines/);
    expect(r.out).toMatch(/\nsource (store|cache), staleness \d+ ms \(stale\)$/);
  });

  it('erase where no projection names a subject column destroys keys and deletes no rows', async () => {
    const r = await run(['erase', `nobody-${uniqueId()}`, '--url', url]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^erased subject nobody-\w+ \(tenant default\): 0 data keys destroyed$/);
  });
});

describe('dev without authentication, with a config file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'logfront-devcfg-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('names the config and its domain, prints no key, and serves without a token from LOGFRONT_DATA_DIR', async () => {
    const file = join(dir, 'notes.config.ts');
    writeFileSync(
      file,
      `import { defineConfig, defineEventType, z } from 'logfront';
export default defineConfig({ eventTypes: [defineEventType('NoteTaken', z.object({ text: z.string() }))] });
`,
    );
    const data = join(dir, 'data');
    const server = cli(['dev', '--port', '0', '--config', file], {
      LOGFRONT_AUTH: 'none',
      LOGFRONT_DATA_DIR: data,
      LOGFRONT_LOG_LEVEL: 'fatal',
    });
    const url = (await server.waitForLine(/^listening on /)).replace('listening on ', '');
    const answer = await fetch(`${url}/v1/projections`);
    server.stop();
    const { code, out } = await server.done;
    expect(code).toBe(0);
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({ projections: [] });
    expect(out.split('\n')).toEqual([
      `logfront dev — embedded, data in ${data}`,
      `listening on ${url}`,
      `config: ${file}`,
      'event types: NoteTaken',
      'projections: (none)',
      `try: curl ${url}/v1/projections`,
    ]);
    expect(existsSync(join(data, 'pg'))).toBe(true);
  });
});
