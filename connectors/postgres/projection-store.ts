import { CheckpointFenced, Conflict, NotFound, Unavailable } from '../../core/errors.ts';
import { DELETED, foldChanges, idOfChange, ownedBy, planFold } from '../../core/fold.ts';
import type { DeadLetterEntry, DeadLetterKind, DeadLetterState, ProjectionStore } from '../../core/ports.ts';
import type {
  Change,
  Checkpoint,
  CheckpointAdvance,
  ColumnType,
  Liveness,
  ProjectionSpec,
  ProjectionState,
  Row,
} from '../../core/projection.ts';
import { DEFAULT_TENANT } from '../../core/security/auth.ts';
import { rowId, rowOfId, TENANT_COLUMN } from '../../core/security/tenancy.ts';
import type { EventId, StreamId } from '../../core/types.ts';
import { quoteIdent as q, type Sql, type SqlQueryable, schemaMigration, statementName } from '../sql/sql.ts';

const SQL_TYPES: Record<ColumnType, string> = {
  text: 'text',
  integer: 'integer',
  bigint: 'bigint',
  double: 'double precision',
  boolean: 'boolean',
  timestamptz: 'timestamptz',
  jsonb: 'jsonb',
};

interface CheckpointRow {
  topic: string;
  partition: number;
  next_offset: string;
  last_event_at: Date | null;
  caught_up_at: Date | null;
}

const toCheckpoint = (r: CheckpointRow): Checkpoint => ({
  topic: r.topic,
  partition: r.partition,
  nextOffset: BigInt(r.next_offset),
  lastEventAt: r.last_event_at ? new Date(r.last_event_at).toISOString() : null,
  caughtUpAt: r.caught_up_at ? new Date(r.caught_up_at).getTime() : null,
});

const plain = (row: Row): Row => {
  const out: Row = {};
  for (const [k, v] of Object.entries(row)) out[k] = v instanceof Date ? v.toISOString() : v;
  return out;
};

/** the tenant column, quoted; every projection table has it (docs/security.md#tenants) */
const TENANT = q(TENANT_COLUMN);
/** the default tenant, as an SQL literal (a tenant name holds no quote) */
const DEFAULT = `'${DEFAULT_TENANT}'`;

/** the tenants and the keys of rowIds, as two arrays for unnest($1::text[], $2::text[]) */
const tenantsAndKeys = (ids: Iterable<string>) => {
  const tenants: string[] = [];
  const keys: string[] = [];
  for (const id of ids) {
    const row = rowOfId(id);
    tenants.push(row.tenant);
    keys.push(row.key);
  }
  return { tenants, keys };
};

/**
 * what a batch writes: whole rows, deleted rows and patches of stored rows (rowId → columns to set).
 * Rows are by rowId (core/security/tenancy.ts): a tenant's rows and another's never meet.
 */
interface Plan {
  upserts: Row[];
  deletes: string[];
  patches: Map<string, Row>;
  /** rows whose stored version must be read (and locked) first */
  read: Set<string>;
}

/** reasons are kept to this many characters */
const MAX_REASON = 2000;

interface DeadLetterRow {
  id: string;
  projection: string;
  generation: number;
  topic: string;
  partition: number;
  offset: string;
  stream: string;
  version: number;
  event_id: string;
  type: string;
  kind: DeadLetterKind;
  reason: string;
  state: DeadLetterState;
  recorded_at: Date;
  resolved_at: Date | null;
}

const toDeadLetter = (r: DeadLetterRow): DeadLetterEntry => ({
  id: String(r.id),
  projection: r.projection,
  generation: r.generation,
  position: { topic: r.topic, partition: r.partition, offset: BigInt(r.offset) },
  stream: r.stream as StreamId,
  version: r.version,
  eventId: r.event_id as EventId,
  type: r.type,
  kind: r.kind,
  reason: r.reason,
  state: r.state,
  recordedAt: new Date(r.recorded_at).toISOString(),
  resolvedAt: r.resolved_at ? new Date(r.resolved_at).toISOString() : null,
});

/** a statement that must return exactly one row for a batch's rows to be written, and the error if not */
interface Gate {
  text: string;
  params: unknown[];
  fenced: () => Error;
}

