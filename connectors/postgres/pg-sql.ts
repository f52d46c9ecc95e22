// The pg driver behind the Sql seam (connectors/sql/sql.ts): a pool on a Postgres server. Loading this
// module loads pg and sets pg's global int8 parser; only the services mode does.
import type { ConnectionOptions } from 'node:tls';
import pg from 'pg';
import { DependencyUnavailable, isLogfrontError } from '../../core/errors.ts';
import type { Resilience } from '../../core/resilience/resilience.ts';
import { backoffMs, type RetryPolicy } from '../../core/resilience/retry.ts';
import { standaloneResilience } from '../../core/resilience/standalone.ts';
import { beginStatement, quoteIdent, type Sql } from '../sql/sql.ts';

/**
 * SQLSTATEs of a server that cannot serve now: a connection exception, shutting down, starting up,
 * full; or too slow: a statement cancelled (statement_timeout), a session ended idle in a transaction
 */
const UNAVAILABLE_STATE = /^(08...|57P0[1-3]|53300|57014|25P03)$/;
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
/** what pg says when it loses a connection or cannot get one (`timeout expired`: its connect timeout) */
const CONNECTION_LOST =
  /^(Connection terminated|timeout expired|timeout exceeded when trying to connect|Client has encountered a connection error|Query read timeout)/;

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

/** what a checked-out connection's error event meets: the error reaches its next statement instead */
const heard = () => {};

/** whether an error says Postgres failed (down, unreachable, too slow): what its breaker counts */
export const postgresDown = (error: unknown): boolean =>
  error instanceof DependencyUnavailable
    ? error.dependency === 'postgres'
    : postgresFailure(error) instanceof DependencyUnavailable;

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
    /** the first wait before a dropped LISTEN is opened again (the retry policy's, doubling to 30 s) */
    listenRetryMs?: number;
    /** the process's breaker and retries (app/compose.ts); absent: a layer of its own */
    resilience?: Resilience | undefined;
    /** a connection not made within this fails (ms, default 5000; 0: no limit) */
    connectTimeoutMs?: number;
    /** the server cancels a statement that runs longer (ms, statement_timeout; 0: the server's setting) */
    statementTimeoutMs?: number;
    /** the server ends a session idle in a transaction this long (ms; 0: the server's setting) */
    idleInTransactionTimeoutMs?: number;
  } = {},
): Sql => {
  const ssl = pgSsl(options.tls);
  const connectionTimeoutMillis = options.connectTimeoutMs ?? 5000;
  const pool = new pg.Pool({
    connectionString,
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'logfront',
    // The connect timeout is each connection's own, not the pool's: the pool's would also end a wait
    // for a free connection (a busy pool, not a Postgres failure), which the breaker would count.
    Client: class extends pg.Client {
      constructor(config?: pg.ClientConfig) {
        super({ ...config, connectionTimeoutMillis });
      }
    },
    // pg sends these as startup parameters of every connection; 0 (undefined to pg) sends none
    statement_timeout: options.statementTimeoutMs || undefined,
    idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs || undefined,
    ...ssl,
  });
  // an idle client that errors (server restart) must not crash the process; the pool drops it
  pool.on('error', () => {});
  const resilience = options.resilience ?? standaloneResilience(postgresDown);
  /** failures to get a connection: nothing was sent on it, so trying again is safe */
  const unsent = new WeakSet<object>();
  const checkout = async () => {
    const client = await pool.connect().catch((error: unknown) => {
      const failure = postgresFailure(error) as object;
      unsent.add(failure);
      throw failure;
    });
    // an error the connection meets while checked out (Postgres ended the session: idle in a
    // transaction too long, terminated, shutting down) is its next statement's; unheard, the client's
    // 'error' event would end the process
    client.on('error', heard);
    return client;
  };
  const release = (client: pg.PoolClient, lost?: Error | boolean) => {
    client.removeListener('error', heard);
    client.release(lost);
  };
  // Each query and transaction goes through the postgres breaker (an open one refuses at once: 503
  // dependency_unavailable, Retry-After) and the retry policy, which tries again only a connection that
  // could not be made: a statement is sent once, never again, since its outcome is unknown once it was.
  const guarded = <T>(operation: string, attempt: () => Promise<T>) =>
    resilience.run('postgres', operation, attempt, {
      retryable: (error) => unsent.has(error as object) && postgresDown(error),
    });
  /** how to stop each LISTEN: its connection, and its reconnecting */
  const listeners = new Set<() => Promise<void>>();
  return {
    query: <R>(text: string, params?: readonly unknown[], name?: string) =>
      guarded('query', async () => {
        const client = await checkout();
        // a connection that failed is not given back to the pool; one a statement failed on is reusable
        let lost: Error | undefined;
        try {
          const r = await client
            .query(name ? { name, text, values: params as unknown[] } : { text, values: params as unknown[] })
            .catch(rethrow);
          return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
        } catch (error) {
          if (postgresDown(error)) lost = error as Error;
          throw error;
        } finally {
          release(client, lost);
        }
      }),
    transaction: (fn, txOptions) =>
      guarded('transaction', async () => {
        const client = await checkout();
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
          release(client, broken);
        }
      }),
    // A LISTEN connection that drops (a server restart, a terminated backend) is opened again, with the
    // retry policy's back-off (full jitter, doubling to 30 s), each attempt counted as a retry of
    // postgres `listen`, until unlisten; once it is back the listener is told (an empty payload:
    // something may have changed meanwhile, unnoticed). Only the first connection's failure reaches the
    // caller.
    listen: async (channel, onPayload) => {
      const policy: RetryPolicy = {
        baseMs: options.listenRetryMs ?? 500,
        maxDelayMs: 30_000,
        maxAttempts: Number.POSITIVE_INFINITY,
        budgetMs: Number.POSITIVE_INFINITY,
      };
      let stopped = false;
      let current: pg.Client | undefined;
      let retry: NodeJS.Timeout | undefined;
      const open = async () => {
        const client = new pg.Client({
          connectionString,
          application_name: 'logfront-listen',
          connectionTimeoutMillis,
          ...ssl,
        });
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
        client.once('end', () => reopen(1, new Error(`the LISTEN connection of ${channel} ended`)));
        current = client;
        return client;
      };
      // stop clears the timer: a callback that runs was not stopped before it began
      const reopen = (attempt: number, error: unknown) => {
        const delayMs = backoffMs(policy, attempt, Math.random());
        resilience.retried({ dependency: 'postgres', operation: 'listen', attempt, delayMs, error });
        retry = setTimeout(async () => {
          try {
            const client = await open();
            // stopped while it opened: this connection is not wanted either
            if (stopped) await stopListening(client);
            else onPayload('');
          } catch (failure) {
            reopen(attempt + 1, failure);
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
