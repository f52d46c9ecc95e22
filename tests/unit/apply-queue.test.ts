import { describe, expect, it } from 'vitest';
import { createApplyQueue, takeBatch } from '../../connectors/kafka/apply-queue.ts';
import type { LogBatch } from '../../core/ports.ts';
import type { EventId, RecordedEvent, StreamId } from '../../core/types.ts';

const event = (offset: number): RecordedEvent => ({
  id: `e${offset}` as EventId,
  stream: 'order-1' as StreamId,
  type: 'OrderPlaced',
  version: offset + 1,
  data: {},
  metadata: {},
  position: { topic: 't', partition: 0, offset: BigInt(offset) },
  recordedAt: '2025-01-01T00:00:00.000Z',
});

/** a batch of the events at `offsets`, resuming at `next` */
const batch = (offsets: number[], next: number, fetchedAt = 1): LogBatch => ({
  topic: 't',
  partition: 0,
  events: offsets.map(event),
  nextOffset: BigInt(next),
  highWatermark: 100n,
  fetchedAt,
});
const offsetsOf = (b: LogBatch) => b.events.map((e) => Number(e.position.offset));
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
const tick = () => new Promise((r) => setTimeout(r, 0));

describe('takeBatch', () => {
  it('coalesces consecutive batches up to the limit, splitting the one that does not fit', () => {
    const queue = [batch([0, 1], 2), batch([], 3), batch([3, 4, 5], 6, 2), batch([6], 8, 3)];
    const first = takeBatch(queue, 4)!;
    expect(offsetsOf(first)).toEqual([0, 1, 3, 4]);
    expect(first.nextOffset).toBe(5n); // resumes at the first event left behind
    const second = takeBatch(queue, 4)!;
    expect(offsetsOf(second)).toEqual([5, 6]);
    expect(second.nextOffset).toBe(8n);
    expect(second.fetchedAt).toBe(3);
    expect(takeBatch(queue, 4)).toBeUndefined();
  });

  it('splits a batch larger than the limit and keeps batches of only transaction markers', () => {
    const queue = [batch(range(0, 5), 6)];
    expect(offsetsOf(takeBatch(queue, 2)!)).toEqual([0, 1]);
    expect(takeBatch(queue, 2)!.nextOffset).toBe(4n);
    const last = takeBatch(queue, 2)!;
    expect([offsetsOf(last), last.nextOffset]).toEqual([[4], 6n]);
    const markers = [batch([], 7), batch([], 9)];
    const only = takeBatch(markers, 2)!;
    expect([only.events.length, only.nextOffset]).toEqual([0, 9n]);
  });
});

describe('createApplyQueue', () => {
  it('applies in order, one batch at a time, and makes room as batches are taken', async () => {
    const applied: number[][] = [];
    let release: () => void = () => {};
    const q = createApplyQueue({
      maxEvents: 2,
      limitEvents: 3,
      apply: async (b) => {
        applied.push(offsetsOf(b));
        await new Promise<void>((r) => {
          release = r;
        });
      },
      onError: () => {},
    });
    q.push(batch([0, 1], 2));
    q.push(batch([2, 3, 4], 5));
    expect(q.queued).toBe(3); // the first is being applied
    let roomy = false;
    void q.room().then(() => {
      roomy = true;
    });
    await tick();
    expect(roomy).toBe(false);
    release();
    await tick();
    expect(roomy).toBe(true);
    expect(applied).toEqual([
      [0, 1],
      [2, 3],
    ]);
    release();
    await tick();
    release();
    await q.idle();
    expect(applied).toEqual([[0, 1], [2, 3], [4]]);
    await expect(q.room()).resolves.toBeUndefined();
  });

  it('is full once as many payload bytes wait as it takes, however few the events', async () => {
    const sizes = new Map<bigint, number>([
      [0n, 600],
      [1n, 600],
      [2n, 600],
      [3n, 10],
    ]);
    let release: () => void = () => {};
    const q = createApplyQueue({
      maxEvents: 1,
      limitEvents: 100,
      limitBytes: 1000,
      bytesOf: (e) => sizes.get(e.position.offset) ?? 0,
      apply: async () => {
        await new Promise<void>((r) => {
          release = r;
        });
      },
      onError: () => {},
    });
    q.push(batch([0], 1)); // taken at once: being applied, not waiting
    q.push(batch([1], 2));
    expect(q.full).toBe(false);
    q.push(batch([2, 3], 4));
    expect(q.full).toBe(true); // 1210 bytes wait
    let roomy = false;
    void q.room().then(() => {
      roomy = true;
    });
    await tick();
    expect(roomy).toBe(false);
    release(); // 0 applied, 1 taken: 610 bytes wait
    await tick();
    expect(q.full).toBe(false);
    expect(roomy).toBe(true);
    q.clear();
    expect(q.full).toBe(false);
    release();
    await q.idle();
  });

  it('a failed batch drops what waits behind it and is reported; later pushes apply again', async () => {
    const applied: number[][] = [];
    const errors: unknown[] = [];
    const done: bigint[] = [];
    const q = createApplyQueue({
      maxEvents: 2,
      limitEvents: 10,
      apply: async (b) => {
        if (b.events[0]?.position.offset === 2n) throw new Error('refused');
        applied.push(offsetsOf(b));
      },
      onError: (error, b) => errors.push([String(error), b.nextOffset]),
      onApplied: (b) => done.push(b.nextOffset),
    });
    q.push(batch([0, 1], 2));
    q.push(batch([2, 3], 4));
    q.push(batch([4, 5], 6));
    await q.idle();
    expect(applied).toEqual([[0, 1]]);
    expect(errors).toEqual([['Error: refused', 4n]]);
    expect(q.queued).toBe(0);
    q.push(batch([6], 7));
    await q.idle();
    expect(applied).toEqual([[0, 1], [6]]);
    expect(done).toEqual([2n, 7n]);
  });

  it('clear drops the waiting batches and wakes whoever waits for room', async () => {
    const applied: number[][] = [];
    const q = createApplyQueue({
      maxEvents: 10,
      limitEvents: 1,
      apply: async (b) => {
        applied.push(offsetsOf(b));
        await tick();
      },
      onError: () => {},
    });
    q.push(batch([0], 1));
    q.push(batch([1], 2));
    const room = q.room();
    q.clear();
    await room;
    await q.idle();
    expect(applied).toEqual([[0]]);
  });
});
