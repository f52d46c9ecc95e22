// Redaction from the schemas (DESIGN §7, docs/security.md#logs): a deployment's own event type marks
// nested fields sensitive; its values, the bearer tokens and the SQL parameters of failed statements
// must not reach a log line, an audit record or a dead-letter reason, through every path that writes
// one: a 500 of the HTTP API, a runner's failed batch, poison events (a handler that quotes the event, a
// column that refuses a sensitive value), the audit of denials, failed authentications and erasures.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createLogfront, type Logfront } from '../../app/compose.ts';
import type { Config } from '../../app/config.ts';
import { createHttpServer } from '../../app/http.ts';
import { createLogger } from '../../app/logger.ts';
import { defineEventType } from '../../core/log/event-types.ts';
import { sha256Hex } from '../../core/security/auth.ts';
import type { RecordedEvent } from '../../core/types.ts';
import { defineProjection, upsert } from '../../projections/define.ts';
import { embeddedConfig, servicesConfig, uniqueId, waitFor } from '../support/services.ts';

interface Admission {
  patientId: string;
  ward: string;
  patient: { name: string; ssn: string };
  contacts: { phone: string }[];
}

const patientAdmitted = defineEventType(
  'PatientAdmitted',
  z.object({
    patientId: z.string(),
    ward: z.string(),
    patient: z.object({ name: z.string(), ssn: z.string() }),
    contacts: z.array(z.object({ phone: z.string() })),
  }),
  // a path through an array (`contacts.phone`) is redacted in logs; it is not encrypted at rest yet
  { sensitive: ['patient.ssn', 'patient.name', 'contacts.phone'], subject: 'patientId' },
);

/** a projection whose handler can be made to fail with the event in its message, or to write the SSN */
const patients = defineProjection({
  name: 'patients',
  key: 'patientId',
  subject: 'patientId',
  categories: ['patient'],
  retries: 0,
  columns: { patientId: 'text', ward: 'text', ssnDigits: 'integer' },
  on: {
    PatientAdmitted: (e: RecordedEvent<Admission>) => {
      const { patientId, ward, patient } = e.data;
      if (ward === 'quoting') throw new Error(`cannot admit ${patient.name} (SSN ${patient.ssn})`);
      if (ward === 'digits') return upsert({ patientId, ward, ssnDigits: patient.ssn as unknown as number });
      return upsert({ patientId, ward });
    },
  },
});

const dir = mkdtempSync(join(tmpdir(), 'logfront-redaction-'));
const token = (name: string) => `key-${name}-${randomBytes(12).toString('hex')}`;
const TOKENS = { all: token('all'), reader: token('reader') };
const keysFile = join(dir, 'keys.json');
writeFileSync(
  keysFile,
  JSON.stringify([
    {
      id: 'all',
      keySha256: sha256Hex(TOKENS.all),
      scopes: ['append', 'read', 'admin', 'erase', 'metrics'],
    },
    { id: 'reader', keySha256: sha256Hex(TOKENS.reader), scopes: ['read'] },
  ]),
);
const JWT_SECRET = randomBytes(32).toString('hex');
const AUTH = {
  LOGFRONT_AUTH: 'tokens',
  LOGFRONT_API_KEYS_FILE: keysFile,
  LOGFRONT_JWT_SECRET: JWT_SECRET,
  LOGFRONT_KEK: randomBytes(32).toString('base64'),
  LOGFRONT_LOG_LEVEL: 'debug',
};

/** a patient whose every sensitive value is unique to this run, so any trace of it is found */
const admission = (ward: string): Admission => {
  const n = randomBytes(6).toString('hex');
  return {
    patientId: `p${uniqueId()}`,
    ward,
    patient: { name: `Name${n}`, ssn: `${n.slice(0, 3)}-${n.slice(3, 5)}-${n.slice(5)}9` },
    contacts: [{ phone: `+44${parseInt(n, 16)}` }],
  };
};

