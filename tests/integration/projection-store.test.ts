import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgliteSql } from '../../connectors/embedded/pglite-sql.ts';
import { createPostgresProjectionStore } from '../../connectors/postgres/projection-store.ts';
import { createPgSql, type Sql } from '../../connectors/postgres/sql.ts';
import { CheckpointFenced } from '../../core/errors.ts';
import type { ProjectionStore } from '../../core/ports.ts';
import type { ProjectionSpec } from '../../core/projection.ts';
import { increment, patch, remove, upsert } from '../../projections/define.ts';
import { advance } from '../support/checkpoints.ts';
import { services, uniqueId } from '../support/services.ts';

const spec: ProjectionSpec = {
  name: 'things',
  key: 'id',
  columns: { id: 'text', status: 'text', n: 'integer', at: 'timestamptz', note: 'text' },
};

describe.each([
  ['PostgreSQL', () => createPgSql(services().LOGFRONT_DATABASE_URL)],
  ['PGlite', () => createPgliteSql()],
] as const)('projection store batches on %s', (_name, open) => {
  let sql: Sql;
  let store: ProjectionStore;
  let schema: string;
  const rowsOf = async () =>
    Object.fromEntries(
      (await store.list(spec, { filters: {}, limit: 100, afterKey: null })).rows.map((r) => [r.id, r]),
    );
  beforeAll(async () => {
    sql = await open();
    schema = `t_${uniqueId()}`;
    store = createPostgresProjectionStore(sql, schema);
    await store.prepare(spec, 1);
    await store.applyBatch(
      spec,
      1,
      [upsert({ id: 'a', status: 'placed', n: 1, note: 'x' })],
      advance(null, 1n),
    );
  });
  afterAll(async () => sql?.close());

  it('a read follows a rebuild: from the generation now active, also when the one it last read is dropped', async () => {
    const name = `sw_${uniqueId()
      .replace(/[^a-z0-9]/gi, '')
      .toLowerCase()}`;
    const own: ProjectionSpec = { ...spec, name };
    const other = createPostgresProjectionStore(sql, schema); // another process, same database
    await store.prepare(own, 1);
    await store.applyBatch(own, 1, [upsert({ id: 'a', status: 'g1' })], advance(null, 1n));
    expect((await store.get(own, 'a')).row?.status).toBe('g1');

    // a switch: the generation this store read last is no longer active (its table still there)
    const g2 = await other.beginRebuild(own);
    await other.applyBatch(own, g2, [upsert({ id: 'a', status: 'g2' })], advance(null, 5n));
    await other.switchGeneration(name, g2);
    const read = await store.get(own, 'a');
    expect(read.generation).toBe(g2);
    expect(read.row?.status).toBe('g2');
    expect(read.checkpoints.map((c) => c.nextOffset)).toEqual([5n]);

    // another switch, and the table this store read last is dropped
    const g3 = await other.beginRebuild(own);
    await other.applyBatch(own, g3, [upsert({ id: 'b', status: 'g3' })], advance(null, 7n));
    await other.switchGeneration(name, g3);
    await other.dropGeneration(own, g2);
    const listed = await store.list(own, { filters: {}, limit: 10, afterKey: null });
    expect(listed.generation).toBe(g3);
    expect(listed.rows.map((r) => r.id)).toEqual(['b']);
    expect((await store.get(own, 'zzz')).row).toBeNull();

    // columns named like the statement's own are refused, not misread
    await expect(store.get({ ...own, columns: { ...own.columns, __lf_x: 'text' } }, 'a')).rejects.toThrow(
      /reserved/,
    );
  });

  it('patches set their columns on the stored row and leave the others exactly; a patch of no row is dropped', async () => {
    await store.applyBatch(
      spec,
      1,
      [
        patch('a', { status: 'shipped', note: undefined }),
        patch('a', { n: 2, id: 'not the key' }),
        patch('nobody', { status: 'ghost' }),
        upsert({ id: 'b', status: 'placed', n: 0 }),
        patch('b', { status: 'paid' }),
      ],
      advance(1n, 2n),
    );
    expect(await rowsOf()).toEqual({
      a: { id: 'a', status: 'shipped', n: 2, at: null, note: null },
      b: { id: 'b', status: 'paid', n: 0, at: null, note: null },
    });
  });

  it('increments read the stored row (in a transaction) and add to it; deletes remove', async () => {
    await store.applyBatch(
      spec,
      1,
      [increment('a', { n: 5 }), patch('a', { status: 'counted' }), increment('c', { n: 1 }), remove('b')],
      advance(2n, 3n),
    );
    const rows = await rowsOf();
    expect(rows).toEqual({
      a: { id: 'a', status: 'counted', n: 7, at: null, note: null },
      c: { id: 'c', status: null, n: 1, at: null, note: null },
    });
  });

  it('a batch whose checkpoint moved meanwhile writes nothing, with or without increments', async () => {
    const before = await rowsOf();
    await expect(
      store.applyBatch(
        spec,
        1,
        [upsert({ id: 'z', status: 'x', n: 1 }), patch('a', { status: 'lost' }), remove('c')],
        advance(2n, 9n),
      ),
    ).rejects.toBeInstanceOf(CheckpointFenced);
    await expect(
      store.applyBatch(spec, 1, [increment('a', { n: 100 })], advance(null, 9n)),
    ).rejects.toBeInstanceOf(CheckpointFenced);
    expect(await rowsOf()).toEqual(before);
    expect((await store.checkpoints(spec.name, 1))[0]!.nextOffset).toBe(3n);
  });
});
