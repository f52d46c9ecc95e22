// The key-encryption key of the data keys (LOGFRONT_KEK). The embedded default keeps one in its data
// directory; with real services it must be given, or sensitive fields stay unencrypted (with a warning).
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseKek } from '../core/crypto.ts';
import type { Config } from './config.ts';

export const KEK_FILE = 'kek';

export const resolveKek = (config: Config): Buffer | null => {
  if (config.kek) return parseKek(config.kek);
  if (config.mode !== 'embedded') return null;
  if (config.dataDir === ':memory:') return randomBytes(32);
  const file = join(config.dataDir, KEK_FILE);
  if (existsSync(file)) return parseKek(readFileSync(file, 'utf8').trim());
  mkdirSync(config.dataDir, { recursive: true });
  const kek = randomBytes(32);
  writeFileSync(file, `${kek.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  return kek;
};
