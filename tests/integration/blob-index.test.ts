// The blob index keeps a blob's data subject and sealing, finds a subject's blobs for its erasure and
// forgets one upload, on PGlite and on PostgreSQL; a subject is of its blob's tenant. An index made
// before subjects, before tenants, or by the first layout of subjects (subject_tenant) is upgraded.
import { describe, expect, it } from 'vitest';
import { createPgliteSql } from '../../connectors/embedded/pglite-sql.ts';
import { createPostgresBlobIndex } from '../../connectors/postgres/blob-index.ts';
import { createPgSql } from '../../connectors/postgres/pg-sql.ts';
import { quoteIdent, type Sql } from '../../connectors/sql/sql.ts';
import type { BlobRecord } from '../../core/blobs/blobs.ts';
import { services, uniqueId } from '../support/services.ts';

const record = (
  blobId: string,
  upload: string,
  offset: bigint,
  more: Partial<BlobRecord> = {},
): BlobRecord => ({
  blobId,
  upload,
  key: `t/blobs/${blobId}/${upload}`,
  size: 10,
  sha256: 'a'.repeat(64),
  contentType: 'text/plain',
  position: { topic: 't.events.blob', partition: 0, offset },
  tenant: 'default',
  ...more,
});
const sealed = { keyId: 'k1', key: 'd3JhcHBlZA==', chunkBytes: 520164 };

