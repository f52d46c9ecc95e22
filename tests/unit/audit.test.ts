// The audit trail over any audit log: required writes fail when the log does, best-effort ones queue,
// retry and drop (counted) when the queue is full; subject ids are an HMAC under the secret.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openCommandAudit } from '../../app/audit.ts';
import { auditUsageProblem, sinceOf } from '../../app/audit-command.ts';
import { loadConfig } from '../../app/config.ts';
import { AUDIT_SECRET_FILE, resolveAuditSecret } from '../../app/kek.ts';
import { createLogger } from '../../app/logger.ts';
import { DependencyUnavailable, ValidationFailed } from '../../core/errors.ts';
import type { SchemaRegistry } from '../../core/ports.ts';
import {
  type AuditEntry,
  type AuditInput,
  type AuditLog,
  createAuditTrail,
  matchesAudit,
  SYSTEM,
  traceIdOf,
} from '../../core/security/audit.ts';
import type { FieldCipher } from '../../core/security/crypto.ts';
import { createErasure } from '../../core/security/erasure.ts';

/** an audit log in memory that can be made to fail */
const memoryLog = () => {
  const written: AuditEntry[] = [];
  const state = { down: false, appends: 0, closed: false };
  const log: AuditLog = {
    append: async (entries) => {
      state.appends += 1;
      if (state.down) throw new DependencyUnavailable('kafka', 'the audit log is down');
      if (entries.some((e) => e.actor === 'unstorable')) throw new Error('a value the store refuses');
      written.push(...entries);
    },
    query: async (q) => ({
      items: written.filter((e) => matchesAudit(e, q)).map((e, i) => ({ id: String(i), ...e })),
      next: null,
    }),
    close: async () => {
      state.closed = true;
    },
  };
  return { log, written, state };
};

const lines: Record<string, unknown>[] = [];
const logger = createLogger('info', {
  write: (line: string) => {
    lines.push(JSON.parse(line));
  },
});

const denied: AuditInput = {
  actor: 'k1',
  tenant: 'default',
  traceId: null,
  action: 'acl.denied',
  resource: 'stream/order-1',
  outcome: 'failure',
  reason: 'the token lacks the append scope',
};
const skipped: AuditInput = {
  ...SYSTEM,
  action: 'dead_letter.skipped',
  resource: 'projection/orders/dead-letters/1',
  outcome: 'success',
};

