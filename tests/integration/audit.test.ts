// The audit trail end to end, on both modes: each audited action leaves a record with actor, tenant,
// action, resource, outcome, trace id and time; GET /v1/audit (admin scope) pages and filters them, per
// tenant; `logfront audit` prints them; an erased subject appears only as an HMAC.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogfront, type Logfront } from '../../app/compose.ts';
import type { Config } from '../../app/config.ts';
import { sampleDomain } from '../../app/domain.ts';
import { createHttpServer } from '../../app/http.ts';
import type { AuditRecord } from '../../core/security/audit.ts';
import { SCOPES, sha256Hex } from '../../core/security/auth.ts';
import { cli } from '../support/cli.ts';
import { poisonable } from '../support/domain.ts';
import { orderPlaced, orderPlacedBy } from '../support/orders.ts';
import { embeddedConfig, services, servicesConfig, uniqueId, waitFor } from '../support/services.ts';

const dir = mkdtempSync(join(tmpdir(), 'logfront-audit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const KEYS = {
  ops: { tenant: 'default', scopes: [...SCOPES] },
  reader: { tenant: 'default', scopes: ['read'] },
  acme: { tenant: 'acme', scopes: [...SCOPES] },
} as const;
type KeyName = keyof typeof KEYS;
const tokenOf = (name: KeyName) => `audit-key-${name}-0123456789`;
const keysFile = join(dir, 'keys.json');
writeFileSync(
  keysFile,
  JSON.stringify(
    Object.entries(KEYS).map(([id, k]) => ({ id, keySha256: sha256Hex(tokenOf(id as KeyName)), ...k })),
  ),
);
const AUTH = { LOGFRONT_AUTH: 'tokens', LOGFRONT_API_KEYS_FILE: keysFile };
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const traceparent = `00-${TRACE}-00f067aa0ba902b7-01`;

interface Page {
  items: AuditRecord[];
  next: string | null;
}

for (const [mode, config] of [
  ['embedded', () => embeddedConfig(AUTH)],
  ['Kafka', () => servicesConfig({ ...AUTH, LOGFRONT_KEK: randomBytes(32).toString('base64') })],
] as [string, () => Config][]) {
  describe(`the audit trail (${mode})`, () => {
    const fix = { fixed: false };
    const letters = poisonable(`p_audit_${uniqueId()}`, 'skip', fix);
    let lf: Logfront;
    let app: FastifyInstance;
    let url = '';
    const started = new Date().toISOString();

    beforeAll(async () => {
      lf = await createLogfront(config(), {
        domain: { eventTypes: sampleDomain.eventTypes, projections: [...sampleDomain.projections, letters] },
      });
      await lf.startRunners();
      app = createHttpServer(lf);
      url = await app.listen({ host: '127.0.0.1', port: 0 });
    }, 120_000);
    afterAll(async () => {
      await app?.close();
      await lf?.close();
    });

    const send = async (method: string, path: string, token?: KeyName | 'bad', body?: unknown) => {
      const r = await fetch(`${url}${path}`, {
        method,
        headers: {
          traceparent,
          ...(token ? { authorization: `Bearer ${token === 'bad' ? 'not-a-key' : tokenOf(token)}` } : {}),
          ...(body === undefined || Buffer.isBuffer(body) ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: Buffer.isBuffer(body) ? body : JSON.stringify(body) }),
      });
      const text = await r.text();
      return { status: r.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
    };
    /** every record of the query, page after page, once the queue is written */
    const records = async (query: Record<string, string> = {}, token: KeyName = 'ops') => {
      await lf.audit.flush();
      const found: AuditRecord[] = [];
      let cursor: string | null = null;
      do {
        const q = new URLSearchParams({ ...query, limit: '1000', ...(cursor ? { cursor } : {}) });
        const r = await send('GET', `/v1/audit?${q}`, token);
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        const page = r.body as unknown as Page;
        found.push(...page.items);
        cursor = page.next;
      } while (cursor);
      return found;
    };
    const expectFields = (r: AuditRecord | undefined) => {
      expect(r).toBeDefined();
      expect(Object.keys(r!)).toEqual(
        expect.arrayContaining(['id', 'time', 'action', 'actor', 'tenant', 'resource', 'outcome', 'traceId']),
      );
      expect(Date.parse(r!.time)).toBeGreaterThanOrEqual(Date.parse(started) - 1000);
    };

    it('acl.denied (with the reason) and auth.failed, best effort: the request is answered as before', async () => {
      expect((await send('POST', '/v1/projections/orders/rebuild', 'reader', {})).status).toBe(403);
      expect((await send('GET', '/v1/projections', 'bad')).status).toBe(401);
      expect((await send('GET', '/v1/audit', 'reader')).status).toBe(403);
      const denied = await records({ action: 'acl.denied' });
      const rebuild = denied.find((r) => r.resource === 'projection/orders');
      expectFields(rebuild);
      expect(rebuild).toMatchObject({
        action: 'acl.denied',
        actor: 'reader',
        tenant: 'default',
        outcome: 'failure',
        traceId: TRACE,
        reason: 'the token lacks the admin scope',
        details: { scope: 'admin' },
      });
      expect(denied.some((r) => r.resource === 'audit' && r.actor === 'reader')).toBe(true);
      const failed = (await records({ action: 'auth.failed' })).find((r) =>
        r.resource.endsWith('/v1/projections'),
      );
      expectFields(failed);
      expect(failed).toMatchObject({
        actor: 'anonymous',
        tenant: 'default',
        resource: 'route/GET /v1/projections',
        outcome: 'failure',
        traceId: TRACE,
        reason: expect.stringMatching(/./),
      });
    });

    it('an erasure writes subject.erased (before and after) and object.deleted (rows); the subject only as an HMAC', async () => {
      const subject = `c-ada-${uniqueId()}`;
      const orderId = uniqueId();
      const placed = await send('POST', `/v1/streams/order-${orderId}/events`, 'ops', {
        events: [orderPlacedBy(orderId, subject)],
      });
      expect(placed.status).toBe(201);
      const read = await send(
        'GET',
        `/v1/projections/orders/rows/${orderId}?after=${placed.body.position}&maxStalenessMs=20000`,
        'ops',
      );
      expect(read.status).toBe(200);
      const erased = await send('DELETE', `/v1/subjects/${subject}`, 'ops');
      expect(erased).toMatchObject({ status: 202, body: { keysDestroyed: 1, rowsDeleted: { orders: 1 } } });

      const ref = lf.audit.subjectRef('default', subject);
      const trail = (await records()).filter(
        (r) => r.resource === `subject/${ref}` || r.details?.subject === ref,
      );
      expect(trail.map((r) => `${r.action} ${r.outcome}`)).toEqual([
        'subject.erased started',
        'object.deleted success',
        'subject.erased success',
      ]);
      for (const r of trail) {
        expectFields(r);
        expect(r).toMatchObject({ actor: 'ops', tenant: 'default', traceId: TRACE });
      }
      expect(trail[1]).toMatchObject({ resource: 'projection/orders', details: { kind: 'rows', rows: 1 } });
      expect(trail[2]!.details).toMatchObject({ keysDestroyed: 1, rowsDeleted: { orders: 1 } });
      const text = JSON.stringify(await records());
      const sha = createHash('sha256').update(subject).digest('hex');
      expect(text).not.toContain(subject);
      expect(text).not.toContain(sha.slice(0, 12));
      expect(ref).not.toContain(sha.slice(0, 12));
    });

    it('projection.rebuilt: when it starts (by whom) and when the new generation is active', async () => {
      const r = await send('POST', '/v1/projections/orders/rebuild', 'ops', {});
      expect(r.status).toBe(202);
      const generation = r.body.generation;
      await waitFor(
        async () =>
          (await records({ action: 'projection.rebuilt' })).some(
            (x) => x.outcome === 'success' && x.details?.generation === generation,
          ),
        60_000,
      );
      const rebuilt = (await records({ action: 'projection.rebuilt' })).filter(
        (x) => x.details?.generation === generation,
      );
      expect(rebuilt.map((x) => x.outcome)).toEqual(['started', 'success']);
      for (const x of rebuilt) {
        expectFields(x);
        expect(x).toMatchObject({ actor: 'ops', tenant: 'default', resource: 'projection/orders' });
      }
      expect(rebuilt[0]!.traceId).toBe(TRACE);
      expect((await send('POST', '/v1/projections/nope/rebuild', 'ops', {})).status).toBe(404);
      expect(
        (await records({ action: 'projection.rebuilt' })).some(
          (x) => x.resource === 'projection/nope' && x.outcome === 'failure',
        ),
      ).toBe(true);
    });

    it('dead_letter.retried and dead_letter.skipped, failures included', async () => {
      const [a, b] = [uniqueId(), uniqueId()];
      const cancel = (orderId: string) => ({ type: 'OrderCancelled', data: { orderId, reason: 'poison' } });
      const s = `order-${uniqueId()}`;
      expect(
        (
          await send('POST', `/v1/streams/${s}/events`, 'ops', {
            events: [orderPlaced(a), cancel(a), orderPlaced(b), cancel(b)],
          })
        ).status,
      ).toBe(201);
      let items: { id: string }[] = [];
      await waitFor(async () => {
        items = (await send('GET', `/v1/projections/${letters.name}/dead-letters`, 'ops')).body.items as {
          id: string;
        }[];
        return items.length === 2;
      }, 60_000);
      const [first, second] = items;
      const base = `/v1/projections/${letters.name}/dead-letters`;
      expect((await send('POST', `${base}/${first!.id}/retry`, 'ops')).status).toBe(422);
      fix.fixed = true;
      expect((await send('POST', `${base}/${first!.id}/retry`, 'ops')).status).toBe(200);
      expect((await send('POST', `${base}/${second!.id}/skip`, 'ops')).status).toBe(200);
      const retried = await records({ action: 'dead_letter.retried' });
      expect(retried.map((r) => [r.resource, r.outcome])).toEqual([
        [`projection/${letters.name}/dead-letters/${first!.id}`, 'failure'],
        [`projection/${letters.name}/dead-letters/${first!.id}`, 'success'],
      ]);
      expect(retried[0]!.reason).toMatch(/still fails/);
      expect(retried[1]).toMatchObject({
        actor: 'ops',
        traceId: TRACE,
        details: { stream: s, type: 'OrderCancelled' },
      });
      const skipped = await records({ action: 'dead_letter.skipped' });
      expect(skipped).toHaveLength(1);
      expectFields(skipped[0]);
      expect(skipped[0]).toMatchObject({
        actor: 'ops',
        tenant: 'default',
        resource: `projection/${letters.name}/dead-letters/${second!.id}`,
        outcome: 'success',
      });
    });

    it('object.deleted (blobs): the object a new upload replaced, recorded before it is deleted', async () => {
      const blobId = `b-${uniqueId()}`;
      const put = async (text: string) => {
        const r = await send('PUT', `/v1/blobs/${blobId}`, 'ops', Buffer.from(text));
        expect(r.status, JSON.stringify(r.body)).toBe(201);
        const read = await send(
          'HEAD',
          `/v1/blobs/${blobId}?after=${r.body.position}&maxStalenessMs=30000`,
          'ops',
        );
        expect(read.status).toBe(200);
      };
      await put('first version');
      await put('second version, longer');
      await waitFor(
        async () =>
          (await records({ action: 'object.deleted' })).some(
            (r) => r.resource === `blob/${blobId}` && r.outcome === 'success',
          ),
        30_000,
      );
      const deleted = (await records({ action: 'object.deleted' })).filter(
        (r) => r.resource === `blob/${blobId}`,
      );
      expect(deleted.map((r) => r.outcome)).toEqual(['started', 'success']);
      expectFields(deleted[0]);
      expect(deleted[0]).toMatchObject({ actor: 'system', details: { kind: 'blob' } });
    });

    it('GET /v1/audit pages by cursor and filters by since and action; a tenant reads its own records', async () => {
      const everything = await records();
      expect(everything.length).toBeGreaterThan(6);
      const first = (await send('GET', '/v1/audit?limit=3', 'ops')).body as unknown as Page;
      expect(first.items.map((r) => r.id)).toEqual(everything.slice(0, 3).map((r) => r.id));
      // the cursor is the position of the next record
      expect(first.next).toBe((BigInt(first.items[2]!.id) + 1n).toString());
      const second = (await send('GET', `/v1/audit?limit=3&cursor=${first.next}`, 'ops'))
        .body as unknown as Page;
      expect(second.items.map((r) => r.id)).toEqual(everything.slice(3, 6).map((r) => r.id));

      const middle = everything[Math.floor(everything.length / 2)]!;
      const since = await records({ since: middle.time });
      expect(since.length).toBeGreaterThan(0);
      expect(since.every((r) => Date.parse(r.time) >= Date.parse(middle.time))).toBe(true);
      expect(since.map((r) => r.id)).toEqual(
        everything.filter((r) => Date.parse(r.time) >= Date.parse(middle.time)).map((r) => r.id),
      );
      const skipped = await records({ action: 'dead_letter.skipped', since: started });
      expect(skipped.map((r) => r.action)).toEqual(['dead_letter.skipped']);

      // tenants: acme's own records only; another tenant's is a 403
      expect((await send('POST', '/v1/projections/orders/rebuild', 'acme', {})).status).toBe(202);
      const acme = await records({}, 'acme');
      expect(acme.length).toBeGreaterThan(0);
      expect(acme.every((r) => r.tenant === 'acme')).toBe(true);
      expect(everything.some((r) => r.tenant === 'acme')).toBe(false);
      expect((await send('GET', '/v1/audit?tenant=default', 'acme')).status).toBe(403);

      for (const bad of ['limit=0', 'cursor=x', 'action=nope', 'since=yesterday', 'other=1']) {
        const r = await send('GET', `/v1/audit?${bad}`, 'ops');
        expect({ bad, status: r.status, error: r.body.error }).toEqual({
          bad,
          status: 400,
          error: 'validation_failed',
        });
      }
    });

    it('logfront audit prints the records, as a table or JSON, and the cursor of the next page', async () => {
      const env = { LOGFRONT_URL: url, LOGFRONT_TOKEN: tokenOf('ops') };
      const json = await cli(['audit', '--action', 'acl.denied', '--since', '1h', '--json'], env).done;
      expect(json.code, json.err).toBe(0);
      const page = JSON.parse(json.out) as Page;
      expect(page.items.length).toBeGreaterThan(0);
      expect(page.items.every((r) => r.action === 'acl.denied')).toBe(true);
      const table = await cli(['audit', '--limit', '2'], env).done;
      expect(table.code, table.err).toBe(0);
      const lines = table.out.split('\n');
      expect(lines[0]).toMatch(
        /^time\s+action\s+outcome\s+actor\s+tenant\s+resource\s+traceId\s+reason\s+details$/,
      );
      expect(lines).toHaveLength(5);
      expect(lines[4]).toMatch(/^next page: --cursor \d+$/);
      const cursor = lines[4]!.replace('next page: --cursor ', '');
      const more = await cli(['audit', '--cursor', cursor, '--action', 'subject.erased'], env).done;
      expect(more.out).toMatch(/subject\.erased\s+success\s+ops\s+default\s+subject\/hmac:[0-9a-f]{32}/);
      expect((await cli(['audit', '--since', 'last week'], env).done).code).toBe(2);
      const forbidden = await cli(['audit'], { ...env, LOGFRONT_TOKEN: tokenOf('reader') }).done;
      expect(forbidden).toMatchObject({ code: 1, err: expect.stringMatching(/^logfront: forbidden: /) });
      const none = await cli(
        ['audit', '--since', '2h', '--action', 'schema.registered', '--tenant', 'acme'],
        {
          ...env,
          LOGFRONT_TOKEN: tokenOf('acme'),
        },
      ).done;
      expect(none.out).toBe('(no audit records)');
    });

    if (mode === 'Kafka') {
      it('schema.registered: by the server on first use of a type, and by logfront schemas register', async () => {
        const registered = await records({ action: 'schema.registered' });
        const orderPlacedSubject = `${lf.config.topicPrefix}.OrderPlaced`;
        const byServer = registered.find((r) => r.resource === `schema/${orderPlacedSubject}`);
        expectFields(byServer);
        expect(byServer).toMatchObject({ actor: 'system', tenant: 'default', outcome: 'success' });
        expect(typeof byServer!.details?.schemaId).toBe('number');

        const r = await cli(['schemas', 'register', '--json'], {
          ...services(),
          LOGFRONT_TOPIC_PREFIX: lf.config.topicPrefix,
          LOGFRONT_DATABASE_SCHEMA: lf.config.database.schema,
        }).done;
        expect(r.code, r.err).toBe(0);
        const byCli = (await records({ action: 'schema.registered' })).filter((x) =>
          x.actor.startsWith('cli'),
        );
        expect(byCli.map((x) => x.resource)).toEqual(
          ['OrderPlaced', 'OrderShipped', 'OrderCancelled'].map(
            (t) => `schema/${lf.config.topicPrefix}.${t}`,
          ),
        );
      });
    }
  });
}

describe('logfront schemas register without a Kafka to record it', () => {
  it('registers, and says on stderr that the audit log was not written', async () => {
    const r = await cli(['schemas', 'register'], {
      LOGFRONT_SCHEMA_REGISTRY_URL: services().LOGFRONT_SCHEMA_REGISTRY_URL,
      LOGFRONT_TOPIC_PREFIX: `t${uniqueId()}`,
    }).done;
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/^logfront: note: 3 audit records not written: no audit log/);
  });
});
