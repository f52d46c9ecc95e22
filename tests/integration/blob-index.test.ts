// The blob index keeps a blob's data subject and sealing, finds a subject's blobs for its erasure and
// forgets one upload, on PGlite and on PostgreSQL; an index made before subjects gains the columns.
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
        const ada = { tenant: 'acme', id: 'ada' };
        await index.record(record('a1', 'u1', 1n, { subject: ada, sealed }));
        await index.record(record('a2', 'u2', 2n, { subject: ada }));
        await index.record(record('other-tenant', 'u3', 3n, { subject: { tenant: 'default', id: 'ada' } }));
        await index.record(record('nobody', 'u4', 4n));
        expect(await index.find('a1')).toMatchObject({ subject: ada, sealed });
        const plain = await index.find('nobody');
        expect(plain).not.toHaveProperty('subject');
        expect(plain).not.toHaveProperty('sealed');
        expect((await index.ofSubject(ada)).map((b) => b.blobId)).toEqual(['a1', 'a2']);
        expect(await index.ofSubject({ tenant: 'acme', id: 'bob' })).toEqual([]);

        // a new upload of a1 replaced the one an erasure found: that one stays
        await index.record(record('a1', 'u5', 5n, { subject: ada, sealed }));
        await index.remove('a1', 'u1');
        expect((await index.find('a1'))?.upload).toBe('u5');
        await index.remove('a1', 'u5');
        await index.remove('a2', 'u2');
        expect(await index.find('a1')).toBeNull();
        expect(await index.ofSubject(ada)).toEqual([]);
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
        expect(old).toMatchObject({ blobId: 'old', upload: 'u0' });
        expect(old).not.toHaveProperty('subject');
        await index.record(record('new', 'u1', 1n, { subject: { tenant: 'default', id: 'ada' }, sealed }));
        expect(await index.ofSubject({ tenant: 'default', id: 'ada' })).toHaveLength(1);
      } finally {
        await sql.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
        await sql.close();
      }
    });
  });
};

indexSuite('PGlite', () => createPgliteSql());
indexSuite('pg on PostgreSQL', async () => createPgSql(services().LOGFRONT_DATABASE_URL!));
