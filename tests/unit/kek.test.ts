import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../app/config.ts';
import { KEK_FILE, resolveKek } from '../../app/kek.ts';

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

  it('LOGFRONT_KEK wins; with real services and none there is none; a broken kek file says so', () => {
    const kek = randomBytes(32);
    expect(resolveKek(embedded(join(dir, 'x'), { LOGFRONT_KEK: kek.toString('base64') }))!.equals(kek)).toBe(
      true,
    );
    const services = loadConfig({
      LOGFRONT_KAFKA_BROKERS: '127.0.0.1:1',
      LOGFRONT_SCHEMA_REGISTRY_URL: 'http://127.0.0.1:1',
      LOGFRONT_DATABASE_URL: 'postgres://u@127.0.0.1:1/d',
    });
    expect(resolveKek(services)).toBeNull();
    expect(() => loadConfig({ LOGFRONT_KEK: 'c2hvcnQ=' })).toThrow(/LOGFRONT_KEK: 32 bytes, base64/);
    const broken = join(dir, 'broken');
    resolveKek(embedded(broken));
    writeFileSync(join(broken, KEK_FILE), 'nope');
    expect(() => resolveKek(embedded(broken))).toThrow(/32 bytes, base64/);
  });
});
