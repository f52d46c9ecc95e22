// Postgres through the resilience layer (connectors/postgres/pg-sql.ts) on the real server: the
// timeouts logfront sets (connect, statement, idle in transaction) end what would hang, as 503
// dependency_unavailable (postgres); a connection that cannot be made is retried and counted; the
// breaker opens on repeated failures and refuses at once, and closes once Postgres answers again.
import { afterAll, describe, expect, it } from 'vitest';
import { createPgSql, postgresDown } from '../../connectors/postgres/pg-sql.ts';
import type { Sql } from '../../connectors/sql/sql.ts';
import { DependencyUnavailable } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import { CircuitOpen } from '../../core/resilience/breaker.ts';
import { createResilience } from '../../core/resilience/resilience.ts';
import { services } from '../support/services.ts';
import { createProxy, type ToxicProxy, throughProxy } from '../support/toxiproxy.ts';

const quiet = () => {};
const logger: Logger = { error: quiet, warn: quiet, info: quiet, debug: quiet };
const layer = (failureThreshold: number, openMs = 200) =>
  createResilience({ logger, isFailure: (_d, e) => postgresDown(e), failureThreshold, openMs });

const opened: Sql[] = [];
const proxies: ToxicProxy[] = [];
afterAll(async () => {
  for (const sql of opened) await sql.close().catch(() => {});
  for (const proxy of proxies) await proxy.remove().catch(() => {});
});
const url = () => services().LOGFRONT_DATABASE_URL!;
const open = (target: string, options: Parameters<typeof createPgSql>[1]) => {
  const sql = createPgSql(target, options);
  opened.push(sql);
  return sql;
};
const proxied = async () => {
  const proxy = await createProxy(new URL(url()).host);
  proxies.push(proxy);
  return proxy;
};
const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

