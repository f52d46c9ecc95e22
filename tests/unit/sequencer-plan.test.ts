// The partition sequencer's decisions without Kafka: its window of streams, the plan of a batch of
// appends (repeats, conflicts, expected versions), batching, the bound of the queue, deadlines and the
// retry policy.
import { describe, expect, it } from 'vitest';
import {
  APPEND_RETRY_POLICY,
  appendBytes,
  batchSize,
  createStreamWindow,
  deadlinesOf,
  type PlannedAppend,
  planBatch,
  queueRefusal,
  recordOverhead,
  resultOf,
  type StreamWindow,
  TRANSACTION_RETRY,
  tooLarge,
} from '../../connectors/kafka/sequencer-plan.ts';
import { Conflict, VersionConflict } from '../../core/errors.ts';
import type { IndexedStream } from '../../core/ports.ts';
import { schedule } from '../../core/resilience/retry.ts';
import type { EventId, ExpectedVersion, PreparedEvent, StreamId } from '../../core/types.ts';

const event = (id: string, fresh = false): PreparedEvent => ({
  id: id as EventId,
  type: 'OrderPlaced',
  data: {},
  metadata: {},
  ...(fresh ? { freshId: true as const } : {}),
});
const append = (stream: string, expected: ExpectedVersion, ...ids: string[]): PlannedAppend => ({
  stream: stream as StreamId,
  expected,
  events: ids.map((id) => event(id)),
});
/** a window that has seen these events of the log: [stream, version, id, offset] */
const windowOf = (...events: [string, number, string, bigint][]) => {
  const window = createStreamWindow();
  for (const [stream, version, id, offset] of events) window.remember(stream, version, id, offset);
  return window;
};
const idsOf = (window: StreamWindow, stream: string) => [...(window.get(stream)?.ids.keys() ?? [])];

