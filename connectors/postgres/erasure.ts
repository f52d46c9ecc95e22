// Crypto-shredding in Postgres (or PGlite): the wrapped data keys, the record of erased subjects, and
// the deletion of a data subject's projection rows (of one tenant). Table names follow the projection
// store: <schema>.proj_<name>_g<generation>.
import { partitionKey } from '../../core/read/positions.ts';
import { DEFAULT_TENANT } from '../../core/security/auth.ts';
import type { DataKeyRecord, DataKeyStore } from '../../core/security/crypto.ts';
import type { ErasedSubjects, Horizon } from '../../core/security/erasure.ts';
import type { RewrappableKeys } from '../../core/security/rotation.ts';
import { TENANT_COLUMN } from '../../core/security/tenancy.ts';
import type { Position } from '../../core/types.ts';
import { quoteIdent as q, type Sql, schemaMigration } from '../sql/sql.ts';

export const createPostgresDataKeyStore = (sql: Sql, schema: string): DataKeyStore & RewrappableKeys => {
  const table = `${q(schema)}.data_keys`;
  let migrated: Promise<void> | undefined;
  const migrate = () =>
    (migrated ??= sql
      .transaction(async (tx) => {
        await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`logfront:${schema}:data_keys`]);
        await tx.query(`CREATE SCHEMA IF NOT EXISTS ${q(schema)}`);
        await tx.query(`CREATE TABLE IF NOT EXISTS ${table} (
          key_id text PRIMARY KEY,
          tenant text NOT NULL,
          subject text NOT NULL,
          wrapped text NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          UNIQUE (tenant, subject))`);
      })
      .catch((error) => {
        migrated = undefined;
        throw error;
      }));

  return {
    keyFor: async (tenant, subject, fresh) => {
      await migrate();
      await sql.query(
        `INSERT INTO ${table} (key_id, tenant, subject, wrapped) VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant, subject) DO NOTHING`,
        [fresh.keyId, tenant, subject, fresh.wrapped],
      );
      const r = await sql.query<{ key_id: string; wrapped: string }>(
        `SELECT key_id, wrapped FROM ${table} WHERE tenant = $1 AND subject = $2`,
        [tenant, subject],
      );
      const row = r.rows[0];
      // destroyed between the insert and the read: the fresh key is stored on the next call
      if (!row) return fresh;
      return { keyId: row.key_id, wrapped: row.wrapped } satisfies DataKeyRecord;
    },
    byIds: async (keyIds) => {
      await migrate();
      const r = await sql.query<{ key_id: string; wrapped: string }>(
        `SELECT key_id, wrapped FROM ${table} WHERE key_id = ANY($1::text[])`,
        [keyIds],
      );
      return new Map(r.rows.map((row) => [row.key_id, row.wrapped]));
    },
    destroy: async (tenant, subject) => {
      await migrate();
      const r = await sql.query(`DELETE FROM ${table} WHERE tenant = $1 AND subject = $2`, [tenant, subject]);
      return r.rowCount;
    },
    page: async (after, limit) => {
      await migrate();
      const r = await sql.query<{ key_id: string; wrapped: string }>(
        `SELECT key_id, wrapped FROM ${table} WHERE $1::text IS NULL OR key_id > $1 ORDER BY key_id LIMIT $2`,
        [after, limit],
      );
      return r.rows.map((row) => ({ keyId: row.key_id, wrapped: row.wrapped }));
    },
    // compare-and-set per key, one statement (one transaction) per call: a key destroyed or re-wrapped by
    // another caller meanwhile is left as it is and not counted
    rewrap: async (entries) => {
      if (entries.length === 0) return 0;
      await migrate();
      const r = await sql.query(
        `UPDATE ${table} AS k SET wrapped = v.next
         FROM unnest($1::text[], $2::text[], $3::text[]) AS v(key_id, previous, next)
         WHERE k.key_id = v.key_id AND k.wrapped = v.previous`,
        [entries.map((e) => e.keyId), entries.map((e) => e.from), entries.map((e) => e.to)],
      );
      return r.rowCount;
    },
  };
};

/**
 * The erasures' record: per erased (tenant, subject), named by an HMAC (`ref`), the log's end positions
 * when it was erased. `seq` moves with every record, so a reader can tell whether any came since it looked.
 */
