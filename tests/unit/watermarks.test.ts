import { describe, expect, it } from 'vitest';
import type { Checkpoint } from '../../core/projection.ts';
import { partitionKey } from '../../core/read/positions.ts';
import { HEARTBEAT_TIMEOUT_MS, measure, reflectedPositions } from '../../core/read/watermarks.ts';
import type { Position } from '../../core/types.ts';

const T = 'shop.events.order';
const NOW = Date.parse('2025-06-01T12:00:00.000Z');

const checkpoint = (
  partition: number,
  nextOffset: bigint,
  times: { lastEventAt?: string | null; caughtUpAt?: number | null } = {},
): Checkpoint => ({
  topic: T,
  partition,
  nextOffset,
  lastEventAt: times.lastEventAt ?? null,
  caughtUpAt: times.caughtUpAt ?? null,
});
/** the log end of a partition: the offset the next record will get */
const end = (partition: number, offset: bigint, topic = T): Position => ({ topic, partition, offset });

describe('measure', () => {
  it('a projection that applied everything is 0 events and 0 ms behind', () => {
    const freshness = measure(
      [checkpoint(0, 10n, { caughtUpAt: NOW - 60_000 }), checkpoint(1, 4n, { caughtUpAt: NOW - 60_000 })],
      [end(0, 10n), end(1, 4n)],
      NOW,
    );

    expect(freshness.lagEvents).toBe(0);
    expect(freshness.stalenessMs).toBe(0);
  });

  it('an empty log with no checkpoints is caught up', () => {
    expect(measure([], [end(0, 0n)], NOW)).toMatchObject({ lagEvents: 0, stalenessMs: 0 });
  });

  it('a checkpoint ahead of the end read a moment ago counts as caught up', () => {
    expect(measure([checkpoint(0, 12n)], [end(0, 10n)], NOW)).toMatchObject({ lagEvents: 0, stalenessMs: 0 });
  });

  it('the lag is the sum of the unapplied events of every partition', () => {
    const freshness = measure(
      [checkpoint(0, 10n, { caughtUpAt: NOW }), checkpoint(1, 4n, { caughtUpAt: NOW }), checkpoint(2, 7n)],
      [end(0, 13n), end(1, 4n), end(2, 12n)],
      NOW,
    );

    expect(freshness.lagEvents).toBe(3 + 0 + 5);
  });

  it('a partition without a checkpoint lags by everything in it and is stale since the epoch', () => {
    const freshness = measure([checkpoint(0, 5n, { caughtUpAt: NOW })], [end(0, 5n), end(1, 8n)], NOW);

    expect(freshness.lagEvents).toBe(8);
    expect(freshness.stalenessMs).toBe(NOW);
  });

  it('a checkpoint with neither time is stale since the epoch too', () => {
    expect(measure([checkpoint(0, 1n)], [end(0, 2n)], NOW).stalenessMs).toBe(NOW);
  });

  it('staleness runs from the moment the partition was last caught up', () => {
    const freshness = measure([checkpoint(0, 5n, { caughtUpAt: NOW - 2_000 })], [end(0, 6n)], NOW);

    expect(freshness.stalenessMs).toBe(2_000);
  });

  it('staleness runs from the last applied event when that is later than the last catch-up', () => {
    const freshness = measure(
      [checkpoint(0, 5n, { caughtUpAt: NOW - 9_000, lastEventAt: new Date(NOW - 1_500).toISOString() })],
      [end(0, 6n)],
      NOW,
    );

    expect(freshness.stalenessMs).toBe(1_500);
  });

  it('staleness runs from the last catch-up when that is later than the last applied event', () => {
    const freshness = measure(
      [checkpoint(0, 5n, { caughtUpAt: NOW - 700, lastEventAt: new Date(NOW - 5_000).toISOString() })],
      [end(0, 6n)],
      NOW,
    );

    expect(freshness.stalenessMs).toBe(700);
  });

  it('staleness is that of the stalest lagging partition', () => {
    const freshness = measure(
      [
        checkpoint(0, 1n, { caughtUpAt: NOW - 300 }),
        checkpoint(1, 1n, { caughtUpAt: NOW - 4_000 }),
        checkpoint(2, 1n, { caughtUpAt: NOW - 90_000 }),
      ],
      [end(0, 2n), end(1, 2n), end(2, 1n)],
      NOW,
    );

    // partition 2 is caught up, so its old catch-up time does not count
    expect(freshness.stalenessMs).toBe(4_000);
  });

  it('a clock behind the recorded times gives no negative staleness', () => {
    expect(measure([checkpoint(0, 1n, { caughtUpAt: NOW + 5_000 })], [end(0, 3n)], NOW).stalenessMs).toBe(0);
  });

  it('lag above 2^32 events is counted exactly', () => {
    expect(measure([checkpoint(0, 0n)], [end(0, 2n ** 40n)], NOW).lagEvents).toBe(2 ** 40);
  });

  it('the same partition number on another topic is a separate partition', () => {
    const freshness = measure(
      [checkpoint(0, 10n, { caughtUpAt: NOW })],
      [end(0, 10n), end(0, 3n, 'shop.events.cart')],
      NOW,
    );

    expect(freshness.lagEvents).toBe(3);
  });

  it('applied maps each checkpointed partition to its next offset', () => {
    const freshness = measure([checkpoint(0, 10n), checkpoint(2, 0n)], [end(0, 10n)], NOW);

    expect(freshness.applied).toEqual(
      new Map([
        [partitionKey(T, 0), 10n],
        [partitionKey(T, 2), 0n],
      ]),
    );
  });
});