/** Projections in Postgres (or PGlite): one table per projection generation, checkpoints beside them. */
export const createPostgresProjectionStore = (sql: Sql, schema: string): ProjectionStore => {
  const s = q(schema);
  const channel = `${schema}_checkpoints`;
  const tableOf = (name: string, generation: number) => `${s}.${q(`proj_${name}_g${generation}`)}`;

  const migrate = schemaMigration(sql, schema, async (tx) => {
    await tx.query(`CREATE TABLE IF NOT EXISTS ${s}.projections (
      name text PRIMARY KEY,
      active_generation integer NOT NULL,
      state text NOT NULL DEFAULT 'idle',
      heartbeat_at timestamptz,
      dead_lettered bigint NOT NULL DEFAULT 0,
      created_at timestamptz NOT NULL DEFAULT now())`);
    await tx.query(`ALTER TABLE ${s}.projections ADD COLUMN IF NOT EXISTS last_error text`);
    await tx.query(`ALTER TABLE ${s}.projections ADD COLUMN IF NOT EXISTS building_generation integer`);
    await tx.query(`ALTER TABLE ${s}.projections ADD COLUMN IF NOT EXISTS building_at timestamptz`);
    await tx.query(`CREATE TABLE IF NOT EXISTS ${s}.checkpoints (
      projection text NOT NULL,
      generation integer NOT NULL,
      topic text NOT NULL,
      partition integer NOT NULL,
      next_offset bigint NOT NULL,
      last_event_at timestamptz,
      caught_up_at timestamptz,
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (projection, generation, topic, partition))`);
    // the events a projection could not apply: where they are and why, not their data (which stays in
    // the log, encrypted where it is sensitive); one letter per event and generation
    await tx.query(`CREATE TABLE IF NOT EXISTS ${s}.dead_letters (
      id bigserial PRIMARY KEY,
      projection text NOT NULL,
      generation integer NOT NULL,
      topic text NOT NULL,
      partition integer NOT NULL,
      "offset" bigint NOT NULL,
      stream text NOT NULL,
      version integer NOT NULL,
      event_id text NOT NULL,
      type text NOT NULL,
      kind text NOT NULL,
      reason text NOT NULL,
      state text NOT NULL DEFAULT 'pending',
      recorded_at timestamptz NOT NULL DEFAULT now(),
      resolved_at timestamptz,
      UNIQUE (projection, generation, topic, partition, "offset"))`);
    await tx.query(
      `CREATE INDEX IF NOT EXISTS dead_letters_by_projection ON ${s}.dead_letters (projection, id)`,
    );
  });

  // the active generation and whether a runner applies it, read inside the caller's snapshot
  const activeOf = async (db: SqlQueryable, name: string) => {
    const r = await db.query<{
      active_generation: number;
      state: ProjectionState;
      heartbeat_at: Date | null;
    }>(`SELECT active_generation, state, heartbeat_at FROM ${s}.projections WHERE name = $1`, [name]);
    const p = r.rows[0];
    if (!p) return null;
    const liveness: Liveness = {
      state: p.state,
      heartbeatAt: p.heartbeat_at ? new Date(p.heartbeat_at).getTime() : null,
    };
    return { generation: p.active_generation, liveness };
  };
  const activeGeneration = async (db: SqlQueryable, name: string) =>
    (await activeOf(db, name))?.generation ?? null;
  const NEVER: Liveness = { state: 'idle', heartbeatAt: null };

  const checkpointsOf = async (db: SqlQueryable, name: string, generation: number) =>
    (
      await db.query<CheckpointRow>(
        `SELECT topic, partition, next_offset, last_event_at, caught_up_at FROM ${s}.checkpoints
         WHERE projection = $1 AND generation = $2 ORDER BY topic, partition`,
        [name, generation],
      )
    ).rows.map(toCheckpoint);

  // Folds the batch's changes per key in memory: the rows it must write, the keys it must delete and
  // the patches the database applies to stored rows. Keys an increment needs are read first.
  const planChanges = (spec: ProjectionSpec, changes: readonly Change[]): Plan => {
    const { rows, patches, read } = planFold(spec, changes);
    const plan: Plan = { upserts: [], deletes: [], patches, read };
    for (const [k, row] of rows) {
      if (row === DELETED) plan.deletes.push(k);
      else plan.upserts.push(row);
    }
    return plan;
  };

  // Reads (locked) the stored rows of the keys an increment needs and adds their fold to the plan.
  const readForIncrements = async (
    db: SqlQueryable,
    spec: ProjectionSpec,
    generation: number,
    changes: readonly Change[],
    plan: Plan,
  ) => {
    const table = tableOf(spec.name, generation);
    const { tenants, keys } = tenantsAndKeys(plan.read);
    // Rows this batch reads to change are locked by tenant and key first, in that order: a row lock
    // cannot cover a row that does not exist yet, and two partitions applied at once (here or in
    // another process) must not both start an increment from nothing. FOR UPDATE also holds off a
    // concurrent patch of a row between this read and this write.
    await db.query(
      `SELECT pg_advisory_xact_lock(hashtextextended($1 || u.t || ':' || u.k, 0))
       FROM unnest($2::text[], $3::text[]) AS u(t, k) ORDER BY u.t COLLATE "C", u.k COLLATE "C"`,
      [`${table}:`, tenants, keys],
    );
    const existing = await db.query<Row>(
      `SELECT * FROM ${table} WHERE (${q(spec.key)}, ${TENANT}) IN (SELECT * FROM unnest($1::text[], $2::text[]))
       FOR UPDATE`,
      [keys, tenants],
    );
    const stored = new Map<string, Row>();
    for (const r of existing.rows) {
      const tenant = r[TENANT_COLUMN] as string;
      stored.set(rowId(tenant, String(r[spec.key])), ownedBy(plain(r), tenant));
    }
    foldChanges(
      spec,
      stored,
      changes.filter((c) => plan.read.has(idOfChange(spec, c))),
    );
    for (const [k, row] of stored) {
      if (row === DELETED) plan.deletes.push(k);
      else plan.upserts.push(row);
    }
  };

  const NOTHING: Plan = { upserts: [], deletes: [], patches: new Map(), read: new Set() };
  const NO_ROWS: ProjectionSpec = { name: '', key: '', columns: {} };

  // The checkpoint's advance: the statement that gates a batch's rows. Its condition failing means
  // another runner owns the partition now: the rows are then left alone (they are written only if the
  // checkpoint moved), so the statement may run on its own.
  const checkpointGate = (name: string, generation: number, a: CheckpointAdvance): Gate => {
    const params: unknown[] = [
      name,
      generation,
      a.topic,
      a.partition,
      a.to.toString(),
      a.lastEventAt,
      a.caughtUpAt === null ? null : new Date(a.caughtUpAt).toISOString(),
      channel,
    ];
    const text =
      a.from === null
        ? `INSERT INTO ${s}.checkpoints (projection, generation, topic, partition, next_offset, last_event_at, caught_up_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING pg_notify($8, $1)`
        : `UPDATE ${s}.checkpoints SET next_offset = $5, last_event_at = $6, caught_up_at = $7, updated_at = now()
           WHERE projection = $1 AND generation = $2 AND topic = $3 AND partition = $4 AND next_offset = $${params.push(a.from.toString())}
           RETURNING pg_notify($8, $1)`;
    return {
      text,
      params,
      fenced: () =>
        new CheckpointFenced(
          `checkpoint of ${name} g${generation} ${a.topic}/${a.partition} is no longer at ${a.from ?? 'none'}`,
        ),
    };
  };

  // The gate, the upserts, the patches and the deletes in one statement (one round trip); the rows
  // are written only when the gate's statement returns a row.
  const writeBatch = async (
    db: SqlQueryable,
    spec: ProjectionSpec,
    generation: number,
    plan: Plan,
    gate: Gate,
  ) => {
    const table = tableOf(spec.name, generation);
    const key = q(spec.key);
    const params = [...gate.params];
    const parts = [`cp AS (${gate.text})`];
    if (plan.upserts.length) {
      const columns = Object.keys(spec.columns);
      const list = columns.map(q).join(', ');
      const updates = columns
        .filter((c) => c !== spec.key)
        .map((c) => `${q(c)} = EXCLUDED.${q(c)}`)
        .join(', ');
      // the default tenant's rows carry no tenant in the fold: the column says it
      parts.push(`ins AS (INSERT INTO ${table} (${list}, ${TENANT})
        SELECT ${list}, coalesce(${TENANT}, ${DEFAULT}) FROM jsonb_populate_recordset(NULL::${table}, $${params.push(JSON.stringify(plan.upserts))}::jsonb)
        WHERE EXISTS (SELECT 1 FROM cp)
        ON CONFLICT (${key}, ${TENANT}) DO ${updates ? `UPDATE SET ${updates}` : 'NOTHING'} RETURNING 1)`);
    }
    const patched = Object.keys(spec.columns).filter((c) => c !== spec.key);
    if (plan.patches.size && patched.length) {
      // a patch sets its columns on the stored row of its tenant (the latest version: UPDATE waits for
      // and re-reads a row another transaction is changing); a key with no row is left alone
      const list = patched.map(q).join(', ');
      const patches = [...plan.patches].map(([id, set]) => {
        const { tenant, key } = rowOfId(id);
        return { __lf_t: tenant, __lf_k: key, __lf_s: set };
      });
      parts.push(`upd AS (UPDATE ${table} AS __lf_row SET (${list}) = (
          SELECT ${patched.map((c) => `r.${q(c)}`).join(', ')} FROM jsonb_populate_record(__lf_row, p.__lf_s) AS r)
        FROM jsonb_to_recordset($${params.push(JSON.stringify(patches))}::jsonb) AS p(__lf_t text, __lf_k text, __lf_s jsonb)
        WHERE __lf_row.${key} = p.__lf_k AND __lf_row.${TENANT} = p.__lf_t AND EXISTS (SELECT 1 FROM cp) RETURNING 1)`);
    }
    if (plan.deletes.length) {
      const { tenants, keys } = tenantsAndKeys(plan.deletes);
      parts.push(
        `del AS (DELETE FROM ${table} WHERE (${key}, ${TENANT}) IN
          (SELECT * FROM unnest($${params.push(keys)}::text[], $${params.push(tenants)}::text[]))
          AND EXISTS (SELECT 1 FROM cp) RETURNING 1)`,
      );
    }
    const text = `WITH ${parts.join(', ')} SELECT count(*)::int AS n FROM cp`;
    const r = await db.query<{ n: number }>(text, params, statementName(text));
    if (r.rows[0]?.n !== 1) throw gate.fenced();
  };

  const lockProjection = (tx: SqlQueryable, name: string) =>
    tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`logfront:${schema}:${name}`]);

  // A row is its tenant's: the key is unique per tenant (primary key (key, tenant): a read by key finds
  // its rows), and a tenant's rows are found in key order by an index of their own (a tenant's list is
  // no scan of the others'). Keys and tenants compare bytewise ("C"), the order pages are read in.
  const createTable = async (tx: SqlQueryable, spec: ProjectionSpec, generation: number) => {
    const table = tableOf(spec.name, generation);
    const columns = Object.entries(spec.columns)
      .map(([c, t]) => `${q(c)} ${SQL_TYPES[t]}${c === spec.key ? ' COLLATE "C" NOT NULL' : ''}`)
      .join(', ');
    await tx.query(
      `CREATE TABLE IF NOT EXISTS ${table} (${columns}, ${TENANT} text COLLATE "C" NOT NULL DEFAULT ${DEFAULT},
         PRIMARY KEY (${q(spec.key)}, ${TENANT}))`,
    );
    await upgradeTable(tx, spec, generation);
  };

  // A table made before rows had tenants (primary key: the key alone) gets the tenant column, every
  // row of it the default tenant's (rebuild the projection to give the rows of other tenants' events
  // to their tenants), and the keys and indexes above. Once per table; the caller holds its lock.
  const upgradeTable = async (tx: SqlQueryable, spec: ProjectionSpec, generation: number) => {
    const table = tableOf(spec.name, generation);
    const found = await tx.query<{ has_tenant: boolean; pkey: string | null }>(
      `SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = $1::regclass AND attname = $2 AND NOT attisdropped)
         AS has_tenant,
         (SELECT conname FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'p') AS pkey`,
      [table, TENANT_COLUMN],
    );
    const { has_tenant, pkey } = found.rows[0]!;
    if (!has_tenant) {
      await tx.query(
        `ALTER TABLE ${table} ${pkey ? `DROP CONSTRAINT ${q(pkey)},` : ''}
           ADD COLUMN ${TENANT} text COLLATE "C" NOT NULL DEFAULT ${DEFAULT},
           ALTER COLUMN ${q(spec.key)} SET DATA TYPE text COLLATE "C",
           ALTER COLUMN ${q(spec.key)} SET NOT NULL,
           ADD PRIMARY KEY (${q(spec.key)}, ${TENANT})`,
      );
    }
    await tx.query(
      `CREATE INDEX IF NOT EXISTS ${q(`proj_${spec.name}_g${generation}_tenant`)} ON ${table} (${TENANT}, ${q(spec.key)})`,
    );
  };

  const snapshot = <T>(fn: (tx: SqlQueryable) => Promise<T>) =>
    sql.transaction(fn, { isolation: 'repeatable read', readOnly: true });

  // Reads in one statement (one statement is one snapshot: the rows, the checkpoints and the active
  // generation agree), from the generation the last read found active. The same statement says which
  // generation is active; when a switch made the assumption wrong the read is made again. Column
  // names starting with `__lf_` are the statement's own (defineProjection refuses them).
  const generations = new Map<string, number>();
  const OWN = '__lf_';
  const readActive = async (
    spec: ProjectionSpec,
    rowsQuery: (table: string, firstParam: number) => { text: string; params: unknown[]; orderBy: string },
  ): Promise<{
    rows: Row[];
    tenants: string[];
    generation: number;
    checkpoints: Checkpoint[];
    liveness: Liveness;
  }> => {
    const taken = Object.keys(spec.columns).find((c) => c.startsWith(OWN));
    if (taken) throw new Error(`column "${taken}" of ${spec.name}: names starting with ${OWN} are reserved`);
    for (let attempt = 0; ; attempt++) {
      let generation = generations.get(spec.name);
      if (generation === undefined) {
        const active = await activeOf(sql, spec.name);
        if (!active) return { rows: [], tenants: [], generation: 0, checkpoints: [], liveness: NEVER };
        generation = active.generation;
        generations.set(spec.name, generation);
      }
      const rows = rowsQuery(tableOf(spec.name, generation), 3);
      let r: { rows: Row[] };
      try {
        const text = `WITH p AS (SELECT active_generation, state, heartbeat_at FROM ${s}.projections WHERE name = $1),
           c AS (SELECT coalesce(json_agg(json_build_object('topic', topic, 'partition', partition,
                   'next_offset', next_offset::text, 'last_event_at', last_event_at,
                   'caught_up_at', caught_up_at) ORDER BY topic, partition), '[]'::json) AS checkpoints
                 FROM ${s}.checkpoints WHERE projection = $1 AND generation = $2),
           r AS (${rows.text})
           SELECT p.active_generation AS ${OWN}generation, p.state AS ${OWN}state,
                  p.heartbeat_at AS ${OWN}heartbeat_at, c.checkpoints AS ${OWN}checkpoints, r.*
           FROM p CROSS JOIN c LEFT JOIN r ON true ${rows.orderBy}`;
        r = await sql.query<Row>(text, [spec.name, generation, ...rows.params], statementName(text));
      } catch (error) {
        const code = (error as { code?: string }).code;
        // the assumed generation's table is gone (dropped after a switch): ask again
        if (code === '42P01' && attempt < 5) {
          generations.delete(spec.name);
          continue;
        }
        // a table made before rows had tenants, which no runner has prepared since: upgrade it
        if (code === '42703' && String((error as Error).message).includes(TENANT_COLUMN) && attempt < 5) {
          await sql.transaction(async (tx) => {
            await lockProjection(tx, spec.name);
            await upgradeTable(tx, spec, generation);
          });
          continue;
        }
        throw error;
      }
      const head = r.rows[0];
      if (!head) {
        generations.delete(spec.name);
        return { rows: [], tenants: [], generation: 0, checkpoints: [], liveness: NEVER };
      }
      if (head[`${OWN}generation`] !== generation) {
        if (attempt >= 5) throw new Unavailable(`the active generation of ${spec.name} kept changing`, 1);
        generations.set(spec.name, head[`${OWN}generation`] as number);
        continue;
      }
      const heartbeat = head[`${OWN}heartbeat_at`] as Date | string | null;
      const found = r.rows.filter((row) => row[spec.key] !== null && row[spec.key] !== undefined);
      return {
        // the tenant is the row's owner, not one of its columns: it is said apart
        rows: found.map((row) => {
          const own: Row = {};
          for (const [k, v] of Object.entries(row)) if (!k.startsWith(OWN)) own[k] = v;
          return plain(own);
        }),
        tenants: found.map((row) => row[TENANT_COLUMN] as string),
        generation,
        checkpoints: (head[`${OWN}checkpoints`] as CheckpointRow[]).map(toCheckpoint),
        liveness: {
          state: head[`${OWN}state`] as ProjectionState,
          heartbeatAt: heartbeat ? new Date(heartbeat).getTime() : null,
        },
      };
    }
  };

  return {
    beginRebuild: async (spec) => {
      await migrate();
      return sql.transaction(async (tx) => {
        await lockProjection(tx, spec.name);
        // A generation number is never given out twice: not the number of a rebuild given up either,
        // whose dead letters (and, after a crash before its drop, its checkpoints) carry it.
        const r = await tx.query<{
          active_generation: number;
          building_generation: number | null;
          alive: boolean;
          highest: number;
        }>(
          `SELECT active_generation, building_generation, building_at > now() - interval '30 seconds' AS alive,
             GREATEST(active_generation, building_generation,
               (SELECT max(generation) FROM ${s}.checkpoints WHERE projection = $1),
               (SELECT max(generation) FROM ${s}.dead_letters WHERE projection = $1)) AS highest
           FROM ${s}.projections WHERE name = $1`,
          [spec.name],
        );
        const p = r.rows[0];
        if (!p) throw new NotFound(`projection ${spec.name} has never run`);
        if (p.building_generation !== null && p.alive) {
          throw new Conflict(`a rebuild of ${spec.name} (generation ${p.building_generation}) is running`);
        }
        const generation = p.highest + 1;
        // a table of this number can only be one a rebuild given up left behind (nothing reads it): the
        // new generation starts empty, in the shape of this spec
        await tx.query(`DROP TABLE IF EXISTS ${tableOf(spec.name, generation)}`);
        await createTable(tx, spec, generation);
        await tx.query(
          `UPDATE ${s}.projections SET building_generation = $2, building_at = now() WHERE name = $1`,
          [spec.name, generation],
        );
        return generation;
      });
    },
    rebuildHeartbeat: async (name, generation) => {
      await sql.query(
        `UPDATE ${s}.projections SET building_at = now() WHERE name = $1 AND building_generation = $2`,
        [name, generation],
      );
    },
    switchGeneration: (name, generation) =>
      sql.transaction(async (tx) => {
        await lockProjection(tx, name);
        const r = await tx.query<{ previous: number }>(
          `UPDATE ${s}.projections p SET active_generation = $2, building_generation = NULL, building_at = NULL
           FROM (SELECT active_generation AS previous FROM ${s}.projections WHERE name = $1) old
           WHERE p.name = $1 AND p.building_generation = $2 RETURNING old.previous`,
          [name, generation],
        );
        if (!r.rows[0]) throw new Conflict(`generation ${generation} of ${name} is not being built`);
        await tx.query('SELECT pg_notify($1, $2)', [channel, name]);
        return r.rows[0].previous;
      }),
    abandonRebuild: async (name, generation) => {
      await sql.query(
        `UPDATE ${s}.projections SET building_generation = NULL, building_at = NULL
         WHERE name = $1 AND building_generation = $2`,
        [name, generation],
      );
    },
    dropGeneration: async (spec, generation) => {
      await sql.transaction(async (tx) => {
        await tx.query(`DROP TABLE IF EXISTS ${tableOf(spec.name, generation)}`);
        await tx.query(`DELETE FROM ${s}.checkpoints WHERE projection = $1 AND generation = $2`, [
          spec.name,
          generation,
        ]);
      });
    },
    prepare: async (spec, generation) => {
      await migrate();
      await sql.transaction(async (tx) => {
        await lockProjection(tx, spec.name);
        await createTable(tx, spec, generation);
        await tx.query(
          `INSERT INTO ${s}.projections (name, active_generation) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`,
          [spec.name, generation],
        );
      });
    },
    activeGeneration: async (name) => {
      await migrate();
      return activeGeneration(sql, name);
    },
    checkpoints: async (name, generation) => {
      await migrate();
      return checkpointsOf(sql, name, generation);
    },
    applyBatch: async (spec, generation, changes, advance) => {
      const plan = planChanges(spec, changes);
      // nothing to read first: one statement is its own transaction (rows, checkpoint and notification)
      const gate = checkpointGate(spec.name, generation, advance);
      if (plan.read.size === 0) return writeBatch(sql, spec, generation, plan, gate);
      await sql.transaction(async (tx) => {
        await readForIncrements(tx, spec, generation, changes, plan);
        // the checkpoint statement also queues the notification, delivered when the transaction commits
        await writeBatch(tx, spec, generation, plan, gate);
      });
    },
    setState: async (name, generation, state: ProjectionState, heartbeatAt) => {
      await sql.query(
        `UPDATE ${s}.projections SET state = $3, heartbeat_at = COALESCE($4, heartbeat_at)
         WHERE name = $1 AND active_generation = $2`,
        [name, generation, state, heartbeatAt === undefined ? null : new Date(heartbeatAt).toISOString()],
      );
    },
    recordDeadLetter: async (name, generation, letter, advance) => {
      await migrate();
      await sql.transaction(async (tx) => {
        if (advance) {
          await writeBatch(tx, NO_ROWS, generation, NOTHING, checkpointGate(name, generation, advance));
        } else await tx.query('SELECT pg_notify($1, $2)', [channel, name]);
        const p = letter.position;
        // at-least-once: the same event's letter recorded again (a redelivered batch) is one letter
        const inserted = await tx.query(
          `INSERT INTO ${s}.dead_letters (projection, generation, topic, partition, "offset", stream, version,
             event_id, type, kind, reason)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING RETURNING id`,
          [
            name,
            generation,
            p.topic,
            p.partition,
            p.offset.toString(),
            letter.stream,
            letter.version,
            letter.eventId,
            letter.type,
            letter.kind,
            letter.reason.slice(0, MAX_REASON),
          ],
        );
        await tx.query(
          `UPDATE ${s}.projections SET dead_lettered = dead_lettered + $5, last_error = $3,
             state = CASE WHEN $4 AND active_generation = $2 THEN 'halted' ELSE state END
           WHERE name = $1`,
          [name, generation, letter.reason.slice(0, MAX_REASON), advance === null, inserted.rows.length],
        );
      });
    },
    deadLetters: async (name, page) => {
      await migrate();
      const params: unknown[] = [name, page.limit];
      const where = [`projection = $1`];
      if (page.after !== undefined) where.push(`id > $${params.push(page.after)}`);
      if (page.state !== undefined) where.push(`state = $${params.push(page.state)}`);
      const r = await sql.query<DeadLetterRow>(
        `SELECT * FROM ${s}.dead_letters WHERE ${where.join(' AND ')} ORDER BY id LIMIT $2`,
        params,
      );
      return r.rows.map(toDeadLetter);
    },
    deadLetter: async (name, id) => {
      await migrate();
      const r = await sql.query<DeadLetterRow>(
        `SELECT * FROM ${s}.dead_letters WHERE projection = $1 AND id = $2`,
        [name, id],
      );
      return r.rows[0] ? toDeadLetter(r.rows[0]) : null;
    },
    resolveDeadLetter: async (spec, id, resolution, changes) => {
      await migrate();
      return sql.transaction(async (tx) => {
        await lockProjection(tx, spec.name);
        const found = await tx.query<DeadLetterRow & { active_generation: number; projection_state: string }>(
          `SELECT d.*, p.active_generation, p.state AS projection_state
           FROM ${s}.dead_letters d JOIN ${s}.projections p ON p.name = d.projection
           WHERE d.projection = $1 AND d.id = $2 FOR UPDATE OF d`,
          [spec.name, id],
        );
        const row = found.rows[0];
        if (!row) throw new NotFound(`projection ${spec.name} has no dead letter ${id}`);
        if (row.state !== 'pending') {
          throw new Conflict(`dead letter ${id} of ${spec.name} was ${row.state} already`);
        }
        if (row.generation !== row.active_generation) {
          throw new Conflict(
            `dead letter ${id} is of generation ${row.generation} of ${spec.name}; generation ${row.active_generation} is active`,
          );
        }
        const gate: Gate = {
          text: `UPDATE ${s}.dead_letters SET state = $3, resolved_at = now()
                 WHERE projection = $1 AND id = $2 AND state = 'pending' RETURNING 1`,
          params: [spec.name, id, resolution],
          fenced: () => new Conflict(`dead letter ${id} of ${spec.name} was resolved meanwhile`),
        };
        const plan = planChanges(spec, changes);
        if (plan.read.size) await readForIncrements(tx, spec, row.generation, changes, plan);
        await writeBatch(tx, spec, row.generation, plan, gate);
        // the event the projection halted on: its checkpoint stands at the event; it moves past it
        const next = (BigInt(row.offset) + 1n).toString();
        const moved = await tx.query(
          `INSERT INTO ${s}.checkpoints (projection, generation, topic, partition, next_offset)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (projection, generation, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset,
             updated_at = now()
           WHERE ${s}.checkpoints.next_offset = $6
           RETURNING pg_notify($7, $1)`,
          [spec.name, row.generation, row.topic, row.partition, next, row.offset, channel],
        );
        if (moved.rows.length && row.projection_state === 'halted') {
          await tx.query(`UPDATE ${s}.projections SET state = 'running', last_error = NULL WHERE name = $1`, [
            spec.name,
          ]);
        }
        const after = await tx.query<DeadLetterRow>(`SELECT * FROM ${s}.dead_letters WHERE id = $1`, [id]);
        return toDeadLetter(after.rows[0]!);
      });
    },
    deadLetterCounts: async () => {
      await migrate();
      const r = await sql.query<{
        projection: string;
        kind: DeadLetterKind;
        state: DeadLetterState;
        n: string;
      }>(
        `SELECT projection, kind, state, count(*) AS n FROM ${s}.dead_letters GROUP BY projection, kind, state`,
      );
      return r.rows.map((x) => ({
        projection: x.projection,
        kind: x.kind,
        state: x.state,
        count: Number(x.n),
      }));
    },
    status: async (name) => {
      await migrate();
      return snapshot(async (tx) => {
        const r = await tx.query<{
          active_generation: number;
          state: ProjectionState;
          heartbeat_at: Date | null;
          dead_lettered: string;
          last_error: string | null;
          building_generation: number | null;
        }>(
          `SELECT active_generation, state, heartbeat_at, dead_lettered, last_error, building_generation FROM ${s}.projections WHERE name = $1`,
          [name],
        );
        const p = r.rows[0];
        if (!p) return null;
        return {
          name,
          generation: p.active_generation,
          state: p.state,
          heartbeatAt: p.heartbeat_at ? new Date(p.heartbeat_at).getTime() : null,
          checkpoints: await checkpointsOf(tx, name, p.active_generation),
          deadLettered: Number(p.dead_lettered),
          lastError: p.last_error,
          building:
            p.building_generation === null
              ? null
              : {
                  generation: p.building_generation,
                  checkpoints: await checkpointsOf(tx, name, p.building_generation),
                },
        };
      });
    },
    get: async (spec, key, tenant) => {
      await migrate();
      // without a tenant (no principal confines the read): the default tenant's row, else the first
      // other tenant's by name
      const { rows, tenants, ...read } = await readActive(spec, (table, n) =>
        tenant === undefined
          ? {
              text: `SELECT * FROM ${table} WHERE ${q(spec.key)} = $${n}
                     ORDER BY ${TENANT} <> ${DEFAULT}, ${TENANT} LIMIT 1`,
              params: [key],
              orderBy: '',
            }
          : {
              text: `SELECT * FROM ${table} WHERE ${q(spec.key)} = $${n} AND ${TENANT} = $${n + 1}`,
              params: [key, tenant],
              orderBy: '',
            },
      );
      return { row: rows[0] ?? null, tenant: tenants[0] ?? null, ...read };
    },
    list: async (spec, query) => {
      await migrate();
      return readActive(spec, (table, n) => {
        const params: unknown[] = [];
        const param = (value: unknown) => `$${n + params.push(value) - 1}`;
        const where: string[] = [];
        const key = `${q(spec.key)} COLLATE "C"`;
        // a tenant's rows are in key order in the tenant index; every tenant's, in the primary key's
        if (query.tenant !== undefined) where.push(`${TENANT} = ${param(query.tenant)}`);
        for (const [column, value] of Object.entries(query.filters)) {
          where.push(`${q(column)}::text = ${param(value)}`);
        }
        if (query.afterKey !== null) {
          where.push(
            query.tenant === undefined
              ? `(${key}, ${TENANT} COLLATE "C") > (${param(query.afterKey)}, ${param(query.afterTenant ?? DEFAULT_TENANT)})`
              : `${key} > ${param(query.afterKey)}`,
          );
        }
        const limit = param(query.limit);
        return {
          text: `SELECT * FROM ${table} ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
                 ORDER BY ${key}, ${TENANT} COLLATE "C" LIMIT ${limit}`,
          params,
          orderBy: `ORDER BY r.${key}, r.${TENANT} COLLATE "C"`,
        };
      });
    },
    onCheckpoint: (listener) => sql.listen(channel, listener),
    ping: async () => {
      await sql.query('SELECT 1');
    },
    close: () => sql.close(),
  };
};
