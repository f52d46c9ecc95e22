// Dead letters over HTTP and the CLI: list in pages, retry after a fix, skip, resume a halted projection.
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogfront, type Logfront } from '../../app/compose.ts';
import { sampleDomain } from '../../app/domain.ts';
import { createHttpServer } from '../../app/http.ts';
import { run } from '../support/cli.ts';
import { poisonable } from '../support/domain.ts';
import { orderPlaced } from '../support/orders.ts';
import { embeddedConfig, uniqueId, waitFor } from '../support/services.ts';

const cancel = (orderId: string, reason: string) => ({ type: 'OrderCancelled', data: { orderId, reason } });

describe('dead letters over HTTP and the CLI (embedded)', () => {
  const fix = { fixed: false };
  const skipping = poisonable('p_http_skip', 'skip', fix);
  const halting = poisonable('p_http_halt', 'halt');
  let lf: Logfront;
  let app: FastifyInstance;
  let url = '';
  const call = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${url}${path}`, {
      method,
      ...(body === undefined
        ? {}
        : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };
  const letters = async (name: string, query = '') =>
    (await call('GET', `/v1/projections/${name}/dead-letters${query}`)).body as {
      items: { id: string; state: string; kind: string; type: string; position: string }[];
      next: string | null;
    };

  beforeAll(async () => {
    lf = await createLogfront(embeddedConfig(), {
      domain: { eventTypes: sampleDomain.eventTypes, projections: [skipping, halting] },
    });
    await lf.startRunners();
    app = createHttpServer(lf);
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await app?.close();
    await lf?.close();
  });

  it('lists, retries after a fix (once), skips, and resumes a halted projection', async () => {
    const [a, b, c] = [uniqueId(), uniqueId(), uniqueId()];
    const s = `order-${uniqueId()}`;
    const appended = await call('POST', `/v1/streams/${s}/events`, {
      events: [
        orderPlaced(a, 1),
        cancel(a, 'poison'),
        orderPlaced(b, 1),
        cancel(b, 'poison'),
        orderPlaced(c, 1),
      ],
    });
    expect(appended.status).toBe(201);
    await waitFor(async () => (await letters(skipping.name)).items.length === 2, 30_000);
    await waitFor(async () => (await lf.store.status(halting.name))?.state === 'halted', 30_000);

    const page = await letters(skipping.name, '?limit=1');
    expect(page.items).toHaveLength(1);
    expect(page.items[0]).toMatchObject({ state: 'pending', kind: 'handler', type: 'OrderCancelled' });
    expect(typeof page.items[0]!.position).toBe('string');
    const rest = await letters(skipping.name, `?limit=1&cursor=${page.next}`);
    const [first, second] = [page.items[0]!, rest.items[0]!];

    const failing = await call('POST', `/v1/projections/${skipping.name}/dead-letters/${first.id}/retry`);
    expect(failing.status).toBe(422);
    expect(failing.body).toMatchObject({ error: 'dead_letter_still_failing', id: first.id });
    // the row as the facade serves it (and caches it) before the retry
    const before = await call('GET', `/v1/projections/${skipping.name}/rows/${a}`);
    expect(before).toMatchObject({ status: 200, body: { data: { status: 'placed' } } });
    expect((await call('GET', `/v1/projections/${skipping.name}/rows/${a}`)).body.meta).toMatchObject({
      source: 'cache',
    });
    fix.fixed = true;
    const retried = await call('POST', `/v1/projections/${skipping.name}/dead-letters/${first.id}/retry`);
    expect(retried).toMatchObject({ status: 200, body: { deadLetter: { id: first.id, state: 'retried' } } });
    expect((await lf.store.get(skipping, a)).row).toMatchObject({ status: 'cancelled' });
    // no cache serves the row as it was before the retry
    const after = await call('GET', `/v1/projections/${skipping.name}/rows/${a}`);
    expect(after).toMatchObject({ status: 200, body: { data: { status: 'cancelled' } } });
    const again = await call('POST', `/v1/projections/${skipping.name}/dead-letters/${first.id}/retry`);
    expect(again).toMatchObject({ status: 409, body: { error: 'conflict' } });

    // the CLI: the other letter, skipped
    const env = { LOGFRONT_URL: url };
    const listed = await run(['dead-letters', 'list', skipping.name, '--state', 'pending', '--json'], env);
    expect(listed.code).toBe(0);
    expect((JSON.parse(listed.out) as { items: { id: string }[] }).items.map((l) => l.id)).toEqual([
      second.id,
    ]);
    const skipped = await run(['dead-letters', 'skip', skipping.name, second.id], env);
    expect(skipped).toMatchObject({ code: 0 });
    expect(skipped.out).toMatch(/skipped/);
    expect((await lf.store.get(skipping, b)).row).toMatchObject({ status: 'placed' });
    const notHalted = await run(['dead-letters', 'skip', skipping.name], env);
    expect(notHalted.code).toBe(1);
    expect(notHalted.err).toMatch(/not halted/);

    // the halted projection resumes past its poison event, by the CLI
    const resumed = await run(['dead-letters', 'skip', halting.name], env);
    expect(resumed.code).toBe(0);
    expect(resumed.out).toMatch(/resumed/);
    // it goes on to b's poison event and halts there again: the API resumes it
    await waitFor(async () => (await letters(halting.name)).items.length === 2, 30_000);
    await waitFor(async () => (await lf.store.status(halting.name))?.state === 'halted', 30_000);
    expect((await lf.store.get(halting, b)).row).toMatchObject({ status: 'placed' });
    expect((await lf.store.get(halting, c)).row).toBeNull();
    const api = await call('POST', `/v1/projections/${halting.name}/resume`);
    expect(api).toMatchObject({ status: 200, body: { name: halting.name, skipped: { state: 'skipped' } } });
    await waitFor(async () => (await lf.store.get(halting, c)).row !== null, 30_000);
    expect((await lf.store.status(halting.name))!.state).toBe('running');
  });

  it('answers bad requests with a 4xx in the API shape', async () => {
    const cases: [string, string, number, string][] = [
      ['GET', '/v1/projections/nope/dead-letters', 404, 'not_found'],
      ['GET', `/v1/projections/${skipping.name}/dead-letters?cursor=abc`, 400, 'validation_failed'],
      ['GET', `/v1/projections/${skipping.name}/dead-letters?limit=0`, 400, 'validation_failed'],
      ['GET', `/v1/projections/${skipping.name}/dead-letters?state=gone`, 400, 'validation_failed'],
      ['GET', `/v1/projections/${skipping.name}/dead-letters?bogus=1`, 400, 'validation_failed'],
      ['POST', `/v1/projections/${skipping.name}/dead-letters/123456789/retry`, 404, 'not_found'],
      ['POST', `/v1/projections/${skipping.name}/dead-letters/x%00/skip`, 404, 'not_found'],
      ['POST', '/v1/projections/nope/resume', 404, 'not_found'],
    ];
    for (const [method, path, status, error] of cases) {
      const r = await call(method, path);
      expect({ path, status: r.status, error: r.body.error }).toEqual({ path, status, error });
      expect(typeof r.body.message).toBe('string');
    }
  });
});

describe('the dead-letters command (embedded)', () => {
  const fix = { fixed: false };
  const projection = poisonable('p_cli_pages', 'skip', fix);
  let lf: Logfront;
  let app: FastifyInstance;
  let env: Record<string, string> = {};

  beforeAll(async () => {
    lf = await createLogfront(embeddedConfig(), {
      domain: { eventTypes: sampleDomain.eventTypes, projections: [projection] },
    });
    await lf.startRunners();
    app = createHttpServer(lf);
    env = { LOGFRONT_URL: await app.listen({ host: '127.0.0.1', port: 0 }) };
    const ids = [uniqueId(), uniqueId(), uniqueId()];
    await lf.append.appendToStream(`order-${uniqueId()}`, {
      events: ids.flatMap((id) => [orderPlaced(id, 1), cancel(id, 'poison')]),
    });
    await waitFor(async () => (await lf.deadLetters.list(projection.name)).items.length === 3, 30_000);
  });
  afterAll(async () => {
    await app?.close();
    await lf?.close();
  });

  it('lists a page as a table and says how to get the next; an empty page says so', async () => {
    const first = await run(['dead-letters', 'list', projection.name, '--limit', '2'], env);
    expect(first.code, first.err).toBe(0);
    const lines = first.out.split('\n');
    expect(lines[0]).toMatch(/^id\s+state\s+kind\s+type\s+stream\s+version\s+recordedAt\s+reason$/);
    expect(lines.filter((l) => /\spending\s+handler\s+OrderCancelled\s/.test(l))).toHaveLength(2);
    const next = /^next page: --cursor (\S+)$/.exec(lines.at(-1)!);
    expect(next).not.toBeNull();
    const rest = await run(
      ['dead-letters', 'list', projection.name, '--limit', '2', '--cursor', next![1]!],
      env,
    );
    expect(rest.code, rest.err).toBe(0);
    expect(rest.out.split('\n').filter((l) => /\spending\s+handler\s/.test(l))).toHaveLength(1);
    expect(rest.out).not.toMatch(/next page/);
    const none = await run(['dead-letters', 'list', projection.name, '--state', 'skipped'], env);
    expect(none).toMatchObject({ code: 0, out: '(no dead letters)' });
  });

  it('retry --json prints the letter as JSON once the fix lets it apply', async () => {
    const [letter] = (await lf.deadLetters.list(projection.name)).items;
    const failing = await run(['dead-letters', 'retry', projection.name, letter!.id, '--json'], env);
    expect(failing.code).toBe(1);
    expect(failing.err).toMatch(/^logfront: dead_letter_still_failing: /);
    fix.fixed = true;
    const retried = await run(['dead-letters', 'retry', projection.name, letter!.id, '--json'], env);
    expect(retried.code, retried.err).toBe(0);
    expect(JSON.parse(retried.out)).toMatchObject({
      id: letter!.id,
      state: 'retried',
      type: 'OrderCancelled',
    });
  });
});
