import { describe, expect, it } from 'vitest';
import { BulkAppendFailed, batchesByStream, bulkAppend, parseNdjson } from '../../app/bulk-append.ts';
import { ApiError } from '../../app/client.ts';

const line = (o: object) => JSON.stringify(o);

describe('NDJSON input', () => {
  it('gives every event its line and stream; blank lines are skipped; the argument is the default stream', () => {
    const text = [
      line({ stream: 'order-1', type: 'A', data: {} }),
      '',
      line({ type: 'B', data: { x: 1 }, id: 'i' }),
    ].join('\n');
    const events = parseNdjson(text, 'in.ndjson', 'order-9');
    expect(events.map((e) => [e.line, e.stream, e.event])).toEqual([
      [1, 'order-1', { type: 'A', data: {} }],
      [3, 'order-9', { type: 'B', data: { x: 1 }, id: 'i' }],
    ]);
  });

  it('a bad line fails the whole input, naming the source and the line', () => {
    const fails = (text: string, stream?: string) => () => parseNdjson(text, 'in.ndjson', stream);
    expect(fails('{"stream":"s-1","type":"A"}\n{oops')).toThrow('in.ndjson: line 2: not valid JSON');
    expect(fails('[1]')).toThrow(/line 1: expected an object/);
    expect(fails('{"type":"A","data":{}}')).toThrow(/line 1: no "stream"/);
    expect(fails('{"stream":"s-1","type":"A","colour":1}')).toThrow(/line 1: unknown field colour/);
    expect(fails('{"stream":"s-1","data":{}}')).toThrow(/line 1: "type" must be a string/);
    expect(fails('\n\n')).toThrow('in.ndjson: no events');
    expect(fails('[1]')).toThrow(BulkAppendFailed);
  });

  it('batches keep each stream in input order, bounded by events and bytes', () => {
    const events = parseNdjson(
      ['a', 'b', 'a', 'a', 'b'].map((s, i) => line({ stream: `s-${s}`, type: 'T', data: { i } })).join('\n'),
      'x',
    );
    const byEvents = batchesByStream(events, 2, 1 << 20);
    expect([...byEvents.entries()].map(([s, bs]) => [s, bs.map((b) => b.map((e) => e.line))])).toEqual([
      ['s-a', [[1, 3], [4]]],
      ['s-b', [[2, 5]]],
    ]);
    const byBytes = batchesByStream(events, 100, events[0]!.bytes + 1);
    expect(byBytes.get('s-a')!.map((b) => b.length)).toEqual([1, 1, 1]);
  });
});

describe('bulk append', () => {
  const events = parseNdjson(
    Array.from({ length: 7 }, (_, i) => line({ stream: `s-${i % 2}`, type: 'T', data: { i } })).join('\n'),
    'x',
  );

  it('names the line of the event the server refused, and how many were appended before', async () => {
    const client = {
      append: async (stream: string, batch: unknown[]) => {
        if (stream === 's-1') {
          throw new ApiError(400, 'validation_failed', 'events failed validation', {
            issues: [{ path: 'events.1.data.i', message: 'too big' }],
          });
        }
        return { stream, fromVersion: 1, toVersion: batch.length, position: 'p' };
      },
    };
    const error = await bulkAppend(client, events, {
      batchEvents: 10,
      batchBytes: 1 << 20,
      concurrency: 1,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BulkAppendFailed);
    expect((error as Error).message).toBe(
      'line 4: validation_failed: data.i: too big (appended 4 of 7 events before it)',
    );
    expect((error as BulkAppendFailed).appended).toBe(4);
  });

  it('without issues, names the batch; an unreachable server is its message', async () => {
    const conflict = {
      append: async () => {
        throw new ApiError(409, 'version_conflict', 'stream s-0 is at version 3', {});
      },
    };
    await expect(
      bulkAppend(conflict, events, { batchEvents: 10, batchBytes: 1 << 20, concurrency: 2 }),
    ).rejects.toThrow(/^lines 1-7 \(s-0\): version_conflict: stream s-0 is at version 3|^lines 2-6 \(s-1\)/);
    const down = {
      append: async () => {
        throw new ApiError(0, 'unreachable', 'no logfront server answers at http://x', {});
      },
    };
    await expect(
      bulkAppend(down, events, { batchEvents: 10, batchBytes: 1 << 20, concurrency: 1 }),
    ).rejects.toThrow('no logfront server answers at http://x (appended 0 of 7 events before it)');
  });
});
