// LISTEN on Postgres (connectors/postgres/pg-sql.ts): a connection that drops is opened again and the
// listener hears of it; notifications flow again afterwards; unlisten stops it all.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgSql } from '../../connectors/postgres/pg-sql.ts';
import type { Sql } from '../../connectors/sql/sql.ts';
import { services, uniqueId, waitFor } from '../support/services.ts';
import { createProxy, throughProxy } from '../support/toxiproxy.ts';

describe('LISTEN on Postgres', () => {
  let sql: Sql;
  let admin: Sql;
  beforeAll(async () => {
    sql = createPgSql(services().LOGFRONT_DATABASE_URL!, { listenRetryMs: 20 });
    admin = createPgSql(services().LOGFRONT_DATABASE_URL!);
  });
  afterAll(async () => {
    await sql?.close();
    await admin?.close();
  });

  /** ends the backend of this channel's LISTEN, as a server restart or an operator would */
  const terminate = async (channel: string) => {
    const r = await admin.query<{ ended: boolean }>(
      `SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity
        WHERE application_name = 'logfront-listen' AND query = $1`,
      [`LISTEN "${channel}"`],
    );
    return r.rows.length;
  };

  it('a dropped LISTEN is opened again: the listener is told, and notifications flow again', async () => {
    const channel = `c${uniqueId()}`;
    const heard: string[] = [];
    const unlisten = await sql.listen(channel, (payload) => heard.push(payload));
    await admin.query(`SELECT pg_notify($1, 'before')`, [channel]);
    await waitFor(async () => heard.includes('before'), 10_000);
    expect(await terminate(channel)).toBe(1);
    // back: an empty payload says something may have changed unheard
    await waitFor(async () => heard.includes(''), 10_000);
    await admin.query(`SELECT pg_notify($1, 'after')`, [channel]);
    await waitFor(async () => heard.includes('after'), 10_000);
    await unlisten();
    // stopped: nothing listens on the channel any more, and nothing opens it again
    await new Promise((r) => setTimeout(r, 200));
    expect(await terminate(channel)).toBe(0);
  });

  it('while Postgres stays away, reopening is tried again and again until it is back; unlisten meanwhile stops it', async () => {
    const url = services().LOGFRONT_DATABASE_URL!;
    const proxy = await createProxy(new URL(url).host);
    const viaProxy = createPgSql(throughProxy(url, proxy), { listenRetryMs: 20 });
    try {
      const channel = `c${uniqueId()}`;
      const heard: string[] = [];
      await viaProxy.listen(channel, (payload) => heard.push(payload));
      await proxy.enabled(false); // the connection drops, and new ones are refused for a while
      await new Promise((r) => setTimeout(r, 300)); // several refused attempts, each waiting longer
      expect(heard).toEqual([]);
      await proxy.enabled(true);
      await waitFor(async () => heard.includes(''), 10_000);
      await admin.query(`SELECT pg_notify($1, 'back')`, [channel]);
      await waitFor(async () => heard.includes('back'), 10_000);
      // down again, and unlistened while it is: no attempt opens it after that
      const other = `c${uniqueId()}`;
      const unlisten = await viaProxy.listen(other, () => {});
      await proxy.enabled(false);
      await unlisten();
      await proxy.enabled(true);
      await new Promise((r) => setTimeout(r, 300));
      expect(await terminate(other)).toBe(0);
    } finally {
      await viaProxy.close();
      await proxy.remove();
    }
  });

  it('the first LISTEN that cannot be opened is the caller’s error', async () => {
    const down = createPgSql('postgres://logfront:logfront@127.0.0.1:1/logfront');
    await expect(down.listen('c', () => {})).rejects.toThrow();
    await down.close();
  });
});
