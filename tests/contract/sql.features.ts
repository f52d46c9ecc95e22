// The Sql contract: pg against a Postgres server and PGlite behave the same for what the stores use.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../../connectors/sql/sql.ts';
import { quoteIdent, schemaMigration } from '../../connectors/sql/sql.ts';
import { uniqueId, waitFor } from '../support/services.ts';

export const sqlContract = (name: string, open: () => Promise<Sql>) => {
  describe(`Sql contract: ${name}`, () => {
    let sql: Sql;
    const table = `t_${uniqueId()}`;
    beforeAll(async () => {
      sql = await open();
      await sql.query(`CREATE TABLE ${table} (k text PRIMARY KEY, n bigint)`);
    });
    afterAll(async () => {
      await sql.query(`DROP TABLE IF EXISTS ${table}`);
      await sql.close();
    });

    it('a transaction commits everything or, on an error, nothing', async () => {
      await sql.transaction(async (tx) => {
        await tx.query(`INSERT INTO ${table} VALUES ('a', 1)`);
        await tx.query(`INSERT INTO ${table} VALUES ('b', 2)`);
      });
      const failed = await sql
        .transaction(async (tx) => {
          await tx.query(`INSERT INTO ${table} VALUES ('c', 3)`);
          await tx.query(`INSERT INTO ${table} VALUES ('a', 9)`); // duplicate key
        })
        .catch((e: unknown) => e);
      expect(failed).toBeInstanceOf(Error);
      const rows = await sql.query<{ k: string; n: string }>(`SELECT k, n FROM ${table} ORDER BY k`);
      expect(rows.rows).toEqual([
        { k: 'a', n: '1' },
        { k: 'b', n: '2' },
      ]);
      expect(rows.rowCount).toBe(2);
    });

    it('int8 comes back as a string, so offsets past 2^53 survive', async () => {
      const r = await sql.query<{ n: string }>('SELECT 9223372036854775807::bigint AS n');
      expect(r.rows[0]!.n).toBe('9223372036854775807');
    });

    it('a read-only repeatable-read transaction refuses writes', async () => {
      const error = await sql
        .transaction(async (tx) => tx.query(`INSERT INTO ${table} VALUES ('z', 0)`), {
          isolation: 'repeatable read',
          readOnly: true,
        })
        .catch((e: unknown) => e);
      expect(String(error)).toMatch(/read-only/);
    });

    it('a notification committed in a transaction reaches a listener; unlisten stops it', async () => {
      const channel = `c_${uniqueId()}`;
      const got: string[] = [];
      const unlisten = await sql.listen(channel, (p) => got.push(p));
      await sql.transaction(async (tx) => {
        await tx.query('SELECT pg_notify($1, $2)', [channel, 'one']);
      });
      await waitFor(async () => got.length === 1, 5000);
      await unlisten();
      await sql.query('SELECT pg_notify($1, $2)', [channel, 'two']);
      await new Promise((r) => setTimeout(r, 200));
      expect(got).toEqual(['one']);
    });

    it('a schema migration runs its steps once; one that failed runs again on the next call', async () => {
      const schema = `t_${uniqueId()}`;
      let runs = 0;
      const migrate = schemaMigration(sql, schema, async (tx, quoted) => {
        runs++;
        if (runs === 1) throw new Error('step failed');
        await tx.query(`CREATE TABLE ${quoted}.m (k text PRIMARY KEY)`);
      });
      try {
        await expect(migrate()).rejects.toThrow('step failed');
        await Promise.all([migrate(), migrate()]);
        await migrate();
        expect(runs).toBe(2);
        expect((await sql.query(`SELECT count(*)::int AS n FROM ${quoteIdent(schema)}.m`)).rows).toEqual([
          { n: 0 },
        ]);
      } finally {
        await sql.query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`);
      }
    });

    it('quotes identifiers', () => {
      expect(quoteIdent('orderId')).toBe('"orderId"');
      expect(quoteIdent('we"ird')).toBe('"we""ird"');
    });
  });
};
