import { describe, expect, it } from 'vitest';
import type { Change, ProjectionSpec, Row } from '../../core/projection.ts';
import type { EventId, RecordedEvent, StreamId } from '../../core/types.ts';
import {
  changesFor,
  DELETED,
  defineProjection,
  foldChanges,
  increment,
  patch,
  remove,
  upsert,
} from '../../projections/define.ts';

const event = (type: string, data: Record<string, unknown>, version = 1): RecordedEvent => ({
  id: `00000000-0000-7000-8000-${String(version).padStart(12, '0')}` as EventId,
  stream: `item-${String(data.id)}` as StreamId,
  type,
  version,
  data,
  metadata: {},
  position: { topic: 't.events.item', partition: 0, offset: BigInt(version - 1) },
  recordedAt: '2025-01-01T00:00:00.000Z',
});

const base = {
  name: 'items',
  key: 'id',
  columns: { id: 'text', label: 'text', count: 'integer' } as const,
  categories: ['item'],
  on: {},
};

describe('defineProjection', () => {
  it('returns the definition, frozen, halting on poison events after 3 retries unless told otherwise', () => {
    const definition = defineProjection(base);

    expect(definition).toEqual({ ...base, onError: 'skip', retries: 3 });
    expect(Object.isFrozen(definition)).toBe(true);
    expect(defineProjection({ ...base, onError: 'halt', retries: 0 })).toMatchObject({
      onError: 'halt',
      retries: 0,
    });
  });

  const badNames = ['Items', '1items', '_items', 'items-list', '', 'i'.repeat(41)];
  for (const name of badNames) {
    it(`a projection named "${name.length > 20 ? `${name.slice(0, 10)}…` : name}" is refused`, () => {
      expect(() => defineProjection({ ...base, name })).toThrow(`projection name "${name}" must match`);
    });
  }

  it('a name of 40 lower-case characters, digits and underscores is fine', () => {
    expect(defineProjection({ ...base, name: `a_1${'b'.repeat(37)}` }).name).toHaveLength(40);
  });

  const badColumns = ['1st', 'has-dash', 'has space', 'c'.repeat(64), ''];
  for (const column of badColumns) {
    it(`a column named "${column.length > 20 ? `${column.slice(0, 10)}…` : column}" is refused`, () => {
      expect(() => defineProjection({ ...base, columns: { ...base.columns, [column]: 'text' } })).toThrow(
        `column "${column}" of items must match`,
      );
    });
  }

  it('a column named with the reserved prefix __lf_ is refused', () => {
    expect(() => defineProjection({ ...base, columns: { ...base.columns, __lf_x: 'text' } })).toThrow(
      'column "__lf_x" of items: names starting with __lf_ are reserved',
    );
  });

  it('a key column that is not declared is refused', () => {
    expect(() => defineProjection({ ...base, key: 'sku' })).toThrow(
      'key column "sku" of items must be declared as text',
    );
  });

  it('a key column that is not text is refused', () => {
    expect(() => defineProjection({ ...base, key: 'count' })).toThrow(
      'key column "count" of items must be declared as text',
    );
  });

  it('a subject column must be a declared text column', () => {
    expect(() => defineProjection({ ...base, subject: 'count' })).toThrow(
      'subject column "count" of items must be declared as text',
    );
    expect(() => defineProjection({ ...base, subject: 'owner' })).toThrow(/subject column "owner"/);
  });

  it('a projection that reads no category is refused', () => {
    expect(() => defineProjection({ ...base, categories: [] })).toThrow('projection items reads no category');
  });
});

describe('change builders', () => {
  it('build the change each names', () => {
    expect(upsert({ id: 'a' })).toEqual({ kind: 'upsert', row: { id: 'a' } });
    expect(patch('a', { label: 'x' })).toEqual({ kind: 'patch', key: 'a', set: { label: 'x' } });
    expect(remove('a')).toEqual({ kind: 'delete', key: 'a' });
    expect(increment('a', { count: 2 })).toEqual({ kind: 'increment', key: 'a', by: { count: 2 } });
  });
});

describe('changesFor', () => {
  const items = defineProjection({
    ...base,
    on: {
      ItemAdded: (e: RecordedEvent<{ id: string; label: string }>) =>
        upsert({ id: e.data.id, label: e.data.label }),
      ItemRenamed: (e: RecordedEvent<{ id: string; label: string }>) => [
        patch(e.data.id, { label: e.data.label }),
        increment(e.data.id, { count: 1 }),
      ],
      ItemRemoved: (e: RecordedEvent<{ id: string }>) => remove(e.data.id),
      ItemNoticed: () => undefined,
      ItemIgnored: () => null,
      ItemBatched: () => [],
    },
  });

  it('given events, the changes come in event order, arrays flattened in place', () => {
    const changes = changesFor(items, [
      event('ItemAdded', { id: 'a', label: 'A' }, 1),
      event('ItemRenamed', { id: 'a', label: 'A2' }, 2),
      event('ItemRemoved', { id: 'a' }, 3),
    ]);

    expect(changes).toEqual([
      upsert({ id: 'a', label: 'A' }),
      patch('a', { label: 'A2' }),
      increment('a', { count: 1 }),
      remove('a'),
    ]);
  });

  it('an event type named like an Object.prototype member finds no handler', () => {
    const changes = changesFor(items, [event('toString', { id: 'a' }), event('constructor', { id: 'b' })]);
    expect(changes).toEqual([]);
  });

  it('events without a handler give no changes', () => {
    expect(changesFor(items, [event('ItemPriced', { id: 'a' }), event('OrderPlaced', { id: 'b' })])).toEqual(
      [],
    );
  });

  it('a handler answering undefined, null or an empty list gives no changes', () => {
    const changes = changesFor(items, [
      event('ItemNoticed', { id: 'a' }),
      event('ItemIgnored', { id: 'a' }),
      event('ItemBatched', { id: 'a' }),
      event('ItemRemoved', { id: 'z' }),
    ]);

    expect(changes).toEqual([remove('z')]);
  });

  it('no events give no changes', () => {
    expect(changesFor(items, [])).toEqual([]);
  });

  it('a handler sees the whole recorded event', () => {
    const seen: RecordedEvent[] = [];
    const spy = defineProjection({
      ...base,
      on: {
        ItemAdded: (e: RecordedEvent) => {
          seen.push(e);
          return undefined;
        },
      },
    });
    const added = event('ItemAdded', { id: 'a' }, 4);

    changesFor(spy, [added]);

    expect(seen).toEqual([added]);
  });
});