describe('the audit trail', () => {
  it('record writes at once with its time and fails when the audit log does', async () => {
    const m = memoryLog();
    const trail = createAuditTrail({ log: m.log, secret: randomBytes(32), logger });
    await trail.record(denied, { ...denied, actor: 'k2' });
    expect(m.written.map((e) => e.actor)).toEqual(['k1', 'k2']);
    expect(Date.parse(m.written[0]!.time)).toBeGreaterThan(Date.now() - 5000);
    await trail.record();
    expect(m.state.appends).toBe(1);
    m.state.down = true;
    await expect(trail.record(denied)).rejects.toThrow(/down/);
    await trail.close();
    expect(m.state.closed).toBe(true);
  });

  it('offer queues, and writes again after the audit log comes back; flush waits for it', async () => {
    const m = memoryLog();
    const trail = createAuditTrail({ log: m.log, secret: randomBytes(32), logger, maxBackoffMs: 20 });
    m.state.down = true;
    trail.offer(denied);
    trail.offer(skipped);
    await new Promise((r) => setTimeout(r, 100));
    expect(m.written).toEqual([]);
    expect(trail.counts.queued()).toBe(2);
    m.state.down = false;
    await trail.flush(2000);
    expect(m.written.map((e) => e.action)).toEqual(['acl.denied', 'dead_letter.skipped']);
    expect(trail.counts.queued()).toBe(0);
    await trail.close();
  });

  it('a full queue drops what comes (counted per action, logged once), keeping room for operator actions', async () => {
    const m = memoryLog();
    m.state.down = true;
    const trail = createAuditTrail({
      log: m.log,
      secret: randomBytes(32),
      logger,
      queueLimit: 10,
      batch: 3,
      closeWaitMs: 100,
    });
    const before = lines.length;
    for (let i = 0; i < 20; i++) trail.offer({ ...denied, actor: `k${i}` });
    // untrusted actions fill 90% of the queue at most
    expect(trail.counts.queued()).toBe(9);
    expect(trail.counts.dropped).toEqual({ 'acl.denied': 11 });
    trail.offer(skipped);
    trail.offer(skipped);
    expect(trail.counts.queued()).toBe(10);
    expect(trail.counts.dropped).toEqual({ 'acl.denied': 11, 'dead_letter.skipped': 1 });
    const warnings = lines.slice(before).filter((l) => /audit records dropped/.test(String(l.msg)));
    expect(warnings).toHaveLength(1);
    // the process stops while the audit log is down: what is queued is counted as dropped, and said
    await trail.close();
    expect(trail.counts.dropped).toEqual({ 'acl.denied': 20, 'dead_letter.skipped': 2 });
    expect(lines.some((l) => /could not be written before the process stopped/.test(String(l.msg)))).toBe(
      true,
    );
    trail.offer(denied);
    expect(trail.counts.dropped['acl.denied']).toBe(21);
  });

  it('a record the audit log refuses (while it answers) is dropped after a few tries; the others are written', async () => {
    const m = memoryLog();
    const trail = createAuditTrail({ log: m.log, secret: randomBytes(32), logger, maxBackoffMs: 10 });
    const before = lines.length;
    for (const actor of ['k1', 'unstorable', 'k2']) trail.offer({ ...denied, actor });
    await trail.flush(2000);
    expect(m.written.map((e) => e.actor)).toEqual(['k1', 'k2']);
    expect(trail.counts.dropped).toEqual({ 'acl.denied': 1 });
    expect(lines.slice(before).some((l) => /refuses was dropped/.test(String(l.msg)))).toBe(true);
    await trail.close();
  });

  it('makes text storable: control characters as \\uXXXX, lone surrogates as U+FFFD, in details too', async () => {
    const m = memoryLog();
    const trail = createAuditTrail({ log: m.log, secret: randomBytes(32), logger });
    await trail.record({
      ...denied,
      resource: 'projection/p/dead-letters/x\u0000y\u007f',
      reason: 'a\ud800b\udc00c \ud83d\ude00 tab\tok',
      details: { list: ['\u0001'], 'k\u0002': { n: 1, v: null } },
    });
    expect(m.written[0]).toMatchObject({
      resource: 'projection/p/dead-letters/x\\u0000y\\u007f',
      reason: 'a\ufffdb\ufffdc \ud83d\ude00 tab\tok',
      details: { list: ['\\u0001'], 'k\\u0002': { n: 1, v: null } },
    });
    await trail.close();
  });

  it('bounds the text a request puts in a record', async () => {
    const m = memoryLog();
    const trail = createAuditTrail({ log: m.log, secret: randomBytes(32), logger });
    await trail.record({ ...denied, resource: `route/GET /${'x'.repeat(5000)}`, reason: 'r'.repeat(5000) });
    expect(m.written[0]!.resource.length).toBe(600);
    expect(m.written[0]!.reason!.length).toBe(1000);
    await trail.close();
  });

  it('names a data subject by an HMAC under the secret: not the id, not its SHA-256, per tenant', () => {
    const secret = randomBytes(32);
    const trail = createAuditTrail({ log: memoryLog().log, secret, logger });
    const ref = trail.subjectRef('acme', 'c-ada');
    expect(ref).toMatch(/^hmac:[0-9a-f]{32}$/);
    expect(ref).not.toContain('c-ada');
    const sha = createHash('sha256').update('c-ada').digest('hex');
    expect(sha).not.toContain(ref.slice(5, 17));
    expect(trail.subjectRef('acme', 'c-ada')).toBe(ref);
    expect(trail.subjectRef('globex', 'c-ada')).not.toBe(ref);
    const other = createAuditTrail({ log: memoryLog().log, secret: randomBytes(32), logger });
    expect(other.subjectRef('acme', 'c-ada')).not.toBe(ref);
  });

  it('checks a query: limit, cursor, action, since; passes it on as the audit log takes it', async () => {
    const m = memoryLog();
    const trail = createAuditTrail({ log: m.log, secret: randomBytes(32), logger });
    await trail.record(denied, skipped);
    const bad = await trail
      .query({ limit: 0, cursor: 'abc', action: 'nope', since: 'yesterday' })
      .catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(ValidationFailed);
    expect((bad as ValidationFailed).details().issues.map((i) => i.path)).toEqual([
      'limit',
      'cursor',
      'action',
      'since',
    ]);
    for (const tenant of ['', 'a\u0000', 'x'.repeat(201), '\ud800']) {
      await expect(trail.query({ tenant })).rejects.toBeInstanceOf(ValidationFailed);
    }
    for (const cursor of ['9223372036854775808', '99999999999999999999', '-1', '1e3']) {
      await expect(trail.query({ cursor })).rejects.toBeInstanceOf(ValidationFailed);
    }
    expect((await trail.query({ cursor: '9223372036854775807' })).items).toHaveLength(2);
    expect((await trail.query({ action: 'dead_letter.skipped' })).items.map((r) => r.action)).toEqual([
      'dead_letter.skipped',
    ]);
    expect((await trail.query({ since: '2000-01-01', tenant: 'default', cursor: '0' })).items).toHaveLength(
      2,
    );
    await trail.close();
  });

  it('takes the trace id of a W3C traceparent, nothing of a malformed one', () => {
    expect(traceIdOf('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01')).toBe(
      '0af7651916cd43dd8448eb211c80319c',
    );
    expect(traceIdOf(undefined)).toBeNull();
    expect(traceIdOf(['a', 'b'])).toBeNull();
    expect(traceIdOf('00-<script>-b7ad6b7169203331-01')).toBeNull();
    expect(traceIdOf('00-00000000000000000000000000000000-b7ad6b7169203331-01')).toBeNull();
  });
});

