// The audit trail (DESIGN §7): who did what to what, for which tenant, with what outcome, under which
// trace. Records are appended to an audit log of their own (a Kafka topic, or a table of the embedded
// log) and read back a page at a time, by position.
//
// Two ways to write, by what losing a record would cost:
// - record(): the caller waits until the record is durable and fails when it cannot be written (erasure
//   and deletions: an operation that cannot be audited reports failure and is retried by its caller);
// - offer(): best effort, for what an attacker can produce at will (acl.denied, auth.failed) and for
//   operator actions that must never fail because the audit log is down: a bounded in-memory queue,
//   written in batches and retried while the audit log is down; a record that does not fit is dropped,
//   counted per action (logfront_audit_dropped_total) and logged, never silently.
import { createHmac } from 'node:crypto';
import { Unavailable, ValidationFailed } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { backoffMs, type RetryEvent, type RetryPolicy } from '../resilience/retry.ts';

export const AUDIT_ACTIONS = [
  'acl.denied',
  'auth.failed',
  'object.deleted',
  'subject.erased',
  'projection.rebuilt',
  'dead_letter.retried',
  'dead_letter.skipped',
  'schema.registered',
  'keys.rotated',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** `started`: written before an irreversible step, so the step never happens without a record */
export type AuditOutcome = 'started' | 'success' | 'failure';

/** who acts, in which tenant, under which trace (W3C trace id, from the request's `traceparent`) */
export interface AuditActor {
  readonly actor: string;
  readonly tenant: string;
  readonly traceId: string | null;
}

/** logfront itself (a sink, a runner, the start of a process) */
export const SYSTEM: AuditActor = { actor: 'system', tenant: 'default', traceId: null };

export interface AuditEntry extends AuditActor {
  /** ISO time the action happened */
  readonly time: string;
  readonly action: AuditAction;
  /** `<kind>/<name>`: `stream/order-1`, `projection/orders`, `blob/b1`, `subject/hmac:…`, `schema/…` */
  readonly resource: string;
  readonly outcome: AuditOutcome;
  readonly reason?: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

/** an entry as the audit log holds it; `id` is its position there (the offset: a page's cursor is one) */
export interface AuditRecord extends AuditEntry {
  readonly id: string;
}

export interface AuditQuery {
  /** ISO time: records of actions at or after it */
  readonly since?: string;
  readonly action?: AuditAction;
  readonly tenant?: string;
  readonly limit: number;
  /** where the page starts: the `next` of the previous page (a position in the audit log) */
  readonly cursor?: string;
}

export interface AuditPage {
  /** in the order they were written */
  readonly items: AuditRecord[];
  /**
   * the cursor of the next page; null when the end of the audit log was reached. A page may hold fewer
   * than `limit` records and still have a next: one page reads a bounded number of records.
   */
  readonly next: string | null;
}

/** The audit log port: appended to in order, read by position. */
export interface AuditLog {
  /** appends the entries in their order; resolves once they are durable */
  append(entries: readonly AuditEntry[]): Promise<void>;
  /** one page from the cursor (else from `since`, else from the start), filtered */
  query(query: AuditQuery): Promise<AuditPage>;
  close(): Promise<void>;
}

export type AuditInput = Omit<AuditEntry, 'time'> & { readonly time?: string };

export interface AuditCounts {
  /** records dropped by the best-effort queue, per action */
  readonly dropped: Readonly<Record<string, number>>;
  /** records in the best-effort queue now */
  queued(): number;
}

export interface AuditTrail {
  /** writes the entries (in one append) and resolves once they are durable; rejects when it cannot */
  record(...entries: AuditInput[]): Promise<void>;
  /** queues the entry; never throws, never waits (a full queue drops it, counted and logged) */
  offer(entry: AuditInput): void;
  /** how a data subject's id appears in the audit log: an HMAC under the audit secret, never the id */
  subjectRef(tenant: string, subjectId: string): string;
  query(query: {
    since?: string | undefined;
    action?: string | undefined;
    tenant?: string | undefined;
    limit?: number | undefined;
    cursor?: string | undefined;
  }): Promise<AuditPage>;
  /** waits until the queue is empty, or `timeoutMs` has passed */
  flush(timeoutMs?: number): Promise<void>;
  readonly counts: AuditCounts;
  /** writes what is queued (up to a few seconds), then closes the audit log */
  close(): Promise<void>;
}

/** actions an unauthenticated or refused caller produces at will: they never take the last of the queue */
const UNTRUSTED: ReadonlySet<AuditAction> = new Set(['acl.denied', 'auth.failed']);

/** times a record the audit log refuses (while it answers) is tried before it is dropped */
const REFUSALS = 3;

export const AUDIT_LIMIT_DEFAULT = 100;
export const AUDIT_LIMIT_MAX = 1000;
/** a cursor is a position: a decimal offset */
const CURSOR = /^\d{1,19}$/;
/** the largest offset Kafka and Postgres (bigint) hold */
const MAX_OFFSET = 2n ** 63n - 1n;
/** bounds of the text of a record (a route, a reason and a stream name come from the request) */
const MAX_TEXT = { actor: 200, tenant: 200, resource: 600, reason: 1000 } as const;

/**
 * text any audit log stores, and a reader sees: a C0 control character (NUL included, which Postgres text
 * refuses) as the six characters \uXXXX, a lone UTF-16 surrogate as U+FFFD
 */
const storable = (text: string) => {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else if (c === 0x7f) out += '\\u007f';
    else if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        out += text[i]! + text[i + 1]!;
        i++;
      } else out += '\ufffd';
    } else if (c >= 0xdc00 && c <= 0xdfff) out += '\ufffd';
    else out += text[i]!;
  }
  return out;
};

