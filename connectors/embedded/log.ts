import { fromJsonData, toJsonData } from '../../core/blobs/bytes-json.ts';
import { AppendTimeout, Conflict, VersionConflict } from '../../core/errors.ts';
import { expectedMatches } from '../../core/log/expected-version.ts';
import { categoriesOf, categoryOf, topicFor } from '../../core/log/streams.ts';
import type { EventLog, LogBatch, SubscribeOptions, Subscription } from '../../core/ports.ts';
import type {
  AppendResult,
  EventId,
  EventMetadata,
  PreparedEvent,
  RecordedEvent,
  StreamId,
} from '../../core/types.ts';
import { quoteIdent as q, type Sql, type SqlQueryable, schemaMigration } from '../sql/sql.ts';

interface EventRow {
  topic: string;
  offset: string;
  id: string;
  stream: string;
  version: number;
  type: string;
  data: unknown;
  metadata: EventMetadata;
  recorded_at: Date;
}

const toEvent = (r: EventRow): RecordedEvent => ({
  id: r.id as EventId,
  stream: r.stream as StreamId,
  type: r.type,
  version: r.version,
  data: fromJsonData(r.data),
  metadata: r.metadata,
  position: { topic: r.topic, partition: 0, offset: BigInt(r.offset) },
  recordedAt: new Date(r.recorded_at).toISOString(),
});

/**
 * The log as a Postgres table (PGlite in the embedded default). One partition per topic;
 * offsets are dense per topic. Same semantics as the Kafka log, but no queue: appends to a stream wait
 * for its lock, and one whose deadline passed by the time it would write fails and writes nothing.
 */
