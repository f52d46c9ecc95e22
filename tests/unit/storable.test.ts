import { describe, expect, it } from 'vitest';
import { createCatalog } from '../../core/log/event-types.ts';
import {
  MAX_DEPTH,
  tooDeep,
  unstorable,
  unstorableDateTime,
  unstorableText,
} from '../../core/log/storable.ts';
import { orderEventTypes } from '../../sample/order-events.ts';

const shipped = (data: Record<string, unknown>, metadata?: object) => ({
  type: 'OrderShipped',
  data: { orderId: 'o-1', carrier: 'DHL', ...data },
  ...(metadata ? { metadata } : {}),
});

const issuesOf = (events: unknown[]) => {
  try {
    createCatalog(orderEventTypes, 't').prepare(events);
  } catch (error) {
    return (error as { issues: { path: string; message: string }[] }).issues;
  }
  return [];
};

describe('what every store can hold', () => {
  it('text with a NUL or a lone surrogate cannot be stored; paired surrogates (emoji) can', () => {
    expect(unstorableText('a\u0000b')).toMatch(/NUL/);
    expect(unstorableText('\ud800')).toMatch(/lone UTF-16 surrogate/);
    expect(unstorableText('x\udc00')).toMatch(/lone UTF-16 surrogate/);
    expect(unstorableText('😀 ok')).toBeUndefined();
    expect(unstorableText('')).toBeUndefined();
  });

  it('names every place: strings, keys, array items, and nesting past the bound', () => {
    let deep: unknown = 'leaf';
    for (let i = 0; i < MAX_DEPTH + 5; i++) deep = [deep];
    expect(
      unstorable({ a: 'ok', b: ['x', 'y\u0000'], 'k\ud800': 1, deep, bytes: Buffer.from([0]) }, ['data']),
    ).toEqual([
      { path: ['data', 'b', 1], message: expect.stringMatching(/NUL/) },
      { path: ['data', 'k\ud800'], message: expect.stringMatching(/^its name contains a lone/) },
      {
        path: ['data', 'deep', ...Array.from({ length: MAX_DEPTH - 1 }, () => 0)],
        message: `nested deeper than ${MAX_DEPTH} levels`,
      },
    ]);
    expect(unstorable(Array.from({ length: 50 }, () => '\u0000'))).toHaveLength(20);
    expect(unstorable(null)).toEqual([]);
    expect(unstorable(42)).toEqual([]);
  });

  it('an event whose data or metadata no store can hold is refused with the path, before anything is appended', () => {
    expect(issuesOf([shipped({ orderId: '\ud800' })])).toEqual([
      { path: 'events.0.data.orderId', message: expect.stringMatching(/lone UTF-16 surrogate/) },
    ]);
    expect(issuesOf([shipped({}, { actor: 'a\u0000' })])).toEqual([
      { path: 'events.0.metadata.actor', message: expect.stringMatching(/NUL/) },
    ]);
    expect(issuesOf([shipped({}, { occurredAt: '0000-01-01T00:00:00Z' })])).toEqual([
      {
        path: 'events.0.metadata.occurredAt',
        message:
          'a date-time Postgres holds as given: it is in year 0000, outside the years 0001..9999 (UTC)',
      },
    ]);
    // an offset Postgres refuses, and an instant that is year 0000 in UTC
    for (const occurredAt of ['2024-05-01T12:00:00+16:00', '0001-01-01T00:00:00+01:00']) {
      expect(issuesOf([shipped({}, { occurredAt })]).map((i) => i.path)).toEqual([
        'events.0.metadata.occurredAt',
      ]);
    }
    expect(issuesOf([shipped({}, { occurredAt: '9999-12-31T23:59:59-15:59' })])).toEqual([
      { path: 'events.0.metadata.occurredAt', message: expect.stringMatching(/outside the years/) },
    ]);
    expect(issuesOf([shipped({}, { occurredAt: '2026-11-30T10:00:00Z' })])).toEqual([]);
  });

  it('the first place nested past a bound is named without recursion', () => {
    expect(tooDeep({ a: [[1]], b: 'x' }, 2)).toEqual(['a', 0]);
    expect(tooDeep({ a: [[1]] }, 3)).toBeUndefined();
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(tooDeep(deep, 5)).toEqual([0, 0, 0, 0, 0]);
    expect(tooDeep(Buffer.alloc(4), 0)).toBeUndefined();
  });

  it('null, numbers and byte arrays are leaves, however deep the bound', () => {
    expect(tooDeep({ a: null, b: [null, 2, new Uint8Array(3)] }, 2)).toBeUndefined();
    expect(tooDeep(null, 0)).toBeUndefined();
  });
});

describe('date-times a timestamptz holds as the same instant', () => {
  it('an offset counts in hours and minutes when the instant is placed in 0001..9999', () => {
    expect(unstorableDateTime('0001-01-01T01:00:00+01:00')).toBeUndefined();
    expect(unstorableDateTime('0001-01-01T00:30:00+01:00')).toBe('is outside the years 0001..9999 (UTC)');
    expect(unstorableDateTime('0001-01-01T00:30:00+00:30')).toBeUndefined();
    expect(unstorableDateTime('0001-01-01T00:29:00+00:30')).toBe('is outside the years 0001..9999 (UTC)');
    expect(unstorableDateTime('9999-12-31T23:30:00-00:30')).toBe('is outside the years 0001..9999 (UTC)');
    expect(unstorableDateTime('9999-12-31T23:29:59.999-00:30')).toBeUndefined();
  });

  it('an offset of 15 hours is taken, 16 is refused', () => {
    expect(unstorableDateTime('2026-01-01T00:00:00+15:00')).toBeUndefined();
    expect(unstorableDateTime('2026-01-01T00:00:00-16:00')).toBe(
      'has an offset beyond ±15:59, which Postgres refuses',
    );
  });

  it('a fraction that rounds to a whole second at microseconds carries into the next second', () => {
    expect(unstorableDateTime('9999-12-31T23:59:59.9999994Z')).toBeUndefined();
    expect(unstorableDateTime('9999-12-31T23:59:59.9999995Z')).toBe('is outside the years 0001..9999 (UTC)');
    expect(unstorableDateTime('0000-12-31T23:59:59.9999999Z')).toBe(
      'is in year 0000, outside the years 0001..9999 (UTC)',
    );
  });

  it('a form without seconds is left to Postgres', () => {
    expect(unstorableDateTime('0000-01-01T00:00Z')).toBeUndefined();
    // and so is anything around a date-time: its format is checked before
    expect(unstorableDateTime('x0000-01-01T00:00:00Z')).toBeUndefined();
    expect(unstorableDateTime('0000-01-01T00:00:00Zx')).toBeUndefined();
  });
});
