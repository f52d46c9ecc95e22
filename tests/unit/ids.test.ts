import { describe, expect, it } from 'vitest';
import { UUID, uuidv7 } from '../../core/log/ids.ts';

const hex = (id: string) => id.replaceAll('-', '');
const timestampOf = (id: string) => Number.parseInt(hex(id).slice(0, 12), 16);

describe('uuidv7', () => {
  it('is a lower-case 8-4-4-4-12 hex UUID', () => {
    expect(uuidv7()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });

  it('carries version 7 and the RFC 9562 variant', () => {
    for (let i = 0; i < 200; i++) {
      const id = uuidv7();
      expect(id[14]).toBe('7');
      expect(['8', '9', 'a', 'b']).toContain(id[19]);
    }
  });

  it('starts with the 48-bit unix time in ms it was made at', () => {
    const now = Date.UTC(2025, 0, 2, 3, 4, 5, 678);

    const id = uuidv7(now);

    expect(timestampOf(id)).toBe(now);
    expect(id.slice(0, 13)).toBe(
      `${now.toString(16).padStart(12, '0').slice(0, 8)}-${now.toString(16).padStart(12, '0').slice(8)}`,
    );
  });

  it('uses the current time by default', () => {
    const before = Date.now();
    const id = uuidv7();
    const after = Date.now();

    expect(timestampOf(id)).toBeGreaterThanOrEqual(before);
    expect(timestampOf(id)).toBeLessThanOrEqual(after);
  });

  it('time 0 and the largest 48-bit time are encoded exactly', () => {
    expect(uuidv7(0).slice(0, 13)).toBe('00000000-0000');
    expect(uuidv7(2 ** 48 - 1).slice(0, 13)).toBe('ffffffff-ffff');
  });

  it('an id made later sorts after an id made earlier', () => {
    const times = [1, 255, 256, 65_535, 65_536, 1_700_000_000_000, 1_700_000_000_001, 2 ** 47, 2 ** 48 - 1];

    const ids = times.map((t) => uuidv7(t));

    expect([...ids].reverse().sort()).toEqual(ids);
  });

  it('two ids made in the same millisecond still differ', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => uuidv7(1_700_000_000_000)));

    expect(ids.size).toBe(1000);
  });
});

describe('UUID', () => {
  it('accepts a uuidv7 and a random UUID of any case', () => {
    expect(UUID.test(uuidv7())).toBe(true);
    expect(UUID.test(crypto.randomUUID())).toBe(true);
    expect(UUID.test('0190F2A4-7B1C-7D3E-8F00-123456789ABC')).toBe(true);
  });

  const rejected: Record<string, string> = {
    'no dashes': '0190f2a47b1c7d3e8f00123456789abc',
    'a non-hex character': '0190f2a4-7b1c-7d3e-8f00-123456789abg',
    'a group too short': '0190f2a4-7b1c-7d3e-8f0-123456789abcd',
    'braces around it': '{0190f2a4-7b1c-7d3e-8f00-123456789abc}',
    'a trailing character': '0190f2a4-7b1c-7d3e-8f00-123456789abcd',
    'an empty string': '',
  };
  for (const [what, value] of Object.entries(rejected)) {
    it(`rejects ${what}`, () => {
      expect(UUID.test(value)).toBe(false);
    });
  }
});
