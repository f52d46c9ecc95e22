import { describe, expect, it } from 'vitest';
import type { Change } from '../../core/projection.ts';
import { forTenant, rowId, rowOfId, tenantOfChange, tenantOfEvent } from '../../core/security/tenancy.ts';
import { patch, upsert } from '../../projections/define.ts';

describe('tenancy of rows', () => {
  it("an event's tenant is its metadata's, else the default tenant", () => {
    expect(tenantOfEvent({ metadata: { tenant: 'acme' } })).toBe('acme');
    expect(tenantOfEvent({ metadata: {} })).toBe('default');
    expect(tenantOfEvent({})).toBe('default');
  });

  it("names the default tenant's rows by their key, another tenant's apart from any key", () => {
    expect(rowId(undefined, 'k')).toBe('k');
    expect(rowId('default', 'k')).toBe('k');
    expect(rowId('acme', 'k')).toBe('acme\u0000k');
    for (const id of ['k', 'acme\u0000k', 'acme\u0000k/x', '']) {
      const { tenant, key } = rowOfId(id);
      expect(rowId(tenant, key)).toBe(id);
    }
    expect(rowOfId('k')).toEqual({ tenant: 'default', key: 'k' });
    expect(rowOfId('acme\u0000a\u0000b')).toEqual({ tenant: 'acme', key: 'a\u0000b' });
  });

  it("makes an event's changes its tenant's, whatever tenant the handler named", () => {
    const named: Change = { ...patch('k', { a: 1 }), tenant: 'globex' };
    expect(forTenant([upsert({ id: 'k' }), named], 'acme')).toEqual([
      { ...upsert({ id: 'k' }), tenant: 'acme' },
      { ...patch('k', { a: 1 }), tenant: 'acme' },
    ]);
    const plain = upsert({ id: 'k' });
    const own = forTenant([plain, named], 'default');
    expect(own[0]).toBe(plain);
    expect(own[1]).toEqual(patch('k', { a: 1 }));
    expect(own.map(tenantOfChange)).toEqual(['default', 'default']);
    expect(tenantOfChange({ ...plain, tenant: 'acme' })).toBe('acme');
  });
});
