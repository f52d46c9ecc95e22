import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ColumnValueRefused, isLogfrontError } from '../../core/errors.ts';
import { MAX_DEPTH } from '../../core/log/storable.ts';
import type { Change, ColumnType, ProjectionSpec } from '../../core/projection.ts';
import { checkChanges, INT4_MAX, INT4_MIN, INT8_MAX, INT8_MIN } from '../../projections/column-bounds.ts';
import { increment, patch, remove, upsert } from '../../projections/define.ts';

const orders: ProjectionSpec = {
  name: 'orders',
  key: 'orderId',
  columns: {
    orderId: 'text',
    status: 'text',
    totalCents: 'integer',
    views: 'bigint',
    score: 'double',
    paid: 'boolean',
    updatedAt: 'timestamptz',
    meta: 'jsonb',
  },
};

/** the refusal of these changes, or undefined when they pass */
const refusalOf = (...changes: Change[]): ColumnValueRefused | undefined => {
  try {
    checkChanges(orders, changes);
  } catch (error) {
    if (error instanceof ColumnValueRefused) return error;
    throw error;
  }
  return undefined;
};

/** the message refusing a handler that writes `value` into `column` of order o-1, or undefined */
const writing = (column: string, value: unknown) =>
  refusalOf(upsert({ orderId: 'o-1', [column]: value }))?.message;
const patching = (column: string, value: unknown) => refusalOf(patch('o-1', { [column]: value }))?.message;
const adding = (column: string, by: unknown) =>
  refusalOf(increment('o-1', { [column]: by as number }))?.message;
/** changes that are not what the types say: a handler in plain JavaScript can return anything */
const malformed = (change: unknown) => refusalOf(change as Change)?.message;

const deepArray = (depth: number) => {
  let value: unknown = 'leaf';
  for (let i = 0; i < depth; i++) value = [value];
  return value;
};