describe('foldChanges', () => {
  const spec: ProjectionSpec = { name: 'items', key: 'id', columns: base.columns };
  const fold = (changes: Change[], rows = new Map<string, Row>()) => foldChanges(spec, rows, changes);

  it('an upsert creates the row and a second upsert replaces it whole', () => {
    const rows = fold([upsert({ id: 'a', label: 'A', count: 1 }), upsert({ id: 'a', label: 'B' })]);

    expect(rows.get('a')).toEqual({ id: 'a', label: 'B' });
  });

  it('an upsert stores a copy, not the handler’s object', () => {
    const row = { id: 'a', label: 'A' };
    const rows = fold([upsert(row)]);
    row.label = 'changed';

    expect(rows.get('a')).toEqual({ id: 'a', label: 'A' });
  });

  it('an upsert without a text key is an error', () => {
    expect(() => fold([upsert({ label: 'no key' })])).toThrow('items: upsert without a text key');
    expect(() => fold([upsert({ id: 7 })])).toThrow('items: upsert without a text key');
    expect(() => fold([upsert({ id: '' })])).toThrow('items: upsert without a text key');
  });

  it('a patch sets the given columns and keeps the others', () => {
    const rows = fold([upsert({ id: 'a', label: 'A', count: 1 }), patch('a', { label: 'B' })]);

    expect(rows.get('a')).toEqual({ id: 'a', label: 'B', count: 1 });
  });

  it('a patch cannot move a row to another key', () => {
    const rows = fold([upsert({ id: 'a', label: 'A' }), patch('a', { id: 'b', label: 'B' })]);

    expect(rows.get('a')).toEqual({ id: 'a', label: 'B' });
    expect(rows.has('b')).toBe(false);
  });

  it('a patch of a row that does not exist is dropped', () => {
    expect(fold([patch('ghost', { label: 'x' })]).size).toBe(0);
  });

  it('a patch of a deleted row is dropped: the row stays deleted', () => {
    const rows = fold([upsert({ id: 'a' }), remove('a'), patch('a', { label: 'x' })]);

    expect(rows.get('a')).toBe(DELETED);
  });

  it('a delete marks the row deleted, even one never seen', () => {
    const rows = fold([upsert({ id: 'a' }), remove('a'), remove('b')]);

    expect(rows.get('a')).toBe(DELETED);
    expect(rows.get('b')).toBe(DELETED);
    expect(Object.isFrozen(DELETED)).toBe(true);
  });

  it('an upsert after a delete brings the row back', () => {
    expect(fold([remove('a'), upsert({ id: 'a', label: 'A' })]).get('a')).toEqual({ id: 'a', label: 'A' });
  });

  it('an increment adds to existing columns and starts missing ones at 0', () => {
    const rows = fold([upsert({ id: 'a', count: 2 }), increment('a', { count: 3, other: 1 })]);

    expect(rows.get('a')).toEqual({ id: 'a', count: 5, other: 1 });
  });

  it('an increment of a missing or deleted row creates it with the key and the deltas', () => {
    const rows = fold([
      increment('a', { count: 2 }),
      upsert({ id: 'b', count: 9 }),
      remove('b'),
      increment('b', { count: 1 }),
    ]);

    expect(rows.get('a')).toEqual({ id: 'a', count: 2 });
    expect(rows.get('b')).toEqual({ id: 'b', count: 1 });
  });

  it('folds into the rows it is given and returns them', () => {
    const rows = new Map<string, Row>([['a', { id: 'a', count: 1 }]]);

    const result = fold([increment('a', { count: 1 })], rows);

    expect(result).toBe(rows);
    expect(rows.get('a')).toEqual({ id: 'a', count: 2 });
  });

  it('upserts, patches and deletes are idempotent when replayed', () => {
    const changes = [
      upsert({ id: 'a', label: 'A' }),
      patch('a', { label: 'B' }),
      upsert({ id: 'b' }),
      remove('b'),
    ];
    const once = fold(changes);

    const twice = fold(changes, fold(changes));

    expect(twice).toEqual(once);
  });
});
