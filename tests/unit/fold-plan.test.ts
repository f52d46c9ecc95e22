import { describe, expect, it } from 'vitest';
import { DELETED, foldChanges, idOfChange, keyOfChange, planFold } from '../../core/fold.ts';
import type { Change, ProjectionSpec, Row } from '../../core/projection.ts';
import { increment, patch, remove, upsert } from '../../projections/define.ts';

const spec: ProjectionSpec = {
  name: 't',
  key: 'id',
  columns: { id: 'text', status: 'text', n: 'integer', note: 'text' },
};

/** what the database ends with: patches applied to stored rows, then rows written and keys deleted */
const applyPlan = (stored: Map<string, Row>, changes: Change[]) => {
  const { rows, patches, read } = planFold(spec, changes);
  const out = new Map(stored);
  const readRows = new Map([...stored].filter(([k]) => read.has(k)));
  foldChanges(
    spec,
    readRows,
    changes.filter((c) => read.has(idOfChange(spec, c))),
  );
  for (const k of read) if (readRows.has(k)) rows.set(k, readRows.get(k)!);
  for (const [k, set] of patches) {
    const current = out.get(k);
    if (current) out.set(k, { ...current, ...set });
  }
  for (const [k, row] of rows) {
    if (row === DELETED) out.delete(k);
    else out.set(k, row);
  }
  return out;
};

/** the reference: fold over the stored rows, deleted rows removed */
const reference = (stored: Map<string, Row>, changes: Change[]) => {
  const rows = foldChanges(spec, new Map([...stored].map(([k, r]) => [k, { ...r }])), changes);
  for (const [k, r] of rows) if (r === DELETED) rows.delete(k);
  return rows;
};

const stored = () =>
  new Map<string, Row>([
    ['a', { id: 'a', status: 'placed', n: 1, note: 'x' }],
    ['b', { id: 'b', status: 'placed', n: 5, note: null }],
    ['acme\u0000a', { id: 'a', status: 'acme', n: 100, note: null, __lf_tenant: 'acme' }],
  ]);

/** a change of acme's rows, as the runner makes it from an event of tenant acme */
const acme = (change: Change): Change => ({ ...change, tenant: 'acme' });

describe('planFold', () => {
  it('reads only keys an increment needs; patches of unknown rows go to the database; upserts and deletes decide alone', () => {
    const changes = [
      patch('a', { status: 'shipped' }),
      patch('a', { note: 'y', id: 'ignored' }),
      upsert({ id: 'c', status: 'new', n: 0 }),
      patch('c', { status: 'paid' }),
      increment('b', { n: 2 }),
      patch('b', { status: 'counted' }),
      remove('d'),
      patch('e', { status: 'nobody' }),
      patch('f', { status: 'gone' }),
      remove('f'),
    ];
    const plan = planFold(spec, changes);
    expect([...plan.read]).toEqual(['b']);
    expect(Object.fromEntries(plan.patches)).toEqual({
      a: { status: 'shipped', note: 'y' },
      e: { status: 'nobody' },
    });
    expect([...plan.rows.keys()]).toEqual(['c', 'd', 'f']);
    expect(plan.rows.get('c')).toEqual({ id: 'c', status: 'paid', n: 0 });
    expect(plan.rows.get('d')).toBe(DELETED);
    expect(plan.rows.get('f')).toBe(DELETED);
    expect(applyPlan(stored(), changes)).toEqual(reference(stored(), changes));
  });

  it('a patched column set to undefined becomes null, as a row written whole would have it', () => {
    const plan = planFold(spec, [patch('a', { note: undefined })]);
    expect(plan.patches.get('a')).toEqual({ note: null });
  });

  it('gives the same tables as folding over the stored rows, for random change sequences', () => {
    let seed = 7;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let round = 0; round < 300; round++) {
      const changes: Change[] = [];
      for (let i = 0; i < 12; i++) {
        const key = 'abcd'[random(4)]!;
        const kind = random(4);
        const ofTenant = random(3) === 0 ? acme : (c: Change) => c;
        if (kind === 0) changes.push(ofTenant(upsert({ id: key, status: `u${i}`, n: i })));
        else if (kind === 1) changes.push(ofTenant(patch(key, { status: `p${i}` })));
        else if (kind === 2) changes.push(ofTenant(increment(key, { n: i })));
        else changes.push(ofTenant(remove(key)));
      }
      expect(applyPlan(stored(), changes)).toEqual(reference(stored(), changes));
    }
  });

  it("keeps the rows of two tenants apart: a change of one changes its own tenant's row of the key only", () => {
    const changes = [
      acme(patch('a', { status: 'acme shipped' })),
      patch('a', { note: 'default' }),
      acme(increment('b', { n: 1 })),
      acme(upsert({ id: 'c', status: 'acme', n: 1 })),
      upsert({ id: 'c', status: 'default', n: 2 }),
      acme(remove('c')),
      // a handler cannot name another tenant's rows: the column is the change's tenant's
      acme(upsert({ id: 'd', __lf_tenant: 'globex' })),
      upsert({ id: 'e', __lf_tenant: 'globex' }),
    ];
    const plan = planFold(spec, changes);
    expect([...plan.read]).toEqual(['acme\u0000b']);
    expect(Object.fromEntries(plan.patches)).toEqual({
      'acme\u0000a': { status: 'acme shipped' },
      a: { note: 'default' },
    });
    expect(plan.rows.get('c')).toEqual({ id: 'c', status: 'default', n: 2 });
    expect(plan.rows.get('acme\u0000c')).toBe(DELETED);
    expect(plan.rows.get('acme\u0000d')).toEqual({ id: 'd', __lf_tenant: 'acme' });
    expect(plan.rows.get('e')).toEqual({ id: 'e' });
    expect(applyPlan(stored(), changes)).toEqual(reference(stored(), changes));
    expect(reference(stored(), changes).get('acme\u0000b')).toEqual({ id: 'b', n: 1, __lf_tenant: 'acme' });
    expect(reference(stored(), changes).get('acme\u0000a')).toMatchObject({ status: 'acme shipped', n: 100 });
  });

  it('refuses an upsert without a text key, as the fold does', () => {
    expect(() => planFold(spec, [upsert({ status: 'x' })])).toThrow('upsert without a text key');
  });
});

describe('keyOfChange', () => {
  it('is the key of a patch, a delete or an increment, and the key column of an upsert', () => {
    expect(keyOfChange(spec, patch('a', { status: 'x' }))).toBe('a');
    expect(keyOfChange(spec, remove('b'))).toBe('b');
    expect(keyOfChange(spec, increment('c', { n: 1 }))).toBe('c');
    expect(keyOfChange(spec, upsert({ id: 'd', status: 'x' }))).toBe('d');
  });

  it('refuses an upsert whose key is missing, empty or not text, naming the projection', () => {
    for (const row of [{ status: 'x' }, { id: '' }, { id: 7 }]) {
      expect(() => keyOfChange(spec, upsert(row))).toThrow(/^t: upsert without a text key$/);
    }
  });
});

describe('the deleted marker', () => {
  it('is a frozen row that equals no row a projection writes, not even an empty one', () => {
    expect(Object.isFrozen(DELETED)).toBe(true);
    expect(DELETED).not.toEqual({});
    expect(DELETED).toEqual({ __deleted: true });
  });
});