describe('the window of streams', () => {
  it('a stream first seen at version 1 is complete: an id it lacks was never appended', () => {
    const window = windowOf(['a', 1, 'a1', 10n], ['b', 3, 'b3', 11n]);
    expect(window.get('a')).toEqual({
      version: 1,
      ids: new Map([['a1', [1, 10n]]]),
      last: 10n,
      complete: true,
    });
    expect(window.get('b')).toEqual({
      version: 3,
      ids: new Map([['b3', [3, 11n]]]),
      last: 11n,
      complete: false,
    });
    expect(window.get('c')).toBeUndefined();
  });

  it('keeps the highest version and offset it saw, and counts each id once', () => {
    const window = windowOf(['a', 1, 'a1', 10n], ['a', 2, 'a2', 20n], ['a', 1, 'a1', 10n]);
    expect(window.get('a')).toMatchObject({ version: 2, last: 20n });
    expect({ ids: window.ids, streams: window.streams }).toEqual({ ids: 2, streams: 1 });
  });

  it('the last offset of a stream is its newest event’s, none for a stream it holds no event of', () => {
    const window = windowOf(['a', 1, 'a1', 0n], ['b', 1, 'b1', 5n]);
    window.absorb(['c'], new Map());
    expect(window.lastOffsetOf('a')).toBe(0n);
    expect(window.lastOffsetOf('b')).toBe(5n);
    expect(window.lastOffsetOf('c')).toBeUndefined();
    expect(window.lastOffsetOf('d')).toBeUndefined();
  });

  it('clear forgets every stream and id', () => {
    const window = windowOf(['a', 1, 'a1', 0n]);
    window.clear();
    expect({ ids: window.ids, streams: window.streams, a: window.get('a') }).toEqual({
      ids: 0,
      streams: 0,
      a: undefined,
    });
  });

  describe('prune', () => {
    const three = () =>
      windowOf(['a', 1, 'a1', 1n], ['a', 2, 'a2', 2n], ['b', 1, 'b1', 3n], ['c', 1, 'c1', 5n]);

    it('drops whole streams the index has covered, the ones written longest ago first, down to the target', () => {
      const window = three();
      window.prune(10n, 1);
      expect([window.get('a'), window.get('b')]).toEqual([undefined, undefined]);
      expect(idsOf(window, 'c')).toEqual(['c1']);
      expect(window.ids).toBe(1);
    });

    it('stops as soon as the target is reached', () => {
      const window = three();
      window.prune(10n, 3);
      expect(window.get('a')).toBeUndefined();
      expect(idsOf(window, 'b')).toEqual(['b1']);
      expect(window.ids).toBe(2);
      window.prune(10n, 2);
      expect(window.ids).toBe(2);
    });

    it('a stream touched by a write moves to the end: it is dropped last', () => {
      const window = three();
      window.touch('a');
      window.prune(10n, 2);
      expect(window.get('b')).toBeUndefined();
      expect(window.get('c')).toBeUndefined();
      expect(idsOf(window, 'a')).toEqual(['a1', 'a2']);
    });

    it('of a stream with events the index has not covered, drops the covered ids and no longer calls it complete', () => {
      const window = three();
      window.prune(2n, 0);
      // a's newest event is at 2: a1 (offset 1) goes, a2 stays; b and c are past the index
      expect(idsOf(window, 'a')).toEqual(['a2']);
      expect(window.get('a')).toMatchObject({ version: 2, last: 2n, complete: false });
      expect(idsOf(window, 'b')).toEqual(['b1']);
      expect(window.get('b')?.complete).toBe(true);
      expect(window.ids).toBe(3);
    });

    it('an event exactly at the covered offset is not covered yet', () => {
      const window = windowOf(['a', 1, 'a1', 4n], ['a', 2, 'a2', 5n]);
      window.prune(5n, 0);
      expect(idsOf(window, 'a')).toEqual(['a2']);
      window.prune(4n, 0);
      expect(idsOf(window, 'a')).toEqual(['a2']);
    });

    it('nothing is dropped while the window is at its target', () => {
      const window = three();
      window.prune(10n, 4);
      expect(window.ids).toBe(4);
      expect(window.streams).toBe(3);
    });
  });

  describe('what a batch lacks', () => {
    it('a stream the window does not hold: its head, and every id that is not fresh', () => {
      const window = createStreamWindow();
      const lacks = window.lacks([
        { stream: 'a' as StreamId, expected: 'any', events: [event('x'), event('y', true)] },
        { stream: 'b' as StreamId, expected: 'any', events: [event('z', true)] },
      ]);
      expect(lacks).toEqual(
        new Map([
          ['a', new Set(['x'])],
          ['b', new Set()],
        ]),
      );
    });

    it('a complete stream lacks nothing; an incomplete one lacks the ids it does not hold', () => {
      const window = windowOf(['a', 1, 'a1', 0n], ['b', 4, 'b4', 1n]);
      expect(window.lacks([append('a', 1, 'a1', 'new')])).toEqual(new Map());
      expect(window.lacks([append('b', 4, 'b4', 'new'), append('b', 5, 'other', 'new')])).toEqual(
        new Map([['b', new Set(['new', 'other'])]]),
      );
      expect(window.lacks([append('b', 4, 'b4')])).toEqual(new Map());
    });
  });

  describe('what a lookup found', () => {
    it('a stream the index does not have is a complete stream with no event', () => {
      const window = createStreamWindow();
      window.absorb(['a'], new Map());
      expect(window.get('a')).toEqual({ version: 0, ids: new Map(), last: -1n, complete: true });
      expect(window.ids).toBe(0);
    });

    it('a stream the index has takes its head and the ids found, and is not complete', () => {
      const window = createStreamWindow();
      const found = new Map<string, IndexedStream>([['a', { version: 7, ids: new Map([['x', [3, 30n]]]) }]]);
      window.absorb(['a'], found);
      expect(window.get('a')).toEqual({
        version: 7,
        ids: new Map([['x', [3, 30n]]]),
        last: -1n,
        complete: false,
      });
      expect(window.ids).toBe(1);
    });

    it('ids found for a stream the window holds join it, each counted once', () => {
      const window = windowOf(['a', 5, 'a5', 50n]);
      window.absorb(
        ['a'],
        new Map([
          [
            'a',
            {
              version: 5,
              ids: new Map<string, readonly [number, bigint]>([
                ['a5', [5, 50n]],
                ['a2', [2, 20n]],
              ]),
            },
          ],
        ]),
      );
      expect(window.get('a')).toMatchObject({ version: 5, last: 50n, complete: false });
      expect(idsOf(window, 'a')).toEqual(['a5', 'a2']);
      expect(window.ids).toBe(2);
    });
  });
});

