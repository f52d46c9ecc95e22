import { CheckpointFenced } from '../../core/errors.ts';
import type { IndexedEvent, IndexedStream, StreamIndex } from '../../core/ports.ts';
import type { EventId, StreamId } from '../../core/types.ts';
import { quoteIdent as q, type Sql, schemaMigration, statementName } from '../sql/sql.ts';

interface IndexRow {
  stream: string;
  version: number;
  id: string;
  topic: string;
  partition: number;
  offset: string;
}

const toIndexed = (r: IndexRow): IndexedEvent => ({
  stream: r.stream as StreamId,
  version: r.version,
  id: r.id as EventId,
  topic: r.topic,
  partition: r.partition,
  offset: BigInt(r.offset),
});

/**
 * The stream index in Postgres (or PGlite): `stream_index` holds one row per event (stream, version,
 * id, topic, partition, offset), with the stream's head as its greatest version (the primary key's
 * last entry: one index probe); `stream_index_checkpoints` holds how far each partition is indexed.
 * Event ids are unique per stream (the contract's idempotency: a retried id answers its first append).
 */
export const createPostgresStreamIndex = (sql: Sql, schema: string): StreamIndex => {
  const s = q(schema);
  const migrate = schemaMigration(sql, schema, async (tx) => {
    await tx.query(`CREATE TABLE IF NOT EXISTS ${s}.stream_index (
      stream text NOT NULL,
      version integer NOT NULL,
      id uuid NOT NULL,
      topic text NOT NULL,
      partition integer NOT NULL,
      "offset" bigint NOT NULL,
      PRIMARY KEY (stream, version))`);
    await tx.query(`CREATE UNIQUE INDEX IF NOT EXISTS stream_index_ids ON ${s}.stream_index (stream, id)`);
    await tx.query(`CREATE TABLE IF NOT EXISTS ${s}.stream_index_checkpoints (
      topic text NOT NULL,
      partition integer NOT NULL,
      next_offset bigint NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (topic, partition))`);
  });

  return {
    checkpoint: async (topic, partition) => {
      await migrate();
      const r = await sql.query<{ next_offset: string }>(
        `SELECT next_offset FROM ${s}.stream_index_checkpoints WHERE topic = $1 AND partition = $2`,
        [topic, partition],
        statementName(`checkpoint ${schema}`),
      );
      const row = r.rows[0];
      return row ? BigInt(row.next_offset) : undefined;
    },
    checkpoints: async () => {
      await migrate();
      const r = await sql.query<{ topic: string; partition: number; next_offset: string }>(
        `SELECT topic, partition, next_offset FROM ${s}.stream_index_checkpoints ORDER BY topic, partition`,
      );
      return r.rows.map((x) => ({
        topic: x.topic,
        partition: x.partition,
        nextOffset: BigInt(x.next_offset),
      }));
    },
    // One statement: the checkpoint moves only from where the caller saw it, and the rows are written
    // only when it did. A row whose (stream, version) or (stream, id) is there already (the same
    // record indexed again after a crash between Kafka and Postgres cannot happen, but a foreign or
    // duplicated record can) keeps the first one: the log's order decides.
    apply: async (topic, partition, events, advance) => {
      await migrate();
      const params: unknown[] = [topic, partition, advance.to.toString()];
      const checkpoint =
        advance.from === null
          ? `INSERT INTO ${s}.stream_index_checkpoints (topic, partition, next_offset)
             VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING 1`
          : `UPDATE ${s}.stream_index_checkpoints SET next_offset = $3, updated_at = now()
             WHERE topic = $1 AND partition = $2 AND next_offset = $${params.push(advance.from.toString())}
             RETURNING 1`;
      const parts = [`cp AS (${checkpoint})`];
      if (events.length) {
        parts.push(`ins AS (INSERT INTO ${s}.stream_index (stream, version, id, topic, partition, "offset")
          SELECT x.stream, x.version, x.id, $1, $2, x.o
          FROM unnest($${params.push(events.map((e) => e.stream))}::text[],
                      $${params.push(events.map((e) => e.version))}::int[],
                      $${params.push(events.map((e) => e.id))}::uuid[],
                      $${params.push(events.map((e) => e.offset.toString()))}::bigint[]) AS x(stream, version, id, o)
          WHERE EXISTS (SELECT 1 FROM cp)
          ON CONFLICT DO NOTHING RETURNING 1)`);
      }
      const text = `WITH ${parts.join(', ')} SELECT count(*)::int AS n FROM cp`;
      const r = await sql.query<{ n: number }>(text, params, statementName(text));
      if (r.rows[0]?.n !== 1) {
        throw new CheckpointFenced(
          `the stream index of ${topic}/${partition} is no longer at ${advance.from ?? 'none'}`,
        );
      }
    },
    lookup: async (queries) => {
      await migrate();
      const found = new Map<string, { version: number; ids: Map<string, readonly [number, bigint]> }>();
      if (queries.length === 0) return found;
      const streams = queries.map((x) => x.stream);
      const pairs = queries.flatMap((x) => x.ids.map((id) => [x.stream, id] as const));
      // heads: the last primary-key entry of each stream; ids: a probe of (stream, id) each
      const r = await sql.query<{
        stream: string;
        id: string | null;
        version: number;
        offset: string | null;
      }>(
        `SELECT h.stream, NULL::text AS id, h.version, NULL::text AS "offset"
           FROM unnest($1::text[]) AS q(stream)
           CROSS JOIN LATERAL (SELECT q.stream, coalesce(max(version), 0) AS version
                               FROM ${s}.stream_index i WHERE i.stream = q.stream) AS h
         UNION ALL
         SELECT i.stream, i.id::text, i.version, i."offset"::text
           FROM unnest($2::text[], $3::uuid[]) AS q(stream, id)
           JOIN ${s}.stream_index i ON i.stream = q.stream AND i.id = q.id`,
        [streams, pairs.map((p) => p[0]), pairs.map((p) => p[1])],
        statementName(`lookup ${schema}`),
      );
      for (const row of r.rows) {
        let entry = found.get(row.stream);
        if (!entry) {
          entry = { version: 0, ids: new Map() };
          found.set(row.stream, entry);
        }
        if (row.id === null) entry.version = row.version;
        else entry.ids.set(row.id, [row.version, BigInt(row.offset!)]);
      }
      return found as Map<string, IndexedStream>;
    },
    positions: async (stream, topic, partition, fromVersion, limit) => {
      await migrate();
      // one statement, one snapshot: the rows and the checkpoint they are complete up to
      const r = await sql.query<IndexRow & { checkpoint: string | null }>(
        `SELECT i.stream, i.version, i.id::text AS id, i.topic, i.partition, i."offset",
                NULL::text AS checkpoint
           FROM (SELECT * FROM ${s}.stream_index WHERE stream = $1 AND version >= $4
                 ORDER BY version LIMIT $5) AS i
         UNION ALL
         SELECT NULL, NULL, NULL, NULL, NULL, NULL, next_offset::text
           FROM ${s}.stream_index_checkpoints WHERE topic = $2 AND partition = $3`,
        [stream, topic, partition, fromVersion, limit],
        statementName(`positions ${schema}`),
      );
      const events: IndexedEvent[] = [];
      let checkpoint: bigint | undefined;
      for (const row of r.rows) {
        if (row.checkpoint !== null) checkpoint = BigInt(row.checkpoint);
        else events.push(toIndexed(row));
      }
      events.sort((a, b) => a.version - b.version);
      return { events, checkpoint };
    },
    ping: async () => {
      await sql.query('SELECT 1');
    },
  };
};
