// The projection store (connectors/postgres) through its contract suite, on both engines it runs on:
// a PostgreSQL server over pg (the services mode) and PGlite in memory (the embedded default).
import { createPgliteSql } from '../../connectors/embedded/pglite-sql.ts';
import { createPgSql } from '../../connectors/postgres/pg-sql.ts';
import { createPostgresProjectionStore } from '../../connectors/postgres/projection-store.ts';
import { quoteIdent, type Sql } from '../../connectors/sql/sql.ts';
import type { ProjectionStore } from '../../core/ports.ts';
import {
  type ProjectionStoreFixture,
  projectionStoreContract,
} from '../contract/projection-store.features.ts';
import { services, uniqueId } from '../support/services.ts';

/** what waiting past the liveness window of a rebuild does, without the wait */
const quiet = (sql: Sql, schema: string) => async (name: string) => {
  await sql.query(
    `UPDATE ${quoteIdent(schema)}.projections SET building_at = building_at - interval '1 minute' WHERE name = $1`,
    [name],
  );
};

projectionStoreContract('PostgreSQL (pg)', async (): Promise<ProjectionStoreFixture> => {
  const url = services().LOGFRONT_DATABASE_URL;
  const schema = `t_${uniqueId()}`;
  const sql = createPgSql(url);
  const others: ProjectionStore[] = [];
  return {
    store: createPostgresProjectionStore(sql, schema),
    another: async () => {
      const other = createPostgresProjectionStore(createPgSql(url, { max: 2 }), schema);
      others.push(other);
      return other;
    },
    letRebuildGoQuiet: quiet(sql, schema),
    close: async () => {
      await Promise.all(others.map((o) => o.close()));
      await sql.query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`);
      await sql.close();
    },
  };
});

projectionStoreContract('PGlite (embedded)', async (): Promise<ProjectionStoreFixture> => {
  // one PGlite per process: another store over it is what another runner in the process would open
  const sql = await createPgliteSql();
  const schema = `t_${uniqueId()}`;
  return {
    store: createPostgresProjectionStore(sql, schema),
    another: async () => createPostgresProjectionStore(sql, schema),
    letRebuildGoQuiet: quiet(sql, schema),
    close: () => sql.close(),
  };
});
