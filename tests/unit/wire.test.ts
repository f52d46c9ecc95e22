import { describe, expect, it } from 'vitest';
import { backwardCompatibility, frame, unframe } from '../../connectors/schema-wire/wire.ts';

describe('frame', () => {
  it('writes magic byte 0, the schema id as 4 big-endian bytes, then the JSON', () => {
    const payload = frame(0x01020304, { a: 1 });

    expect([...payload.subarray(0, 5)]).toEqual([0, 1, 2, 3, 4]);
    expect(payload.subarray(5).toString('utf8')).toBe('{"a":1}');
  });

  it('a schema id up to 2^32 − 1 fits', () => {
    expect(unframe(frame(2 ** 32 - 1, null)).schemaId).toBe(2 ** 32 - 1);
  });

  it('a schema id that does not fit in 4 bytes is refused', () => {
    expect(() => frame(2 ** 32, {})).toThrow(RangeError);
    expect(() => frame(-1, {})).toThrow(RangeError);
  });
});

describe('unframe', () => {
  const values: unknown[] = [{ orderId: 'o-1', items: [{ qty: 2 }] }, 'text ünïcödé ✓', 42, null, [], true];
  for (const value of values) {
    it(`reads back ${JSON.stringify(value)} with its schema id`, () => {
      expect(unframe(frame(7, value))).toEqual({ schemaId: 7, value });
    });
  }

  it('a payload that does not start with the magic byte is refused', () => {
    const payload = frame(1, {});
    payload[0] = 1;

    expect(() => unframe(payload)).toThrow('not a schema-registry framed payload');
  });

  it('plain JSON is not a framed payload', () => {
    expect(() => unframe(Buffer.from('{"a":1}'))).toThrow('not a schema-registry framed payload');
  });

  it('a payload shorter than the 5-byte header is refused', () => {
    expect(() => unframe(Buffer.alloc(0))).toThrow('not a schema-registry framed payload');
    expect(() => unframe(Buffer.from([0, 0, 0, 1]))).toThrow('not a schema-registry framed payload');
  });

  it('a header with a body that is not JSON is refused', () => {
    expect(() => unframe(Buffer.concat([Buffer.from([0, 0, 0, 0, 1]), Buffer.from('{oops')]))).toThrow(
      SyntaxError,
    );
  });
});

const object = (properties: Record<string, object>, required: string[] = [], extra: object = {}) => ({
  type: 'object',
  properties,
  required,
  ...extra,
});
const closed = (properties: Record<string, object>, required: string[] = []) =>
  object(properties, required, { additionalProperties: false });
const str = { type: 'string' };

