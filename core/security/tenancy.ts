// Tenancy of what events make (docs/security.md#tenants): a projection row belongs to the tenant of the
// events that made it, and the rows of two tenants never mix, even under the same key. A row is named
// by its tenant and its key; the default tenant's rows by their key alone, so a single-tenant
// deployment's rows, cache entries and fold results look exactly as they did before tenancy.
import type { Change } from '../projection.ts';
import { DEFAULT_TENANT } from './auth.ts';

/** the system column of every projection table that holds its row's tenant */
export const TENANT_COLUMN = '__lf_tenant';

/** the tenant of an event: its `metadata.tenant`, else the default tenant */
export const tenantOfEvent = (event: { readonly metadata?: { readonly tenant?: string } | undefined }) =>
  event.metadata?.tenant ?? DEFAULT_TENANT;

/** the tenant a change writes to (the runner sets it from the event; absent: the default tenant) */
export const tenantOfChange = (change: Change) => change.tenant ?? DEFAULT_TENANT;

/**
 * A row's name across tenants: its key for the default tenant, `<tenant> NUL <key>` for another. No
 * key holds a NUL (no store can hold one) and no tenant name does, so two rows never share a name. It
 * names rows in memory and in the read cache only; SQL gets the tenant and the key apart.
 */
export const rowId = (tenant: string | undefined, key: string) =>
  tenant === undefined || tenant === DEFAULT_TENANT ? key : `${tenant}\u0000${key}`;

/** the tenant and the key a rowId names */
export const rowOfId = (id: string): { tenant: string; key: string } => {
  const at = id.indexOf('\u0000');
  return at < 0 ? { tenant: DEFAULT_TENANT, key: id } : { tenant: id.slice(0, at), key: id.slice(at + 1) };
};

/**
 * The changes of an event, made its tenant's: whatever a handler wrote, a change writes to the rows of
 * its event's tenant only. The default tenant's changes carry no tenant (they are as they were).
 */
export const forTenant = (changes: readonly Change[], tenant: string): Change[] =>
  changes.map((c): Change => {
    if (tenant !== DEFAULT_TENANT) return { ...c, tenant };
    if (c.tenant === undefined) return c;
    const { tenant: _, ...rest } = c;
    return rest as Change;
  });
