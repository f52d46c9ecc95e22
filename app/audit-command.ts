// `logfront audit`: reads the audit log through GET /v1/audit, page after page, until it has --limit
// records or reaches the end; prints them as a table (or JSON) and the cursor to continue from.
import type { AuditRecordJson, Client } from './client.ts';
import { formatTable } from './table.ts';

export const AUDIT_HELP =
  'Usage: logfront audit [--since T] [--action A] [--limit N] [--cursor C] [--tenant T] [--json]\n\n' +
  'Reads the audit log, oldest first: access decisions (acl.denied, auth.failed), deletions and erasures\n' +
  '(object.deleted, subject.erased), rebuilds (projection.rebuilt), dead letters (dead_letter.retried,\n' +
  'dead_letter.skipped) and schema registrations (schema.registered). --since takes an ISO time or an age\n' +
  '(30s, 15m, 2h, 7d); --limit the most records to print (default 100); --cursor continues where the last\n' +
  'run stopped. Needs a token with the admin scope; a principal reads its own tenant. See docs/security.md.';

export interface AuditOptions {
  since?: string | undefined;
  action?: string | undefined;
  limit?: string | undefined;
  cursor?: string | undefined;
  tenant?: string | undefined;
}

const AGE = /^(\d{1,9})([smhd])$/;
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** --since as an ISO time: an ISO time as it is, an age (`15m`) before `now` */
export const sinceOf = (text: string, now = Date.now()): string | undefined => {
  const age = AGE.exec(text);
  if (age) return new Date(now - Number(age[1]) * UNIT_MS[age[2] as keyof typeof UNIT_MS]).toISOString();
  const time = Date.parse(text);
  return Number.isNaN(time) ? undefined : new Date(time).toISOString();
};

/** what is wrong with the options, for a usage error; undefined when nothing is */
export const auditUsageProblem = (o: AuditOptions): string | undefined => {
  if (o.since !== undefined && sinceOf(o.since) === undefined) {
    return '--since takes an ISO time (2026-01-31T12:00:00Z) or an age (30s, 15m, 2h, 7d)';
  }
  if (o.limit !== undefined && (!/^\d{1,6}$/.test(o.limit) || Number(o.limit) < 1)) {
    return '--limit takes a whole number of records, at least 1';
  }
  return undefined;
};

const PAGE = 1000;

export const auditCommand = async (
  client: Client,
  o: AuditOptions,
  out: (line: string) => void,
  json: boolean,
): Promise<number> => {
  const want = o.limit === undefined ? 100 : Number(o.limit);
  const since = o.since === undefined ? undefined : sinceOf(o.since);
  const items: AuditRecordJson[] = [];
  let cursor = o.cursor;
  let next: string | null = null;
  // a page may hold fewer records than asked (the server reads a bounded number per page): go on
  do {
    const page = await client.audit({
      ...(since ? { since } : {}),
      ...(o.action ? { action: o.action } : {}),
      ...(o.tenant ? { tenant: o.tenant } : {}),
      ...(cursor ? { cursor } : {}),
      limit: Math.min(PAGE, want - items.length),
    });
    items.push(...page.items);
    next = page.next;
    cursor = page.next ?? undefined;
  } while (next !== null && items.length < want);
  if (json) {
    out(JSON.stringify({ items, next }));
    return 0;
  }
  out(
    items.length
      ? formatTable(items as unknown as Record<string, unknown>[], [
          'time',
          'action',
          'outcome',
          'actor',
          'tenant',
          'resource',
          'traceId',
          'reason',
          'details',
        ])
      : '(no audit records)',
  );
  if (next) out(`next page: --cursor ${next}`);
  return 0;
};