describe('backwardCompatibility', () => {
  it('an identical schema is compatible', () => {
    const schema = closed({ orderId: str, qty: { type: 'integer' } }, ['orderId']);

    expect(backwardCompatibility(schema, structuredClone(schema))).toEqual({
      compatible: true,
      messages: [],
    });
  });

  it('an optional property added is compatible', () => {
    expect(
      backwardCompatibility(closed({ a: str }, ['a']), closed({ a: str, b: str }, ['a'])).compatible,
    ).toBe(true);
  });

  it('a required property added is not: old data lacks it', () => {
    expect(backwardCompatibility(object({ a: str }, ['a']), object({ a: str, b: str }, ['a', 'b']))).toEqual({
      compatible: false,
      messages: ['/b: required property added'],
    });
  });

  it('an optional property made required is not', () => {
    expect(backwardCompatibility(object({ a: str }), object({ a: str }, ['a'])).messages).toEqual([
      '/a: required property added',
    ]);
  });

  it('a required property made optional is compatible', () => {
    expect(backwardCompatibility(object({ a: str }, ['a']), object({ a: str })).compatible).toBe(true);
  });

  it('a property removed from a closed object is not: old data still has it', () => {
    expect(backwardCompatibility(closed({ a: str, b: str }), closed({ a: str }))).toEqual({
      compatible: false,
      messages: ['/b: property removed'],
    });
  });

  it('a property removed from an open object is compatible', () => {
    expect(backwardCompatibility(object({ a: str, b: str }), object({ a: str })).compatible).toBe(true);
  });

  it('a property whose type changed is not', () => {
    expect(backwardCompatibility(object({ a: str }), object({ a: { type: 'number' } }))).toEqual({
      compatible: false,
      messages: ['/a: type changed from string to number'],
    });
  });

  it('the root type changing is reported at /', () => {
    expect(backwardCompatibility({ type: 'object' }, { type: 'array' }).messages).toEqual([
      '/: type changed from object to array',
    ]);
  });

  it('an integer widened to a number is compatible', () => {
    expect(
      backwardCompatibility(object({ n: { type: 'integer' } }), object({ n: { type: 'number' } })).compatible,
    ).toBe(true);
  });

  it('a number narrowed to an integer is not', () => {
    expect(
      backwardCompatibility(object({ n: { type: 'number' } }), object({ n: { type: 'integer' } })).messages,
    ).toEqual(['/n: type changed from number to integer']);
  });

  it('a type list that keeps every old type is compatible, one that drops a type is not', () => {
    const old = object({ a: { type: ['string', 'null'] } });

    expect(backwardCompatibility(old, object({ a: { type: ['string', 'null', 'number'] } })).compatible).toBe(
      true,
    );
    expect(backwardCompatibility(old, object({ a: { type: 'string' } })).messages).toEqual([
      '/a: type changed from string|null to string',
    ]);
  });

  it('a type dropped from the new schema constrains nothing and is compatible', () => {
    expect(backwardCompatibility(object({ a: str }), object({ a: {} })).compatible).toBe(true);
  });

  it('an enum narrowed is not, naming the values removed', () => {
    const old = object({ status: { type: 'string', enum: ['placed', 'shipped', 'cancelled'] } });
    const next = object({ status: { type: 'string', enum: ['placed'] } });

    expect(backwardCompatibility(old, next).messages).toEqual([
      '/status: enum values removed: shipped, cancelled',
    ]);
  });

  it('an enum narrowed at the root is reported at /', () => {
    expect(backwardCompatibility({ enum: ['a', 'b'] }, { enum: ['b'] }).messages).toEqual([
      '/: enum values removed: a',
    ]);
  });

  it('an enum widened is compatible', () => {
    expect(
      backwardCompatibility(object({ s: { enum: ['a'] } }), object({ s: { enum: ['a', 'b'] } })).compatible,
    ).toBe(true);
  });

  it('nested objects are checked, with the full path', () => {
    const old = object({ address: closed({ city: str, zip: str }, ['city']) });
    const next = object({ address: closed({ city: { type: 'integer' }, street: str }, ['city', 'street']) });

    expect(backwardCompatibility(old, next).messages).toEqual([
      '/address/street: required property added',
      '/address/city: type changed from string to integer',
      '/address/zip: property removed',
    ]);
  });

  it('array items are checked', () => {
    const old = object({
      items: { type: 'array', items: closed({ sku: str, qty: { type: 'integer' } }, ['sku']) },
    });
    const next = object({
      items: {
        type: 'array',
        items: closed({ sku: str, qty: { type: 'string' }, note: str }, ['sku', 'note']),
      },
    });

    expect(backwardCompatibility(old, next).messages).toEqual([
      '/items/items/note: required property added',
      '/items/items/qty: type changed from integer to string',
    ]);
  });

  it('array items widened from integer to number are compatible', () => {
    expect(
      backwardCompatibility(
        { type: 'array', items: { type: 'integer' } },
        { type: 'array', items: { type: 'number' } },
      ).compatible,
    ).toBe(true);
  });

  it('every problem is reported, not just the first', () => {
    const old = closed({ a: str, b: str, c: { enum: [1, 2] } }, ['a']);
    const next = closed({ a: { type: 'boolean' }, c: { enum: [1] }, d: str }, ['a', 'd']);

    expect(backwardCompatibility(old, next)).toEqual({
      compatible: false,
      messages: [
        '/d: required property added',
        '/a: type changed from string to boolean',
        '/b: property removed',
        '/c: enum values removed: 2',
      ],
    });
  });

  it('schemas without properties or types are compatible with each other', () => {
    expect(backwardCompatibility({}, {})).toEqual({ compatible: true, messages: [] });
  });
});