export const createTableEventLog = (
  sql: Sql,
  options: {
    schema: string;
    topicPrefix: string;
    pollMs?: number;
    /** an append's deadline when its caller gives none (ms from the call); default 10 s */
    appendDeadlineMs?: number;
  },
): EventLog => {
  const s = q(options.schema);
  const channel = `${options.schema}_log`;
  const pollMs = options.pollMs ?? 500;
  const migrate = schemaMigration(sql, options.schema, async (tx) => {
    await tx.query(`CREATE TABLE IF NOT EXISTS ${s}.log_topics (
      topic text PRIMARY KEY, next_offset bigint NOT NULL DEFAULT 0)`);
    await tx.query(`CREATE TABLE IF NOT EXISTS ${s}.log_events (
      topic text NOT NULL, "offset" bigint NOT NULL, id uuid NOT NULL, stream text NOT NULL,
      version integer NOT NULL, type text NOT NULL, data jsonb NOT NULL, metadata jsonb NOT NULL,
      recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      PRIMARY KEY (topic, "offset"), UNIQUE (stream, version), UNIQUE (stream, id))`);
    await tx.query(`CREATE TABLE IF NOT EXISTS ${s}.log_dead_letters (
      seq bigserial PRIMARY KEY, projection text NOT NULL, reason text NOT NULL, event jsonb NOT NULL,
      recorded_at timestamptz NOT NULL DEFAULT now())`);
  });

  const ensure = async (db: SqlQueryable, topics: readonly string[]) => {
    await db.query(`INSERT INTO ${s}.log_topics (topic) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING`, [
      topics,
    ]);
  };

  const topicOf = (category: string) => topicFor(options.topicPrefix, category);

  return {
    topicFor: topicOf,
    ensureTopics: async (categories) => {
      await migrate();
      await ensure(sql, categories.map(topicOf));
    },
    categories: async () => {
      await migrate();
      const r = await sql.query<{ topic: string }>(`SELECT topic FROM ${s}.log_topics ORDER BY topic`);
      return categoriesOf(
        options.topicPrefix,
        r.rows.map((row) => row.topic),
      );
    },
    append: async (stream, events, expected, appendOptions = {}) => {
      const deadlineMs = options.appendDeadlineMs ?? 10_000;
      const deadline = appendOptions.deadline ?? Date.now() + deadlineMs;
      await migrate();
      const topic = topicOf(categoryOf(stream));
      return sql.transaction(async (tx): Promise<AppendResult> => {
        await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [stream]);
        const ids = events.map((e) => e.id);
        const seen = await tx.query<{ version: number; offset: string }>(
          `SELECT version, "offset" FROM ${s}.log_events WHERE stream = $1 AND id = ANY($2::uuid[]) ORDER BY version`,
          [stream, ids],
        );
        if (seen.rows.length === events.length) {
          // a retry of an append that went through: answer the original result
          const first = seen.rows[0]!;
          const last = seen.rows.at(-1)!;
          return {
            stream,
            fromVersion: first.version,
            toVersion: last.version,
            position: { topic, partition: 0, offset: BigInt(last.offset) },
          };
        }
        if (seen.rows.length > 0) {
          throw new Conflict(
            `${seen.rows.length} of ${events.length} event ids were already appended to ${stream}`,
          );
        }
        const head = await tx.query<{ v: number | null }>(
          `SELECT max(version) AS v FROM ${s}.log_events WHERE stream = $1`,
          [stream],
        );
        const current = head.rows[0]?.v ?? 0;
        if (!expectedMatches(expected, current)) throw new VersionConflict(stream, expected, current);
        // out of time before its first write: rolled back, so its caller's retry is the only copy
        if (Date.now() >= deadline) throw new AppendTimeout(stream, deadlineMs);
        await ensure(tx, [topic]);
        const next = await tx.query<{ next_offset: string }>(
          `UPDATE ${s}.log_topics SET next_offset = next_offset + $2 WHERE topic = $1 RETURNING next_offset`,
          [topic, events.length],
        );
        const end = BigInt(next.rows[0]!.next_offset);
        const base = end - BigInt(events.length);
        await tx.query(
          `INSERT INTO ${s}.log_events (topic, "offset", id, stream, version, type, data, metadata)
           SELECT $1, $2::bigint + o - 1, id, $3, $4::int + o::int, type, data, metadata
           FROM unnest($5::uuid[], $6::text[], $7::jsonb[], $8::jsonb[]) WITH ORDINALITY AS x(id, type, data, metadata, o)`,
          [
            topic,
            base.toString(),
            stream,
            current,
            ids,
            events.map((e: PreparedEvent) => e.type),
            events.map((e) => JSON.stringify(toJsonData(e.data))),
            events.map((e) => JSON.stringify(e.metadata)),
          ],
        );
        await tx.query('SELECT pg_notify($1, $2)', [channel, topic]);
        return {
          stream,
          fromVersion: current + 1,
          toVersion: current + events.length,
          position: { topic, partition: 0, offset: end - 1n },
        };
      });
    },
    readStream: async (stream, fromVersion, limit) => {
      await migrate();
      const r = await sql.query<EventRow>(
        `SELECT topic, "offset", id, stream, version, type, data, metadata, recorded_at FROM ${s}.log_events
         WHERE stream = $1 AND version >= $2 ORDER BY version LIMIT $3`,
        [stream, fromVersion, limit],
      );
      return r.rows.map(toEvent);
    },
    subscribe: async (sub: SubscribeOptions): Promise<Subscription> => {
      await migrate();
      await ensure(sql, sub.topics);
      let running = true;
      let wake: (() => void) | undefined;
      const unlisten = await sql.listen(channel, () => wake?.());
      const next = new Map<string, bigint>();
      for (const topic of sub.topics) next.set(topic, (await sub.startAt(topic, 0)) ?? 0n);
      const max = sub.maxBatchEvents ?? 500;
      const deliver = async (topic: string) => {
        const fetchedAt = Date.now();
        const from = next.get(topic)!;
        const [rows, end] = await Promise.all([
          sql.query<EventRow>(
            `SELECT topic, "offset", id, stream, version, type, data, metadata, recorded_at FROM ${s}.log_events
             WHERE topic = $1 AND "offset" >= $2 ORDER BY "offset" LIMIT $3`,
            [topic, from.toString(), max],
          ),
          sql.query<{ next_offset: string }>(`SELECT next_offset FROM ${s}.log_topics WHERE topic = $1`, [
            topic,
          ]),
        ]);
        if (rows.rows.length === 0) return false;
        const events = rows.rows.map(toEvent);
        const batch: LogBatch = {
          topic,
          partition: 0,
          events,
          nextOffset: events.at(-1)!.position.offset + 1n,
          highWatermark: BigInt(end.rows[0]!.next_offset),
          fetchedAt,
        };
        await sub.onBatch(batch);
        next.set(topic, batch.nextOffset);
        return true;
      };
      const pause = () =>
        new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, pollMs);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        }).finally(() => {
          wake = undefined;
        });
      const loop = (async () => {
        while (running) {
          let delivered = false;
          for (const topic of sub.topics) {
            if (!running) break;
            try {
              delivered = (await deliver(topic)) || delivered;
            } catch (error) {
              // at-least-once: restart the topic from where the subscriber says it is, after a pause
              sub.onError?.(error);
              await pause();
              next.set(topic, (await sub.startAt(topic, 0).catch(() => next.get(topic))) ?? 0n);
            }
          }
          if (!delivered && running) await pause();
          // PGlite answers without leaving the microtask queue: a catch-up would starve the HTTP server,
          // timers and progress reports until it ends, so each round gives the event loop a turn
          else await new Promise<void>((resolve) => setImmediate(resolve));
        }
      })();
      return {
        stop: async () => {
          running = false;
          wake?.();
          await loop.catch(() => {});
          await unlisten();
        },
      };
    },
    deadLetter: async (projection, event, reason) => {
      await migrate();
      await sql.query(`INSERT INTO ${s}.log_dead_letters (projection, reason, event) VALUES ($1, $2, $3)`, [
        projection,
        reason,
        JSON.stringify({
          ...event,
          data: toJsonData(event.data),
          position: { ...event.position, offset: event.position.offset.toString() },
        }),
      ]);
    },
    deadLetters: async (projection, limit) => {
      await migrate();
      const r = await sql.query<{ reason: string; event: RecordedEvent & { position: { offset: string } } }>(
        `SELECT reason, event FROM ${s}.log_dead_letters WHERE projection = $1 ORDER BY seq LIMIT $2`,
        [projection, limit],
      );
      return r.rows.map((x) => ({
        projection,
        reason: x.reason,
        event: { ...x.event, position: { ...x.event.position, offset: BigInt(x.event.position.offset) } },
      }));
    },
    endOffsets: async (topics) => {
      await migrate();
      const r = await sql.query<{ topic: string; next_offset: string }>(
        `SELECT topic, next_offset FROM ${s}.log_topics WHERE topic = ANY($1::text[])`,
        [topics],
      );
      const ends = new Map(r.rows.map((x) => [x.topic, BigInt(x.next_offset)]));
      return topics.map((topic) => ({ topic, partition: 0, offset: ends.get(topic) ?? 0n }));
    },
    ping: async () => {
      await sql.query('SELECT 1');
    },
    close: async () => {},
  };
};
