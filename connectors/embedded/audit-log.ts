// The audit log of the embedded default: a table in the embedded log's schema, read a page at a time by
// an indexed query from a position (its sequence number), never by scanning the table.
import type { AuditEntry, AuditLog, AuditRecord } from '../../core/security/audit.ts';
import { quoteIdent as q, type Sql, schemaMigration } from '../sql/sql.ts';

interface AuditRow {
  seq: string;
  time: Date;
  action: AuditEntry['action'];
  actor: string;
  tenant: string;
  resource: string;
  outcome: AuditEntry['outcome'];
  trace_id: string | null;
  reason: string | null;
  details: Record<string, unknown> | null;
}

/** how far a record's own time may be before the time it was stored (a record queued while it waited) */
const SINCE_MARGIN_MS = 60_000;

const toRecord = (r: AuditRow): AuditRecord => ({
  id: r.seq,
  time: new Date(r.time).toISOString(),
  action: r.action,
  actor: r.actor,
  tenant: r.tenant,
  resource: r.resource,
  outcome: r.outcome,
  traceId: r.trace_id,
  ...(r.reason === null ? {} : { reason: r.reason }),
  ...(r.details === null ? {} : { details: r.details }),
});

export const createTableAuditLog = (sql: Sql, options: { schema: string }): AuditLog => {
  const table = `${q(options.schema)}.log_audit`;
  const migrate = schemaMigration(sql, options.schema, async (tx) => {
    await tx.query(`CREATE TABLE IF NOT EXISTS ${table} (
      seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      time timestamptz NOT NULL, action text NOT NULL, actor text NOT NULL, tenant text NOT NULL,
      resource text NOT NULL, outcome text NOT NULL, trace_id text, reason text, details jsonb,
      stored_at timestamptz NOT NULL DEFAULT clock_timestamp())`);
    await tx.query(`CREATE INDEX IF NOT EXISTS log_audit_action ON ${table} (action, seq)`);
    await tx.query(`CREATE INDEX IF NOT EXISTS log_audit_tenant ON ${table} (tenant, action, seq)`);
    await tx.query(`CREATE INDEX IF NOT EXISTS log_audit_stored ON ${table} (stored_at, seq)`);
  });

  return {
    append: async (entries) => {
      await migrate();
      await sql.query(
        `INSERT INTO ${table} (time, action, actor, tenant, resource, outcome, trace_id, reason, details)
         SELECT time, action, actor, tenant, resource, outcome, trace_id, reason, details
         FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
           $7::text[], $8::text[], $9::jsonb[])
           WITH ORDINALITY AS x(time, action, actor, tenant, resource, outcome, trace_id, reason, details, n)
         ORDER BY n`,
        [
          entries.map((e) => e.time),
          entries.map((e) => e.action),
          entries.map((e) => e.actor),
          entries.map((e) => e.tenant),
          entries.map((e) => e.resource),
          entries.map((e) => e.outcome),
          entries.map((e) => e.traceId),
          entries.map((e) => e.reason ?? null),
          entries.map((e) => (e.details === undefined ? null : JSON.stringify(e.details))),
        ],
      );
    },
    query: async (query) => {
      await migrate();
      // where the page starts: the cursor, else the first record stored since `since` (less a margin)
      let from = query.cursor === undefined ? 0n : BigInt(query.cursor);
      if (query.cursor === undefined && query.since !== undefined) {
        const start = await sql.query<{ seq: string }>(
          `SELECT seq FROM ${table} WHERE stored_at >= $1 ORDER BY stored_at, seq LIMIT 1`,
          [new Date(Date.parse(query.since) - SINCE_MARGIN_MS).toISOString()],
        );
        if (!start.rows[0]) return { items: [], next: null };
        from = BigInt(start.rows[0].seq);
      }
      const where = ['seq >= $1'];
      const params: unknown[] = [from.toString()];
      const add = (condition: string, value: unknown) => {
        params.push(value);
        where.push(condition.replace('?', `$${params.length}`));
      };
      if (query.tenant !== undefined) add('tenant = ?', query.tenant);
      if (query.action !== undefined) add('action = ?', query.action);
      if (query.since !== undefined) add('time >= ?', query.since);
      params.push(query.limit + 1);
      const r = await sql.query<AuditRow>(
        `SELECT seq, time, action, actor, tenant, resource, outcome, trace_id, reason, details FROM ${table}
         WHERE ${where.join(' AND ')} ORDER BY seq LIMIT $${params.length}`,
        params,
      );
      const items = r.rows.slice(0, query.limit).map(toRecord);
      return {
        items,
        next: r.rows.length > query.limit ? (BigInt(items.at(-1)!.id) + 1n).toString() : null,
      };
    },
    close: async () => {},
  };
};
