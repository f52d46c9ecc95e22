// Crypto-shredding in Postgres (or PGlite): the wrapped data keys, and the deletion of a data subject's
// projection rows. Table names follow the projection store: <schema>.proj_<name>_g<generation>.
import { DEFAULT_TENANT } from '../../core/security/auth.ts';
import type { DataKeyRecord, DataKeyStore } from '../../core/security/crypto.ts';
import { TENANT_COLUMN } from '../../core/security/tenancy.ts';
import { quoteIdent as q, type Sql } from '../sql/sql.ts';

export const createPostgresDataKeyStore = (sql: Sql, schema: string): DataKeyStore => {
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
