import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../app/config.ts';
import {
  beginDataDirRotation,
  finishDataDirRotation,
  KEK_FILE,
  NEXT_KEK_FILE,
  requireKek,
  resolveKek,
  resolvePreviousKek,
} from '../../app/kek.ts';
import { ConfigError } from '../../core/errors.ts';

describe('the key-encryption key', () => {
  const dir = mkdtempSync(join(tmpdir(), 'logfront-kek-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const embedded = (dataDir: string, extra: Record<string, string> = {}) =>
    loadConfig({ LOGFRONT_MODE: 'embedded', LOGFRONT_DATA_DIR: dataDir, ...extra });

  it('embedded: made once and kept in the data dir (owner-only), the same after a restart', () => {
    const data = join(dir, 'data');
    const first = resolveKek(embedded(data))!;
    expect(first).toHaveLength(32);
    expect(statSync(join(data, KEK_FILE)).mode & 0o777).toBe(0o600);
    expect(resolveKek(embedded(data))!.equals(first)).toBe(true);
    expect(resolveKek(embedded(':memory:'))).toHaveLength(32);
  });

  const services = (extra: Record<string, string>) =>
    loadConfig({
      LOGFRONT_KAFKA_BROKERS: '127.0.0.1:1',
      LOGFRONT_SCHEMA_REGISTRY_URL: 'http://127.0.0.1:1',
      LOGFRONT_DATABASE_URL: 'postgres://u@127.0.0.1:1/d',
      ...extra,
    });

  it('LOGFRONT_KEK wins; LOGFRONT_ENCRYPTION=off gives none in any mode; a broken kek file says so', () => {
    const kek = randomBytes(32);
    expect(resolveKek(embedded(join(dir, 'x'), { LOGFRONT_KEK: kek.toString('base64') }))!.equals(kek)).toBe(
      true,
    );
    expect(resolveKek(services({ LOGFRONT_KEK: kek.toString('base64') }))!.equals(kek)).toBe(true);
    expect(resolveKek(services({ LOGFRONT_ENCRYPTION: 'off' }))).toBeNull();
    const off = embedded(join(dir, 'off'), { LOGFRONT_ENCRYPTION: 'off' });
    expect(resolveKek(off)).toBeNull();
    expect(resolvePreviousKek(off)).toBeNull();
    expect(existsSync(join(dir, 'off', KEK_FILE))).toBe(false);
    expect(() => loadConfig({ LOGFRONT_KEK: 'c2hvcnQ=' })).toThrow(/LOGFRONT_KEK: 32 bytes, base64/);
    const broken = join(dir, 'broken');
    resolveKek(embedded(broken));
    writeFileSync(join(broken, KEK_FILE), 'nope');
    expect(() => resolveKek(embedded(broken))).toThrow(/32 bytes, base64/);
  });

  it('logfront with real services and no LOGFRONT_KEK is refused, naming it and LOGFRONT_ENCRYPTION=off', () => {
    const none = services({});
    expect(() => requireKek(none)).toThrow(ConfigError);
    expect(() => resolveKek(none)).toThrow(
      /LOGFRONT_KEK: required when LOGFRONT_MODE=services: .*32 bytes base64.*; or LOGFRONT_ENCRYPTION=off/,
    );
    expect(() => requireKek(services({ LOGFRONT_ENCRYPTION: 'off' }))).not.toThrow();
    expect(() => requireKek(services({ LOGFRONT_KEK: randomBytes(32).toString('base64') }))).not.toThrow();
    expect(() => requireKek(embedded(':memory:'))).not.toThrow();
  });

  it('the previous KEK: LOGFRONT_KEK_PREVIOUS, else none outside a rotation of the data directory', () => {
    const previous = randomBytes(32);
    const kek = randomBytes(32).toString('base64');
    const given = services({ LOGFRONT_KEK: kek, LOGFRONT_KEK_PREVIOUS: previous.toString('base64') });
    expect(resolvePreviousKek(given)!.equals(previous)).toBe(true);
    expect(resolvePreviousKek(services({ LOGFRONT_KEK: kek }))).toBeNull();
    expect(resolvePreviousKek(embedded(join(dir, 'none')))).toBeNull();
    expect(resolvePreviousKek(embedded(':memory:'))).toBeNull();
    // LOGFRONT_KEK is given: the data directory has no KEK of its own to rotate
    expect(beginDataDirRotation(embedded(join(dir, 'given'), { LOGFRONT_KEK: kek }))).toBe(false);
    expect(beginDataDirRotation(embedded(':memory:'))).toBe(false);
    expect(existsSync(join(dir, 'given'))).toBe(false);
  });

  it("a rotation of the data directory's KEK: a new one in kek.next is the KEK, the old one the previous, until it ends", () => {
    const data = join(dir, 'rotating');
    const config = embedded(data);
    const old = resolveKek(config)!;
    expect(beginDataDirRotation(config)).toBe(true);
    expect(statSync(join(data, NEXT_KEK_FILE)).mode & 0o777).toBe(0o600);
    const next = resolveKek(config)!;
    expect(next.equals(old)).toBe(false);
    expect(resolvePreviousKek(config)!.equals(old)).toBe(true);
    // begun again (a rotation that stopped midway): the same new KEK
    expect(beginDataDirRotation(config)).toBe(true);
    expect(resolveKek(config)!.equals(next)).toBe(true);
    finishDataDirRotation(config);
    expect(existsSync(join(data, NEXT_KEK_FILE))).toBe(false);
    expect(resolveKek(config)!.equals(next)).toBe(true);
    expect(resolvePreviousKek(config)).toBeNull();
    expect(statSync(join(data, KEK_FILE)).mode & 0o777).toBe(0o600);
    // a fresh data directory: its KEK is made first, then the new one
    const fresh = embedded(join(dir, 'fresh'));
    expect(beginDataDirRotation(fresh)).toBe(true);
    expect(resolvePreviousKek(fresh)).toHaveLength(32);
    finishDataDirRotation(embedded(':memory:'));
  });
});
