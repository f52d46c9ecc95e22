import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiError, createClient } from '../../app/client.ts';
import { createLogfront, type Logfront } from '../../app/compose.ts';
import { createHttpServer } from '../../app/http.ts';
import { createLogger } from '../../app/logger.ts';
import { run } from '../support/cli.ts';
import { orderPlacedBy } from '../support/orders.ts';
import { embeddedConfig, uniqueId } from '../support/services.ts';

describe('erasing a data subject (embedded)', () => {
  let lf: Logfront;
  let app: FastifyInstance;
  let url = '';
  const logged: Record<string, unknown>[] = [];
  const client = () => createClient(url);

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk, _enc, done) {
        for (const line of chunk.toString().split('\n')) if (line) logged.push(JSON.parse(line));
        done();
      },
    });
    lf = await createLogfront(embeddedConfig(), { logger: createLogger('warn', sink) });
    await lf.startRunners();
    app = createHttpServer(lf);
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await app?.close();
    await lf?.close();
  });

  const appendAndWait = async (stream: string, event: object) => {
    const r = await client().append(stream, [event]);
    return r.position;
  };

  it("shreds the subject's sensitive fields in its events, deletes its rows, keeps everyone else's", async () => {
    const ada = `ada-${uniqueId()}`;
    const bob = `bob-${uniqueId()}`;
    const [o1, o2, o3] = [uniqueId(), uniqueId(), uniqueId()];
    await appendAndWait(`order-${o1}`, orderPlacedBy(o1, ada));
    await appendAndWait(`order-${o2}`, orderPlacedBy(o2, ada));
    const last = await appendAndWait(`order-${o3}`, orderPlacedBy(o3, bob));
    await client().get('orders', o3, { after: last, maxStalenessMs: 5000 });
    await client().get('orders', o1, { consistency: 'strong' });

    // decrypted on read while the key exists
    const before = await client().readStream(`order-${o1}`);
    expect((before.events[0]!.data as { customerEmail: string }).customerEmail).toBe(`${ada}@example.com`);

    const erased = await run(['erase', ada, '--json', '--url', url]);
    expect(erased.code, erased.err).toBe(0);
    expect(JSON.parse(erased.out)).toEqual({
      subjectId: ada,
      tenant: 'default',
      erased: true,
      keysDestroyed: 1,
      rowsDeleted: { orders: 2 },
      blobsDeleted: 0,
    });

    const after = await client().readStream(`order-${o1}`);
    expect(after.events[0]!.data).toMatchObject({ orderId: o1, customerId: ada, customerEmail: null });
    expect(after.events[0]!.metadata).toEqual({ erased: ['data.customerEmail'] });
    const kept = await client().readStream(`order-${o3}`);
    expect((kept.events[0]!.data as { customerEmail: string }).customerEmail).toBe(`${bob}@example.com`);

    const gone = await client()
      .get('orders', o1)
      .catch((e: ApiError) => e);
    expect(gone).toMatchObject({ status: 404 });
    expect((await client().get('orders', o3)).data).toMatchObject({ customerId: bob });
  });

  it('writes subject.erased to the audit log with actor, tenant, action, resource, outcome, never the id', async () => {
    const subject = `person-${uniqueId()}`;
    const o = uniqueId();
    await appendAndWait(`order-${o}`, orderPlacedBy(o, 'c-any', { subject, tenant: 'acme' }));
    const r = await fetch(`${url}/v1/subjects/${subject}?tenant=acme`, {
      method: 'DELETE',
      headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
    });
    expect(r.status).toBe(202);
    expect(await r.json()).toMatchObject({ subjectId: subject, tenant: 'acme', keysDestroyed: 1 });
    const records = (await lf.audit.query({ action: 'subject.erased', tenant: 'acme', limit: 100 })).items;
    expect(records.map((a) => a.outcome)).toEqual(['started', 'success']);
    expect(records[1]).toMatchObject({
      action: 'subject.erased',
      actor: 'anonymous',
      tenant: 'acme',
      resource: expect.stringMatching(/^subject\/hmac:[0-9a-f]{32}$/),
      outcome: 'success',
      traceId: '0af7651916cd43dd8448eb211c80319c',
      details: { keysDestroyed: 1 },
    });
    expect(JSON.stringify(records)).not.toContain(subject);
    expect(JSON.stringify(logged)).not.toContain(subject);
    // metadata.subject named the subject: the event's email is shredded although customerId is another
    const events = await client().readStream(`order-${o}`);
    expect(events.events[0]!.data).toMatchObject({ customerEmail: null });
  });

  it('a subject appended to again after its erasure gets a new key: new events read, old ones stay erased', async () => {
    const cyd = `cyd-${uniqueId()}`;
    const [o1, o2] = [uniqueId(), uniqueId()];
    await appendAndWait(`order-${o1}`, orderPlacedBy(o1, cyd));
    expect((await run(['erase', cyd, '--url', url])).out).toMatch(
      new RegExp(
        `^erased subject ${cyd} \\(tenant default\\): 1 data keys destroyed, \\d+ orders rows deleted$`,
      ),
    );
    await appendAndWait(`order-${o2}`, orderPlacedBy(o2, cyd));
    expect((await client().readStream(`order-${o1}`)).events[0]!.data).toMatchObject({ customerEmail: null });
    expect((await client().readStream(`order-${o2}`)).events[0]!.data).toMatchObject({
      customerEmail: `${cyd}@example.com`,
    });
    // erasing a subject that has no keys is not an error
    const again = await client().erase(`nobody-${uniqueId()}`);
    expect(again).toMatchObject({ erased: true, keysDestroyed: 0, rowsDeleted: { orders: 0 } });
  });

  it('every subject an append accepts can be erased: control characters, as long as a stream id', async () => {
    const odd = `\t${uniqueId()}\u001f ü`;
    const o = uniqueId();
    const placed = orderPlacedBy(o, odd);
    await appendAndWait(`order-${o}`, {
      ...placed,
      data: { ...placed.data, customerEmail: 'odd@example.com' },
    });
    const r = await fetch(`${url}/v1/subjects/${encodeURIComponent(odd)}`, { method: 'DELETE' });
    expect(r.status).toBe(202);
    expect(await r.json()).toMatchObject({ subjectId: odd, keysDestroyed: 1 });
    // a subject as long as a stream id (the subject of an event that names none) is one too
    const stream = `order-${uniqueId()}${'s'.repeat(190)}`;
    await appendAndWait(stream, orderPlacedBy(uniqueId(), 'c-x', { subject: stream }));
    expect(await client().erase(stream)).toMatchObject({ keysDestroyed: 1 });
  });

  it('a subject no append accepts is refused by both: too long, NUL; a tenant outside the tenant rule', async () => {
    const long = 'x'.repeat(301);
    const o = uniqueId();
    const byField = await client()
      .append(`order-${o}`, [orderPlacedBy(o, long)])
      .catch((e: ApiError) => e);
    expect(byField).toMatchObject({ status: 400, body: { issues: [{ path: 'events.0.data.customerId' }] } });
    const byMetadata = await client()
      .append(`order-${o}`, [orderPlacedBy(o, 'c-1', { subject: long })])
      .catch((e: ApiError) => e);
    expect(byMetadata).toMatchObject({
      status: 400,
      body: { issues: [{ path: 'events.0.metadata.subject' }] },
    });
    const tooLong = await fetch(`${url}/v1/subjects/${long}`, { method: 'DELETE' });
    expect(tooLong.status).toBe(400);
    expect(await tooLong.json()).toMatchObject({
      error: 'validation_failed',
      issues: [{ path: 'subjectId' }],
    });
    const nul = await fetch(`${url}/v1/subjects/a%00b`, { method: 'DELETE' });
    expect(nul.status).toBe(400);
    const cli = await run(['erase', 'ok', '--tenant', 'a\u0001', '--url', url]);
    expect(cli).toMatchObject({ code: 1 });
    expect(cli.err).toMatch(/^logfront: validation_failed: invalid query: tenant: /);
    // the SDK checks the tenant with the same rule as tokens and appends
    await expect(lf.erasure.erase('ok', { tenant: 'a b', actor: 'test' })).rejects.toMatchObject({
      code: 'validation_failed',
      issues: [{ path: 'tenant' }],
    });
    expect((await run(['erase', '--url', url])).code).toBe(2);
    expect((await run(['erase', 'a', 'b', '--url', url])).err).toMatch(/erase takes <subjectId>/);
  });
});
