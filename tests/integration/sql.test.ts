import { createPgliteSql } from '../../connectors/embedded/pglite-sql.ts';
import { createPgSql } from '../../connectors/postgres/pg-sql.ts';
import { sqlContract } from '../contract/sql.features.ts';
import { services } from '../support/services.ts';

sqlContract('pg on PostgreSQL', async () => createPgSql(services().LOGFRONT_DATABASE_URL));
sqlContract('PGlite', () => createPgliteSql());
