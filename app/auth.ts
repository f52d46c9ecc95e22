// The HTTP API's authentication, as configured: API keys from a file (stored as SHA-256), JWTs (HS256
// secret or a JWKS file), a dev key made by `logfront dev`, or nobody at all (LOGFRONT_AUTH=none).
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLocalJWKSet, type JWTVerifyGetKey, jwtVerify } from 'jose';
import { ConfigError } from '../core/errors.ts';
import {
  type ApiKeyEntry,
  apiKeyEntry,
  bearerToken,
  DEFAULT_TENANT,
  type Principal,
  principalOfClaims,
  principalOfKey,
  SCOPES,
  sha256Hex,
  Unauthenticated,
} from '../core/security/auth.ts';
import type { Config } from './config.ts';

export interface Authenticator {
  /** `none`: every request is the anonymous principal, with every scope */
  readonly mode: 'none' | 'tokens';
  /** the principal of a request's Authorization header; Unauthenticated when there is none or it is not valid */
  authenticate(authorization: string | undefined): Promise<Principal>;
}

/** the principal of every request when authentication is off */
export const ANONYMOUS: Principal = { id: 'anonymous', tenant: DEFAULT_TENANT, scopes: new Set(SCOPES) };

const readJson = (file: string, variable: string): unknown => {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError([{ path: variable, message: `${file}: ${(error as Error).message}` }]);
  }
};

const loadApiKeys = (file: string): ApiKeyEntry[] => {
  const raw = readJson(file, 'LOGFRONT_API_KEYS_FILE');
  if (!Array.isArray(raw)) {
    throw new ConfigError([
      {
        path: 'LOGFRONT_API_KEYS_FILE',
        message: `${file}: a JSON list of {"id", "keySha256", "tenant", "scopes"}`,
      },
    ]);
  }
  try {
    return raw.map((entry, i) => apiKeyEntry(entry, `${file}[${i}]`));
  } catch (error) {
    throw new ConfigError([{ path: 'LOGFRONT_API_KEYS_FILE', message: (error as Error).message }]);
  }
};

/**
 * The authenticator of a configuration. `extraKeys` are keys of the process itself (the dev key).
 * ConfigError when nothing is configured: a server nobody chose to open is not opened.
 */
export const createAuthenticator = (
  auth: Config['auth'],
  extraKeys: readonly ApiKeyEntry[] = [],
): Authenticator => {
  if (auth.mode === 'none') return { mode: 'none', authenticate: async () => ANONYMOUS };
  const keys = [...extraKeys, ...(auth.apiKeysFile ? loadApiKeys(auth.apiKeysFile) : [])];
  let jwtKey: Uint8Array | JWTVerifyGetKey | undefined;
  if (auth.jwtSecret) jwtKey = new TextEncoder().encode(auth.jwtSecret);
  else if (auth.jwksFile) {
    try {
      jwtKey = createLocalJWKSet(readJson(auth.jwksFile, 'LOGFRONT_JWT_JWKS_FILE') as never);
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      throw new ConfigError([{ path: 'LOGFRONT_JWT_JWKS_FILE', message: (error as Error).message }]);
    }
  }
  if (keys.length === 0 && !jwtKey) {
    throw new ConfigError([
      {
        path: 'LOGFRONT_AUTH',
        message:
          'no authentication configured: set LOGFRONT_API_KEYS_FILE, LOGFRONT_JWT_SECRET or LOGFRONT_JWT_JWKS_FILE, or LOGFRONT_AUTH=none to let anyone who reaches the port do anything',
      },
    ]);
  }
  return {
    mode: 'tokens',
    authenticate: async (authorization) => {
      const token = bearerToken(authorization);
      if (token === undefined)
        throw new Unauthenticated('no bearer token: send Authorization: Bearer <token>');
      const byKey = principalOfKey(keys, token);
      if (byKey) return byKey;
      if (jwtKey && token.split('.').length === 3) {
        let claims: Record<string, unknown>;
        try {
          const verified =
            jwtKey instanceof Uint8Array
              ? await jwtVerify(token, jwtKey, { algorithms: ['HS256'] })
              : await jwtVerify(token, jwtKey, { algorithms: ['RS256', 'ES256', 'EdDSA', 'PS256'] });
          claims = verified.payload as Record<string, unknown>;
        } catch (error) {
          throw new Unauthenticated(`the token is not valid: ${(error as Error).message}`);
        }
        return principalOfClaims(claims);
      }
      throw new Unauthenticated('the token is not valid');
    },
  };
};

/** where `logfront dev` keeps its dev key, for the CLI on the same machine */
export const DEV_KEY_FILE = 'dev-key';

const DEV_KEY = /^lfdev_[A-Za-z0-9_-]{32}$/;

/**
 * the dev key of a data directory (kept across restarts; a fresh one the first time, written 0600), or a
 * fresh one kept nowhere: every scope, the default tenant
 */
export const makeDevKey = (dataDir: string | undefined): { token: string; entry: ApiKeyEntry } => {
  const file = dataDir && dataDir !== ':memory:' ? join(dataDir, DEV_KEY_FILE) : undefined;
  const kept = file && existsSync(file) ? readFileSync(file, 'utf8').trim() : '';
  const token = DEV_KEY.test(kept) ? kept : `lfdev_${randomBytes(24).toString('base64url')}`;
  if (file && token !== kept) writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return {
    token,
    entry: { id: 'dev', keySha256: sha256Hex(token), tenant: DEFAULT_TENANT, scopes: [...SCOPES] },
  };
};

/** the token the CLI sends: LOGFRONT_TOKEN, else the dev key of the data directory, if there is one */
export const clientToken = (config: Config): string | undefined => {
  if (config.http.token) return config.http.token;
  const file = join(config.dataDir, DEV_KEY_FILE);
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined;
};
