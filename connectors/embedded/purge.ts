// What a deletion leaves in PGlite's files, removed (DESIGN §7: a destroyed key must be physically gone).
// A DELETE only marks a tuple dead: its bytes stay in the table's heap pages, and the WAL holds the
// inserts and the full-page images that carried it. So, after an erasure or a key rotation:
// - VACUUM FULL rewrites each affected table into a new file holding live rows only; Postgres truncates
//   the old file at once (and unlinks it at the next checkpoint). Its indexes are rebuilt the same way.
// - pg_switch_wal() ends the WAL segment that holds those records, and CHECKPOINT removes every segment
//   before the checkpoint's redo point. A segment is removed, not recycled: PGlite is kept at
//   wal_recycle = off (a recycled segment is renamed for reuse with its old bytes in it).
// Measured on PGlite 0.5 (PostgreSQL 18): tests/integration/erasure-files.embedded.test.ts searches every
// file of the data directory for the wrapped key and the plaintext after an erasure.
import { quoteIdent as q, type Sql } from '../sql/sql.ts';

/**
 * Keeps WAL segments from being recycled, for this session and every later start (postgresql.auto.conf):
 * a checkpoint then deletes the segments it no longer needs instead of renaming them, bytes and all, for
 * reuse. Run once when the data directory is opened, before anything is written.
 */
export const keepWalUnrecycled = async (sql: Sql) => {
  await sql.query('ALTER SYSTEM SET wal_recycle = off');
  await sql.query('SET wal_recycle = off');
};

/** the tables of a projection's active and building generations */
const tablesOf = async (sql: Sql, schema: string, projections: readonly string[]) => {
  if (projections.length === 0) return [];
  const r = await sql
    .query<{ name: string; generation: number }>(
      `SELECT name, g AS generation FROM ${q(schema)}.projections,
         unnest(ARRAY[active_generation, building_generation]) AS g
       WHERE name = ANY($1::text[]) AND g IS NOT NULL`,
      [projections],
    )
    .catch((error: { code?: string }) => {
      if (error.code === '42P01') return { rows: [], rowCount: 0 }; // no projection ever prepared
      throw error;
    });
  return r.rows.map((row) => `${q(schema)}.${q(`proj_${row.name}_g${row.generation}`)}`);
};

/**
 * Rewrites the data keys' table and the given projections' tables (those that exist) and drops the WAL
 * that held what they no longer hold. Slow on large tables (each is copied): it runs on an erasure and a
 * rotation only. Safe to run again.
 */
export const createPglitePurge =
  (sql: Sql, schema: string) =>
  async (projections: readonly string[]): Promise<void> => {
    const tables = [`${q(schema)}.data_keys`, ...(await tablesOf(sql, schema, projections))];
    for (const table of tables) {
      const exists = await sql.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [table]);
      if (exists.rows[0]?.t) await sql.query(`VACUUM FULL ${table}`);
    }
    await sql.query('SELECT pg_switch_wal()');
    await sql.query('CHECKPOINT');
  };
