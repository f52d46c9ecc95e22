// The pg driver behind the Sql seam (connectors/sql/sql.ts): a pool on a Postgres server. Loading this
// module loads pg and sets pg's global int8 parser; only the services mode does.
import type { ConnectionOptions } from 'node:tls';
import pg from 'pg';
import { DependencyUnavailable, isLogfrontError } from '../../core/errors.ts';
import { beginStatement, quoteIdent, type Sql } from '../sql/sql.ts';

/** SQLSTATEs of a server that cannot serve now: a connection exception, shutting down, starting up, full */
const UNAVAILABLE_STATE = /^(08...|57P0[1-3]|53300)$/;
/** a connection that could not be made or was lost */
const NETWORK = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);
/** what pg says when it loses a connection or cannot get one */
const CONNECTION_LOST =
  /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Query read timeout)/;

/**
 * A failure that says Postgres is down or unreachable, as DependencyUnavailable; any other (a refused
 * statement, a constraint, logfront's own error) as it is.
 */
export const postgresFailure = (error: unknown): unknown => {
  if (isLogfrontError(error)) return error;
  const { code, message } = error as { code?: unknown; message?: unknown };
  const text = typeof message === 'string' ? message : String(error);
  const down =
    (typeof code === 'string' && (NETWORK.has(code) || UNAVAILABLE_STATE.test(code))) ||
    CONNECTION_LOST.test(text);
  return down ? new DependencyUnavailable('postgres', text, { cause: error }) : error;
};

const rethrow = (error: unknown): never => {
  throw postgresFailure(error);
};

// int8 stays a string (offsets pass 2^53); numeric types the store declares are int4/float8.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => v);

/** TLS to the server; absent: what the connection string says (its sslmode), plain TCP without one */
export type PgTls = Pick<ConnectionOptions, 'ca' | 'cert' | 'key' | 'rejectUnauthorized'>;

/** pg's `ssl` option of the settings; none leaves it to the connection string */
export const pgSsl = (tls: PgTls | undefined): Pick<pg.ClientConfig, 'ssl'> =>
  tls ? { ssl: { ...tls } } : {};

export const createPgSql = (
  connectionString: string,
  options: {
    max?: number;
    applicationName?: string;
    tls?: PgTls | undefined;
    /** the first wait before a dropped LISTEN is opened again (doubling, at most 30 s) */
    listenRetryMs?: number;
  } = {},
): Sql => {
  const ssl = pgSsl(options.tls);
  const pool = new pg.Pool({
    connectionString,
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'logfront',
    ...ssl,
  });
  // an idle client that errors (server restart) must not crash the process; the pool drops it
  pool.on('error', () => {});
  /** how to stop each LISTEN: its connection, and its reconnecting */
  const listeners = new Set<() => Promise<void>>();
  return {
    query: async <R>(text: string, params?: readonly unknown[], name?: string) => {
      const r = await pool
        .query(name ? { name, text, values: params as unknown[] } : { text, values: params as unknown[] })
        .catch(rethrow);
      return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
    },
    transaction: async (fn, txOptions) => {
      const client = await pool.connect().catch(rethrow);
      let broken = false;
      try {
        await client.query(beginStatement(txOptions));
        const result = await fn({
          query: async <R>(text: string, params?: readonly unknown[], name?: string) => {
            const r = await client.query(
              name ? { name, text, values: params as unknown[] } : { text, values: params as unknown[] },
            );
            return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
          },
        });
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {
          broken = true;
        });
        return rethrow(error);
      } finally {
        client.release(broken);
      }
    },
    // A LISTEN connection that drops (a server restart, a terminated backend) is opened again, with a
    // back-off, until unlisten; once it is back the listener is told (an empty payload: something may
    // have changed meanwhile, unnoticed). Only the first connection's failure reaches the caller.
    listen: async (channel, onPayload) => {
      const firstRetryMs = options.listenRetryMs ?? 500;
      let stopped = false;
      let current: pg.Client | undefined;
      let retry: NodeJS.Timeout | undefined;
      const open = async () => {
        const client = new pg.Client({ connectionString, application_name: 'logfront-listen', ...ssl });
        client.on('error', () => {});
        // the connection listens on this one channel
        client.on('notification', (n) => onPayload(n.payload ?? ''));
        try {
          await client.connect();
          await client.query(`LISTEN ${quoteIdent(channel)}`);
        } catch (error) {
          await client.end().catch(() => {});
          throw error;
        }
        // an end nobody asked for (stop takes this listener off before it ends the connection)
        client.once('end', () => reopen(firstRetryMs));
        current = client;
        return client;
      };
      // stop clears the timer: a callback that runs was not stopped before it began
      const reopen = (delayMs: number) => {
        retry = setTimeout(async () => {
          try {
            const client = await open();
            // stopped while it opened: this connection is not wanted either
            if (stopped) await stopListening(client);
            else onPayload('');
          } catch {
            reopen(Math.min(delayMs * 2, 30_000));
          }
        }, delayMs);
        retry.unref();
      };
      const stopListening = async (client: pg.Client | undefined) => {
        client?.removeAllListeners('end');
        await client?.end().catch(() => {});
      };
      await open().catch(rethrow);
      const stop = async () => {
        stopped = true;
        clearTimeout(retry);
        listeners.delete(stop);
        await stopListening(current);
      };
      listeners.add(stop);
      return stop;
    },
    close: async () => {
      await Promise.all([...listeners].map((stop) => stop()));
      await pool.end();
    },
  };
};
