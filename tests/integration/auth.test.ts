// The security boundary over HTTP, on both modes: every route of the OpenAPI document wants a token
// (but the probes), each its scope; tenants see their own streams only; foreign Hosts and cross-site
// text/plain POSTs are refused; `serve` does not open a port nobody chose to open.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogfront, type Logfront } from '../../app/compose.ts';
import type { Config } from '../../app/config.ts';
import { sampleDomain } from '../../app/domain.ts';
import { createHttpServer } from '../../app/http.ts';
import { createLogger } from '../../app/logger.ts';
import { SCOPES, sha256Hex } from '../../core/security/auth.ts';
import { cli } from '../support/cli.ts';
import { orderPlaced, orderPlacedBy, orderShipped } from '../support/orders.ts';
import { embeddedConfig, services, servicesConfig, uniqueId } from '../support/services.ts';

const dir = mkdtempSync(join(tmpdir(), 'logfront-auth-'));
const KEYS = {
  none: { tenant: 'default', scopes: [] as string[] },
  append: { tenant: 'default', scopes: ['append'] },
  read: { tenant: 'default', scopes: ['read'] },
  admin: { tenant: 'default', scopes: ['admin'] },
  erase: { tenant: 'default', scopes: ['erase'] },
  metrics: { tenant: 'default', scopes: ['metrics'] },
  acme: { tenant: 'acme', scopes: [...SCOPES] },
  all: { tenant: 'default', scopes: [...SCOPES] },
} as const;
type KeyName = keyof typeof KEYS;
const tokenOf = (name: KeyName) => `key-${name}-0123456789abcdef`;
const keysFile = join(dir, 'keys.json');
writeFileSync(
  keysFile,
  JSON.stringify(
    Object.entries(KEYS).map(([name, k]) => ({
      id: name,
      keySha256: sha256Hex(tokenOf(name as KeyName)),
      ...k,
    })),
  ),
);
const JWT_SECRET = 'a-secret-of-at-least-thirty-two-characters';
const AUTH = { LOGFRONT_AUTH: 'tokens', LOGFRONT_API_KEYS_FILE: keysFile, LOGFRONT_JWT_SECRET: JWT_SECRET };

interface Operation {
  /** as the document names it: `GET /v1/projections/{name}/rows/{key}` */
  route: string;
  path: string;
  method: string;
  scope: string | undefined;
}

/** what a route does with tenants (docs/security.md#tenants) */
type Tenancy =
  /** the probes: no token at all */
  | 'probe'
  /** deployment-wide: it addresses no tenant's data (admin and metrics are operators' scopes) */
  | 'deployment'
  /** it addresses a tenant's data: another tenant's answers 404, or is not listed, or is not changed */
  | 'tenant';

/**
 * Every route of the OpenAPI document, and what it does with tenants. A route the document has and
 * this table does not fails the walk: a new route says how it handles tenants before it ships.
 */
const TENANCY: Record<string, Tenancy> = {
  'POST /v1/streams/{stream}/events': 'tenant',
  'GET /v1/streams/{stream}/events': 'tenant',
  'GET /v1/projections': 'deployment',
  'GET /v1/projections/{name}/rows/{key}': 'tenant',
  'GET /v1/projections/{name}/rows': 'tenant',
  'POST /v1/projections/{name}/rebuild': 'deployment',
  'GET /v1/projections/{name}/dead-letters': 'deployment',
  'POST /v1/projections/{name}/dead-letters/{id}/retry': 'deployment',
  'POST /v1/projections/{name}/dead-letters/{id}/skip': 'deployment',
  'POST /v1/projections/{name}/resume': 'deployment',
  'PUT /v1/blobs/{blobId}': 'tenant',
  'GET /v1/blobs/{blobId}': 'tenant',
  'HEAD /v1/blobs/{blobId}': 'tenant',
  'DELETE /v1/subjects/{subjectId}': 'tenant',
  'GET /v1/audit': 'tenant',
  'GET /metrics': 'deployment',
  'GET /openapi.json': 'deployment',
  'GET /healthz': 'probe',
  'GET /readyz': 'probe',
};

