// The stream index's Postgres store on its own: what it answers, and how it refuses.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgSql } from '../../connectors/postgres/pg-sql.ts';
import { createPostgresStreamIndex } from '../../connectors/postgres/stream-index.ts';
import type { Sql } from '../../connectors/sql/sql.ts';
import { CheckpointFenced } from '../../core/errors.ts';
import { uuidv7 } from '../../core/log/ids.ts';
import type { IndexedEvent, StreamIndex } from '../../core/ports.ts';
import type { EventId, StreamId } from '../../core/types.ts';
import { services, uniqueId } from '../support/services.ts';

const event = (stream: string, version: number, offset: bigint): IndexedEvent => ({
  stream: stream as StreamId,
  version,
  id: uuidv7() as EventId,
  topic: 't.events.order',
  partition: 0,
  offset,
});

describe('the stream index in Postgres', () => {
  let sql: Sql;
  let index: StreamIndex;
  beforeAll(() => {
    sql = createPgSql(services().LOGFRONT_DATABASE_URL);
    index = createPostgresStreamIndex(sql, `t_${uniqueId()}`);
  });
  afterAll(async () => sql?.close());

  it('a batch moves the checkpoint only from where the caller saw it', async () => {
    const a = event('order-a', 1, 0n);
    await index.apply('t.events.order', 0, [a], { from: null, to: 1n });
    await expect(
      index.apply('t.events.order', 0, [event('order-a', 2, 1n)], { from: null, to: 2n }),
    ).rejects.toBeInstanceOf(CheckpointFenced);
    await expect(
      index.apply('t.events.order', 0, [event('order-a', 2, 1n)], { from: 5n, to: 6n }),
    ).rejects.toThrow(/no longer at 5/);
    // the refused batches wrote nothing
    expect((await index.lookup([{ stream: 'order-a' as StreamId, ids: [] }])).get('order-a')?.version).toBe(
      1,
    );
    await index.apply('t.events.order', 0, [event('order-a', 2, 1n)], { from: 1n, to: 2n });
    expect(await index.checkpoint('t.events.order', 0)).toBe(2n);
    expect(await index.checkpoint('t.events.order', 1)).toBeUndefined();
  });

  it('a record indexed twice keeps the first row; heads, ids and positions read back', async () => {
    const first = { ...event('order-b', 1, 10n), partition: 3 };
    await index.apply('t.events.order', 3, [first, { ...first, offset: 11n }], { from: null, to: 12n });
    const found = await index.lookup([
      { stream: 'order-b' as StreamId, ids: [first.id, uuidv7()] },
      { stream: 'order-none' as StreamId, ids: [] },
    ]);
    expect(found.get('order-b')).toEqual({ version: 1, ids: new Map([[first.id, [1, 10n]]]) });
    expect(found.get('order-none')).toEqual({ version: 0, ids: new Map() });
    expect(await index.lookup([])).toEqual(new Map());
    const read = await index.positions('order-b' as StreamId, 't.events.order', 3, 1, 10);
    expect(read).toEqual({ events: [first], checkpoint: 12n });
    expect(await index.checkpoints()).toContainEqual({
      topic: 't.events.order',
      partition: 3,
      nextOffset: 12n,
    });
    await expect(index.ping()).resolves.toBeUndefined();
  });

  it('a database that does not answer is an error, and a later call tries again', async () => {
    const down = createPgSql('postgres://logfront:logfront@127.0.0.1:9/logfront');
    const unreachable = createPostgresStreamIndex(down, `t_${uniqueId()}`);
    await expect(unreachable.checkpoint('t', 0)).rejects.toThrow();
    await expect(unreachable.checkpoint('t', 0)).rejects.toThrow();
    await down.close();
  });
});
