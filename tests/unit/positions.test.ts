import { describe, expect, it } from 'vitest';
import { ValidationFailed } from '../../core/errors.ts';
import {
  covers,
  decodePositions,
  encodePosition,
  encodePositions,
  partitionKey,
} from '../../core/read/positions.ts';
import type { Position } from '../../core/types.ts';

const at = (topic: string, partition: number, offset: bigint): Position => ({ topic, partition, offset });
/** a token carrying whatever JSON we like, as a client could forge it */
const forged = (json: unknown) => Buffer.from(JSON.stringify(json), 'utf8').toString('base64url');
const rawToken = (text: string) => Buffer.from(text, 'utf8').toString('base64url');

const decodeError = (token: string, field?: string): ValidationFailed => {
  try {
    decodePositions(token, field);
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationFailed);
    return error as ValidationFailed;
  }
  throw new Error(`token ${token} was accepted`);
};

describe('position tokens', () => {
  it('a position read back from its token is the same position', () => {
    const position = at('shop.events.order', 2, 41n);

    const token = encodePosition(position);

    expect(decodePositions(token)).toEqual([position]);
  });

  it('every partition of a multi-partition position survives the round trip, in order', () => {
    const positions = [at('p.events.order', 0, 0n), at('p.events.order', 1, 7n), at('p.events.cart', 0, 3n)];

    expect(decodePositions(encodePositions(positions))).toEqual(positions);
  });

  it('an offset above 2^53 comes back exactly, as a bigint', () => {
    const huge = 2n ** 53n + 1n;
    const int64Max = 9_223_372_036_854_775_807n;

    const decoded = decodePositions(encodePositions([at('t', 0, huge), at('t', 1, int64Max)]));

    expect(decoded.map((p) => p.offset)).toEqual([huge, int64Max]);
    expect(typeof decoded[0]!.offset).toBe('bigint');
  });

  it('a token is URL-safe: no +, / or = padding', () => {
    const token = encodePositions([at('a?b>c~~~', 3, 2n ** 60n), at('ÿÿÿ', 1, 255n)]);

    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it('a token carries the offset as a decimal string, not a JSON number', () => {
    const token = encodePosition(at('t', 0, 2n ** 63n - 1n));

    expect(JSON.parse(Buffer.from(token, 'base64url').toString('utf8'))).toEqual([
      ['t', 0, '9223372036854775807'],
    ]);
  });

  describe('a malformed token is a validation failure naming the field', () => {
    const malformed: Record<string, string> = {
      'text that is not base64 JSON': 'not-a-token',
      'an empty token': '',
      'invalid JSON': rawToken('[["t",0,"1"]'),
      'a JSON object instead of a list': forged({ topic: 't', partition: 0, offset: '1' }),
      'a JSON string': forged('t/0/1'),
      'JSON null': forged(null),
      'an empty list': forged([]),
      'an entry that is not a list': forged([{ topic: 't' }]),
      'an entry with two elements': forged([['t', 0]]),
      'an entry with four elements': forged([['t', 0, '1', 'x']]),
      'a topic that is not a string': forged([[1, 0, '1']]),
      'a partition that is a string': forged([['t', '0', '1']]),
      'a fractional partition': forged([['t', 0.5, '1']]),
      'a negative partition': forged([['t', -1, '1']]),
      'a partition past 2^31 - 1': forged([['t', 2 ** 31, '1']]),
      'an offset given as a JSON number': forged([['t', 0, 1]]),
      'a negative offset': forged([['t', 0, '-1']]),
      'an offset with a decimal point': forged([['t', 0, '1.5']]),
      'an empty offset': forged([['t', 0, '']]),
      'an offset of twenty digits': forged([['t', 0, '12345678901234567890']]),
      'an offset of nineteen digits past 2^63 - 1': forged([['t', 0, '9223372036854775808']]),
      'an offset with a trailing newline': forged([['t', 0, '1\n']]),
      'one bad entry after a good one': forged([
        ['t', 0, '1'],
        ['t', 1, 'x'],
      ]),
    };

    for (const [what, token] of Object.entries(malformed)) {
      it(`${what} is rejected`, () => {
        const error = decodeError(token, 'after');

        expect(error.code).toBe('validation_failed');
        expect(error.status).toBe(400);
        expect(error.issues).toEqual([{ path: 'after', message: 'not a position token from logfront' }]);
      });
    }
  });

  it('the field defaults to "after"', () => {
    expect(decodeError('nope').issues[0]?.path).toBe('after');
  });

  it('the caller names the field the token came from', () => {
    const error = decodeError(forged([]), 'query.position');

    expect(error.issues).toEqual([{ path: 'query.position', message: 'not a position token from logfront' }]);
    expect(error.message).toBe('invalid position token: query.position: not a position token from logfront');
  });

  it('offset 0 and partition 0 are valid', () => {
    expect(decodePositions(forged([['t', 0, '0']]))).toEqual([at('t', 0, 0n)]);
  });

  it('the largest partition (2^31 - 1) and offset (2^63 - 1) are valid', () => {
    expect(decodePositions(forged([['t', 2 ** 31 - 1, '9223372036854775807']]))).toEqual([
      at('t', 2 ** 31 - 1, 2n ** 63n - 1n),
    ]);
  });
});

describe('covers', () => {
  // applied holds, per partition, the next offset to apply
  const applied = new Map([
    [partitionKey('t', 0), 10n],
    [partitionKey('t', 1), 5n],
  ]);

  it('a position below the next offset to apply is covered', () => {
    expect(covers(applied, [at('t', 0, 9n)])).toBe(true);
  });

  it('the next offset to apply itself is not yet covered', () => {
    expect(covers(applied, [at('t', 0, 10n)])).toBe(false);
  });

  it('every wanted partition must be covered', () => {
    expect(covers(applied, [at('t', 0, 3n), at('t', 1, 4n)])).toBe(true);
    expect(covers(applied, [at('t', 0, 3n), at('t', 1, 5n)])).toBe(false);
  });

  it('a partition nothing has been applied on covers nothing, not even offset 0', () => {
    expect(covers(applied, [at('t', 2, 0n)])).toBe(false);
    expect(covers(new Map(), [at('t', 0, 0n)])).toBe(false);
  });

  it('the same partition number on another topic is a different partition', () => {
    expect(covers(applied, [at('u', 0, 0n)])).toBe(false);
  });

  it('no wanted positions are trivially covered', () => {
    expect(covers(new Map(), [])).toBe(true);
  });

  it('offsets above 2^53 are compared exactly', () => {
    const big = 2n ** 53n;
    const map = new Map([[partitionKey('t', 0), big + 1n]]);

    expect(covers(map, [at('t', 0, big)])).toBe(true);
    expect(covers(map, [at('t', 0, big + 1n)])).toBe(false);
  });

  it('a partition key is topic/partition', () => {
    expect(partitionKey('shop.events.order', 7)).toBe('shop.events.order/7');
  });
});