describe('a projection column bounds what its handler may write', () => {
  it('an order with every column at an ordinary value passes, and so do empty batches', () => {
    expect(
      refusalOf(
        upsert({
          orderId: 'o-1',
          status: 'placed',
          totalCents: 1999,
          views: '12345678901234567',
          score: 4.5,
          paid: false,
          updatedAt: '2026-11-30T10:00:00Z',
          meta: { items: [{ sku: 'a', qty: 2 }], note: null },
        }),
        patch('o-1', { status: 'shipped', updatedAt: new Date('2026-12-01T08:00:00Z') }),
        increment('o-1', { totalCents: -500, views: 1, score: 0.25 }),
        remove('o-1'),
      ),
    ).toBeUndefined();
    expect(refusalOf()).toBeUndefined();
  });

  it('null and undefined write NULL into any column but the key, in an upsert and in a patch', () => {
    for (const column of Object.keys(orders.columns).filter((c) => c !== orders.key)) {
      expect(writing(column, null)).toBeUndefined();
      expect(writing(column, undefined)).toBeUndefined();
      expect(patching(column, null)).toBeUndefined();
      expect(patching(column, undefined)).toBeUndefined();
    }
  });

  describe('integer is int4', () => {
    it.each([INT4_MAX, INT4_MIN, 0, -0, 1])('%d is written', (value) => {
      expect(writing('totalCents', value)).toBeUndefined();
      expect(patching('totalCents', value)).toBeUndefined();
    });

    it('one past either end of int4 is refused, naming the projection, the column and the range', () => {
      expect(writing('totalCents', 3000000000)).toBe(
        'orders.totalCents: an integer is outside integer (int4) range -2147483648..2147483647',
      );
      expect(writing('totalCents', INT4_MAX + 1)).toBe(
        'orders.totalCents: an integer is outside integer (int4) range -2147483648..2147483647',
      );
      expect(patching('totalCents', INT4_MIN - 1)).toBe(
        'orders.totalCents: an integer is outside integer (int4) range -2147483648..2147483647',
      );
      expect(writing('totalCents', 1e21)).toMatch(/an integer is outside integer \(int4\) range/);
    });

    it('a fraction, NaN, Infinity, a string or a boolean is not an integer', () => {
      expect(writing('totalCents', 1.5)).toBe(
        'orders.totalCents: a number with a fraction is not an integer',
      );
      expect(writing('totalCents', Number.NaN)).toBe('orders.totalCents: NaN is not an integer');
      expect(writing('totalCents', Number.POSITIVE_INFINITY)).toBe(
        'orders.totalCents: Infinity is not an integer',
      );
      expect(writing('totalCents', '42')).toBe(
        'orders.totalCents: a string of 2 characters is not an integer (int4)',
      );
      expect(writing('totalCents', true)).toBe('orders.totalCents: a boolean is not an integer (int4)');
      expect(writing('totalCents', 42n)).toBe('orders.totalCents: a JS bigint is not an integer (int4)');
    });
  });

  describe('bigint is int8: a safe integer number, or a decimal string (how the store reads int8 back)', () => {
    it.each<string | number>([
      Number.MAX_SAFE_INTEGER,
      Number.MIN_SAFE_INTEGER,
      0,
      '9223372036854775807',
      '-9223372036854775808',
      '0',
      '+12',
      '007',
      '-0',
      `${'0'.repeat(30)}1`,
    ])('%s is written', (value) => {
      expect(writing('views', value)).toBeUndefined();
    });

    it('one past either end of int8 is refused', () => {
      expect(writing('views', '9223372036854775808')).toBe(
        'orders.views: a string of 19 characters is outside bigint (int8) range -9223372036854775808..9223372036854775807',
      );
      expect(writing('views', '-9223372036854775809')).toMatch(/is outside bigint \(int8\) range/);
      expect(writing('views', `1${'0'.repeat(40)}`)).toMatch(/is outside bigint \(int8\) range/);
    });

    it('a number past 2^53 - 1 is refused: the store would write a rounded value', () => {
      expect(writing('views', Number.MAX_SAFE_INTEGER + 1)).toBe(
        'orders.views: an integer is beyond 2^53 - 1, where a JS number is no longer exact: pass it as a decimal string',
      );
      expect(writing('views', -(2 ** 60))).toMatch(/is beyond 2\^53 - 1/);
      expect(writing('views', 2 ** 63)).toMatch(/is beyond 2\^53 - 1/);
    });

    it('a JS bigint is refused: JSON.stringify, which the store uses, throws on it', () => {
      expect(writing('views', 5n)).toBe(
        'orders.views: the value is a JS bigint, which the store cannot serialise: pass it as a decimal string',
      );
    });

    it('a fraction, a string that is no decimal integer or another type is refused', () => {
      expect(writing('views', 1.5)).toBe('orders.views: a number with a fraction is not an integer');
      expect(writing('views', Number.NaN)).toBe('orders.views: NaN is not an integer');
      for (const text of ['1e3', '1_000', ' 1', '', '0x10', '1.0', '--1'])
        expect(writing('views', text)).toBe(
          `orders.views: a string of ${text.length} character${text.length === 1 ? '' : 's'} is not a decimal integer`,
        );
      expect(writing('views', true)).toBe('orders.views: a boolean is not an integer (int8)');
    });

    it('a long string is refused in linear time (no regular expression backtracking)', () => {
      const started = performance.now();
      expect(writing('views', `${'0'.repeat(200_000)}x`)).toMatch(/is not a decimal integer$/);
      expect(writing('views', `-${'0'.repeat(200_000)}`)).toBeUndefined();
      expect(performance.now() - started).toBeLessThan(1000);
    });
  });

  describe('double is a finite number', () => {
    it.each([0, -0, 5e-324, Number.MAX_VALUE, -Number.MAX_VALUE, 0.1])('%d is written', (value) => {
      expect(writing('score', value)).toBeUndefined();
    });

    it('NaN and ±Infinity are refused: the store would write NULL', () => {
      expect(writing('score', Number.NaN)).toBe(
        'orders.score: NaN is not a finite number (the store would write NULL)',
      );
      expect(writing('score', Number.POSITIVE_INFINITY)).toMatch(/Infinity is not a finite number/);
      expect(writing('score', Number.NEGATIVE_INFINITY)).toMatch(/-Infinity is not a finite number/);
    });

    it('a string or another type is not a number', () => {
      expect(writing('score', '1.5')).toBe(
        'orders.score: a string of 3 characters is not a number (double precision)',
      );
      expect(writing('score', 1n)).toBe('orders.score: a JS bigint is not a number (double precision)');
    });
  });

  it('boolean is true or false, nothing that looks like one', () => {
    expect(writing('paid', true)).toBeUndefined();
    expect(writing('paid', false)).toBeUndefined();
    expect(writing('paid', 'true')).toBe('orders.paid: a string of 4 characters is not a boolean');
    expect(writing('paid', 1)).toBe('orders.paid: an integer is not a boolean');
    expect(writing('paid', 0)).toBe('orders.paid: an integer is not a boolean');
  });

  describe('text is a string Postgres can store', () => {
    it.each(['', 'shipped', '😀 paired surrogates', 'x'.repeat(10_000)])('%j is written', (value) => {
      expect(writing('status', value)).toBeUndefined();
    });

    it('a NUL or a lone surrogate is refused, shown escaped so the reason itself can be stored', () => {
      expect(writing('status', 'a\u0000b')).toBe(
        'orders.status: a string of 3 characters contains a NUL character (\\u0000), which Postgres cannot store',
      );
      expect(writing('status', 'a\ud800')).toBe(
        'orders.status: a string of 2 characters contains a lone UTF-16 surrogate (not valid Unicode)',
      );
      expect(patching('status', '\udc00b')).toMatch(/lone UTF-16 surrogate/);
      // never the value itself: a handler may have copied a sensitive field into the column
      expect(writing('status', `${'y'.repeat(50)}\u0000`)).toBe(
        'orders.status: a string of 51 characters contains a NUL character (\\u0000), which Postgres cannot store',
      );
    });

    it('a value is shown by its kind and length, a name the code chose quoted and cut after 40 characters', () => {
      expect(writing('totalCents', 'x')).toBe(
        'orders.totalCents: a string of 1 character is not an integer (int4)',
      );
      expect(writing('totalCents', 'xy')).toBe(
        'orders.totalCents: a string of 2 characters is not an integer (int4)',
      );
      expect(writing('status', new Date('nope'))).toBe('orders.status: an invalid Date is not a string');
      expect(writing('totalCents', true)).toBe('orders.totalCents: a boolean is not an integer (int4)');
      const declared = (type: string) => {
        try {
          checkChanges({ ...orders, columns: { ...orders.columns, code: type as ColumnType } }, [
            upsert({ orderId: 'o-1', code: 'x' }),
          ]);
        } catch (error) {
          return (error as Error).message;
        }
        return undefined;
      };
      expect(declared('v'.repeat(40))).toBe(
        `orders.code: declared as "${'v'.repeat(40)}", not a column type`,
      );
      expect(declared('v'.repeat(41))).toBe(
        `orders.code: declared as "${'v'.repeat(40)}…", not a column type`,
      );
    });

    it('anything but a string is refused', () => {
      expect(writing('status', 42)).toBe('orders.status: an integer is not a string');
      expect(writing('status', { a: 1 })).toBe('orders.status: an object is not a string');
      expect(writing('status', ['a'])).toBe('orders.status: an array is not a string');
      expect(writing('status', () => 'x')).toBe('orders.status: a function is not a string');
      expect(writing('status', Symbol('s'))).toBe('orders.status: a symbol is not a string');
    });
  });

  describe('the key is a non-empty string Postgres can store, in every kind of change', () => {
    it('an upsert without a key, or with an empty, non-text or unstorable one, is refused', () => {
      expect(refusalOf(upsert({ status: 'placed' }))?.message).toBe(
        'orders.orderId: the key is undefined, not a string',
      );
      expect(refusalOf(upsert({ orderId: null }))?.message).toBe(
        'orders.orderId: the key is null, not a string',
      );
      expect(refusalOf(upsert({ orderId: 42 }))?.message).toBe(
        'orders.orderId: the key is an integer, not a string',
      );
      expect(refusalOf(upsert({ orderId: '' }))?.message).toBe('orders.orderId: the key is empty');
      expect(refusalOf(upsert({ orderId: 'o\u0000' }))?.message).toBe(
        'orders.orderId: the key contains a NUL character (\\u0000), which Postgres cannot store',
      );
      expect(refusalOf(upsert({ orderId: '\ud800' }))?.message).toMatch(/the key contains a lone UTF-16/);
    });

    it('a patch, a delete or an increment of an empty, non-text or unstorable key is refused', () => {
      const changesOf = (key: unknown): Change[] => [
        { kind: 'patch', key: key as string, set: {} },
        { kind: 'delete', key: key as string },
        { kind: 'increment', key: key as string, by: {} },
      ];
      for (const change of changesOf(''))
        expect(refusalOf(change)?.message).toBe('orders.orderId: the key is empty');
      for (const change of changesOf(7))
        expect(refusalOf(change)?.reason).toBe('the key is an integer, not a string');
      for (const change of changesOf('a\u0000'))
        expect(refusalOf(change)?.reason).toMatch(/^the key contains a NUL/);
      for (const change of changesOf('\udc00')) expect(refusalOf(change)?.reason).toMatch(/lone UTF-16/);
      for (const change of changesOf('o-1')) expect(refusalOf(change)).toBeUndefined();
    });

    it("a patch's key column is ignored, as the store ignores it", () => {
      expect(refusalOf(patch('o-1', { orderId: 'x\u0000', status: 'shipped' }))).toBeUndefined();
    });
  });

  describe('timestamptz is a Date or an ISO 8601 date-time with an offset, within the years 0001..9999', () => {
    it.each<string | Date>([
      new Date('2026-11-30T10:00:00.123Z'),
      new Date('0001-01-01T00:00:00.000Z'),
      new Date('9999-12-31T23:59:59.999Z'),
      '2026-11-30T10:00:00Z',
      '2024-02-29T00:00:00Z',
      '2026-11-30T10:00:00.123456789+05:30',
      '2026-11-30T10:00:00-00:00',
      '2026-11-30T10:00:00+15:59',
      '2026-11-30T10:00:00-15:59',
      '0001-01-01T00:00:00Z',
      '0001-01-01T01:00:00+01:00',
      '9999-12-31T23:59:59.999999Z',
      '9999-12-31T23:59:59.9999994Z',
      '9999-12-31T22:59:59-01:00',
    ])('%s is written', (value) => {
      expect(writing('updatedAt', value)).toBeUndefined();
      expect(patching('updatedAt', value)).toBeUndefined();
    });

    it('an instant before 0001 or from 10000 on (UTC) is refused, also when its offset moves it there', () => {
      const range = 'is outside the years 0001..9999 (UTC)';
      expect(writing('updatedAt', new Date(Date.parse('0001-01-01T00:00:00Z') - 1))).toBe(
        `orders.updatedAt: a Date ${range}`,
      );
      expect(writing('updatedAt', new Date('+010000-01-01T00:00:00Z'))).toBe(
        `orders.updatedAt: a Date ${range}`,
      );
      expect(writing('updatedAt', '0001-01-01T00:00:00+00:01')).toBe(
        `orders.updatedAt: a string of 25 characters ${range}`,
      );
      expect(writing('updatedAt', '9999-12-31T23:59:59-00:01')).toMatch(range);
      // Postgres keeps microseconds: this rounds up to 10000-01-01T00:00:00Z
      expect(writing('updatedAt', '9999-12-31T23:59:59.9999999Z')).toMatch(range);
    });

    it('year 0000 is refused, as it is in an event’s occurredAt, whatever its offset', () => {
      expect(writing('updatedAt', '0000-01-01T00:00:00Z')).toBe(
        'orders.updatedAt: a string of 20 characters is in year 0000, outside the years 0001..9999 (UTC)',
      );
      expect(writing('updatedAt', '0000-12-31T23:00:00-02:00')).toMatch(/is in year 0000/);
    });

    it('an offset beyond ±15:59 is refused: Postgres refuses it', () => {
      expect(writing('updatedAt', '2026-11-30T10:00:00+16:00')).toBe(
        'orders.updatedAt: a string of 25 characters has an offset beyond ±15:59, which Postgres refuses',
      );
      expect(writing('updatedAt', '2026-11-30T10:00:00-23:59')).toMatch(/offset beyond ±15:59/);
    });

    it('a day the calendar does not have, a time without an offset, or words Postgres would read are refused', () => {
      for (const text of [
        '2026-02-30T00:00:00Z',
        '2023-02-29T00:00:00Z',
        '2026-11-30T10:00:00',
        '2026-11-30',
        '2026-11-30T24:00:00Z',
        '2026-11-30T23:59:60Z',
        '2026-11-30 10:00:00Z',
        'now',
        'infinity',
        '',
      ])
        expect(writing('updatedAt', text)).toBe(
          `orders.updatedAt: a string of ${text.length} character${text.length === 1 ? '' : 's'} is not an ISO 8601 date-time with an offset, like 2024-05-01T12:00:00Z`,
        );
    });

    it('an invalid Date is refused (the store would write NULL), and so is a number', () => {
      expect(writing('updatedAt', new Date('nope'))).toBe(
        'orders.updatedAt: an invalid Date is not a timestamp (the store would write NULL)',
      );
      expect(writing('updatedAt', 1_700_000_000_000)).toBe(
        'orders.updatedAt: an integer is not a timestamp: pass a Date or an ISO 8601 date-time with an offset',
      );
    });
  });

  describe('jsonb is a JSON value every store can hold', () => {
    it.each<unknown>([
      { a: [1, 'two', null, true, { b: 2.5 }] },
      [],
      'a string',
      42,
      false,
      { at: new Date('2026-11-30T10:00:00Z'), gone: undefined },
      { bytes: Buffer.from('x') },
      deepArray(MAX_DEPTH - 1),
    ])('%j is written', (value) => {
      expect(writing('meta', value)).toBeUndefined();
    });

    it('a NUL, a lone surrogate (in a value or a name) or nesting past the bound is refused with its path', () => {
      expect(writing('meta', { items: [{ sku: 'a\u0000' }] })).toBe(
        'orders.meta: at items.0.sku: contains a NUL character (\\u0000), which Postgres cannot store',
      );
      expect(writing('meta', { 'k\ud800': 1 })).toBe(
        'orders.meta: at "k\\ud800": its name contains a lone UTF-16 surrogate (not valid Unicode)',
      );
      expect(writing('meta', 'top\u0000')).toMatch(/^orders\.meta: contains a NUL/);
      expect(writing('meta', { [`${'k'.repeat(70)}\u0000`]: 1 })).toBe(
        `orders.meta: at "${'k'.repeat(64)}…": its name contains a NUL character (\\u0000), which Postgres cannot store`,
      );
      expect(writing('meta', deepArray(MAX_DEPTH + 3))).toMatch(`nested deeper than ${MAX_DEPTH} levels`);
      const cycle: Record<string, unknown> = {};
      cycle.self = cycle;
      expect(writing('meta', cycle)).toMatch(`nested deeper than ${MAX_DEPTH} levels`);
    });

    it('what JSON.stringify would throw on or silently change is refused with its path', () => {
      expect(writing('meta', { a: { n: Number.NaN } })).toBe(
        'orders.meta: at a.n: NaN is not a finite number (JSON would write null)',
      );
      expect(writing('meta', [Number.POSITIVE_INFINITY])).toBe(
        'orders.meta: at 0: Infinity is not a finite number (JSON would write null)',
      );
      expect(writing('meta', Number.NaN)).toBe(
        'orders.meta: NaN is not a finite number (JSON would write null)',
      );
      expect(writing('meta', { big: 1n })).toBe(
        'orders.meta: at big: the value is a JS bigint, which JSON cannot hold',
      );
      expect(writing('meta', { f: () => 1 })).toBe('orders.meta: at f: a function is not JSON');
      expect(writing('meta', [Symbol('s')])).toBe('orders.meta: at 0: a symbol is not JSON');
      expect(writing('meta', { at: new Date('nope') })).toBe(
        'orders.meta: at at: an invalid Date (JSON would write null)',
      );
      expect(writing('meta', new Map([[1, 2]]))).toBe(
        'orders.meta: a Map is not JSON (it would be written as {})',
      );
      expect(writing('meta', { s: new Set([1]) })).toBe(
        'orders.meta: at s: a Set is not JSON (it would be written as {})',
      );
      expect(writing('meta', { ok: [1, 'two'], bad: [3, Number.NaN] })).toBe(
        'orders.meta: at bad.1: NaN is not a finite number (JSON would write null)',
      );
    });

    it('a path shows indexes and plain names as they are, other names quoted and cut after 64 characters', () => {
      const nul = 'contains a NUL character (\\u0000), which Postgres cannot store';
      expect(writing('meta', { 'a b': ['\u0000'] })).toBe(`orders.meta: at "a b".0: ${nul}`);
      expect(writing('meta', { $a_1: { 'x-y': '\u0000' } })).toBe(`orders.meta: at $a_1.x-y: ${nul}`);
      expect(writing('meta', { ['k'.repeat(64)]: '\u0000' })).toBe(
        `orders.meta: at ${'k'.repeat(64)}: ${nul}`,
      );
      expect(writing('meta', { [`${'k'.repeat(63)} `]: '\u0000' })).toBe(
        `orders.meta: at "${'k'.repeat(63)} ": ${nul}`,
      );
      expect(writing('meta', { ['k'.repeat(65)]: '\u0000' })).toBe(
        `orders.meta: at "${'k'.repeat(64)}…": ${nul}`,
      );
    });
  });

  describe('a column the projection does not declare is refused', () => {
    const declared =
      'not a column of orders (its columns: orderId, status, totalCents, views, score, paid, updatedAt, meta)';

    it('in an upsert, a patch or an increment, even when its value is null', () => {
      expect(writing('totalcents', 1)).toBe(`orders.totalcents: ${declared}`);
      expect(writing('extra', null)).toBe(`orders.extra: ${declared}`);
      expect(patching('extra', 'x')).toBe(`orders.extra: ${declared}`);
      expect(adding('extra', 1)).toBe(`orders.extra: ${declared}`);
    });

    it('names an object has by inheritance are not columns, and a name that is no plain name is shown escaped', () => {
      expect(refusalOf(upsert({ orderId: 'o-1', ...JSON.parse('{"__proto__": 1}') }))?.column).toBe(
        '__proto__',
      );
      expect(writing('toString', 'x')).toBe(`orders.toString: ${declared}`);
      const refused = refusalOf(upsert({ orderId: 'o-1', 'bad\u0000name': 1 }));
      expect(refused?.column).toBe('bad\u0000name');
      expect(refused?.message).toBe(`orders."bad\\u0000name": ${declared}`);
      expect(refusalOf(upsert({ orderId: 'o-1', ['x'.repeat(100)]: 1 }))?.message).toBe(
        `orders."${'x'.repeat(64)}…": ${declared}`,
      );
    });

    it('a column declared with a type that is not a column type is refused', () => {
      const odd = { ...orders, columns: { ...orders.columns, code: 'varchar' as ColumnType } };
      expect(() => checkChanges(odd, [upsert({ orderId: 'o-1', code: 'x' })])).toThrow(
        'orders.code: declared as "varchar", not a column type',
      );
    });
  });

  describe('an increment adds numbers to numeric columns, each within its column’s range', () => {
    it('integer, bigint and double columns take an increment at the ends of their ranges', () => {
      expect(adding('totalCents', INT4_MAX)).toBeUndefined();
      expect(adding('totalCents', INT4_MIN)).toBeUndefined();
      expect(adding('views', Number.MAX_SAFE_INTEGER)).toBeUndefined();
      expect(adding('views', Number.MIN_SAFE_INTEGER)).toBeUndefined();
      expect(adding('score', -Number.MAX_VALUE)).toBeUndefined();
      expect(adding('score', 0.5)).toBeUndefined();
    });

    it('an increment past its column’s range, a fraction of an integer column, or no finite number is refused', () => {
      expect(adding('totalCents', INT4_MAX + 1)).toBe(
        'orders.totalCents: the increment: an integer is outside integer (int4) range -2147483648..2147483647',
      );
      expect(adding('totalCents', INT4_MIN - 1)).toMatch(/the increment: an integer is outside integer/);
      expect(adding('totalCents', 1.5)).toBe(
        'orders.totalCents: the increment: a number with a fraction is not a safe integer',
      );
      expect(adding('views', Number.MAX_SAFE_INTEGER + 1)).toBe(
        'orders.views: the increment: an integer is not a safe integer',
      );
      expect(adding('views', Number.NaN)).toBe('orders.views: the increment: NaN is not a safe integer');
      expect(adding('score', Number.POSITIVE_INFINITY)).toBe(
        'orders.score: the increment: Infinity is not a finite number (the store would write NULL)',
      );
    });

    it('an increment that is not a number is refused: the store would add it as text', () => {
      expect(adding('totalCents', '5')).toBe(
        'orders.totalCents: the increment: a string of 1 character is not a number',
      );
      expect(adding('views', 5n)).toBe('orders.views: the increment: a JS bigint is not a number');
    });

    it('a text, boolean, timestamptz or jsonb column, or the key, cannot be incremented', () => {
      for (const [column, type] of [
        ['status', 'text'],
        ['paid', 'boolean'],
        ['updatedAt', 'timestamptz'],
        ['meta', 'jsonb'],
        ['orderId', 'text'],
      ])
        expect(adding(column!, 1)).toBe(
          `orders.${column}: a ${type} column cannot be incremented (only integer, bigint and double)`,
        );
    });
  });

  describe('a change that is not one is refused as a whole', () => {
    it('an unknown kind is refused, not taken for a delete', () => {
      expect(malformed({ kind: 'insert', key: 'o-1' })).toBe(
        'orders: a change of kind "insert" is not an upsert, patch, delete or increment',
      );
      expect(malformed({ key: 'o-1' })).toBe(
        'orders: a change of kind undefined is not an upsert, patch, delete or increment',
      );
      expect(malformed(null)).toBe('orders: null is not a change');
      expect(malformed('upsert')).toBe('orders: a string of 6 characters is not a change');
    });

    it('an upsert, a patch or an increment without an object of columns is refused', () => {
      expect(malformed({ kind: 'upsert', row: null })).toBe(
        'orders: the row of an upsert is null, not an object of columns',
      );
      expect(malformed({ kind: 'upsert', row: ['o-1'] })).toBe(
        'orders: the row of an upsert is an array, not an object of columns',
      );
      expect(malformed({ kind: 'patch', key: 'o-1', set: 'shipped' })).toBe(
        'orders: the set of a patch is a string of 7 characters, not an object of columns',
      );
      expect(malformed({ kind: 'increment', key: 'o-1', by: 1 })).toBe(
        'orders: the by of an increment is an integer, not an object of columns',
      );
    });
  });

  it('the first bad change of a batch is the one refused', () => {
    const refused = refusalOf(
      upsert({ orderId: 'o-1', totalCents: 1 }),
      patch('o-1', { paid: 'yes' }),
      patch('o-1', { totalCents: 2 ** 40 }),
    );
    expect(refused?.column).toBe('paid');
  });

  it('a refusal is a data error with a stable code, HTTP 422 and the facts: projection, column, reason', () => {
    const refused = refusalOf(upsert({ orderId: 'o-1', totalCents: 3000000000 }))!;
    expect(isLogfrontError(refused)).toBe(true);
    expect(refused).toBeInstanceOf(ColumnValueRefused);
    expect(refused.code).toBe('column_value_refused');
    expect(refused.status).toBe(422);
    expect(refused.details()).toEqual({
      projection: 'orders',
      column: 'totalCents',
      reason: 'an integer is outside integer (int4) range -2147483648..2147483647',
    });
    expect(refusalOf({ kind: 'nope' } as unknown as Change)?.details()).toMatchObject({ column: null });
  });

  it('a refusal never quotes the value: the handler may have copied a sensitive field into the column', () => {
    // a dead-letter reason and a log line are made of it (docs/security.md#logs)
    const secrets: unknown[] = [
      '078-05-1120',
      `078-05-1120\u0000`,
      '1985-13-45T00:00:00Z',
      '0000-01-01T00:00:00Z',
      '98765432109876543210',
      987654321012,
      1985.5,
      true,
      new Date('+012345-01-01T00:00:00Z'),
    ];
    const columns = Object.keys(orders.columns).filter((c) => c !== 'orderId');
    let refusals = 0;
    for (const value of secrets) {
      for (const column of columns) {
        for (const message of [writing(column, value), patching(column, value), adding(column, value)]) {
          if (message === undefined) continue;
          refusals += 1;
          const shown = value instanceof Date ? value.toISOString() : String(value).replace('\u0000', '');
          expect(message).not.toContain(shown);
        }
      }
      for (const key of [value, { kind: 'upsert', row: value }]) {
        const message = malformed({ kind: 'patch', key, set: {} }) ?? '';
        expect(message).not.toContain(String(value));
      }
    }
    expect(refusals).toBeGreaterThan(30);
  });
});