describe('Postgres timeouts', () => {
  it('a statement longer than the statement timeout is cancelled: 503 postgres, counted by the breaker', async () => {
    const resilience = layer(2);
    const sql = open(url(), { resilience, statementTimeoutMs: 100 });
    const slow = () => failure(sql.query('SELECT pg_sleep(2)'));
    const first = await slow();
    expect(first).toBeInstanceOf(DependencyUnavailable);
    expect(first).toMatchObject({ dependency: 'postgres' });
    expect((first as Error).message).toContain('statement timeout');
    expect(resilience.breaker('postgres').state).toBe('closed');
    await slow();
    // two in a row: open, and the next query is refused without reaching Postgres
    expect(resilience.breaker('postgres').state).toBe('open');
    expect(await failure(sql.query('SELECT 1'))).toBeInstanceOf(CircuitOpen);
    await new Promise((r) => setTimeout(r, 250));
    expect((await sql.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    expect(resilience.breaker('postgres').state).toBe('closed');
  });

  it('a session idle in a transaction longer than its timeout is ended by Postgres: 503 postgres', async () => {
    const sql = open(url(), { resilience: layer(100), idleInTransactionTimeoutMs: 100 });
    const error = await failure(
      sql.transaction(async (tx) => {
        await tx.query('SELECT 1');
        await new Promise((r) => setTimeout(r, 600));
        await tx.query('SELECT 2');
      }),
    );
    expect(error).toBeInstanceOf(DependencyUnavailable);
    expect(error).toMatchObject({ dependency: 'postgres' });
    // the pool goes on with another connection
    expect((await sql.query<{ two: number }>('SELECT 2 AS two')).rows).toEqual([{ two: 2 }]);
  });

  it('a connection not made within the connect timeout fails as 503 postgres, after the retries', async () => {
    const proxy = await proxied();
    await proxy.toxic('timeout', { timeout: 0 }, 'upstream'); // nothing gets through, nothing answers
    const resilience = layer(100);
    const sql = open(throughProxy(url(), proxy), {
      resilience,
      connectTimeoutMs: 200,
    });
    const started = Date.now();
    const error = await failure(sql.query('SELECT 1'));
    expect(error).toBeInstanceOf(DependencyUnavailable);
    expect(error).toMatchObject({ dependency: 'postgres' });
    expect(resilience.retries()).toContainEqual(
      expect.objectContaining({ dependency: 'postgres', operation: 'query' }),
    );
    // bounded by the policy's budget (10 s), never hanging
    expect(Date.now() - started).toBeLessThan(15_000);
  }, 30_000);

  it('a wait for a free connection of a busy pool is not bounded by the connect timeout, nor a failure', async () => {
    const resilience = layer(1);
    const sql = open(url(), { resilience, max: 1, connectTimeoutMs: 100 });
    const holding = sql.query('SELECT pg_sleep(0.5)');
    // waits its turn past the connect timeout, and gets it
    expect((await sql.query('SELECT 1')).rowCount).toBe(1);
    await holding;
    expect(resilience.breaker('postgres').state).toBe('closed');
  });
});

describe('the breaker around Postgres', () => {
  it('connections refused are retried and open the breaker; once Postgres is back a trial closes it', async () => {
    const proxy = await proxied();
    const resilience = layer(3);
    const sql = open(throughProxy(url(), proxy), { resilience });
    expect((await sql.query('SELECT 1')).rowCount).toBe(1);
    await proxy.enabled(false);
    // the pooled connection is dropped: the statement sent on it fails, and is not sent again
    const dropped = await failure(sql.query('SELECT 1'));
    expect(dropped).toBeInstanceOf(DependencyUnavailable);
    expect(dropped).not.toBeInstanceOf(CircuitOpen);
    expect(resilience.retries()).toEqual([]);
    // new connections are refused: tried again by the policy; two more failures open the breaker, which
    // the next attempt meets
    const refused = await failure(sql.query('SELECT 1'));
    expect(refused).toBeInstanceOf(CircuitOpen);
    expect((refused as CircuitOpen).retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(resilience.retries()).toEqual([{ dependency: 'postgres', operation: 'query', count: 2 }]);
    expect(await failure(sql.transaction(async () => 1))).toBeInstanceOf(CircuitOpen);
    await proxy.enabled(true);
    await new Promise((r) => setTimeout(r, 250));
    expect(await sql.transaction(async (tx) => (await tx.query('SELECT 1')).rowCount)).toBe(1);
    expect(resilience.transitions().map((t) => `${t.from}>${t.to}`)).toEqual([
      'closed>open',
      'open>half_open',
      'half_open>closed',
    ]);
  });

  it('a statement whose outcome is unknown is not sent again, inside a transaction or not', async () => {
    const admin = open(url(), {});
    const resilience = layer(100);
    const sql = open(url(), { resilience, applicationName: 'logfront-resilience-test' });
    const terminate = () =>
      admin.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE application_name = 'logfront-resilience-test' AND pid <> pg_backend_pid()`,
      );
    let runs = 0;
    const error = await failure(
      sql.transaction(async (tx) => {
        runs++;
        await tx.query('SELECT 1');
        await terminate();
        await tx.query('SELECT 2');
      }),
    );
    expect(error).toMatchObject({ dependency: 'postgres' });
    expect(runs).toBe(1);
    const running = failure(sql.query('SELECT pg_sleep(5)'));
    await new Promise((r) => setTimeout(r, 300));
    await terminate();
    expect(await running).toMatchObject({ dependency: 'postgres' });
    expect(resilience.retries()).toEqual([]);
    expect((await sql.query('SELECT 1')).rowCount).toBe(1);
  });

  it('a statement Postgres refuses is its caller’s error: not retried, not counted, its connection kept', async () => {
    const resilience = layer(1);
    const sql = open(url(), { resilience, max: 1 });
    const refused = await failure(sql.query('SELECT no_such_column'));
    expect(refused).not.toBeInstanceOf(DependencyUnavailable);
    expect(refused).toMatchObject({ code: '42703' });
    expect(resilience.breaker('postgres').state).toBe('closed');
    const pid = async () => (await sql.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    const before = await pid();
    await failure(sql.query('SELECT 1/0'));
    expect(await pid()).toBe(before);
    expect(resilience.retries()).toEqual([]);
  });
});
