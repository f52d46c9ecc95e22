// What one event asks of a projection (projections/runner.ts changesOfEvent): its changes, or the
// poison that says why there are none. The runner and a dead letter's retry both go through it.
import { describe, expect, it } from 'vitest';
import type { Change } from '../../core/projection.ts';
import type { EventId, RecordedEvent, StreamId } from '../../core/types.ts';
import { defineProjection, type Handler, patch, remove, upsert } from '../../projections/define.ts';
import { changesOfEvent, isPoison } from '../../projections/runner.ts';

const event = (type: string, data: Record<string, unknown> = { id: 'a' }): RecordedEvent => ({
  id: '00000000-0000-7000-8000-000000000001' as EventId,
  stream: 'item-a' as StreamId,
  type,
  version: 1,
  data,
  metadata: {},
  position: { topic: 't.events.item', partition: 0, offset: 4n },
  recordedAt: '2025-01-01T00:00:00.000Z',
});

const items = (on: Record<string, Handler>, retries = 0) =>
  defineProjection({
    name: 'items',
    key: 'id',
    columns: { id: 'text', label: 'text', count: 'integer' },
    categories: ['item'],
    retries,
    on,
  });

/** the poison `fn` throws, or a failure when it throws nothing or something else */
const poisonOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    if (isPoison(error)) return error;
    throw error;
  }
  throw new Error('expected a poison event');
};

describe('changesOfEvent', () => {
  it('a handler that returns nothing (undefined or null) asks for no change', () => {
    const projection = items({ Seen: () => undefined, Ignored: () => null });
    const into: Change[] = [remove('x')];
    expect(changesOfEvent(projection, event('Seen'), into)).toBe(into);
    expect(changesOfEvent(projection, event('Ignored'), into)).toEqual([remove('x')]);
  });

  it('an array of changes is added in its order after what `into` holds', () => {
    const projection = items({
      Renamed: () => [upsert({ id: 'a', label: 'first' }), patch('a', { label: 'second' })],
    });
    const into: Change[] = [remove('x')];
    expect(changesOfEvent(projection, event('Renamed'), into)).toEqual([
      remove('x'),
      upsert({ id: 'a', label: 'first' }),
      patch('a', { label: 'second' }),
    ]);
  });

  it('an event type without a handler asks for nothing, even one named like an Object method', () => {
    const projection = items({ Seen: () => upsert({ id: 'a' }) });
    expect(changesOfEvent(projection, event('Unknown'))).toEqual([]);
    expect(changesOfEvent(projection, event('toString'))).toEqual([]);
  });

  it('a handler that throws is tried `retries` more times; a later success counts', () => {
    let calls = 0;
    const projection = items(
      {
        Flaky: () => {
          calls += 1;
          if (calls < 3) throw new Error('not yet');
          return upsert({ id: 'a', count: calls });
        },
      },
      2,
    );
    expect(changesOfEvent(projection, event('Flaky'))).toEqual([upsert({ id: 'a', count: 3 })]);
    expect(calls).toBe(3);
  });

  it('a handler still throwing after its retries makes the event poison, with the error as its reason', () => {
    let calls = 0;
    const projection = items(
      {
        Broken: () => {
          calls += 1;
          throw new TypeError('no label');
        },
      },
      1,
    );
    const poison = poisonOf(() => changesOfEvent(projection, event('Broken')));
    expect(calls).toBe(2);
    expect(poison).toMatchObject({ kind: 'handler', message: 'TypeError: no label' });
    expect(poison.event.type).toBe('Broken');
  });

  it('a handler that throws something other than an Error is poison too, the value named as thrown', () => {
    const projection = items({
      Odd: () => {
        throw 'a plain string';
      },
    });
    expect(poisonOf(() => changesOfEvent(projection, event('Odd')))).toMatchObject({
      kind: 'handler',
      message: 'thrown: a plain string',
    });
  });

  it('a value its column cannot hold is poison of kind column; an undecodable event keeps its kind', () => {
    const projection = items({ Counted: () => upsert({ id: 'a', count: 'many' }) });
    const column = poisonOf(() => changesOfEvent(projection, event('Counted')));
    expect(column.kind).toBe('column');
    expect(column.message).toMatch(/count/);
    const undecodable = {
      ...event('Counted'),
      undecodable: { kind: 'upcast' as const, reason: 'v0 unknown' },
    };
    expect(poisonOf(() => changesOfEvent(projection, undecodable))).toMatchObject({
      kind: 'upcast',
      message: 'Error: v0 unknown',
    });
  });
});