describe('the plan of a batch', () => {
  const plan = (window: StreamWindow, ...batch: PlannedAppend[]) => planBatch(window, batch, 't', 3);
  const empty = () => {
    const window = createStreamWindow();
    window.absorb(['a', 'b'], new Map());
    return window;
  };

  it('a new stream expected as no_stream is written from version 1', () => {
    const { accepted, answered } = plan(empty(), append('a', 'no_stream', 'x', 'y'));
    expect(accepted).toEqual([{ request: append('a', 'no_stream', 'x', 'y'), fromVersion: 1 }]);
    expect(answered).toEqual([]);
  });

  it('appends of one batch to one stream follow each other: the second sees the first’s head', () => {
    const window = empty();
    const { accepted, answered } = plan(
      window,
      append('a', 0, 'x', 'y'),
      append('a', 2, 'z'),
      append('a', 2, 'w'),
    );
    expect(accepted.map((a) => a.fromVersion)).toEqual([1, 3]);
    expect(answered).toHaveLength(1);
    const conflict = answered[0]!.error as VersionConflict;
    expect(conflict).toBeInstanceOf(VersionConflict);
    expect({ expected: conflict.expected, actual: conflict.actual }).toEqual({ expected: 2, actual: 3 });
    // the window itself is not changed by a plan
    expect(window.get('a')?.version).toBe(0);
  });

  it('a stream at version 4 takes an append expecting 4, stream_exists or any, and refuses no_stream or 3', () => {
    const window = windowOf(['a', 4, 'a4', 40n]);
    for (const expected of [4, 'stream_exists', 'any'] as const)
      expect(plan(window, append('a', expected, 'new')).accepted).toEqual([
        { request: append('a', expected, 'new'), fromVersion: 5 },
      ]);
    for (const expected of ['no_stream', 3] as const) {
      const { accepted, answered } = plan(window, append('a', expected, 'new'));
      expect(accepted).toEqual([]);
      expect(answered[0]!.error).toEqual(new VersionConflict('a', expected, 4));
    }
  });

  it('an append whose ids were all written before is answered with where they are, whatever it expected', () => {
    const window = windowOf(['a', 1, 'x', 10n], ['a', 2, 'y', 12n], ['a', 3, 'z', 13n]);
    const { accepted, answered } = plan(window, append('a', 'no_stream', 'x', 'y'), append('a', 7, 'y', 'x'));
    expect(accepted).toEqual([]);
    const result = {
      stream: 'a',
      fromVersion: 1,
      toVersion: 2,
      position: { topic: 't', partition: 3, offset: 12n },
    };
    expect(answered).toEqual([
      { request: append('a', 'no_stream', 'x', 'y'), result },
      { request: append('a', 7, 'y', 'x'), result },
    ]);
  });

  it('an event written at offset 0 counts as written', () => {
    const window = windowOf(['a', 1, 'x', 0n]);
    expect(plan(window, append('a', 'no_stream', 'x')).answered).toEqual([
      {
        request: append('a', 'no_stream', 'x'),
        result: {
          stream: 'a',
          fromVersion: 1,
          toVersion: 1,
          position: { topic: 't', partition: 3, offset: 0n },
        },
      },
    ]);
  });

  it('an append repeating the ids of one earlier in the batch is a repeat, answered after the commit', () => {
    const { accepted, answered } = plan(empty(), append('a', 0, 'x', 'y'), append('a', 0, 'x', 'y'));
    expect(accepted).toEqual([
      { request: append('a', 0, 'x', 'y'), fromVersion: 1 },
      { request: append('a', 0, 'x', 'y'), fromVersion: 1, repeat: true },
    ]);
    expect(answered).toEqual([]);
  });

  it('an append with only some of its ids written before is a conflict of its own', () => {
    const window = windowOf(['a', 1, 'x', 10n]);
    const { accepted, answered } = plan(window, append('a', 1, 'x', 'y'), append('a', 1, 'z'));
    expect(answered).toHaveLength(1);
    expect(answered[0]!.error).toBeInstanceOf(Conflict);
    expect((answered[0]!.error as Error).message).toBe('1 of 2 event ids were already appended to a');
    expect(accepted).toEqual([{ request: append('a', 1, 'z'), fromVersion: 2 }]);
  });

  it('a fresh id is never taken for one written before', () => {
    const window = windowOf(['a', 1, 'x', 10n]);
    const fresh: PlannedAppend = { stream: 'a' as StreamId, expected: 1, events: [event('x', true)] };
    expect(plan(window, fresh).accepted).toEqual([{ request: fresh, fromVersion: 2 }]);
  });

  it('streams are planned apart', () => {
    const { accepted } = plan(empty(), append('a', 0, 'x'), append('b', 0, 'y'), append('a', 1, 'z'));
    expect(accepted.map((a) => [a.request.stream, a.fromVersion])).toEqual([
      ['a', 1],
      ['b', 1],
      ['a', 2],
    ]);
  });

  it('once written, an append’s answer is where the window holds its events', () => {
    const window = windowOf(['a', 1, 'x', 7n], ['a', 2, 'y', 8n], ['a', 3, 'z', 9n]);
    expect(resultOf(window, append('a', 0, 'x', 'y', 'z'), 't', 3)).toEqual({
      stream: 'a',
      fromVersion: 1,
      toVersion: 3,
      position: { topic: 't', partition: 3, offset: 9n },
    });
  });
});

