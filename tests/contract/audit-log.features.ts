// The AuditLog contract: the Kafka topic and the embedded table pass the same suite. Records come back
// in the order they were appended, with every field; a page's cursor is the position of the record
// after it; filters by action, tenant and time.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEntry, AuditLog, AuditQuery } from '../../core/security/audit.ts';
import { uniqueId } from '../support/services.ts';

export interface AuditLogFixture {
  /** a fresh, empty audit log */
  open(): Promise<AuditLog>;
  close(): Promise<void>;
}

const at = (iso: string, n: number) => new Date(Date.parse(iso) + n * 1000).toISOString();

export const auditLogContract = (name: string, fixture: () => Promise<AuditLogFixture>) => {
  describe(`AuditLog contract: ${name}`, () => {
    let f: AuditLogFixture;
    let log: AuditLog;
    const tenant = `t${uniqueId()}`;
    const now = new Date().toISOString();
    // 12 records: every third is an acl.denied; the last four of another tenant; times a second apart
    const entries: AuditEntry[] = Array.from({ length: 12 }, (_, i) => ({
      time: at(now, i - 12),
      action: i % 3 === 0 ? 'acl.denied' : 'projection.rebuilt',
      actor: `actor-${i}`,
      tenant: i >= 8 ? `${tenant}-other` : tenant,
      resource: `projection/p${i}`,
      outcome: i % 3 === 0 ? 'failure' : 'success',
      traceId: i === 1 ? '0af7651916cd43dd8448eb211c80319c' : null,
      ...(i % 3 === 0 ? { reason: `the token lacks the admin scope (${i})` } : {}),
      ...(i === 2 ? { details: { generation: 2, nested: { rows: [1, 2] } } } : {}),
    }));
    const all = async (q: Omit<AuditQuery, 'limit'> & { limit?: number }) => {
      const page = await log.query({ limit: 100, ...q });
      return page.items.map((r) => r.actor);
    };

    beforeAll(async () => {
      f = await fixture();
      log = await f.open();
    });
    afterAll(async () => {
      await log?.close();
      await f?.close();
    });

    it('an audit log nothing was written to answers an empty last page', async () => {
      expect(await log.query({ limit: 10 })).toEqual({ items: [], next: null });
      expect(await log.query({ limit: 10, since: now })).toEqual({ items: [], next: null });
    });

    it('gives back what was appended, in order, with every field and its position as id', async () => {
      await log.append(entries.slice(0, 5));
      await log.append(entries.slice(5));
      const page = await log.query({ limit: 100 });
      expect(page.next).toBeNull();
      expect(page.items.map(({ id: _, ...entry }) => entry)).toEqual(entries);
      const ids = page.items.map((r) => BigInt(r.id));
      for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!).toBe(true);
    });

    it('pages: a page of `limit` records; the cursor is the position after its last record', async () => {
      const first = await log.query({ limit: 5 });
      expect(first.items.map((r) => r.actor)).toEqual(entries.slice(0, 5).map((e) => e.actor));
      expect(first.next).toBe((BigInt(first.items[4]!.id) + 1n).toString());
      const second = await log.query({ limit: 5, cursor: first.next! });
      expect(second.items.map((r) => r.actor)).toEqual(entries.slice(5, 10).map((e) => e.actor));
      const third = await log.query({ limit: 5, cursor: second.next! });
      expect(third.items.map((r) => r.actor)).toEqual(entries.slice(10).map((e) => e.actor));
      expect(third.next).toBeNull();
      // exactly at the end: no next page
      const exact = await log.query({ limit: 2, cursor: second.next! });
      expect(exact.items).toHaveLength(2);
      expect(exact.next).toBeNull();
      // a cursor past the end
      expect(await log.query({ limit: 5, cursor: '9999999' })).toEqual({ items: [], next: null });
    });

    it('filters by action, by tenant and by time, together and with pages', async () => {
      const denied = entries.filter((e) => e.action === 'acl.denied').map((e) => e.actor);
      expect(await all({ action: 'acl.denied' })).toEqual(denied);
      expect(await all({ tenant })).toEqual(entries.slice(0, 8).map((e) => e.actor));
      expect(await all({ tenant, action: 'acl.denied' })).toEqual(['actor-0', 'actor-3', 'actor-6']);
      expect(await all({ since: entries[7]!.time })).toEqual(entries.slice(7).map((e) => e.actor));
      expect(await all({ since: entries[7]!.time, action: 'acl.denied', tenant: `${tenant}-other` })).toEqual(
        ['actor-9'],
      );
      expect(await all({ since: at(now, 60) })).toEqual([]);
      const page = await log.query({ action: 'acl.denied', limit: 2 });
      expect(page.items.map((r) => r.actor)).toEqual(['actor-0', 'actor-3']);
      const rest = await log.query({ action: 'acl.denied', limit: 2, cursor: page.next! });
      expect(rest.items.map((r) => r.actor)).toEqual(['actor-6', 'actor-9']);
    });
  });
};