const indexSuite = (name: string, open: () => Promise<Sql>) => {
  describe(`the blob index and data subjects: ${name}`, () => {
    it("records a blob's subject and sealing, finds a subject's blobs, and forgets one upload only", async () => {
      const sql = await open();
      const schema = `t_${uniqueId()}`;
      const index = createPostgresBlobIndex(sql, schema);
      try {
        const ada = { tenant: 'acme', subject: 'ada' };
        await index.record(record('a1', 'u1', 1n, { ...ada, sealed }));
        await index.record(record('a2', 'u2', 2n, ada));
        await index.record(record('other-tenant', 'u3', 3n, { subject: 'ada' }));
        // the same blob id of another tenant, of the same subject id: another tenant's subject
        await index.record(record('a1', 'u6', 6n, { subject: 'ada' }));
        await index.record(record('nobody', 'u4', 4n));
        expect(await index.find('a1', 'acme')).toMatchObject({ tenant: 'acme', subject: 'ada', sealed });
        const plain = await index.find('nobody');
        expect(plain).toMatchObject({ tenant: 'default' });
        expect(plain).not.toHaveProperty('subject');
        expect(plain).not.toHaveProperty('sealed');
        expect((await index.ofSubject('acme', 'ada')).map((b) => [b.blobId, b.upload])).toEqual([
          ['a1', 'u1'],
          ['a2', 'u2'],
        ]);
        expect((await index.ofSubject('default', 'ada')).map((b) => [b.blobId, b.upload])).toEqual([
          ['a1', 'u6'],
          ['other-tenant', 'u3'],
        ]);
        expect(await index.ofSubject('acme', 'bob')).toEqual([]);

        // a new upload of a1 replaced the one an erasure found: that one stays
        await index.record(record('a1', 'u5', 5n, { ...ada, sealed }));
        await index.remove('a1', 'u1');
        expect((await index.find('a1', 'acme'))?.upload).toBe('u5');
        await index.remove('a1', 'u5');
        await index.remove('a2', 'u2');
        expect(await index.find('a1', 'acme')).toBeNull();
        expect(await index.ofSubject('acme', 'ada')).toEqual([]);
        // the other tenant's blob of that id stays
        expect((await index.find('a1', 'default'))?.upload).toBe('u6');
        // what was stored stays known as stored: a redelivered upload is never stored again
        expect(await index.isComplete('a1', 'u1')).toBe(true);
      } finally {
        await sql.query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`);
        await sql.close();
      }
    });

    it('an index made before data subjects gains their columns, and its blobs have none', async () => {
      const sql = await open();
      const schema = `t_${uniqueId()}`;
      const s = quoteIdent(schema);
      try {
        await sql.query(`CREATE SCHEMA ${s}`);
        await sql.query(`CREATE TABLE ${s}.blobs (
          blob_id text PRIMARY KEY, upload text NOT NULL, key text NOT NULL, size bigint NOT NULL,
          sha256 text NOT NULL, content_type text NOT NULL,
          topic text NOT NULL, partition int NOT NULL, "offset" bigint NOT NULL,
          completed_at timestamptz NOT NULL DEFAULT now())`);
        await sql.query(
          `INSERT INTO ${s}.blobs (blob_id, upload, key, size, sha256, content_type, topic, partition, "offset")
           VALUES ('old', 'u0', 'k', 1, $1, 'text/plain', 't', 0, 0)`,
          ['b'.repeat(64)],
        );
        const index = createPostgresBlobIndex(sql, schema);
        const old = await index.find('old');
        expect(old).toMatchObject({ blobId: 'old', upload: 'u0', tenant: 'default' });
        expect(old).not.toHaveProperty('subject');
        await index.record(record('new', 'u1', 1n, { subject: 'ada', sealed }));
        expect(await index.ofSubject('default', 'ada')).toHaveLength(1);
        // the blob id is a blob per tenant now
        await index.record(record('old', 'u2', 2n, { tenant: 'acme' }));
        expect((await index.find('old', 'default'))?.upload).toBe('u0');
      } finally {
        await sql.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
        await sql.close();
      }
    });

    it("an index of the first layout of subjects (subject_tenant, the blob id its key): the subject's tenant becomes the blob's", async () => {
      const sql = await open();
      const schema = `t_${uniqueId()}`;
      const s = quoteIdent(schema);
      try {
        await sql.query(`CREATE SCHEMA ${s}`);
        await sql.query(`CREATE TABLE ${s}.blobs (
          blob_id text PRIMARY KEY, upload text NOT NULL, key text NOT NULL, size bigint NOT NULL,
          sha256 text NOT NULL, content_type text NOT NULL,
          topic text NOT NULL, partition int NOT NULL, "offset" bigint NOT NULL,
          completed_at timestamptz NOT NULL DEFAULT now(),
          subject_tenant text, subject text, sealed text)`);
        await sql.query(
          `CREATE INDEX blobs_by_subject ON ${s}.blobs (subject_tenant, subject) WHERE subject IS NOT NULL`,
        );
        await sql.query(
          `INSERT INTO ${s}.blobs (blob_id, upload, key, size, sha256, content_type, topic, partition, "offset",
             subject_tenant, subject, sealed)
           VALUES ('of-acme', 'u0', 'k0', 1, $1, 'text/plain', 't', 0, 0, 'acme', 'ada', $2),
                  ('plain', 'u1', 'k1', 1, $1, 'text/plain', 't', 0, 1, NULL, NULL, NULL)`,
          ['b'.repeat(64), JSON.stringify(sealed)],
        );
        const index = createPostgresBlobIndex(sql, schema);
        expect(await index.find('of-acme', 'acme')).toMatchObject({
          tenant: 'acme',
          subject: 'ada',
          sealed,
        });
        expect(await index.find('of-acme', 'default')).toBeNull();
        expect(await index.find('plain', 'default')).toMatchObject({ upload: 'u1', tenant: 'default' });
        expect((await index.ofSubject('acme', 'ada')).map((b) => b.blobId)).toEqual(['of-acme']);
        const columns = await sql.query<{ column_name: string }>(
          `SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'blobs'`,
          [schema],
        );
        expect(columns.rows.map((c) => c.column_name)).not.toContain('subject_tenant');
        // the subject index is on the tenant now (the old one went with its column)
        const indexes = await sql.query<{ indexdef: string }>(
          `SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname = 'blobs_by_subject'`,
          [schema],
        );
        expect(indexes.rows[0]?.indexdef).toMatch(/\(tenant, subject\)/);
        // a second index (another process) finds it upgraded
        expect(await createPostgresBlobIndex(sql, schema).find('of-acme', 'acme')).toMatchObject({
          subject: 'ada',
        });
      } finally {
        await sql.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
        await sql.close();
      }
    });

    it('an index of the tenancy layout (tenant, without subjects) gains the subject columns', async () => {
      const sql = await open();
      const schema = `t_${uniqueId()}`;
      const s = quoteIdent(schema);
      try {
        await sql.query(`CREATE SCHEMA ${s}`);
        await sql.query(`CREATE TABLE ${s}.blobs (
          blob_id text NOT NULL, upload text NOT NULL, key text NOT NULL, size bigint NOT NULL,
          sha256 text NOT NULL, content_type text NOT NULL,
          topic text NOT NULL, partition int NOT NULL, "offset" bigint NOT NULL,
          completed_at timestamptz NOT NULL DEFAULT now(),
          tenant text NOT NULL DEFAULT 'default', PRIMARY KEY (blob_id, tenant))`);
        await sql.query(
          `INSERT INTO ${s}.blobs (blob_id, upload, key, size, sha256, content_type, topic, partition, "offset", tenant)
           VALUES ('b', 'u0', 'k0', 1, $1, 'text/plain', 't', 0, 0, 'acme')`,
          ['b'.repeat(64)],
        );
        const index = createPostgresBlobIndex(sql, schema);
        const old = await index.find('b', 'acme');
        expect(old).toMatchObject({ upload: 'u0', tenant: 'acme' });
        expect(old).not.toHaveProperty('subject');
        await index.record(record('b', 'u1', 1n, { tenant: 'acme', subject: 'ada', sealed }));
        expect((await index.ofSubject('acme', 'ada')).map((b) => b.upload)).toEqual(['u1']);
      } finally {
        await sql.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
        await sql.close();
      }
    });
  });
};

indexSuite('PGlite', () => createPgliteSql());
indexSuite('pg on PostgreSQL', async () => createPgSql(services().LOGFRONT_DATABASE_URL!));
