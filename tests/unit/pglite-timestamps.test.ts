import { describe, expect, it } from 'vitest';
import { parseTimestamptz } from '../../connectors/embedded/pglite-sql.ts';

const iso = (text: string) => {
  const d = parseTimestamptz(text);
  return d instanceof Date ? d.toISOString() : d;
};

describe('timestamptz as PGlite reads it', () => {
  it('keeps every year Postgres keeps, the offsets and the fraction', () => {
    expect(iso('2024-05-01 12:00:00+00')).toBe('2024-05-01T12:00:00.000Z');
    expect(iso('0001-01-01 00:00:00+00')).toBe('0001-01-01T00:00:00.000Z');
    expect(iso('0099-12-31 23:59:59.999999+00')).toBe('0099-12-31T23:59:59.999Z');
    expect(iso('2024-05-01 12:00:00.5+05:30')).toBe('2024-05-01T06:30:00.500Z');
    expect(iso('2024-05-01 12:00:00-03')).toBe('2024-05-01T15:00:00.000Z');
    expect(iso('1900-01-01 00:00:00+00:19:32')).toBe('1899-12-31T23:40:28.000Z');
    expect(iso('0001-01-01 00:00:00+00 BC')).toBe('0000-01-01T00:00:00.000Z');
    expect(iso('9999-12-31 23:59:59+00')).toBe('9999-12-31T23:59:59.000Z');
  });

  it('infinity and what it cannot read', () => {
    expect((parseTimestamptz('infinity') as Date).getTime()).toBe(8.64e15);
    expect((parseTimestamptz('-infinity') as Date).getTime()).toBe(-8.64e15);
    expect(parseTimestamptz('not a time')).toBe('not a time');
  });
});
