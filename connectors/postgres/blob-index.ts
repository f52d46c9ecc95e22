import type { BlobIndex, BlobRecord } from '../../core/blobs/blobs.ts';
import type { BlobSealing } from '../../core/blobs/sealed-blobs.ts';
import { quoteIdent as q, type Sql } from '../sql/sql.ts';

interface Row {
  blob_id: string;
  upload: string;
  key: string;
  size: string;
  sha256: string;
  content_type: string;
  topic: string;
  partition: number;
  offset: string;
  tenant: string;
  subject: string | null;
  sealed: string | null;
}

const toRecord = (r: Row): BlobRecord => ({
  blobId: r.blob_id,
  upload: r.upload,
  key: r.key,
  size: Number(r.size),
  sha256: r.sha256,
  contentType: r.content_type,
  position: { topic: r.topic, partition: r.partition, offset: BigInt(r.offset) },
  tenant: r.tenant,
  ...(r.subject === null ? {} : { subject: r.subject }),
  ...(r.sealed === null ? {} : { sealed: JSON.parse(r.sealed) as BlobSealing }),
});

/**
 * Completed blobs and the blob sink's checkpoints, in Postgres (or PGlite). A blob is its uploader's
 * tenant's: the same blob id is a blob per tenant (docs/security.md#tenants).
 */
