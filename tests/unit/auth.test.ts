import { describe, expect, it } from 'vitest';
import {
  apiKeyEntry,
  bearerToken,
  Forbidden,
  principalOfClaims,
  principalOfKey,
  sha256Hex,
  Unauthenticated,
} from '../../core/security/auth.ts';

const entry = (over: Record<string, unknown> = {}) => ({
  id: 'ci',
  keySha256: sha256Hex('secret-key'),
  tenant: 'acme',
  scopes: ['append', 'read'],
  ...over,
});

describe('authentication', () => {
  it('an API key names its principal by its hash; another key names none', () => {
    const keys = [
      apiKeyEntry(entry(), 'keys[0]'),
      apiKeyEntry(entry({ id: 'ops', keySha256: sha256Hex('ops-key'), scopes: ['admin'] }), 'keys[1]'),
    ];
    const p = principalOfKey(keys, 'secret-key')!;
    expect({ id: p.id, tenant: p.tenant, scopes: [...p.scopes] }).toEqual({
      id: 'ci',
      tenant: 'acme',
      scopes: ['append', 'read'],
    });
    expect(principalOfKey(keys, 'ops-key')!.id).toBe('ops');
    expect(principalOfKey(keys, 'wrong')).toBeUndefined();
    expect(principalOfKey([], 'secret-key')).toBeUndefined();
  });

  it('an entry of the keys file that is wrong is named with what is wrong', () => {
    expect(() => apiKeyEntry(null, 'k[0]')).toThrow(/k\[0\]\.id/);
    expect(() => apiKeyEntry(entry({ id: '' }), 'k[0]')).toThrow(/k\[0\]\.id/);
    expect(() => apiKeyEntry(entry({ keySha256: 'abc' }), 'k[0]')).toThrow(/keySha256/);
    expect(() => apiKeyEntry(entry({ tenant: 'a b' }), 'k[0]')).toThrow(/tenant/);
    expect(() => apiKeyEntry(entry({ scopes: ['root'] }), 'k[0]')).toThrow(/scopes/);
    expect(() => apiKeyEntry(entry({ scopes: 'read' }), 'k[0]')).toThrow(/scopes/);
    expect(apiKeyEntry(entry({ tenant: undefined }), 'k[0]').tenant).toBe('default');
  });

  it('JWT claims: sub, tenant (default: default), scope space-separated; unknown scopes dropped', () => {
    const p = principalOfClaims({ sub: 'svc', tenant: 't1', scope: 'read admin root' });
    expect({ id: p.id, tenant: p.tenant, scopes: [...p.scopes] }).toEqual({
      id: 'svc',
      tenant: 't1',
      scopes: ['read', 'admin'],
    });
    expect(principalOfClaims({ sub: 'svc' }).tenant).toBe('default');
    expect([...principalOfClaims({ sub: 'svc' }).scopes]).toEqual([]);
    expect(() => principalOfClaims({})).toThrow(Unauthenticated);
    expect(() => principalOfClaims({ sub: 'svc', tenant: 7 })).toThrow(/tenant/);
  });

  it('the bearer token of an Authorization header; anything else is unauthenticated', () => {
    expect(bearerToken(undefined)).toBeUndefined();
    expect(bearerToken('Bearer abc.def-ghi')).toBe('abc.def-ghi');
    expect(bearerToken('bearer abc')).toBe('abc');
    for (const bad of ['Basic abc', 'Bearer', 'Bearer a b', `Bearer ${'x'.repeat(5000)}`]) {
      expect(() => bearerToken(bad)).toThrow(Unauthenticated);
    }
    expect(new Unauthenticated('x')).toMatchObject({ status: 401, code: 'unauthenticated' });
    expect(new Forbidden('x')).toMatchObject({ status: 403, code: 'forbidden' });
  });
});