const clip = (text: string, max: number) => {
  const clean = storable(text);
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
};

/** a record's details, with their text made storable too */
const storableDetails = (value: unknown): unknown => {
  if (typeof value === 'string') return storable(value);
  if (Array.isArray(value)) return value.map(storableDetails);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [storable(k), storableDetails(v)]));
  }
  return value;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());

/** the trace id of a W3C `traceparent` header, or null when there is none or it is malformed */
export const traceIdOf = (traceparent: string | string[] | undefined): string | null => {
  if (typeof traceparent !== 'string') return null;
  const m = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/.exec(traceparent.trim());
  return m && !/^0+$/.test(m[1]!) ? m[1]! : null;
};

export const createAuditTrail = (deps: {
  log: AuditLog;
  /** the key of the HMAC of data subject ids (32 bytes) */
  secret: Buffer;
  logger: Logger;
  /** records the best-effort queue holds at most (default 10000); untrusted ones at most 90% of it */
  queueLimit?: number;
  /** records per append of the queue (default 500) */
  batch?: number;
  /** the longest back-off between attempts while the audit log is down (default 5 s) */
  maxBackoffMs?: number;
  /** told of each retry of an append while the audit log is down (counted for /metrics) */
  retried?: (event: RetryEvent) => void;
  /** how long close waits for the queue to be written (default 5 s) */
  closeWaitMs?: number;
}): AuditTrail => {
  const { log, logger } = deps;
  const limit = deps.queueLimit ?? 10_000;
  const untrustedLimit = Math.floor(limit * 0.9);
  const batch = deps.batch ?? 500;
  // the retry policy's back-off (full jitter, doubling from 100 ms), with no end: records wait queued
  const policy: RetryPolicy = {
    baseMs: 100,
    maxDelayMs: deps.maxBackoffMs ?? 5000,
    maxAttempts: Number.POSITIVE_INFINITY,
    budgetMs: Number.POSITIVE_INFINITY,
  };
  const queue: AuditEntry[] = [];
  const dropped: Record<string, number> = {};
  let draining: Promise<void> | undefined;
  let closed = false;
  let lastWarning = 0;
  let droppedSinceWarning = 0;

  const complete = (e: AuditInput): AuditEntry => ({
    time: e.time ?? new Date().toISOString(),
    action: e.action,
    actor: clip(e.actor, MAX_TEXT.actor),
    tenant: clip(e.tenant, MAX_TEXT.tenant),
    resource: clip(e.resource, MAX_TEXT.resource),
    outcome: e.outcome,
    traceId: e.traceId,
    ...(e.reason === undefined ? {} : { reason: clip(e.reason, MAX_TEXT.reason) }),
    ...(e.details === undefined
      ? {}
      : { details: storableDetails(e.details) as Readonly<Record<string, unknown>> }),
  });

  // at most one warning every 10 s, however many records a flood drops
  const warnDropped = (why: string) => {
    droppedSinceWarning += 1;
    const now = Date.now();
    if (now - lastWarning < 10_000) return;
    lastWarning = now;
    logger.warn(
      { auditDropped: droppedSinceWarning, dropped: { ...dropped } },
      `audit records dropped: ${why} (logfront_audit_dropped_total counts them)`,
    );
    droppedSinceWarning = 0;
  };
  const drop = (e: AuditEntry, why: string) => {
    dropped[e.action] = (dropped[e.action] ?? 0) + 1;
    warnDropped(why);
  };

  // A batch the audit log refuses although it is up may hold a record it cannot store: written one by
  // one, a record refused on its own REFUSALS times (backing off in between, as for a log that is down) is
  // dropped, counted and logged, so that one record never blocks the others.
  const refusals = new WeakMap<AuditEntry, number>();
  const appendOneByOne = async (entries: readonly AuditEntry[]) => {
    for (const e of entries) {
      try {
        await log.append([e]);
      } catch (error) {
        const n = (refusals.get(e) ?? 0) + 1;
        refusals.set(e, n);
        if (error instanceof Unavailable || n < REFUSALS) throw error;
        dropped[e.action] = (dropped[e.action] ?? 0) + 1;
        logger.error(
          { err: error, action: e.action, resource: e.resource },
          'an audit record the audit log refuses was dropped',
        );
      }
      queue.shift();
    }
  };

  // at-least-once: a batch whose append failed after Kafka took it is written again
  const drain = async () => {
    let failures = 0;
    while (queue.length) {
      const next = queue.slice(0, batch);
      try {
        try {
          await log.append(next);
          queue.splice(0, next.length);
        } catch (error) {
          if (error instanceof Unavailable) throw error;
          await appendOneByOne(next);
        }
        failures = 0;
      } catch (error) {
        failures += 1;
        if (failures === 1 || failures % 20 === 0) {
          logger.warn(
            { err: error, queued: queue.length },
            'audit log unavailable: records are queued and tried again',
          );
        }
        if (closed) return;
        const delayMs = backoffMs(policy, failures, Math.random());
        deps.retried?.({ dependency: 'kafka', operation: 'audit_append', attempt: failures, delayMs, error });
        await sleep(delayMs);
      }
    }
  };
  const kick = () => {
    if (draining || closed) return;
    draining = drain().finally(() => {
      draining = undefined;
      if (queue.length && !closed) kick();
    });
  };

  const flush = async (timeoutMs = 5000) => {
    const deadline = Date.now() + timeoutMs;
    while (queue.length && Date.now() < deadline) {
      kick();
      await Promise.race([draining, sleep(Math.max(1, deadline - Date.now()))]);
    }
  };

  return {
    record: async (...entries) => {
      if (entries.length) await log.append(entries.map(complete));
    },
    offer: (entry) => {
      const e = complete(entry);
      if (closed) return drop(e, 'the audit trail is closed');
      if (queue.length >= (UNTRUSTED.has(e.action) ? untrustedLimit : limit)) {
        return drop(e, `the queue is full (${queue.length} records waiting for the audit log)`);
      }
      queue.push(e);
      kick();
    },
    subjectRef: (tenant, subjectId) =>
      `hmac:${createHmac('sha256', deps.secret).update(`${tenant}\n${subjectId}`).digest('hex').slice(0, 32)}`,
    query: async (q) => {
      const issues: { path: string; message: string }[] = [];
      const n = q.limit ?? AUDIT_LIMIT_DEFAULT;
      if (!Number.isInteger(n) || n < 1 || n > AUDIT_LIMIT_MAX) {
        issues.push({ path: 'limit', message: `a whole number from 1 to ${AUDIT_LIMIT_MAX}` });
      }
      if (q.cursor !== undefined && !(CURSOR.test(q.cursor) && BigInt(q.cursor) <= MAX_OFFSET)) {
        issues.push({ path: 'cursor', message: 'not a cursor of the audit log' });
      }
      if (q.action !== undefined && !AUDIT_ACTIONS.includes(q.action as AuditAction)) {
        issues.push({ path: 'action', message: `one of ${AUDIT_ACTIONS.join(', ')}` });
      }
      if (
        q.tenant !== undefined &&
        (q.tenant.length === 0 || q.tenant.length > 200 || storable(q.tenant) !== q.tenant)
      ) {
        issues.push({ path: 'tenant', message: '1 to 200 characters, no control characters' });
      }
      const since = q.since === undefined ? undefined : Date.parse(q.since);
      if (since !== undefined && Number.isNaN(since)) {
        issues.push({ path: 'since', message: 'an ISO time, e.g. 2026-01-31T12:00:00Z' });
      }
      if (issues.length) throw new ValidationFailed('invalid audit query', issues);
      return log.query({
        limit: n,
        ...(since === undefined ? {} : { since: new Date(since).toISOString() }),
        ...(q.action === undefined ? {} : { action: q.action as AuditAction }),
        ...(q.tenant === undefined ? {} : { tenant: q.tenant }),
        ...(q.cursor === undefined ? {} : { cursor: q.cursor }),
      });
    },
    flush,
    counts: { dropped, queued: () => queue.length },
    close: async () => {
      await flush(deps.closeWaitMs ?? 5000);
      closed = true;
      // an append still under way gets a moment more; the audit log is closed after it
      await Promise.race([draining, sleep(1000)]);
      if (queue.length) {
        const lost = queue.splice(0);
        for (const e of lost) dropped[e.action] = (dropped[e.action] ?? 0) + 1;
        logger.error(
          { auditLost: lost.length, actions: [...new Set(lost.map((e) => e.action))] },
          'audit records could not be written before the process stopped',
        );
      }
      await log.close();
    },
  };
};

/** whether a record passes a query's filters (adapters that read records by position filter with it) */
export const matchesAudit = (r: AuditEntry, q: Pick<AuditQuery, 'since' | 'action' | 'tenant'>) =>
  (q.action === undefined || r.action === q.action) &&
  (q.tenant === undefined || r.tenant === q.tenant) &&
  (q.since === undefined || Date.parse(r.time) >= Date.parse(q.since));
