import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { beginStatement, quoteIdent, statementName } from '../../connectors/sql/sql.ts';

describe('SQL statement names', () => {
  it('a text gets one stable name of its own, whatever was named before it', () => {
    const text = 'SELECT 1 FROM "t_0"."orders" WHERE "orderId" = $1';
    const name = statementName(text);
    expect(name).toMatch(/^lf_[0-9a-f]{24}$/);
    expect(name).toBe(`lf_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`);
    expect(statementName(`${text} `)).not.toBe(name);
    // past the 10 000 names remembered, a text is still named, and named the same each time
    for (let i = 0; i < 10_001; i++) statementName(`SELECT ${i}`);
    const late = 'SELECT late FROM "t_1"."orders"';
    expect(statementName(late)).toBe(statementName(late));
    expect(statementName(late)).toBe(`lf_${createHash('sha1').update(late).digest('hex').slice(0, 24)}`);
    expect(statementName(text)).toBe(name);
  });

  it('quotes identifiers and opens transactions of the asked isolation', () => {
    expect(quoteIdent('a"b')).toBe('"a""b"');
    expect(beginStatement()).toBe('BEGIN ISOLATION LEVEL READ COMMITTED');
    expect(beginStatement({ isolation: 'serializable', readOnly: true })).toBe(
      'BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY',
    );
  });
});