describe('batching', () => {
  const queued = (events: number, bytes: number, alone?: true) => ({
    events: Array.from({ length: events }),
    bytes,
    ...(alone ? { alone } : {}),
  });

  it('takes appends while they fit both bounds, exactly full included', () => {
    expect(batchSize([queued(2, 10), queued(3, 10), queued(1, 10)], 5, 100)).toBe(2);
    expect(batchSize([queued(1, 40), queued(1, 60), queued(1, 1)], 100, 100)).toBe(2);
    expect(batchSize([queued(1, 1), queued(1, 1)], 100, 100)).toBe(2);
    expect(batchSize([], 100, 100)).toBe(0);
  });

  it('always takes the first append, even one past the bounds', () => {
    expect(batchSize([queued(10, 1000), queued(1, 1)], 5, 100)).toBe(1);
  });

  it('an append refused in a batch too large goes alone, and so does the batch after it', () => {
    expect(batchSize([queued(1, 1, true), queued(1, 1)], 100, 100)).toBe(1);
    expect(batchSize([queued(1, 1), queued(1, 1, true)], 100, 100)).toBe(1);
  });

  it('an append adds its values and each record’s overhead (key, headers, framing) to a batch', () => {
    const e = { ...event('abc'), metadata: { tenant: 'acme' } };
    // 2 · 6 (stream) + 2 · 17 (metadata JSON) + 3 (id) + 11 (type) + 320
    expect(recordOverhead('orders', e)).toBe(12 + 34 + 3 + 11 + 320);
    expect(appendBytes('orders', [e, e], [Buffer.alloc(100), Buffer.alloc(7)])).toBe(107 + 2 * 380);
    expect(appendBytes('orders', [], [])).toBe(0);
  });

  it('Kafka’s refusal of a batch over max.message.bytes is told apart from other errors', () => {
    expect(tooLarge({ type: 'MESSAGE_TOO_LARGE' })).toBe(true);
    expect(tooLarge({ type: 'RECORD_LIST_TOO_LARGE' })).toBe(true);
    expect(tooLarge({ type: 'NOT_LEADER_FOR_PARTITION' })).toBe(false);
    expect(tooLarge(new Error('MESSAGE_TOO_LARGE'))).toBe(false);
    expect(tooLarge({ type: null })).toBe(false);
  });
});

describe('the retries of a batch', () => {
  it('wait with full jitter from 40 ms, doubling, at most a second, 10 attempts in all', () => {
    expect(schedule(APPEND_RETRY_POLICY, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1])).toEqual([
      40, 80, 160, 320, 640, 1000, 1000, 1000, 1000,
    ]);
    expect(schedule(APPEND_RETRY_POLICY, [0.5, 0.25, 0])).toEqual([20, 20, 0]);
  });

  it("kafkajs's own retries inside a transaction are bounded in number and in each wait", () => {
    expect(Number.isSafeInteger(TRANSACTION_RETRY.retries)).toBe(true);
    expect(TRANSACTION_RETRY.retries).toBeLessThanOrEqual(20);
    expect(TRANSACTION_RETRY.maxRetryTime).toBeLessThanOrEqual(2000);
    // a CONCURRENT_TRANSACTIONS right after a commit is retried within a millisecond or two
    expect(TRANSACTION_RETRY.initialRetryTime).toBe(1);
  });
});

describe('the bound of the append queue', () => {
  const bounds = { events: 10, bytes: 1000 };

  it('takes an append that fits, up to the bound exactly', () => {
    expect(queueRefusal({ events: 4, bytes: 400 }, { events: 6, bytes: 600 }, bounds)).toBeUndefined();
  });

  it('refuses one more event than the bound, naming what waits', () => {
    expect(queueRefusal({ events: 4, bytes: 400 }, { events: 7, bytes: 10 }, bounds)).toBe(
      '4 events wait and 7 more would pass the bound of 10',
    );
  });

  it('refuses one more byte than the bound', () => {
    expect(queueRefusal({ events: 1, bytes: 400 }, { events: 1, bytes: 601 }, bounds)).toBe(
      '400 bytes wait and 601 more would pass the bound of 1000',
    );
  });

  it('an empty queue takes an append larger than the bounds, which would otherwise never be written', () => {
    expect(queueRefusal({ events: 0, bytes: 0 }, { events: 50, bytes: 5000 }, bounds)).toBeUndefined();
  });
});

describe('the deadlines of a batch', () => {
  it('are its earliest and its latest', () => {
    expect(deadlinesOf([{ deadline: 30 }, { deadline: 10 }, { deadline: 20 }])).toEqual({
      oldest: 10,
      latest: 30,
    });
    expect(deadlinesOf([{ deadline: 5 }])).toEqual({ oldest: 5, latest: 5 });
  });
});
