import { describe, expect, it } from 'vitest';
import { createPgliteSql } from '../../connectors/embedded/pglite-sql.ts';
import { createPglitePurge, keepWalUnrecycled } from '../../connectors/embedded/purge.ts';
import {
  createPostgresDataKeyStore,
  createPostgresErasedSubjects,
  createPostgresRowEraser,
  createPostgresRowsByKeyEraser,
} from '../../connectors/postgres/erasure.ts';
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

    it('pages every key in key id order and re-wraps by compare-and-set, counting only what it replaced', async () => {
      const sql = await open();
      const keys = createPostgresDataKeyStore(sql, `t_${uniqueId()}`);
      try {
        expect(await keys.page(null, 10)).toEqual([]);
        expect(await keys.rewrap([])).toBe(0);
        for (const n of [3, 1, 2]) await keys.keyFor('t', `s${n}`, { keyId: `k${n}`, wrapped: `w${n}` });
        expect(await keys.page(null, 2)).toEqual([
          { keyId: 'k1', wrapped: 'w1' },
          { keyId: 'k2', wrapped: 'w2' },
        ]);
        expect(await keys.page('k2', 2)).toEqual([{ keyId: 'k3', wrapped: 'w3' }]);
        // k2 moved on meanwhile (another rotation): left as it is; k9 does not exist
        expect(
          await keys.rewrap([
            { keyId: 'k1', from: 'w1', to: 'v1' },
            { keyId: 'k2', from: 'stale', to: 'v2' },
            { keyId: 'k9', from: 'w9', to: 'v9' },
          ]),
        ).toBe(1);
        expect(Object.fromEntries(await keys.byIds(['k1', 'k2']))).toEqual({ k1: 'v1', k2: 'w2' });
      } finally {
        await sql.close();
      }
    });

    it('records erased subjects with their horizon, a later erasure replacing it; the version moves with each', async () => {
      const sql = await open();
      const erased = createPostgresErasedSubjects(sql, `t_${uniqueId()}`);
      try {
        expect(await erased.version()).toBe(0n);
        expect(await erased.lookup(['hmac:a'])).toEqual({ version: 0n, horizons: new Map() });
        await erased.record('hmac:a', [
          { topic: 'p.events.order', partition: 0, offset: 5n },
          { topic: 'p.events.order', partition: 1, offset: 0n },
        ]);
        const first = await erased.version();
        expect(first).toBeGreaterThan(0n);
        await erased.record('hmac:b', []);
        await erased.record('hmac:a', [{ topic: 'p.events.order', partition: 0, offset: 9n }]);
        const seen = await erased.lookup(['hmac:a', 'hmac:b', 'hmac:c']);
        expect(seen.version).toBeGreaterThan(first);
        expect(seen.version).toBe(await erased.version());
        expect(seen.horizons).toEqual(
          new Map([
            ['hmac:a', new Map([['p.events.order/0', 9n]])],
            ['hmac:b', new Map()],
          ]),
        );
      } finally {
        await sql.close();
      }
    });

    it('deletes rows by key from one generation, answering them; a generation that is gone has none', async () => {
      const sql = await open();
      const schema = `t_${uniqueId()}`;
      const store = createPostgresProjectionStore(sql, schema);
      const byKey = createPostgresRowsByKeyEraser(sql, schema);
      try {
        await store.prepare(spec, 1);
        await store.applyBatch(
          spec,
          1,
          [
            { kind: 'upsert', row: { id: 'p1', customer: 'ada', total: 1 } },
            { kind: 'upsert', row: { id: 'p2', customer: 'bob', total: 2 } },
          ],
          advance(null, 2n),
        );
        expect(
          await byKey(spec, 1, [
            { tenant: 'default', key: 'p1' },
            { tenant: 'default', key: 'nope' },
            { tenant: 'acme', key: 'p2' },
          ]),
        ).toEqual([{ id: 'p1', customer: 'ada', total: 1, __lf_tenant: 'default' }]);
        // no building generation; the rows deleted are told (the read cache drops them)
        const told: [string, readonly unknown[]][] = [];
        const erase = createPostgresRowEraser(sql, schema, async (projection, rows) => {
          told.push([projection, rows]);
        });
        expect(await erase('purchases', 'customer', 'nobody', 'default')).toBe(0);
        expect(told).toEqual([]);
        expect((await store.get(spec, 'p2')).row).toMatchObject({ customer: 'bob' });
        expect(await byKey(spec, 7, [{ tenant: 'default', key: 'p2' }])).toEqual([]);
        expect(await erase('purchases', 'customer', 'bob', 'acme')).toBe(0);
        expect(await erase('purchases', 'customer', 'bob', 'default')).toBe(1);
        expect(told).toEqual([
          ['purchases', [{ id: 'p2', customer: 'bob', total: 2, __lf_tenant: 'default' }]],
        ]);
        const broken = createPostgresRowsByKeyEraser(
          { ...sql, query: () => Promise.reject(new Error('down')) },
          schema,
        );
        await expect(broken(spec, 1, [{ tenant: 'default', key: 'p2' }])).rejects.toThrow('down');
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

describe('the purge of PGlite (embedded): what was deleted, rewritten away', () => {
  it("rewrites the key table and the projections' tables that exist; a schema with none is no error", async () => {
    const sql = await createPgliteSql();
    const schema = `t_${uniqueId()}`;
    const statements: string[] = [];
    const watched: Sql = {
      ...sql,
      query: (text, params) => {
        statements.push(text);
        return sql.query(text, params);
      },
    };
    const purge = createPglitePurge(watched, schema);
    try {
      await keepWalUnrecycled(sql);
      expect((await sql.query('SHOW wal_recycle')).rows).toEqual([{ wal_recycle: 'off' }]);
      await purge(['purchases']); // nothing made yet: no projections table, no key table
      expect(statements.filter((t) => t.startsWith('VACUUM'))).toEqual([]);
      expect(statements.slice(-2)).toEqual(['SELECT pg_switch_wal()', 'CHECKPOINT']);

      const store = createPostgresProjectionStore(sql, schema);
      await store.prepare(spec, 1);
      await store.beginRebuild(spec);
      await createPostgresDataKeyStore(sql, schema).keyFor('t', 's', { keyId: 'k', wrapped: 'w' });
      statements.length = 0;
      await purge(['purchases', 'unknown']);
      expect(statements.filter((t) => t.startsWith('VACUUM'))).toEqual([
        `VACUUM FULL "${schema}".data_keys`,
        `VACUUM FULL "${schema}"."proj_purchases_g1"`,
        `VACUUM FULL "${schema}"."proj_purchases_g2"`,
      ]);
      statements.length = 0;
      await purge([]);
      expect(statements.filter((t) => t.startsWith('VACUUM'))).toEqual([`VACUUM FULL "${schema}".data_keys`]);
    } finally {
      await sql.close();
    }
  });

  it('a database that fails is an error', async () => {
    const failing = { query: () => Promise.reject(Object.assign(new Error('down'), { code: '08006' })) };
    await expect(createPglitePurge(failing as unknown as Sql, 'x')(['purchases'])).rejects.toThrow('down');
  });
});
erasureSuite('PGlite', () => createPgliteSql());
