// The key-encryption key of the data keys (LOGFRONT_KEK), and the audit secret that keys the HMAC of data
// subject ids in the audit log (LOGFRONT_AUDIT_SECRET). The embedded default keeps one of each in its data
// directory; with real services the KEK must be given, or sensitive fields stay unencrypted (with a
// warning), and the audit secret is derived from the KEK when it is not given.
import { hkdfSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseKek } from '../core/security/crypto.ts';
import type { Config } from './config.ts';

export const KEK_FILE = 'kek';
export const AUDIT_SECRET_FILE = 'audit-secret';

/** 32 random bytes kept in `<data dir>/<file>` (0600), made on first use */
const keptInDataDir = (dataDir: string, file: string, parse: (base64: string) => Buffer) => {
  const path = join(dataDir, file);
  if (existsSync(path)) return parse(readFileSync(path, 'utf8').trim());
  mkdirSync(dataDir, { recursive: true });
  const key = randomBytes(32);
  writeFileSync(path, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  return key;
};

export const resolveKek = (config: Config): Buffer | null => {
  if (config.kek) return parseKek(config.kek);
  if (config.mode !== 'embedded') return null;
  if (config.dataDir === ':memory:') return randomBytes(32);
  return keptInDataDir(config.dataDir, KEK_FILE, parseKek);
};

const parseAuditSecret = (base64: string) => {
  const key = Buffer.from(base64, 'base64');
  if (key.length !== 32 || key.toString('base64') !== base64.trim()) {
    throw new Error(`the audit secret must be 32 bytes, base64 (openssl rand -base64 32)`);
  }
  return key;
};

/**
 * The key of the HMAC of data subject ids in the audit log, and where it comes from:
 * - `LOGFRONT_AUDIT_SECRET` when set;
 * - embedded: one kept in `<data dir>/audit-secret` next to the KEK (in memory: a new one per process);
 * - services: derived from `LOGFRONT_KEK` (HKDF-SHA256, its own label: the HMAC key reveals nothing of
 *   the KEK); with no KEK either, a random one per process. Erasure is unavailable without a KEK, so no
 *   record names a subject then; one that did would be unlinkable, never a bare hash.
 */
export const resolveAuditSecret = (
  config: Config,
): { secret: Buffer; source: 'config' | 'data-dir' | 'kek' | 'process' } => {
  if (config.auditSecret) return { secret: parseAuditSecret(config.auditSecret), source: 'config' };
  if (config.mode === 'embedded' && config.dataDir !== ':memory:') {
    return { secret: keptInDataDir(config.dataDir, AUDIT_SECRET_FILE, parseAuditSecret), source: 'data-dir' };
  }
  if (config.mode === 'services' && config.kek) {
    const derived = hkdfSync('sha256', parseKek(config.kek), '', 'logfront audit subject hmac v1', 32);
    return { secret: Buffer.from(derived), source: 'kek' };
  }
  return { secret: randomBytes(32), source: 'process' };
};
