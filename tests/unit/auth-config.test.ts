// The authenticator a configuration makes: API keys from a file, JWTs by secret or JWKS, the dev key.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { clientToken, createAuthenticator, DEV_KEY_FILE, makeDevKey } from '../../app/auth.ts';
import { loadConfig } from '../../app/config.ts';
import { sha256Hex } from '../../core/security/auth.ts';

const dir = mkdtempSync(join(tmpdir(), 'logfront-authcfg-'));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const auth = (over: Record<string, string | undefined>) => ({
  mode: 'tokens' as const,
  apiKeysFile: undefined,
  jwtSecret: undefined,
  jwksFile: undefined,
  ...over,
});

describe('the authenticator of a configuration', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('none lets every request in as the anonymous principal; unset opens nothing', async () => {
    const none = createAuthenticator({ ...auth({}), mode: 'none' });
    expect((await none.authenticate(undefined)).id).toBe('anonymous');
    expect(() => createAuthenticator({ ...auth({}), mode: 'unset' })).toThrow(/LOGFRONT_AUTH/);
  });

  it('a keys file that is not a list of keys is a config error naming the variable and the file', () => {
    const cases: [string, RegExp][] = [
      ['{ not json', /LOGFRONT_API_KEYS_FILE.*bad\.json/],
      ['{"id": "x"}', /a JSON list/],
      ['[{"id": "x", "keySha256": "no"}]', /keySha256/],
    ];
    for (const [text, message] of cases) {
      const path = file('bad.json', text);
      expect(() => createAuthenticator(auth({ apiKeysFile: path }))).toThrow(message);
    }
    expect(() => createAuthenticator(auth({ apiKeysFile: join(dir, 'missing.json') }))).toThrow(
      /missing\.json/,
    );
  });

  it('API keys: the key names its principal, another token is unauthenticated', async () => {
    const path = file(
      'keys.json',
      JSON.stringify([{ id: 'ci', keySha256: sha256Hex('k1'), scopes: ['read'] }]),
    );
    const a = createAuthenticator(auth({ apiKeysFile: path }));
    expect((await a.authenticate('Bearer k1')).id).toBe('ci');
    await expect(a.authenticate('Bearer k2')).rejects.toMatchObject({ code: 'unauthenticated' });
    await expect(a.authenticate(undefined)).rejects.toMatchObject({ code: 'unauthenticated' });
  });

  it('JWTs from a JWKS file (RS256); a token signed by another key is unauthenticated', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256' };
    const path = file('jwks.json', JSON.stringify({ keys: [jwk] }));
    const a = createAuthenticator(auth({ jwksFile: path }));
    const token = await new SignJWT({ sub: 'svc', tenant: 'acme', scope: 'read' })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setExpirationTime('5m')
      .sign(privateKey);
    const p = await a.authenticate(`Bearer ${token}`);
    expect({ id: p.id, tenant: p.tenant, scopes: [...p.scopes] }).toEqual({
      id: 'svc',
      tenant: 'acme',
      scopes: ['read'],
    });
    const other = await generateKeyPair('RS256');
    const forged = await new SignJWT({ sub: 'svc', scope: 'admin' })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .sign(other.privateKey);
    await expect(a.authenticate(`Bearer ${forged}`)).rejects.toMatchObject({ code: 'unauthenticated' });
    expect(() => createAuthenticator(auth({ jwksFile: file('jwks-bad.json', '{"keys": 7}') }))).toThrow(
      /LOGFRONT_JWT_JWKS_FILE/,
    );
  });

  it('the dev key is kept in the data directory (0600), the same across restarts; the CLI reads it', () => {
    const data = mkdtempSync(join(dir, 'data-'));
    const first = makeDevKey(data);
    expect(first.token).toMatch(/^lfdev_/);
    expect(statSync(join(data, DEV_KEY_FILE)).mode & 0o777).toBe(0o600);
    expect(makeDevKey(data).token).toBe(first.token);
    expect(readFileSync(join(data, DEV_KEY_FILE), 'utf8').trim()).toBe(first.token);
    expect(makeDevKey(undefined).token).not.toBe(first.token);
    expect(clientToken(loadConfig({ LOGFRONT_DATA_DIR: data }))).toBe(first.token);
    expect(clientToken(loadConfig({ LOGFRONT_DATA_DIR: data, LOGFRONT_TOKEN: 't' }))).toBe('t');
    expect(clientToken(loadConfig({ LOGFRONT_DATA_DIR: join(dir, 'none') }))).toBeUndefined();
  });
});
