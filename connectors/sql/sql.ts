// The SQL seam between logfront's SQL adapters (connectors/postgres: projections, stream index, blob
// index, data keys; connectors/embedded: the table log) and the two drivers that speak Postgres: pg, a
// server (connectors/postgres/pg-sql.ts), and PGlite, in WASM (connectors/embedded/pglite-sql.ts).
// Neutral: it loads no driver, so any connector folder may import it (biome.json's layering rule) and
// the embedded mode loads it without pg. Not a port in core/: the domain never speaks SQL, adapters do,
// and the helpers below are Postgres dialect (advisory locks, BEGIN ISOLATION LEVEL).
import { createHash } from 'node:crypto';

// A minimal SQL client both pg (a server) and PGlite (embedded) satisfy.
export interface SqlResult<R> {
  rows: R[];
  rowCount: number;
}

export interface SqlQueryable {
  /**
   * `name`: a statement run often, prepared once per connection by that name (pg); the text of a name
   * must never change
   */
  query<R = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
    name?: string,
  ): Promise<SqlResult<R>>;
}

export interface TransactionOptions {
  isolation?: 'read committed' | 'repeatable read' | 'serializable';
  readOnly?: boolean;
}

export interface Sql extends SqlQueryable {
  transaction<T>(fn: (tx: SqlQueryable) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /** LISTEN on a channel; resolves to the unlisten */
  listen(channel: string, onPayload: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

const names = new Map<string, string>();
/**
 * the name of a statement run often, from its text: Postgres parses and plans it once per connection
 * (a text logfront builds from a bounded set of shapes, so the names stay few)
 */
export const statementName = (text: string) => {
  let name = names.get(text);
  if (!name) {
    name = `lf_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`;
    if (names.size < 10_000) names.set(text, name);
  }
  return name;
};

export const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

/**
 * A schema's migration: `steps` run once per process, in one transaction under the schema's advisory
 * lock, after the schema is made; a failure is tried again by the next call.
 */
export const schemaMigration = (
  sql: Sql,
  schema: string,
  steps: (tx: SqlQueryable, quoted: string) => Promise<void>,
) => {
  let done: Promise<void> | undefined;
  return () =>
    (done ??= sql
      .transaction(async (tx) => {
        await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`logfront:${schema}`]);
        await tx.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
        await steps(tx, quoteIdent(schema));
      })
      .catch((error) => {
        done = undefined;
        throw error;
      }));
};

export const beginStatement = (options: TransactionOptions = {}) =>
  `BEGIN ISOLATION LEVEL ${(options.isolation ?? 'read committed').toUpperCase()}${options.readOnly ? ' READ ONLY' : ''}`;
