import { PGlite } from '@electric-sql/pglite';
import { beginStatement, type Sql, type SqlQueryable } from '../sql/sql.ts';

const INT8 = 20;
const TIMESTAMPTZ = 1184;

const TIMESTAMP =
  /^(\d{4,})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?([+-]\d\d)(?::?(\d\d))?(?::?(\d\d))?( BC)?$/;

/**
 * A timestamptz as Postgres writes it (ISO DateStyle), as a Date. PGlite's own parser gives the years
 * 1–99 to JS's two-digit rule (year 1 reads as 1901 or 2001); this one keeps every year Postgres keeps.
 */
export const parseTimestamptz = (text: string): Date | string => {
  const m = TIMESTAMP.exec(text);
  if (!m) return text === 'infinity' ? new Date(8.64e15) : text === '-infinity' ? new Date(-8.64e15) : text;
  const [, y, mo, d, h, mi, sec, frac = '0', oh, om = '0', os = '0', bc] = m;
  const year = bc ? 1 - Number(y) : Number(y);
  const date = new Date(Date.UTC(2000, Number(mo) - 1, Number(d), Number(h), Number(mi), Number(sec)));
  date.setUTCFullYear(year);
  const sign = oh!.startsWith('-') ? -1 : 1;
  const offsetMs = sign * (Math.abs(Number(oh)) * 3600 + Number(om) * 60 + Number(os)) * 1000;
  return new Date(date.getTime() - offsetMs + Math.floor(Number(`0.${frac}`) * 1000));
};

/** PGlite (Postgres in WASM) behind the same Sql interface as pg. One instance per process. */
export const createPgliteSql = async (dataDir?: string): Promise<Sql> => {
  const db = await PGlite.create(dataDir, {
    parsers: { [INT8]: (v: string) => v, [TIMESTAMPTZ]: parseTimestamptz },
  });
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