export const createPostgresErasedSubjects = (sql: Sql, schema: string): ErasedSubjects => {
  const table = `${q(schema)}.erased_subjects`;
  const migrate = schemaMigration(sql, schema, async (tx) => {
    await tx.query(`CREATE SEQUENCE IF NOT EXISTS ${q(schema)}.erased_subjects_seq`);
    await tx.query(`CREATE TABLE IF NOT EXISTS ${table} (
      ref text PRIMARY KEY,
      horizon jsonb NOT NULL,
      seq bigint NOT NULL,
      erased_at timestamptz NOT NULL DEFAULT now())`);
  });
  const seqName = `${q(schema)}.erased_subjects_seq`;
  const horizonOf = (json: Record<string, string>): Horizon =>
    new Map(Object.entries(json).map(([partition, offset]) => [partition, BigInt(offset)]));
  return {
    record: async (ref, ends: readonly Position[]) => {
      await migrate();
      const horizon = Object.fromEntries(
        ends.map((p) => [partitionKey(p.topic, p.partition), p.offset.toString()]),
      );
      // erased again: the later horizon covers every event the earlier one did
      await sql.query(
        `INSERT INTO ${table} (ref, horizon, seq) VALUES ($1, $2::jsonb, nextval('${seqName}'))
         ON CONFLICT (ref) DO UPDATE SET horizon = EXCLUDED.horizon, seq = EXCLUDED.seq, erased_at = now()`,
        [ref, JSON.stringify(horizon)],
      );
    },
    lookup: async (refs) => {
      await migrate();
      const r = await sql.query<{
        version: string;
        found: { ref: string; horizon: Record<string, string> }[];
      }>(
        `SELECT (SELECT COALESCE(max(seq), 0) FROM ${table})::text AS version,
           (SELECT COALESCE(json_agg(json_build_object('ref', ref, 'horizon', horizon)), '[]'::json)
              FROM ${table} WHERE ref = ANY($1::text[])) AS found`,
        [refs],
      );
      const row = r.rows[0]!;
      return {
        version: BigInt(row.version),
        horizons: new Map(row.found.map((f) => [f.ref, horizonOf(f.horizon)])),
      };
    },
    version: async () => {
      await migrate();
      const r = await sql.query<{ version: string }>(
        `SELECT COALESCE(max(seq), 0)::text AS version FROM ${table}`,
      );
      return BigInt(r.rows[0]!.version);
    },
  };
};

/**
 * Deletes the rows of `tenant` whose `column` is `value` from a projection's active and building
 * generations; answers how many. A projection that has no tables yet has no rows.
 */
export const createPostgresRowEraser =
  (
    sql: Sql,
    schema: string,
    /** told the rows deleted (e.g. to drop them from the read cache) */
    onDeleted?: (projection: string, rows: readonly Record<string, unknown>[]) => Promise<void>,
  ) =>
  async (projection: string, column: string, value: string, tenant: string): Promise<number> => {
    const gens = await sql
      .query<{ active_generation: number; building_generation: number | null }>(
        `SELECT active_generation, building_generation FROM ${q(schema)}.projections WHERE name = $1`,
        [projection],
      )
      .catch((error: { code?: string }) => {
        if (error.code === '42P01') return { rows: [], rowCount: 0 }; // no projection ever prepared
        throw error;
      });
    let deleted = 0;
    for (const row of gens.rows) {
      for (const generation of [row.active_generation, row.building_generation]) {
        if (generation === null) continue;
        const table = `${q(schema)}.${q(`proj_${projection}_g${generation}`)}`;
        const exists = await sql.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [table]);
        if (!exists.rows[0]?.t) continue;
        // the rows are told deleted before the delete commits: when that fails (the cache is down), the
        // rows stay, and the erasure tried again finds them again
        const r = await sql.transaction(async (tx) => {
          // the subject's rows of its tenant only (the tenant column: docs/security.md#tenants); a table
          // made before rows had tenants (not prepared since) holds the default tenant's rows only
          const tenanted = await tx.query(
            `SELECT 1 FROM pg_attribute WHERE attrelid = $1::regclass AND attname = $2 AND NOT attisdropped`,
            [table, TENANT_COLUMN],
          );
          if (!tenanted.rows.length && tenant !== DEFAULT_TENANT) return { rowCount: 0 };
          const rows = await tx.query<Record<string, unknown>>(
            `DELETE FROM ${table} WHERE ${q(column)} = $1 ${tenanted.rows.length ? `AND ${q(TENANT_COLUMN)} = $2` : ''} RETURNING *`,
            tenanted.rows.length ? [value, tenant] : [value],
          );
          if (onDeleted && rows.rows.length) await onDeleted(projection, rows.rows);
          return rows;
        });
        deleted += r.rowCount;
      }
    }
    return deleted;
  };

/**
 * Deletes rows by tenant and key from one generation of a projection; answers the rows deleted (with their columns).
 * A generation whose table is gone (dropped after a switch) has none.
 */
export const createPostgresRowsByKeyEraser =
  (sql: Sql, schema: string) =>
  async (
    projection: { readonly name: string; readonly key: string },
    generation: number,
    rows: readonly { readonly tenant: string; readonly key: string }[],
  ): Promise<Record<string, unknown>[]> => {
    const table = `${q(schema)}.${q(`proj_${projection.name}_g${generation}`)}`;
    const r = await sql
      .query<Record<string, unknown>>(
        `DELETE FROM ${table} WHERE (${q(projection.key)}, ${q(TENANT_COLUMN)}) IN
           (SELECT * FROM unnest($1::text[], $2::text[])) RETURNING *`,
        [rows.map((row) => row.key), rows.map((row) => row.tenant)],
      )
      .catch((error: { code?: string }) => {
        if (error.code === '42P01') return { rows: [], rowCount: 0 }; // the generation was dropped
        throw error;
      });
    return r.rows;
  };
