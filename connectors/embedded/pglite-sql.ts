import { PGlite } from '@electric-sql/pglite';
import { beginStatement, type Sql, type SqlQueryable } from '../postgres/sql.ts';

const INT8 = 20;

/** PGlite (Postgres in WASM) behind the same Sql interface as pg. One instance per process. */
export const createPgliteSql = async (dataDir?: string): Promise<Sql> => {
  const db = await PGlite.create(dataDir, { parsers: { [INT8]: (v: string) => v } });
  const run =
    (q: Pick<PGlite, 'query'>) =>
    async <R>(text: string, params?: readonly unknown[]) => {
      const r = await q.query<R>(text, params as unknown[]);
      return { rows: r.rows, rowCount: r.affectedRows || r.rows.length };
    };
  return {
    query: run(db),
    transaction: (fn, options) =>
      db.transaction(async (tx) => {
        // PGlite has one session: BEGIN is issued for us; set the level as the first statement
        if (options?.isolation || options?.readOnly) {
          await tx.query(beginStatement(options).replace(/^BEGIN/, 'SET TRANSACTION'));
        }
        return fn({ query: run(tx) } satisfies SqlQueryable);
      }),
    listen: async (channel, onPayload) => {
      const unlisten = await db.listen(channel, onPayload);
      return async () => {
        await unlisten();
      };
    },
    close: () => db.close(),
  };
};
