// Tenancy of what events make, on both modes (docs/security.md#tenants): a projection row belongs to the
// tenant of its events and the rows of two tenants never mix, even under one key; the read cache never
// serves another tenant's row; an erasure deletes its own tenant's rows; a blob is its uploader's
// tenant's. The HTTP answers (404 for another tenant's data) are walked in auth.test.ts.
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogfront, type Logfront } from '../../app/compose.ts';
import type { Config } from '../../app/config.ts';
import { createLogger } from '../../app/logger.ts';
import { readAll } from '../../core/blobs/blobs.ts';
import { NotFound, ValidationFailed } from '../../core/errors.ts';
import { decodePositions } from '../../core/read/positions.ts';
import { orderPlacedBy, orderShipped } from '../support/orders.ts';
import { embeddedConfig, servicesConfig, uniqueId } from '../support/services.ts';

const KEK = randomBytes(32).toString('base64');

for (const [mode, config] of [
  ['embedded', () => embeddedConfig()],
  ['Kafka, Postgres, Redis, S3', () => servicesConfig({ LOGFRONT_KEK: KEK })],
] as [string, () => Config][]) {
  describe(`tenants of rows, cache entries and blobs (${mode})`, () => {
    let lf: Logfront;
    beforeAll(async () => {
      lf = await createLogfront(config(), { logger: createLogger('silent') });
      await lf.startRunners();
    }, 60_000);
    afterAll(async () => lf?.close());

    /** appends `events` to a stream of its own as `tenant`'s; the position of the append */
    const appendAs = async (tenant: string | undefined, events: object[]) => {
      const withTenant = events.map((e) => (tenant ? { ...e, metadata: { tenant } } : e));
      return (await lf.append.appendToStream(`order-${uniqueId()}`, { events: withTenant })).position;
    };
    const read = { maxStalenessMs: 20_000 };
    /** waits until the projection has applied every append */
    const applied = async (...positions: string[]) =>
      expect(
        await lf.facade.whenApplied(
          'orders',
          positions.flatMap((p) => decodePositions(p)),
          20_000,
        ),
      ).toBe(true);

    it('the same order id placed by two tenants is a row per tenant; each event changes its own', async () => {
      const id = uniqueId();
      const acme = await appendAs('acme', [orderPlacedBy(id, 'c-acme')]);
      const own = await appendAs(undefined, [orderPlacedBy(id, 'c-default')]);
      expect(
        (await lf.facade.get('orders', id, { tenant: 'acme', after: acme, ...read })).data,
      ).toMatchObject({
        customerId: 'c-acme',
        status: 'placed',
      });
      expect(
        (await lf.facade.get('orders', id, { tenant: 'default', after: own, ...read })).data,
      ).toMatchObject({
        customerId: 'c-default',
      });
      // no tenant (LOGFRONT_AUTH=none, in-process): the default tenant's row
      expect((await lf.facade.get('orders', id, { after: own, ...read })).data.customerId).toBe('c-default');
      await expect(
        lf.facade.get('orders', id, { tenant: 'globex', after: own, ...read }),
      ).rejects.toBeInstanceOf(NotFound);
      const shipped = await appendAs('acme', [orderShipped(id)]);
      expect(
        (await lf.facade.get('orders', id, { tenant: 'acme', after: shipped, ...read })).data.status,
      ).toBe('shipped');
      expect(
        (await lf.facade.get('orders', id, { tenant: 'default', after: shipped, ...read })).data.status,
      ).toBe('placed');
    });

    it("the cache never serves another tenant's row, whatever it holds", async () => {
      const id = uniqueId();
      const at = await appendAs('acme', [orderPlacedBy(id, 'c-1')]);
      await lf.facade.get('orders', id, { tenant: 'acme', after: at, ...read });
      const cached = await lf.facade.get('orders', id, { tenant: 'acme', after: at, ...read });
      expect(cached.meta.source).toBe('cache');
      await expect(
        lf.facade.get('orders', id, { tenant: 'default', after: at, ...read }),
      ).rejects.toBeInstanceOf(NotFound);
      await expect(lf.facade.get('orders', id, { after: at, ...read })).resolves.toMatchObject({
        data: { customerId: 'c-1' }, // without a tenant, the only tenant's row
      });
      // an entry of acme's kept under the name of the default tenant's row (no writer does that):
      // the reader's own check refuses it
      const status = (await lf.store.status('orders'))!;
      const ghost = uniqueId();
      const entry = {
        row: { orderId: ghost, status: 'placed' },
        tenant: 'acme',
        generation: status.generation,
        checkpoints: status.checkpoints,
      };
      expect(await lf.cache!.put('orders', ghost, entry)).toBe(true);
      await expect(lf.facade.get('orders', ghost, { tenant: 'default' })).rejects.toBeInstanceOf(NotFound);
      await expect(lf.facade.get('orders', ghost)).rejects.toBeInstanceOf(NotFound);
      // a strong read from the cache checks the store, as the tenant's: the store has no such row
      expect(await lf.cache!.put('orders', `acme\u0000${ghost}`, entry)).toBe(true);
      expect((await lf.facade.get('orders', ghost, { tenant: 'acme' })).meta.source).toBe('cache');
      await expect(
        lf.facade.get('orders', ghost, { tenant: 'acme', consistency: 'strong' }),
      ).rejects.toBeInstanceOf(NotFound);
    });

    it("a list sees its tenant's rows only; without a tenant, every tenant's, paged by key and tenant", async () => {
      const customer = `c-${uniqueId()}`;
      const ids = [uniqueId(), uniqueId()].sort();
      const positions: string[] = [];
      for (const tenant of ['acme', 'globex', undefined]) {
        for (const id of ids) positions.push(await appendAs(tenant, [orderPlacedBy(id, customer)]));
      }
      await applied(...positions);
      const page = (options: object) =>
        lf.facade.list('orders', { filters: { customerId: customer }, maxStalenessMs: 20_000, ...options });
      const acme = await page({ tenant: 'acme', limit: 10 });
      expect(acme.items.map((r) => r.orderId)).toEqual(ids);
      expect(acme.items[0]).not.toHaveProperty('__lf_tenant');
      expect((await page({ tenant: 'initech' })).items).toEqual([]);
      // every tenant's: two rows a page, so pages end between the tenants of one key
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const r = await page({ limit: 2, ...(cursor ? { cursor } : {}) });
        seen.push(...r.items.map((row) => String(row.orderId)));
        cursor = r.next ?? undefined;
      } while (cursor);
      expect(seen).toEqual(ids.flatMap((id) => [id, id, id]));
      // a cursor names a key and a tenant a store can hold, or it is refused
      const cursorOf = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
      for (const bad of [
        { k: 'a', t: 'x\u0000' },
        { k: 'a', t: 5 },
      ]) {
        await expect(page({ cursor: cursorOf(bad) })).rejects.toBeInstanceOf(ValidationFailed);
      }
      // a tenant's cursor pages that tenant's rows
      const first = await page({ tenant: 'globex', limit: 1 });
      expect((await page({ tenant: 'globex', cursor: first.next! })).items.map((r) => r.orderId)).toEqual([
        ids[1],
      ]);
    });

    it("an erasure deletes the subject's rows of its own tenant only", async () => {
      const customer = `c-${uniqueId()}`;
      const [a, d] = [uniqueId(), uniqueId()];
      await applied(
        await appendAs('acme', [orderPlacedBy(a, customer)]),
        await appendAs(undefined, [orderPlacedBy(d, customer)]),
      );
      await lf.facade.get('orders', a, { tenant: 'acme' });
      const erased = await lf.erasure.erase(customer, { tenant: 'acme', actor: 'test' });
      expect(erased.rowsDeleted).toEqual({ orders: 1 });
      await expect(lf.facade.get('orders', a, { tenant: 'acme' })).rejects.toBeInstanceOf(NotFound);
      expect((await lf.facade.get('orders', d, { tenant: 'default' })).data.customerId).toBe(customer);
    });

    it("a blob is its uploader's tenant's: another tenant does not find it, and one id is a blob per tenant", async () => {
      const blobs = lf.blobs!;
      const id = `b-${uniqueId()}`;
      const acme = await blobs.upload(id, 'text/plain', Readable.from([Buffer.from('acme')]), {
        tenant: 'acme',
      });
      const wait = { after: acme.position, maxStalenessMs: 20_000 };
      expect(await blobs.stat(id, { ...wait, tenant: 'acme' })).toMatchObject({ tenant: 'acme', size: 4 });
      await expect(blobs.stat(id, { tenant: 'default' })).rejects.toBeInstanceOf(NotFound);
      const own = await blobs.upload(id, 'text/plain', Readable.from([Buffer.from('default!')]));
      const mine = await blobs.read(id, { after: own.position, maxStalenessMs: 20_000, tenant: 'default' });
      expect((await readAll(mine.body)).toString()).toBe('default!');
      const theirs = await blobs.read(id, { tenant: 'acme' });
      expect((await readAll(theirs.body)).toString()).toBe('acme');
      // without a tenant (LOGFRONT_AUTH=none): the default tenant's
      expect((await blobs.stat(id)).size).toBe(8);
    });

    it("a subject's blob is of its uploader's tenant: an erasure in one tenant deletes that tenant's blobs of the subject only", async () => {
      const blobs = lf.blobs!;
      const subject = `s-${uniqueId()}`;
      const id = `sb-${uniqueId()}`;
      const put = (body: string, tenant?: string) =>
        blobs.upload(id, 'text/plain', Readable.from([Buffer.from(body)]), { subject, tenant });
      const acme = await put('acme of s', 'acme');
      const own = await put('default of s');
      const acmeBlob = await blobs.stat(id, { after: acme.position, maxStalenessMs: 20_000, tenant: 'acme' });
      const ownBlob = await blobs.stat(id, {
        after: own.position,
        maxStalenessMs: 20_000,
        tenant: 'default',
      });
      expect(acmeBlob).toMatchObject({ tenant: 'acme', subject });
      expect(ownBlob).toMatchObject({ tenant: 'default', subject });
      // each sealed under its own tenant's data key of the subject
      expect(acmeBlob.sealed?.keyId).toEqual(expect.any(String));
      expect(ownBlob.sealed?.keyId).toEqual(expect.any(String));
      expect(acmeBlob.sealed?.keyId).not.toBe(ownBlob.sealed?.keyId);

      const erased = await lf.erasure.erase(subject, { tenant: 'acme', actor: 'test' });
      expect(erased.blobsDeleted).toBe(1);
      await expect(blobs.stat(id, { tenant: 'acme' })).rejects.toBeInstanceOf(NotFound);
      expect(await lf.blobStore!.head(acmeBlob.key)).toBeNull();
      const mine = await blobs.read(id, { tenant: 'default' });
      expect((await readAll(mine.body)).toString()).toBe('default of s');
      expect(await lf.blobStore!.head(ownBlob.key)).not.toBeNull();
    });
  });
}
