import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sampleDomain } from '../../app/domain.ts';
import { defineConfig, domainOf, findConfigFile } from '../../app/user-config.ts';
import { ConfigError } from '../../core/errors.ts';

const [placed] = sampleDomain.eventTypes;
const [orders] = sampleDomain.projections;

const reason = (exported: unknown) => {
  try {
    domainOf('/x/logfront.config.ts', exported);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('accepted');
};

describe('a config file export', () => {
  it('defineConfig returns the config; its event types and projections become the domain', () => {
    const config = defineConfig({
      eventTypes: sampleDomain.eventTypes,
      projections: sampleDomain.projections,
    });
    expect(domainOf('logfront.config.ts', config)).toEqual(sampleDomain);
    expect(domainOf('logfront.config.ts', { eventTypes: [placed] })).toEqual({
      eventTypes: [placed],
      projections: [],
    });
  });

  it('that is not a config is refused with a reason naming the file', () => {
    expect(reason(undefined)).toMatch(/logfront\.config\.ts: the default export must be defineConfig/);
    expect(reason({ eventTypes: [] })).toMatch(/eventTypes must be a non-empty array/);
    expect(reason({ eventTypes: [{ name: 'X' }] })).toMatch(/eventTypes\[0\] is not an event type/);
    expect(reason({ eventTypes: [placed, placed] })).toMatch(/event type OrderPlaced is listed twice/);
    expect(reason({ eventTypes: [placed], projections: {} })).toMatch(/projections must be an array/);
    expect(reason({ eventTypes: [placed], projections: [{ name: 'x' }] })).toMatch(
      /projections\[0\] is not a projection/,
    );
    expect(reason({ eventTypes: sampleDomain.eventTypes, projections: [orders, orders] })).toMatch(
      /projection orders is listed twice/,
    );
    expect(reason({ eventTypes: [placed], projections: [orders] })).toMatch(
      /projection orders handles OrderShipped, which is not among eventTypes/,
    );
  });
});

describe('finding the config file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'logfront-find-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is none without a file, the first of the known names otherwise, the named one when given', () => {
    expect(findConfigFile(dir, undefined)).toBeNull();
    writeFileSync(join(dir, 'logfront.config.mjs'), '');
    expect(findConfigFile(dir, undefined)).toBe(join(dir, 'logfront.config.mjs'));
    writeFileSync(join(dir, 'logfront.config.ts'), '');
    expect(findConfigFile(dir, undefined)).toBe(join(dir, 'logfront.config.ts'));
    writeFileSync(join(dir, 'other.ts'), '');
    expect(findConfigFile(dir, 'other.ts')).toBe(join(dir, 'other.ts'));
    expect(() => findConfigFile(dir, 'missing.ts')).toThrow(/missing\.ts: no such file/);
    expect(() => findConfigFile(dir, dir)).toThrow(/no such file/);
  });
});