describe('the audit secret', () => {
  const dir = mkdtempSync(join(tmpdir(), 'logfront-audit-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const services = (extra: Record<string, string> = {}) =>
    loadConfig({
      LOGFRONT_KAFKA_BROKERS: '127.0.0.1:1',
      LOGFRONT_SCHEMA_REGISTRY_URL: 'http://127.0.0.1:1',
      LOGFRONT_DATABASE_URL: 'postgres://u@127.0.0.1:1/d',
      ...extra,
    });

  it('LOGFRONT_AUDIT_SECRET wins; embedded keeps one in the data dir; services derive it from the KEK', () => {
    const secret = randomBytes(32);
    expect(
      resolveAuditSecret(services({ LOGFRONT_AUDIT_SECRET: secret.toString('base64') })).secret.equals(
        secret,
      ),
    ).toBe(true);
    const data = join(dir, 'data');
    const embedded = loadConfig({ LOGFRONT_MODE: 'embedded', LOGFRONT_DATA_DIR: data });
    const kept = resolveAuditSecret(embedded);
    expect(kept.source).toBe('data-dir');
    expect(statSync(join(data, AUDIT_SECRET_FILE)).mode & 0o777).toBe(0o600);
    expect(resolveAuditSecret(embedded).secret.equals(kept.secret)).toBe(true);
    const kek = randomBytes(32);
    const derived = resolveAuditSecret(services({ LOGFRONT_KEK: kek.toString('base64') }));
    expect(derived.source).toBe('kek');
    expect(derived.secret.equals(kek)).toBe(false);
    expect(
      resolveAuditSecret(services({ LOGFRONT_KEK: kek.toString('base64') })).secret.equals(derived.secret),
    ).toBe(true);
    // neither: a secret of this process only (erasure is unavailable without a KEK anyway)
    expect(resolveAuditSecret(services()).source).toBe('process');
    expect(resolveAuditSecret(loadConfig({ LOGFRONT_DATA_DIR: ':memory:' })).source).toBe('process');
    expect(() => loadConfig({ LOGFRONT_AUDIT_SECRET: 'c2hvcnQ=' })).toThrow(
      /LOGFRONT_AUDIT_SECRET: 32 bytes, base64/,
    );
  });
});

describe('logfront audit options', () => {
  it('--since takes an ISO time or an age; --limit a whole number', () => {
    const now = Date.parse('2026-01-31T12:00:00Z');
    expect(sinceOf('15m', now)).toBe('2026-01-31T11:45:00.000Z');
    expect(sinceOf('2h', now)).toBe('2026-01-31T10:00:00.000Z');
    expect(sinceOf('7d', now)).toBe('2026-01-24T12:00:00.000Z');
    expect(sinceOf('30s', now)).toBe('2026-01-31T11:59:30.000Z');
    expect(sinceOf('2026-01-01T00:00:00+01:00')).toBe('2025-12-31T23:00:00.000Z');
    expect(sinceOf('last week')).toBeUndefined();
    expect(auditUsageProblem({ since: 'last week' })).toMatch(/--since/);
    expect(auditUsageProblem({ limit: '0' })).toMatch(/--limit/);
    expect(auditUsageProblem({ limit: 'x' })).toMatch(/--limit/);
    expect(auditUsageProblem({ since: '1h', limit: '10' })).toBeUndefined();
  });
});

describe('an erasure and its audit records', () => {
  const setup = (fail: { start?: boolean; outcome?: boolean; forget?: boolean } = {}) => {
    const recorded: AuditInput[][] = [];
    const offered: AuditInput[] = [];
    let destroyed = 0;
    let calls = 0;
    const erasure = createErasure({
      cipher: {
        forget: async () => {
          if (fail.forget) throw new Error('postgres is down');
          destroyed += 1;
          return 1;
        },
      } as unknown as FieldCipher,
      projections: [{ name: 'orders', subject: 'customerId' }, { name: 'other' }],
      deleteRows: async () => 2,
      audit: {
        subjectRef: (tenant, id) => `hmac:${tenant}-${id.length}`,
        record: async (...entries) => {
          calls += 1;
          if ((calls === 1 && fail.start) || (calls === 2 && fail.outcome)) throw new Error('kafka is down');
          recorded.push(entries);
        },
        offer: (entry) => {
          offered.push(entry);
        },
      },
    });
    return { erasure, recorded, offered, destroyed: () => destroyed };
  };
  const request = { actor: 'ops', traceId: 'abc' };

  it('records the request before anything is destroyed, and the outcome after', async () => {
    const s = setup();
    expect(await s.erasure.erase('c-ada', request)).toMatchObject({
      keysDestroyed: 1,
      rowsDeleted: { orders: 2 },
    });
    expect(s.recorded.map((batch) => batch.map((e) => `${e.action} ${e.outcome}`))).toEqual([
      ['subject.erased started'],
      ['object.deleted success', 'subject.erased success'],
    ]);
    expect(s.recorded[1]![0]).toMatchObject({ resource: 'projection/orders', details: { rows: 2 } });
    expect(JSON.stringify(s.recorded)).not.toContain('c-ada');
  });

  it('an audit log that cannot take the request: nothing is destroyed, the erasure fails', async () => {
    const s = setup({ start: true });
    await expect(s.erasure.erase('c-ada', request)).rejects.toThrow(/kafka is down/);
    expect(s.destroyed()).toBe(0);
    expect(s.offered.map((e) => `${e.action} ${e.outcome}`)).toEqual(['subject.erased failure']);
  });

  it('an outcome the audit log cannot take: queued, and the erasure reports failure to be tried again', async () => {
    const s = setup({ outcome: true });
    await expect(s.erasure.erase('c-ada', request)).rejects.toThrow(/kafka is down/);
    expect(s.destroyed()).toBe(1);
    expect(s.offered.map((e) => `${e.action} ${e.outcome}`)).toEqual([
      'object.deleted success',
      'subject.erased success',
    ]);
  });

  it('a destruction that fails is recorded as a failure with its reason', async () => {
    const s = setup({ forget: true });
    await expect(s.erasure.erase('c-ada', request)).rejects.toThrow(/postgres is down/);
    expect(s.offered).toMatchObject([
      { action: 'subject.erased', outcome: 'failure', reason: 'postgres is down' },
    ]);
  });
});

describe('the audit of logfront schemas register', () => {
  it('without Kafka: registrations and failures are counted, and close says none was written', async () => {
    const audit = await openCommandAudit(
      loadConfig({ LOGFRONT_MODE: 'embedded', LOGFRONT_DATA_DIR: ':memory:' }),
    );
    let n = 0;
    const registry = audit.registry({
      register: async () => {
        n += 1;
        if (n === 2) throw new Error('incompatible');
        return 7;
      },
    } as unknown as SchemaRegistry);
    expect(await registry.register('s.A', {})).toBe(7);
    await expect(registry.register('s.B', {})).rejects.toThrow(/incompatible/);
    expect(await audit.close()).toEqual({
      note: '2 audit records not written: no audit log (LOGFRONT_KAFKA_BROKERS is not set)',
    });
    const idle = await openCommandAudit(
      loadConfig({ LOGFRONT_MODE: 'embedded', LOGFRONT_DATA_DIR: ':memory:' }),
    );
    expect(await idle.close()).toEqual({});
  });
});