for (const [mode, config] of [
  ['embedded', () => embeddedConfig({ ...AUTH, LOGFRONT_READ_WAIT_MS: '3000' })],
  ['services', () => servicesConfig({ ...AUTH, LOGFRONT_READ_WAIT_MS: '3000' })],
] as [string, () => Config][]) {
  describe(`redaction from the schemas (${mode})`, () => {
    let lf: Logfront;
    let app: FastifyInstance;
    let url = '';
    const lines: string[] = [];
    /** every value that must never be written: sensitive fields, tokens, an erased subject, a filter */
    const secrets: string[] = [...Object.values(TOKENS)];
    const sensitiveOf = (a: Admission) => [a.patient.name, a.patient.ssn, ...a.contacts.map((c) => c.phone)];

    const send = async (method: string, path: string, bearer?: string, body?: unknown) => {
      const r = await fetch(`${url}${path}`, {
        method,
        headers: {
          ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await r.text();
      return { status: r.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
    };
    const admit = async (a: Admission, bearer = TOKENS.all) => {
      secrets.push(...sensitiveOf(a));
      const r = await send('POST', `/v1/streams/patient-${a.patientId}/events`, bearer, {
        events: [{ type: 'PatientAdmitted', data: a }],
      });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      return r.body as { position: string };
    };
    const logged = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const leaks = () =>
      secrets.filter((s) => lines.some((l) => l.includes(s) || l.includes(JSON.stringify(s).slice(1, -1))));

    beforeAll(async () => {
      lf = await createLogfront(config(), {
        domain: { eventTypes: [patientAdmitted], projections: [patients] },
        logger: createLogger('debug', { write: (line: string) => void lines.push(line) }),
      });
      await lf.startRunners();
      app = createHttpServer(lf);
      url = await app.listen({ host: '127.0.0.1', port: 0 });
    }, 120_000);
    afterAll(async () => {
      await app?.close();
      await lf?.close();
    });

    it('poison events are dead-lettered with reasons that say what went wrong, never a sensitive value', async () => {
      const quoting = admission('quoting');
      const digits = admission('digits');
      await admit(admission('general'));
      await admit(quoting);
      await admit(digits);
      const items = await waitFor(async () => {
        const r = await send('GET', '/v1/projections/patients/dead-letters', TOKENS.all);
        const found = (r.body.items ?? []) as { kind: string; reason: string }[];
        return found.length === 2 && found;
      });
      const byKind = Object.fromEntries(items.map((l) => [l.kind, l.reason]));
      // the handler's own words stay, the values it quoted do not
      expect(byKind.handler).toMatch(
        /^Error: cannot admit \[redacted\] \(SSN \[redacted\]\) \(event .* PatientAdmitted at /,
      );
      // the column refused a string: its kind and length, never its content
      expect(byKind.column).toMatch(
        /patients\.ssnDigits: a string of \d+ characters is not an integer \(int4\)/,
      );
      // the log's own dead-letter records carry the same reasons
      const stored = await lf.log.deadLetters('patients', 10);
      expect(stored.map((l) => l.reason).sort()).toEqual(items.map((l) => l.reason).sort());
      for (const reason of [...items.map((l) => l.reason), ...stored.map((l) => l.reason)]) {
        for (const value of [...sensitiveOf(quoting), ...sensitiveOf(digits)])
          expect(reason).not.toContain(value);
      }
      // and the runner's log lines about them
      await waitFor(
        async () => logged().filter((l) => l.msg === 'skipped an event it cannot apply').length === 2,
      );
      expect(leaks()).toEqual([]);
    });

    it('the audit of denials, failed authentications and erasures names no token and no subject', async () => {
      const jwt = await new SignJWT({ sub: 'svc-reader', scope: 'read' })
        .setProtectedHeader({ alg: 'HS256' })
        .setExpirationTime('5m')
        .sign(new TextEncoder().encode(JWT_SECRET));
      const devKeyShaped = `lfdev_${randomBytes(24).toString('base64url')}`;
      secrets.push(jwt, devKeyShaped);
      const stream = `patient-${uniqueId()}`;
      expect((await send('POST', `/v1/streams/${stream}/events`, TOKENS.reader, { events: [] })).status).toBe(
        403,
      );
      expect((await send('POST', '/v1/projections/patients/rebuild', jwt, {})).status).toBe(403);
      expect((await send('GET', '/v1/projections', devKeyShaped)).status).toBe(401);
      expect((await send('GET', '/v1/projections', `${jwt}x`)).status).toBe(401);
      const erased = admission('general');
      await admit(erased);
      secrets.push(erased.patientId);
      const r = await send('DELETE', `/v1/subjects/${erased.patientId}`, TOKENS.all);
      expect(r.status).toBe(202);
      // the audit records, as the audit log keeps them: no token, no subject in clear, no sensitive value
      await lf.audit.flush();
      const { items } = await lf.audit.query({ limit: 1000 });
      expect(items.filter((a) => a.action === 'acl.denied').map((a) => a.actor)).toEqual(
        expect.arrayContaining(['reader', 'svc-reader']),
      );
      expect(items.filter((a) => a.action === 'auth.failed')).toHaveLength(2);
      expect(items.find((a) => a.action === 'subject.erased' && a.outcome === 'success')).toMatchObject({
        resource: expect.stringMatching(/^subject\/hmac:[0-9a-f]{32}$/),
      });
      const recorded = JSON.stringify(items);
      expect(secrets.filter((secret) => recorded.includes(secret))).toEqual([]);
      expect(leaks()).toEqual([]);
    });

    it('a 500 logs the route and the error without its SQL parameters, its query string or its URL', async () => {
      const filtered = admission('general');
      secrets.push(filtered.patient.ssn);
      // the projection's table is gone under the server: the read fails in the database
      await lf.store.dropGeneration(patients, 1);
      const r = await send(
        'GET',
        `/v1/projections/patients/rows?ward=${encodeURIComponent(filtered.patient.ssn)}`,
        TOKENS.all,
      );
      expect(r).toMatchObject({ status: 500, body: { error: 'internal' } });
      const failed = logged().find((l) => l.msg === 'request failed') as {
        route: string;
        err: Record<string, unknown>;
      };
      expect(failed.route).toBe('/v1/projections/:name/rows');
      expect(failed.err).toMatchObject({ code: '42P01', message: expect.stringMatching(/does not exist/) });
      for (const field of ['params', 'parameters', 'query', 'detail', 'where'])
        expect(failed.err).not.toHaveProperty(field);
      expect(JSON.stringify(failed)).not.toContain('ward=');

      // a runner's failed batch: the statement's parameters held the rows, payload included
      const after = admission(`ward-${uniqueId()}`);
      secrets.push(after.ward);
      await admit(after);
      await waitFor(async () =>
        logged().some((l) => l.msg === 'batch failed; retrying from the checkpoint' && l.err !== undefined),
      );
      expect(leaks()).toEqual([]);
    });
  });
}
