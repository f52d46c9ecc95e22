// The key-encryption key of the data keys (LOGFRONT_KEK), and the audit secret that keys the HMAC of data
// subject ids in the audit log (LOGFRONT_AUDIT_SECRET). The embedded default keeps one of each in its data
// directory; with real services the KEK must be given (config.ts refuses to start without it unless
// LOGFRONT_ENCRYPTION=off), and the audit secret is derived from the KEK when it is not given.
import { hkdfSync, randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../core/errors.ts';
import { parseKek } from '../core/security/crypto.ts';
import type { Config } from './config.ts';

export const KEK_FILE = 'kek';
/** the new KEK of a rotation under way in the data directory (`logfront keys rotate`) */
export const NEXT_KEK_FILE = 'kek.next';
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

/** the KEK of a data directory (embedded, no LOGFRONT_KEK), or undefined when it has none on disk */
const dataDirKeks = (config: Config) =>
  config.kek || config.mode !== 'embedded' || config.dataDir === ':memory:' ? undefined : config.dataDir;

/**
 * Refuses to run logfront with real services and no KEK unless LOGFRONT_ENCRYPTION=off says so: personal
 * data would go to Kafka in clear. The embedded mode keeps a KEK of its own in its data directory.
 */
export const requireKek = (config: Config) => {
  if (config.mode !== 'services' || !config.encryption || config.kek) return;
  throw new ConfigError([
    {
      path: 'LOGFRONT_KEK',
      message:
        'required when LOGFRONT_MODE=services: the key-encryption key of sensitive fields, 32 bytes base64 ' +
        '(openssl rand -base64 32); or LOGFRONT_ENCRYPTION=off to store them unencrypted',
    },
  ]);
};

/** the KEK data keys are wrapped with, or null when sensitive fields are not encrypted */
export const resolveKek = (config: Config): Buffer | null => {
  requireKek(config);
  if (!config.encryption) return null;
  if (config.kek) return parseKek(config.kek);
  if (config.dataDir === ':memory:') return randomBytes(32);
  // a rotation under way: new keys are wrapped with the new KEK, old ones are read with both
  const next = join(config.dataDir, NEXT_KEK_FILE);
  if (existsSync(next)) return parseKek(readFileSync(next, 'utf8').trim());
  return keptInDataDir(config.dataDir, KEK_FILE, parseKek);
};

/**
 * The KEK data keys may still be wrapped with while a rotation is under way: LOGFRONT_KEK_PREVIOUS, or,
 * embedded without LOGFRONT_KEK, the data directory's `kek` while a `kek.next` exists. Null otherwise.
 */
export const resolvePreviousKek = (config: Config): Buffer | null => {
  if (!config.encryption) return null;
  if (config.kekPrevious) return parseKek(config.kekPrevious);
  const dir = dataDirKeks(config);
  if (!dir || !existsSync(join(dir, NEXT_KEK_FILE)) || !existsSync(join(dir, KEK_FILE))) return null;
  return parseKek(readFileSync(join(dir, KEK_FILE), 'utf8').trim());
};

/** writes `text` to `path` (0600) and makes it durable: the file, then its directory entry */
const writeDurably = (path: string, text: string, flag: 'wx' | 'w') => {
  writeFileSync(path, text, { mode: 0o600, flag });
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
};

const syncDir = (dir: string) => {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
};

/**
 * Starts (or resumes) the rotation of a data directory's own KEK: a new one in `kek.next`, made once and
 * kept until the rotation is finished. Answers false when the data directory has no KEK of its own to
 * rotate (LOGFRONT_KEK is set, or it is in memory).
 */
export const beginDataDirRotation = (config: Config): boolean => {
  const dir = dataDirKeks(config);
  if (!dir) return false;
  keptInDataDir(dir, KEK_FILE, parseKek);
  const next = join(dir, NEXT_KEK_FILE);
  if (!existsSync(next)) {
    writeDurably(next, `${randomBytes(32).toString('base64')}\n`, 'wx');
    syncDir(dir);
  }
  return true;
};

/** every data key is wrapped with `kek.next`: it becomes `kek`, in one rename */
export const finishDataDirRotation = (config: Config) => {
  const dir = dataDirKeks(config);
  if (!dir) return;
  renameSync(join(dir, NEXT_KEK_FILE), join(dir, KEK_FILE));
  syncDir(dir);
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