const KEK = randomBytes(32).toString('base64');

for (const [mode, config] of [
  ['embedded', () => embeddedConfig(AUTH)],
  ['Kafka, Postgres, Redis, S3', () => servicesConfig({ ...AUTH, LOGFRONT_KEK: KEK })],
] as [string, () => Config][]) {
  describe(`authentication and scopes (${mode})`, () => {
    let lf: Logfront;
    let app: FastifyInstance;
    let url = '';
    beforeAll(async () => {
      lf = await createLogfront(config(), { logger: createLogger('silent') });
      app = createHttpServer(lf);
      url = await app.listen({ host: '127.0.0.1', port: 0 });
    }, 60_000);
    afterAll(async () => {
      await app?.close();
      await lf?.close();
    });

    const send = async (method: string, path: string, token?: string, body?: unknown, headers = {}) => {
      const r = await fetch(`${url}${path}`, {
        method,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await r.text();
      return {
        status: r.status,
        headers: r.headers,
        body: (text && r.headers.get('content-type')?.includes('json') ? JSON.parse(text) : {}) as Record<
          string,
          unknown
        >,
      };
    };

    /** every operation of the served OpenAPI document, with its declared scope */
    const operations = async (): Promise<Operation[]> => {
      const doc = (await send('GET', '/openapi.json', tokenOf('none'))).body as {
        paths: Record<string, Record<string, { 'x-required-scope'?: string; security?: unknown[] }>>;
      };
      return Object.entries(doc.paths).flatMap(([path, methods]) =>
        Object.entries(methods).map(([method, op]) => ({
          route: `${method.toUpperCase()} ${path}`,
          path: path
            .replace('{stream}', `order-${uniqueId()}`)
            .replace('{name}', 'orders')
            .replace('{key}', 'k1')
            .replace('{blobId}', 'b1')
            .replace('{subjectId}', 's1')
            .replace('{id}', '1'),
          method: method.toUpperCase(),
          scope: op['x-required-scope'],
        })),
      );
    };

    it('walks the OpenAPI document: 401 without a token, 403 without the scope (audited), not refused with it', async () => {
      const ops = await operations();
      expect(ops.length).toBeGreaterThanOrEqual(19);
      let scoped = 0;
      let refused = 0;
      const deniedSeen = new Set<string>();
      for (const op of ops) {
        const probe = op.path === '/healthz' || op.path === '/readyz';
        const body = op.method === 'POST' || op.method === 'PUT' ? {} : undefined;
        const anonymous = await send(op.method, op.path, undefined, body);
        if (probe) {
          expect(anonymous.status, `${op.method} ${op.path}`).toBe(200);
          continue;
        }
        expect({ op: `${op.method} ${op.path}`, status: anonymous.status }).toEqual({
          op: `${op.method} ${op.path}`,
          status: 401,
        });
        if (op.method !== 'HEAD') expect(anonymous.body.error).toBe('unauthenticated');
        expect(anonymous.headers.get('www-authenticate')).toBe('Bearer');
        expect((await send(op.method, op.path, 'not-a-key', body)).status).toBe(401);
        refused += 2;
        if (!op.scope) {
          expect((await send(op.method, op.path, tokenOf('none'), body)).status).toBe(200);
          continue;
        }
        const lacking = await send(op.method, op.path, tokenOf('none'), body);
        expect({ op: `${op.method} ${op.path}`, status: lacking.status }).toEqual({
          op: `${op.method} ${op.path}`,
          status: 403,
        });
        scoped += 1;
        // this refusal's own acl.denied record: the principal, the scope it lacked
        await lf.audit.flush();
        const fresh = (await lf.audit.query({ action: 'acl.denied', limit: 1000 })).items.filter(
          (r) => r.actor === 'none' && !deniedSeen.has(r.id),
        );
        expect(fresh, op.route).toHaveLength(1);
        expect(fresh[0], op.route).toMatchObject({
          tenant: 'default',
          outcome: 'failure',
          details: { scope: op.scope },
        });
        deniedSeen.add(fresh[0]!.id);
        const allowed = await send(op.method, op.path, tokenOf(op.scope as KeyName), body);
        expect(
          allowed.status,
          `${op.method} ${op.path} with ${op.scope}: ${JSON.stringify(allowed.body)}`,
        ).not.toBe(401);
        expect(allowed.status, `${op.method} ${op.path} with ${op.scope}`).not.toBe(403);
      }
      // every refusal is in the audit log: each 403 an acl.denied of the principal, each 401 an auth.failed
      await lf.audit.flush();
      const denied = await lf.audit.query({ action: 'acl.denied', limit: 1000 });
      expect(denied.items.filter((r) => r.actor === 'none')).toHaveLength(scoped);
      const failed = await lf.audit.query({ action: 'auth.failed', limit: 1000 });
      expect(failed.items.length).toBeGreaterThanOrEqual(refused);
    });

    it("walks the OpenAPI document: on every route that addresses a tenant's data, another tenant's answers 404, is not listed or not changed", async () => {
      await lf.startRunners();
      const acme = tokenOf('acme');
      const other = tokenOf('all'); // every scope, in the default tenant
      const id = uniqueId();
      const customer = `c-${id}`;
      const stream = `order-${id}`;
      const budget = 'maxStalenessMs=20000';
      // acme's data: a stream, its row, two blobs (one of its subject), an audit record
      const placed = await send('POST', `/v1/streams/${stream}/events`, acme, {
        events: [orderPlacedBy(id, customer)],
      });
      expect(placed.status).toBe(201);
      const row = `/v1/projections/orders/rows/${id}`;
      expect((await send('GET', `${row}?after=${placed.body.position}&${budget}`, acme)).status).toBe(200);
      const putBlob = async (blobId: string, token: string, text: string, subject?: string) => {
        const r = await fetch(`${url}/v1/blobs/${blobId}`, {
          method: 'PUT',
          headers: {
            authorization: `Bearer ${token}`,
            'content-type': 'text/plain',
            ...(subject === undefined ? {} : { 'x-logfront-subject': subject }),
          },
          body: text,
        });
        expect(r.status, await r.clone().text()).toBe(201);
        return ((await r.json()) as { position: string }).position;
      };
      const getBlob = async (blobId: string, token: string, query = '') => {
        const r = await fetch(`${url}/v1/blobs/${blobId}${query}`, {
          headers: { authorization: `Bearer ${token}` },
        });
        return { status: r.status, text: await r.text() };
      };
      const blob = `b-${id}`;
      const replaced = `b-put-${id}`;
      for (const b of [blob, replaced]) {
        const at = await putBlob(b, acme, `acme ${b}`, b === blob ? customer : undefined);
        expect(await getBlob(b, acme, `?after=${at}&${budget}`)).toEqual({ status: 200, text: `acme ${b}` });
      }
      expect((await send('DELETE', `/v1/subjects/s-${id}`, acme)).status).toBe(202);
      const missing = await send('GET', `/v1/projections/orders/rows/nobody-${id}`, other);

      const checks: Record<string, () => Promise<void>> = {
        'POST /v1/streams/{stream}/events': async () => {
          // the events appended are the principal's tenant's: a body naming another is refused, and
          // they change the principal's rows only
          const named = await send('POST', `/v1/streams/order-${uniqueId()}/events`, other, {
            events: [{ ...orderShipped(id), metadata: { tenant: 'acme' } }],
          });
          expect(named).toMatchObject({ status: 403, body: { error: 'forbidden' } });
          const shipped = await send('POST', `/v1/streams/order-${uniqueId()}/events`, other, {
            events: [orderShipped(id)],
          });
          expect(shipped.status).toBe(201);
          const after = await send('GET', `${row}?after=${shipped.body.position}&${budget}`, acme);
          expect(after.body.data).toMatchObject({ status: 'placed' });
        },
        'GET /v1/streams/{stream}/events': async () => {
          expect(await send('GET', `/v1/streams/${stream}/events`, other)).toMatchObject({
            status: 404,
            body: { error: 'not_found' },
          });
          expect((await send('GET', `/v1/streams/${stream}/events`, acme)).status).toBe(200);
        },
        'GET /v1/projections/{name}/rows/{key}': async () => {
          // the same answer as a row nobody has: nothing says the row exists
          const foreign = await send('GET', row, other);
          expect(foreign.status).toBe(404);
          expect(foreign.body.error).toBe(missing.body.error);
          expect(foreign.body.message).toBe(String(missing.body.message).replace(`nobody-${id}`, id));
          expect((await send('GET', `${row}?consistency=strong`, other)).status).toBe(404);
          expect((await send('GET', row, acme)).status).toBe(200);
        },
        'GET /v1/projections/{name}/rows': async () => {
          const list = (token: string) =>
            send('GET', `/v1/projections/orders/rows?customerId=${customer}`, token);
          expect((await list(other)).body.items).toEqual([]);
          expect((await list(acme)).body.items).toMatchObject([{ orderId: id }]);
          const everything = await send('GET', '/v1/projections/orders/rows?limit=500', other);
          expect(
            (everything.body.items as { customerId: string }[]).some((r) => r.customerId === customer),
          ).toBe(false);
        },
        'PUT /v1/blobs/{blobId}': async () => {
          // the same blob id is the principal's own blob: the other tenant's is not replaced
          const at = await putBlob(replaced, other, 'default bytes');
          expect(await getBlob(replaced, other, `?after=${at}&${budget}`)).toEqual({
            status: 200,
            text: 'default bytes',
          });
          expect(await getBlob(replaced, acme)).toEqual({ status: 200, text: `acme ${replaced}` });
        },
        'GET /v1/blobs/{blobId}': async () => {
          expect((await getBlob(blob, other)).status).toBe(404);
        },
        'HEAD /v1/blobs/{blobId}': async () => {
          const head = (token: string) =>
            fetch(`${url}/v1/blobs/${blob}`, {
              method: 'HEAD',
              headers: { authorization: `Bearer ${token}` },
            });
          expect((await head(other)).status).toBe(404);
          expect((await head(acme)).status).toBe(200);
        },
        'DELETE /v1/subjects/{subjectId}': async () => {
          // an erasure acts in the principal's tenant: the other tenant's subject of that id keeps its rows
          expect((await send('DELETE', `/v1/subjects/${customer}?tenant=acme`, other)).status).toBe(403);
          const erased = await send('DELETE', `/v1/subjects/${customer}`, other);
          expect(erased).toMatchObject({
            status: 202,
            body: { rowsDeleted: { orders: 0 }, blobsDeleted: 0 },
          });
          expect((await send('GET', `${row}?consistency=strong`, acme)).status).toBe(200);
          // and its blob of the subject
          expect(await getBlob(blob, acme)).toEqual({ status: 200, text: `acme ${blob}` });
        },
        'GET /v1/audit': async () => {
          await lf.audit.flush();
          const records = async (token: string) =>
            (await send('GET', '/v1/audit?limit=1000', token)).body.items as { tenant: string }[];
          expect((await records(acme)).length).toBeGreaterThan(0);
          expect((await records(other)).filter((r) => r.tenant !== 'default')).toEqual([]);
          expect((await send('GET', '/v1/audit?tenant=acme', other)).status).toBe(403);
        },
      };

      const routes = (await operations()).map((op) => op.route);
      expect(
        Object.keys(TENANCY).filter((route) => !routes.includes(route)),
        'routes no longer served',
      ).toEqual([]);
      for (const route of routes) {
        const tenancy = TENANCY[route];
        expect(
          tenancy,
          `${route}: say in TENANCY (tests/integration/auth.test.ts) what it does with tenants`,
        ).toBeDefined();
        if (tenancy === 'tenant') {
          expect(
            checks[route],
            `${route} addresses a tenant's data: check another tenant's answer`,
          ).toBeDefined();
          await checks[route]!();
        } else {
          expect(checks[route], `${route} is ${tenancy}-wide: it has no tenant check`).toBeUndefined();
        }
      }
    }, 180_000);

    it('a JWT (HS256) names its principal; a bad signature or an expired one is 401', async () => {
      const sign = (claims: Record<string, unknown>, secret = JWT_SECRET, exp = '5m') =>
        new SignJWT(claims)
          .setProtectedHeader({ alg: 'HS256' })
          .setIssuedAt()
          .setExpirationTime(exp)
          .sign(new TextEncoder().encode(secret));
      const reader = await sign({ sub: 'svc-reader', scope: 'read' });
      expect((await send('GET', '/v1/projections', reader)).status).toBe(200);
      expect((await send('POST', '/v1/projections/orders/rebuild', reader, {})).status).toBe(403);
      expect(
        (await send('GET', '/v1/projections', await sign({ sub: 'x', scope: 'read' }, 'x'.repeat(40))))
          .status,
      ).toBe(401);
      const expired = await new SignJWT({ sub: 'x', scope: 'read' })
        .setProtectedHeader({ alg: 'HS256' })
        .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
        .sign(new TextEncoder().encode(JWT_SECRET));
      expect((await send('GET', '/v1/projections', expired)).status).toBe(401);
    });

    it("tenants: an append names its own tenant or none; another tenant's stream is a 404, to reads and appends", async () => {
      const id = uniqueId();
      const other = await send('POST', `/v1/streams/order-${id}/events`, tokenOf('acme'), {
        events: [{ ...orderPlaced(id), metadata: { tenant: 'globex' } }],
      });
      expect(other).toMatchObject({ status: 403, body: { error: 'forbidden' } });
      const placed = await send('POST', `/v1/streams/order-${id}/events`, tokenOf('acme'), {
        events: [orderPlaced(id)],
      });
      expect(placed.status).toBe(201);
      const own = await send('GET', `/v1/streams/order-${id}/events`, tokenOf('acme'));
      expect(own.status).toBe(200);
      expect((own.body.events as { metadata: { tenant?: string } }[])[0]!.metadata.tenant).toBe('acme');
      const foreign = await send('GET', `/v1/streams/order-${id}/events`, tokenOf('all'));
      expect(foreign).toMatchObject({ status: 404, body: { error: 'not_found' } });
      // nor can it be appended to, by any expected version; the stream keeps acme's one event
      for (const expectedVersion of [undefined, 'any', 1]) {
        const appended = await send('POST', `/v1/streams/order-${id}/events`, tokenOf('all'), {
          ...(expectedVersion === undefined ? {} : { expectedVersion }),
          events: [orderShipped(id)],
        });
        expect(appended).toMatchObject({ status: 404, body: { error: 'not_found' } });
      }
      const still = await send('GET', `/v1/streams/order-${id}/events`, tokenOf('acme'));
      expect((still.body.events as unknown[]).length).toBe(1);
      // a default-tenant append carries no tenant, as before
      const mine = uniqueId();
      expect(
        (
          await send('POST', `/v1/streams/order-${mine}/events`, tokenOf('all'), {
            events: [orderPlaced(mine)],
          })
        ).status,
      ).toBe(201);
      expect((await send('GET', `/v1/streams/order-${mine}/events`, tokenOf('acme'))).status).toBe(404);
      const erase = await send('DELETE', '/v1/subjects/s1?tenant=default', tokenOf('acme'));
      expect(erase).toMatchObject({ status: 403, body: { error: 'forbidden' } });
    });

    it('a foreign Host is 421 (DNS rebinding); a text/plain POST is 415 (cross-site forms)', async () => {
      const { request } = await import('node:http');
      const status = await new Promise<number>((resolve, reject) => {
        const req = request(`${url}/v1/projections`, {
          headers: { host: 'attacker.example:80', authorization: `Bearer ${tokenOf('all')}` },
        });
        req.on('response', (r) => {
          r.resume();
          resolve(r.statusCode!);
        });
        req.on('error', reject);
        req.end();
      });
      expect(status).toBe(421);
      const plain = await fetch(`${url}/v1/projections/orders/rebuild`, {
        method: 'POST',
        headers: { authorization: `Bearer ${tokenOf('all')}`, 'content-type': 'text/plain' },
        body: 'x',
      });
      expect(plain.status).toBe(415);
      expect(((await plain.json()) as { error: string }).error).toBe('unsupported_media_type');
      expect(
        (
          await send('GET', '/v1/projections', tokenOf('all'), undefined, {
            host: `localhost:${new URL(url).port}`,
          })
        ).status,
      ).toBe(200);
    });
  });
}

describe('the ACL hook of a deployment (embedded)', () => {
  it('refuses with its reason after the scope check, and allows what it returns true for', async () => {
    const seen: string[] = [];
    const lf = await createLogfront(embeddedConfig(AUTH), {
      domain: {
        ...sampleDomain,
        authorize: (principal, action, resource) => {
          seen.push(
            `${principal.id} ${action} ${resource.kind} ${resource.name ?? ''} ${resource.category ?? ''}`.trim(),
          );
          if (resource.kind === 'stream' && resource.category === 'payment')
            return 'payment streams are closed';
          return !(action === 'admin' && resource.name === 'orders');
        },
      },
    });
    const app = createHttpServer(lf);
    try {
      const url = await app.listen({ host: '127.0.0.1', port: 0 });
      const as = (path: string, method = 'GET') =>
        fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${tokenOf('all')}` } });
      const payment = await as('/v1/streams/payment-1/events');
      expect(payment.status).toBe(403);
      expect(((await payment.json()) as { message: string }).message).toMatch(/payment streams are closed/);
      const rebuild = await as('/v1/projections/orders/rebuild', 'POST');
      expect(rebuild.status).toBe(403);
      expect(((await rebuild.json()) as { message: string }).message).toMatch(/authorize hook refuses/);
      expect((await as('/v1/projections')).status).toBe(200);
      // a principal without the scope never reaches the hook
      await fetch(`${url}/v1/projections`, { headers: { authorization: `Bearer ${tokenOf('none')}` } });
      expect(seen).toEqual([
        'all read stream payment-1 payment',
        'all admin projection orders',
        'all read projection',
      ]);
    } finally {
      await app.close();
      await lf.close();
    }
  });
});

describe('rate limits per principal (embedded)', () => {
  it('a principal over its requests per minute gets 429 rate_limited with Retry-After; another is not held up', async () => {
    const lf = await createLogfront(embeddedConfig({ ...AUTH, LOGFRONT_RATE_LIMIT_PER_MINUTE: '5' }));
    const app = createHttpServer(lf);
    try {
      const url = await app.listen({ host: '127.0.0.1', port: 0 });
      const as = (key: KeyName) =>
        fetch(`${url}/v1/projections`, { headers: { authorization: `Bearer ${tokenOf(key)}` } });
      for (let i = 0; i < 5; i++) expect((await as('read')).status).toBe(200);
      const over = await as('read');
      expect(over.status).toBe(429);
      expect(over.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(((await over.json()) as { error: string }).error).toBe('rate_limited');
      expect((await as('all')).status).toBe(200);
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
    } finally {
      await app.close();
      await lf.close();
    }
  });
});

describe('serve and dev', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('serve without an auth configuration exits non-zero naming LOGFRONT_AUTH', async () => {
    const env = {
      ...services(),
      LOGFRONT_LOG_LEVEL: 'warn',
      LOGFRONT_TOPIC_PREFIX: `t${uniqueId()}`,
      LOGFRONT_PORT: '0',
    };
    const r = await cli(['serve'], env).done;
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/LOGFRONT_AUTH/);
    expect(r.err.split('\n')).toHaveLength(1);
  });
});
