// A subscription to every category of the log (core/log/all-categories.ts), which the stream index
// and the archive sink read through: a category that appears later joins it (again at the next look
// when the resubscription failed), and once stopped it leaves nothing reading, whenever the stop comes
// (while it starts, while it takes a new category in).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../app/logger.ts';
import { createTableEventLog } from '../../connectors/embedded/log.ts';
import { createPgliteSql } from '../../connectors/embedded/pglite-sql.ts';
import type { Sql } from '../../connectors/sql/sql.ts';
import { subscribeToAllCategories } from '../../core/log/all-categories.ts';
import { createCatalog } from '../../core/log/event-types.ts';
import type { EventLog } from '../../core/ports.ts';
import type { StreamId } from '../../core/types.ts';
import { orderEventTypes } from '../../sample/order-events.ts';
import { orderShipped } from '../support/orders.ts';
import { uniqueId, waitFor } from '../support/services.ts';

/**
 * The log, whose next subscription (once `holdNext` is called) is made and then held until released:
 * a stop can then come while a subscription is being made, at a known moment.
 */
const withHeldSubscribe = (log: EventLog) => {
  let held: { entered: () => void; released: Promise<void> } | undefined;
  return {
    log: {
      ...log,
      subscribe: async (options) => {
        const made = await log.subscribe(options);
        const h = held;
        held = undefined;
        if (h) {
          h.entered();
          await h.released;
        }
        return made;
      },
    } satisfies EventLog,
    /** holds the next subscription; `entered` resolves once it is made and held */
    holdNext: () => {
      let entered = () => {};
      let release = () => {};
      const hold = {
        entered: new Promise<void>((r) => {
          entered = r;
        }),
        released: new Promise<void>((r) => {
          release = r;
        }),
      };
      held = { entered, released: hold.released };
      return { entered: hold.entered, release };
    },
  };
};

describe('a subscription to every category (embedded log)', () => {
  let sql: Sql;
  let log: EventLog;
  const catalog = createCatalog(orderEventTypes, 'cats');
  const append = (stream: string) =>
    log.append(stream as StreamId, catalog.prepare([orderShipped(stream)]), 'any');

  beforeAll(async () => {
    sql = await createPgliteSql();
    log = createTableEventLog(sql, { schema: 'cats', topicPrefix: 'cats', pollMs: 20 });
    await append(`alpha-${uniqueId()}`);
  });
  afterAll(async () => {
    await sql?.close();
  });

  /** a subscriber over `over` that records the streams of the events it is handed */
  const subscriber = (over: EventLog) => {
    const seen: string[] = [];
    let subscriptions = 0;
    const all = subscribeToAllCategories({
      log: over,
      intervalMs: 10,
      logger: createLogger('silent'),
      name: 'test',
      onSubscribe: () => {
        subscriptions += 1;
      },
      options: {
        groupId: `g${uniqueId()}`,
        startAt: async () => undefined,
        onBatch: async (batch) => {
          for (const e of batch.events) seen.push(e.stream);
        },
      },
    });
    return { all, seen, subscriptions: () => subscriptions };
  };

  /** appends one event to a new category and one to alpha; resolves once `control` has both */
  const appendSeenBy = async (control: ReturnType<typeof subscriber>) => {
    const streams = [`c${uniqueId()}-1`, `alpha-${uniqueId()}`];
    for (const s of streams) await append(s);
    await waitFor(async () => streams.every((s) => control.seen.includes(s)), 10_000);
    return streams;
  };

  it('stop before start does nothing; start twice subscribes once; a category that appears later joins', async () => {
    const s = subscriber(log);
    await s.all.stop();
    await s.all.start();
    await s.all.start();
    expect(s.subscriptions()).toBe(1);
    const [later] = await appendSeenBy(s);
    expect(s.seen).toContain(later);
    expect(s.subscriptions()).toBe(2);
    await s.all.stop();
  });

  it('a resubscription that fails is tried again at the next look, and the new category is read', async () => {
    let failNext = false;
    const flaky: EventLog = {
      ...log,
      subscribe: async (options) => {
        if (failNext) {
          failNext = false;
          throw new Error('the log is away');
        }
        return log.subscribe(options);
      },
    };
    const s = subscriber(flaky);
    await s.all.start();
    failNext = true;
    const [later] = await appendSeenBy(s);
    expect(s.seen).toContain(later);
    // the start, the attempt that failed, the one after it
    expect(s.subscriptions()).toBe(3);
    await s.all.stop();
  });

  it('a start that fails may be tried again, and then reads', async () => {
    let failNext = true;
    const flaky: EventLog = {
      ...log,
      subscribe: async (options) => {
        if (failNext) {
          failNext = false;
          throw new Error('the log is away');
        }
        return log.subscribe(options);
      },
    };
    const s = subscriber(flaky);
    await expect(s.all.start()).rejects.toThrow('the log is away');
    await s.all.start();
    expect(s.subscriptions()).toBe(2);
    const [later] = await appendSeenBy(s);
    expect(s.seen).toContain(later);
    await s.all.stop();
  });

  it('stopped while it takes a new category in, it leaves no subscription reading', async () => {
    const control = subscriber(log);
    await control.all.start();
    const held = withHeldSubscribe(log);
    const s = subscriber(held.log);
    await s.all.start();
    const hold = held.holdNext();
    await appendSeenBy(control); // a new category: s makes a new subscription, which is held
    await hold.entered;
    const stopped = s.all.stop();
    hold.release();
    await stopped;
    const after = s.seen.length;
    await appendSeenBy(control);
    expect(s.seen.slice(after)).toEqual([]);
    expect(s.subscriptions()).toBe(2);
    await control.all.stop();
  });

  it('stopped while it starts, it leaves no subscription reading and looks for no category', async () => {
    const control = subscriber(log);
    await control.all.start();
    const held = withHeldSubscribe(log);
    const s = subscriber(held.log);
    const hold = held.holdNext();
    const started = s.all.start();
    await hold.entered;
    const stopped = s.all.stop();
    hold.release();
    await Promise.all([started, stopped]);
    const after = s.seen.length;
    await appendSeenBy(control);
    await appendSeenBy(control);
    expect(s.seen.slice(after)).toEqual([]);
    expect(s.subscriptions()).toBe(1);
    await control.all.stop();
  });
});
