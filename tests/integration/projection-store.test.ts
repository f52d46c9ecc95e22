// The projection store (connectors/postgres) through its contract suite, on both engines it runs on:
// a PostgreSQL server over pg (the services mode) and PGlite in memory (the embedded default).
import { describe, expect, it } from 'vitest';
import { createPgliteSql } from '../../connectors/embedded/pglite-sql.ts';
import { createPgSql } from '../../connectors/postgres/pg-sql.ts';
import { createPostgresProjectionStore } from '../../connectors/postgres/projection-store.ts';
import { quoteIdent, type Sql } from '../../connectors/sql/sql.ts';
import type { ProjectionStore } from '../../core/ports.ts';
import type { ProjectionSpec } from '../../core/projection.ts';
import {
  type ProjectionStoreFixture,
  projectionStoreContract,
} from '../contract/projection-store.features.ts';
import { advance } from '../support/checkpoints.ts';
import { services, uniqueId } from '../support/services.ts';

/** what waiting past the liveness window of a rebuild does, without the wait */
const quiet = (sql: Sql, schema: string) => async (name: string) => {
  await sql.query(
    `UPDATE ${quoteIdent(schema)}.projections SET building_at = building_at - interval '1 minute' WHERE name = $1`,
    [name],
  );
};

projectionStoreContract('PostgreSQL (pg)', async (): Promise<ProjectionStoreFixture> => {
  const url = services().LOGFRONT_DATABASE_URL;
  const schema = `t_${uniqueId()}`;
  const sql = createPgSql(url);
  const others: ProjectionStore[] = [];
  return {
    store: createPostgresProjectionStore(sql, schema),
    another: async () => {
      const other = createPostgresProjectionStore(createPgSql(url, { max: 2 }), schema);
      others.push(other);
      return other;
    },
    letRebuildGoQuiet: quiet(sql, schema),
    close: async () => {
      await Promise.all(others.map((o) => o.close()));
      await sql.query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`);
      await sql.close();
    },
  };
});

projectionStoreContract('PGlite (embedded)', async (): Promise<ProjectionStoreFixture> => {
  // one PGlite per process: another store over it is what another runner in the process would open
  const sql = await createPgliteSql();
  const schema = `t_${uniqueId()}`;
  return {
    store: createPostgresProjectionStore(sql, schema),
    another: async () => createPostgresProjectionStore(sql, schema),
    letRebuildGoQuiet: quiet(sql, schema),
    close: () => sql.close(),
  };
});

// Tables made before rows had tenants, and the index a tenant's list reads: on both engines
const tenancySuite = (engine: string, open: () => Promise<Sql>) =>
  describe(`projection tables and tenants: ${engine}`, () => {
    const spec: ProjectionSpec = { name: 'legacy', key: 'id', columns: { id: 'text', n: 'integer' } };

    /** a schema with generation 1 of `legacy` in the shape of before: no tenant, the key alone as primary key */
    const legacy = async (sql: Sql, schema: string) => {
      const s = quoteIdent(schema);
      await sql.query(`CREATE SCHEMA ${s}`);
      const store = createPostgresProjectionStore(sql, schema);
      await store.activeGeneration('x'); // the store's own tables
      await sql.query(`INSERT INTO ${s}.projections (name, active_generation) VALUES ('legacy', 1)`);
      await sql.query(`CREATE TABLE ${s}.proj_legacy_g1 (id text PRIMARY KEY, n integer)`);
      await sql.query(`INSERT INTO ${s}.proj_legacy_g1 VALUES ('a', 1), ('b', 2)`);
      return store;
    };

    it("a table of before is upgraded by its first read: its rows are the default tenant's", async () => {
      const sql = await open();
      const schema = `t_${uniqueId()}`;
      try {
        const store = await legacy(sql, schema);
        expect(await store.get(spec, 'a', 'default')).toMatchObject({
          row: { id: 'a', n: 1 },
          tenant: 'default',
        });
        expect(await store.get(spec, 'a', 'acme')).toMatchObject({ row: null });
        await store.applyBatch(
          spec,
          1,
          [{ kind: 'upsert', row: { id: 'a', n: 9 }, tenant: 'acme' }],
          advance(null, 1n),
        );
        const all = await store.list(spec, { filters: {}, limit: 10, afterKey: null });
        expect(all.rows.map((r, i) => `${all.tenants[i]}/${r.id}/${r.n}`)).toEqual([
          'acme/a/9',
          'default/a/1',
          'default/b/2',
        ]);
      } finally {
        await sql.query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`);
        await sql.close();
      }
    });

    it('a table of before is upgraded by prepare (a runner starting), once', async () => {
      const sql = await open();
      const schema = `t_${uniqueId()}`;
      try {
        const store = await legacy(sql, schema);
        await store.prepare(spec, 1);
        await store.prepare(spec, 1);
        const key = await sql.query<{ columns: string }>(
          `SELECT string_agg(a.attname, ',' ORDER BY array_position(c.conkey, a.attnum)) AS columns
           FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey)
           WHERE c.conrelid = $1::regclass AND c.contype = 'p'`,
          [`${quoteIdent(schema)}.proj_legacy_g1`],
        );
        expect(key.rows[0]?.columns).toBe('id,__lf_tenant');
        expect((await store.get(spec, 'b')).tenant).toBe('default');
      } finally {
        await sql.query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`);
        await sql.close();
      }
    });

    it("a tenant's list and a read by key are index scans, with no sort", async () => {
      const sql = await open();
      const schema = `t_${uniqueId()}`;
      const store = createPostgresProjectionStore(sql, schema);
      try {
        await store.prepare(spec, 1);
        const table = `${quoteIdent(schema)}.proj_legacy_g1`;
        const plan = (query: string, params: unknown[]) =>
          sql.transaction(async (tx) => {
            // whatever the table's size: is there a plan that reads the index in the order asked?
            await tx.query('SET LOCAL enable_seqscan = off');
            const r = await tx.query<Record<string, string>>(`EXPLAIN ${query}`, params);
            return r.rows.map((row) => Object.values(row)[0]).join('\n');
          });
        const tenantList = await plan(
          `SELECT * FROM ${table} WHERE "__lf_tenant" = $1 AND "id" COLLATE "C" > $2
           ORDER BY "id" COLLATE "C", "__lf_tenant" COLLATE "C" LIMIT 50`,
          ['acme', 'k'],
        );
        expect(tenantList).toMatch(/Index (Only )?Scan using "?proj_legacy_g1_tenant"?/);
        expect(tenantList).not.toMatch(/Sort/);
        const everyList = await plan(
          `SELECT * FROM ${table} WHERE ("id" COLLATE "C", "__lf_tenant" COLLATE "C") > ($1, $2)
           ORDER BY "id" COLLATE "C", "__lf_tenant" COLLATE "C" LIMIT 50`,
          ['k', 'default'],
        );
        expect(everyList).toMatch(/Index (Only )?Scan using "?proj_legacy_g1_pkey"?/);
        expect(everyList).not.toMatch(/Sort/);
        const byKey = await plan(`SELECT * FROM ${table} WHERE "id" = $1 AND "__lf_tenant" = $2`, [
          'a',
          'acme',
        ]);
        // either index answers a tenant and a key at once
        expect(byKey).toMatch(/Index (Only )?Scan using "?proj_legacy_g1_(pkey|tenant)"?/);
      } finally {
        await store.close();
      }
    });
  });

tenancySuite('PostgreSQL (pg)', async () => createPgSql(services().LOGFRONT_DATABASE_URL));
tenancySuite('PGlite', () => createPgliteSql());