describe('reflectedPositions', () => {
  it('a checkpoint reflects the last offset it applied', () => {
    expect(reflectedPositions([checkpoint(0, 10n), checkpoint(1, 1n)])).toEqual([end(0, 9n), end(1, 0n)]);
  });

  it('a partition with nothing applied reflects no position', () => {
    expect(reflectedPositions([checkpoint(0, 0n), checkpoint(1, 3n)])).toEqual([end(1, 2n)]);
    expect(reflectedPositions([])).toEqual([]);
  });

  it('offsets above 2^53 are kept exact', () => {
    expect(reflectedPositions([checkpoint(0, 2n ** 53n + 2n)])[0]!.offset).toBe(2n ** 53n + 1n);
  });
});

describe('liveness', () => {
  const end = [{ topic: 't', partition: 0, offset: 10n }];
  const caughtUp = [{ topic: 't', partition: 0, nextOffset: 10n, lastEventAt: null, caughtUpAt: 1_000 }];

  it('a running projection with a fresh heartbeat that has applied the end is not stale', () => {
    expect(measure(caughtUp, end, 50_000, { state: 'running', heartbeatAt: 49_000 }).stalenessMs).toBe(0);
  });

  it('a stopped projection is stale by the age of its last heartbeat, even when caught up', () => {
    expect(measure(caughtUp, end, 50_000, { state: 'stopped', heartbeatAt: 40_000 }).stalenessMs).toBe(
      10_000,
    );
  });

  it('a running projection whose heartbeat is older than the timeout counts as not running', () => {
    const silent = measure(caughtUp, end, 50_000, {
      state: 'running',
      heartbeatAt: 50_000 - HEARTBEAT_TIMEOUT_MS - 1,
    });
    expect(silent.stalenessMs).toBe(HEARTBEAT_TIMEOUT_MS + 1);
  });

  it('a running projection whose heartbeat is exactly the timeout old still counts as running', () => {
    const atTheLimit = measure(caughtUp, end, 50_000, {
      state: 'running',
      heartbeatAt: 50_000 - HEARTBEAT_TIMEOUT_MS,
    });
    expect(atTheLimit.stalenessMs).toBe(0);
  });

  it('a projection that never ran is stale since the epoch', () => {
    expect(
      measure([], [{ topic: 't', partition: 0, offset: 0n }], 50_000, { state: 'idle', heartbeatAt: null })
        .stalenessMs,
    ).toBe(50_000);
  });
});
