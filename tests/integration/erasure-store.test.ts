import { describe, expect, it } from 'vitest';
import { createPgliteSql } from '../../connectors/embedded/pglite-sql.ts';
import { createPostgresDataKeyStore, createPostgresRowEraser } from '../../connectors/postgres/erasure.ts';
import { createPgSql } from '../../connectors/postgres/pg-sql.ts';
import { createPostgresProjectionStore } from '../../connectors/postgres/projection-store.ts';
import type { Sql } from '../../connectors/sql/sql.ts';
import type { ProjectionSpec } from '../../core/projection.ts';
import { advance } from '../support/checkpoints.ts';
import { services, uniqueId } from '../support/services.ts';

const spec: ProjectionSpec = {
  name: 'purchases',
  key: 'id',
  columns: { id: 'text', customer: 'text', total: 'integer' },
};

const erasureSuite = (name: string, open: () => Promise<Sql>) => {
  describe(`data keys and row erasure: ${name}`, () => {
    it('stores one key per (tenant, subject): the first wins, later callers get it; destroy removes it', async () => {
      const sql = await open();
      const keys = createPostgresDataKeyStore(sql, `t_${uniqueId()}`);
      try {
        const [a, b] = await Promise.all([
          keys.keyFor('acme', 'ada', { keyId: 'k1', wrapped: 'w1' }),
          keys.keyFor('acme', 'ada', { keyId: 'k2', wrapped: 'w2' }),
        ]);
        expect(a).toEqual(b);
        expect(await keys.keyFor('other', 'ada', { keyId: 'k3', wrapped: 'w3' })).toEqual({
          keyId: 'k3',
          wrapped: 'w3',
        });
        const found = await keys.byIds([a.keyId, 'k3', 'nope']);
        expect([...found.entries()].sort()).toEqual(
          [
            [a.keyId, a.wrapped],
            ['k3', 'w3'],
          ].sort(),
        );
        expect((await keys.byIds([])).size).toBe(0);
        expect(await keys.destroy('acme', 'ada')).toBe(1);
        expect(await keys.destroy('acme', 'ada')).toBe(0);
        expect((await keys.byIds([a.keyId, 'k3'])).has(a.keyId)).toBe(false);
        // a new key for an erased subject
        expect(await keys.keyFor('acme', 'ada', { keyId: 'k4', wrapped: 'w4' })).toEqual({
          keyId: 'k4',
          wrapped: 'w4',
        });
      } finally {
        await sql.close();
      }
    });

    it('a key destroyed between its insert and its read answers the fresh one; a failed migration is tried again', async () => {
      const sql = await open();
      const schema = `t_${uniqueId()}`;
      let race = true;
      let failMigration = true;
      const racing: Sql = {
        ...sql,
        query: async (text, params) => {
          if (race && text.startsWith('SELECT key_id, wrapped FROM') && params?.[1] === 'racer') {
            race = false;
            await sql.query(`DELETE FROM "${schema}".data_keys WHERE subject = 'racer'`);
          }
          return sql.query(text, params);
        },
        transaction: (fn, options) => {
          if (failMigration) {
            failMigration = false;
            return Promise.reject(new Error('connection reset'));
          }
          return sql.transaction(fn, options);
        },
      };
      const keys = createPostgresDataKeyStore(racing, schema);
      try {
        await expect(keys.byIds(['x'])).rejects.toThrow('connection reset');
        expect(await keys.keyFor('t', 'racer', { keyId: 'r1', wrapped: 'w' })).toEqual({
          keyId: 'r1',
          wrapped: 'w',
        });
      } finally {
        await sql.close();
      }
    });

    it("deletes the subject's rows from the active and the building generation, nobody else's", async () => {
      const sql = await open();
      const schema = `t_${uniqueId()}`;
      const store = createPostgresProjectionStore(sql, schema);
      const eraser = createPostgresRowEraser(sql, schema);
      const erase = (projection: string, column: string, value: string) =>
        eraser(projection, column, value, 'default');
      try {
        expect(await erase('purchases', 'customer', 'ada')).toBe(0); // nothing prepared yet
        await store.prepare(spec, 1);
        await store.applyBatch(
          spec,
          1,
          [
            { kind: 'upsert', row: { id: 'p1', customer: 'ada', total: 1 } },
            { kind: 'upsert', row: { id: 'p2', customer: 'ada', total: 2 } },
            { kind: 'upsert', row: { id: 'p3', customer: 'bob', total: 3 } },
            // another tenant's subject of the same id, and its row of the same key: not this erasure's
            { kind: 'upsert', row: { id: 'p1', customer: 'ada', total: 9 }, tenant: 'acme' },
          ],
          advance(null, 4n),
        );
        const building = await store.beginRebuild(spec);
        await store.applyBatch(
          spec,
          building,
          [{ kind: 'upsert', row: { id: 'p1', customer: 'ada', total: 1 } }],
          advance(null, 1n),
        );
        expect(await erase('purchases', 'customer', 'ada')).toBe(3);
        expect((await store.get(spec, 'p1', 'default')).row).toBeNull();
        expect((await store.get(spec, 'p3')).row).toMatchObject({ customer: 'bob' });
        expect((await store.get(spec, 'p1', 'acme')).row).toMatchObject({ customer: 'ada', total: 9 });
        expect(await eraser('purchases', 'customer', 'ada', 'acme')).toBe(1);
        expect((await store.get(spec, 'p1')).row).toBeNull();
        expect(await erase('unknown', 'customer', 'ada')).toBe(0);
        await sql.query(`DROP TABLE "${schema}"."proj_purchases_g${building}"`);
        expect(await erase('purchases', 'customer', 'bob')).toBe(1);
      } finally {
        await store.close();
      }
    });

    it("a table made before rows had tenants holds the default tenant's rows only", async () => {
      const sql = await open();
      const schema = `t_${uniqueId()}`;
      const erase = createPostgresRowEraser(sql, schema);
      try {
        // the shape of the tables of before: no tenant column, the key alone as the primary key
        await sql.query(`CREATE SCHEMA "${schema}"`);
        await sql.query(`CREATE TABLE "${schema}".projections (name text PRIMARY KEY,
          active_generation integer NOT NULL, building_generation integer)`);
        await sql.query(`INSERT INTO "${schema}".projections VALUES ('purchases', 1, NULL)`);
        await sql.query(
          `CREATE TABLE "${schema}".proj_purchases_g1 (id text PRIMARY KEY, customer text, total integer)`,
        );
        await sql.query(
          `INSERT INTO "${schema}".proj_purchases_g1 VALUES ('p1', 'ada', 1), ('p2', 'bob', 2)`,
        );
        expect(await erase('purchases', 'customer', 'ada', 'acme')).toBe(0);
        expect(await erase('purchases', 'customer', 'ada', 'default')).toBe(1);
        const left = await sql.query(`SELECT id FROM "${schema}".proj_purchases_g1`);
        expect(left.rows).toEqual([{ id: 'p2' }]);
      } finally {
        await sql.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await sql.close();
      }
    });

    it('a database that fails is an error, not "nothing to erase"', async () => {
      const sql = await open();
      await sql.close();
      await expect(
        createPostgresRowEraser(sql, 'x')('purchases', 'customer', 'ada', 'default'),
      ).rejects.toThrow();
    });
  });
};

erasureSuite('pg on PostgreSQL', async () => createPgSql(services().LOGFRONT_DATABASE_URL));
erasureSuite('PGlite', () => createPgliteSql());