export const createPostgresBlobIndex = (sql: Sql, schema: string): BlobIndex => {
  const s = q(schema);
  let migrated: Promise<void> | undefined;
  // one statement per query: PGlite's extended protocol takes no more
  const ddl = async () => {
    for (const statement of [
      `CREATE SCHEMA IF NOT EXISTS ${s}`,
      `CREATE TABLE IF NOT EXISTS ${s}.blobs (
         blob_id text NOT NULL, upload text NOT NULL, key text NOT NULL, size bigint NOT NULL,
         sha256 text NOT NULL, content_type text NOT NULL,
         topic text NOT NULL, partition int NOT NULL, "offset" bigint NOT NULL,
         completed_at timestamptz NOT NULL DEFAULT now(),
         tenant text NOT NULL DEFAULT 'default', subject text, sealed text, PRIMARY KEY (blob_id, tenant))`,
      // a blob's data subject, of the blob's tenant (erasing it deletes the blob), and how its bytes are
      // sealed (docs/blobs.md); tables made before either have neither column
      `ALTER TABLE ${s}.blobs ADD COLUMN IF NOT EXISTS subject text`,
      `ALTER TABLE ${s}.blobs ADD COLUMN IF NOT EXISTS sealed text`,
      `CREATE TABLE IF NOT EXISTS ${s}.blob_uploads_done (
         blob_id text NOT NULL, upload text NOT NULL, PRIMARY KEY (blob_id, upload))`,
      `CREATE TABLE IF NOT EXISTS ${s}.blob_sink_checkpoints (
         topic text NOT NULL, partition int NOT NULL, next_offset bigint NOT NULL,
         PRIMARY KEY (topic, partition))`,
    ]) {
      await sql.query(statement);
    }
    await tenantBlobs();
    // after the upgrade: a table of the first layout had an index of that name on (subject_tenant, subject)
    await sql.query(
      `CREATE INDEX IF NOT EXISTS blobs_by_subject ON ${s}.blobs (tenant, subject) WHERE subject IS NOT NULL`,
    );
  };
  // A blobs table made before blobs had tenants (primary key: the blob id alone) gets the tenant
  // column, every blob the default tenant's; under a lock, as two processes may start at once. One made
  // by the first layout of subjects' blobs kept a subject's tenant apart (subject_tenant): that is the
  // blob's tenant (the uploader's, in which the subject was named), so it becomes the tenant.
  const tenantBlobs = () =>
    sql.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`logfront:${schema}:blobs`]);
      const pkey = await tx.query<{ conname: string; columns: number }>(
        `SELECT conname, cardinality(conkey) AS columns FROM pg_constraint
         WHERE conrelid = $1::regclass AND contype = 'p'`,
        [`${s}.blobs`],
      );
      const old = pkey.rows[0];
      if (!old || old.columns > 1) return;
      await tx.query(
        `ALTER TABLE ${s}.blobs DROP CONSTRAINT ${q(old.conname)},
           ADD COLUMN IF NOT EXISTS tenant text NOT NULL DEFAULT 'default', ADD PRIMARY KEY (blob_id, tenant)`,
      );
      const split = await tx.query(
        `SELECT 1 FROM pg_attribute WHERE attrelid = $1::regclass AND attname = 'subject_tenant' AND NOT attisdropped`,
        [`${s}.blobs`],
      );
      if (!split.rows.length) return;
      await tx.query(`UPDATE ${s}.blobs SET tenant = subject_tenant WHERE subject_tenant IS NOT NULL`);
      // its index on (subject_tenant, subject) goes with it
      await tx.query(`ALTER TABLE ${s}.blobs DROP COLUMN subject_tenant`);
    });
  // CREATE … IF NOT EXISTS racing another migration of the same schema fails once with a unique violation
  const migrate = () =>
    (migrated ??= ddl()
      .catch((error: { code?: string }) => {
        if (error.code === '23505' || error.code === '42P06' || error.code === '42P07') return ddl();
        throw error;
      })
      .then(() => undefined)
      .catch((error) => {
        migrated = undefined;
        throw error;
      }));
  const columns =
    'blob_id, upload, key, size, sha256, content_type, topic, partition, "offset", tenant, subject, sealed';
  return {
    find: async (blobId, tenant) => {
      await migrate();
      // without a tenant (nobody confines the read): the default tenant's blob, else the first other's
      const r =
        tenant === undefined
          ? await sql.query<Row>(
              `SELECT ${columns} FROM ${s}.blobs WHERE blob_id = $1
               ORDER BY tenant <> 'default', tenant COLLATE "C" LIMIT 1`,
              [blobId],
            )
          : await sql.query<Row>(`SELECT ${columns} FROM ${s}.blobs WHERE blob_id = $1 AND tenant = $2`, [
              blobId,
              tenant,
            ]);
      return r.rows[0] ? toRecord(r.rows[0]) : null;
    },
    record: async (blob) => {
      await migrate();
      return sql.transaction(async (tx) => {
        // a new upload of a blob replaces the blob of its own tenant only
        const before = await tx.query<Row>(
          `SELECT ${columns} FROM ${s}.blobs WHERE blob_id = $1 AND tenant = $2 FOR UPDATE`,
          [blob.blobId, blob.tenant],
        );
        const previous = before.rows[0] ? toRecord(before.rows[0]) : null;
        await tx.query(
          `INSERT INTO ${s}.blob_uploads_done (blob_id, upload) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
          [blob.blobId, blob.upload],
        );
        // a later commit of the blob wins; a redelivered older one changes nothing
        if (
          previous &&
          previous.position.topic === blob.position.topic &&
          previous.position.partition === blob.position.partition &&
          previous.position.offset >= blob.position.offset
        ) {
          return previous.upload === blob.upload ? null : blob;
        }
        await tx.query(
          `INSERT INTO ${s}.blobs (${columns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
           ON CONFLICT (blob_id, tenant) DO UPDATE SET upload = $2, key = $3, size = $4, sha256 = $5,
             content_type = $6, topic = $7, partition = $8, "offset" = $9, subject = $11, sealed = $12,
             completed_at = now()`,
          [
            blob.blobId,
            blob.upload,
            blob.key,
            blob.size,
            blob.sha256,
            blob.contentType,
            blob.position.topic,
            blob.position.partition,
            blob.position.offset.toString(),
            blob.tenant,
            blob.subject ?? null,
            blob.sealed ? JSON.stringify(blob.sealed) : null,
          ],
        );
        return previous && previous.upload !== blob.upload ? previous : null;
      });
    },
    isComplete: async (blobId, upload) => {
      await migrate();
      const r = await sql.query(`SELECT 1 FROM ${s}.blob_uploads_done WHERE blob_id = $1 AND upload = $2`, [
        blobId,
        upload,
      ]);
      return r.rows.length > 0;
    },
    ofSubject: async (tenant, subject) => {
      await migrate();
      const r = await sql.query<Row>(
        `SELECT ${columns} FROM ${s}.blobs WHERE tenant = $1 AND subject = $2 ORDER BY blob_id`,
        [tenant, subject],
      );
      return r.rows.map(toRecord);
    },
    remove: async (blobId, upload) => {
      await migrate();
      await sql.query(`DELETE FROM ${s}.blobs WHERE blob_id = $1 AND upload = $2`, [blobId, upload]);
    },
    checkpoint: async (topic, partition) => {
      await migrate();
      const r = await sql.query<{ next_offset: string }>(
        `SELECT next_offset FROM ${s}.blob_sink_checkpoints WHERE topic = $1 AND partition = $2`,
        [topic, partition],
      );
      return r.rows[0] ? BigInt(r.rows[0].next_offset) : undefined;
    },
    saveCheckpoint: async (topic, partition, next) => {
      await migrate();
      await sql.query(
        `INSERT INTO ${s}.blob_sink_checkpoints (topic, partition, next_offset) VALUES ($1, $2, $3)
         ON CONFLICT (topic, partition) DO UPDATE SET next_offset = GREATEST(${s}.blob_sink_checkpoints.next_offset, $3)`,
        [topic, partition, next.toString()],
      );
    },
  };
};