describe('what the check accepts, the store writes as it is (its serialisation is JSON.stringify)', () => {
  const accepts = (column: string, value: unknown) => writing(column, value) === undefined;
  /** accepted and not null or undefined (those write NULL) */
  const writes = (column: string, value: unknown) =>
    value !== null && value !== undefined && accepts(column, value);
  /** the JSON text the store sends to Postgres for a column value */
  const sent = (value: unknown) => JSON.stringify({ v: value }).slice('{"v":'.length, -1);
  const code = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
  const anything = fc.oneof(
    fc.integer(),
    fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
    fc.maxSafeInteger(),
    fc.double(),
    fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }),
    fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String),
    fc.string({ unit: code }),
    fc.string(),
    fc.boolean(),
    fc.constantFrom(INT4_MAX + 1, INT4_MIN - 1, 2 ** 53, 2 ** 63, '+1', '-0', ''),
    fc.anything(),
  );

  it('an accepted integer is a whole number within int4 whose JSON is exactly its digits', () => {
    fc.assert(
      fc.property(anything, (value) => {
        if (!writes('totalCents', value)) return;
        expect(Number.isSafeInteger(value)).toBe(true);
        expect(BigInt(sent(value))).toBe(BigInt(value as number));
        expect(Number(value)).toBeGreaterThanOrEqual(INT4_MIN);
        expect(Number(value)).toBeLessThanOrEqual(INT4_MAX);
      }),
      { numRuns: 2000 },
    );
  });

  it('an accepted bigint serialises without a throw to the exact integer, within int8', () => {
    fc.assert(
      fc.property(anything, (value) => {
        if (!writes('views', value)) return;
        const text = sent(value);
        const exact = typeof value === 'string' ? JSON.parse(text) : text;
        const n = BigInt(exact);
        expect(n).toBe(BigInt(value as number | string));
        expect(n >= INT8_MIN && n <= INT8_MAX).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('an accepted text survives JSON and UTF-8 unchanged and holds no NUL', () => {
    fc.assert(
      fc.property(anything, (value) => {
        if (!writes('status', value)) return;
        expect(JSON.parse(sent(value))).toBe(value);
        expect(Buffer.from(value as string, 'utf8').toString('utf8')).toBe(value);
        expect(value).not.toContain('\u0000');
      }),
      { numRuns: 2000 },
    );
  });

  it('every value int4, int8 and text can hold is accepted', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: INT4_MIN, max: INT4_MAX }),
        fc.bigInt({ min: INT8_MIN, max: INT8_MAX }),
        fc.maxSafeInteger(),
        fc.string({ unit: 'grapheme' }).filter((s) => !s.includes('\u0000')),
        (int4, int8, safe, text) => {
          expect(accepts('totalCents', int4)).toBe(true);
          expect(accepts('views', String(int8))).toBe(true);
          expect(accepts('views', safe)).toBe(true);
          expect(accepts('status', text)).toBe(true);
        },
      ),
    );
  });

  it('a Date in the years 0001..9999 is accepted, and so is its ISO string', () => {
    fc.assert(
      fc.property(
        fc.date({
          min: new Date('0001-01-01T00:00:00.000Z'),
          max: new Date('9999-12-31T23:59:59.999Z'),
          noInvalidDate: true,
        }),
        (date) => {
          expect(accepts('updatedAt', date)).toBe(true);
          expect(accepts('updatedAt', date.toISOString())).toBe(true);
        },
      ),
    );
  });
});
