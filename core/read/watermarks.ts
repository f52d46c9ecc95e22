import type { Checkpoint, Liveness } from '../projection.ts';
import { partitionKey } from './positions.ts';

/** A runner whose heartbeat is older than this counts as not running. */
export const HEARTBEAT_TIMEOUT_MS = 10_000;

import type { Position } from '../types.ts';

export interface Freshness {
  /** events in the log not yet applied, over all partitions */
  readonly lagEvents: number;
  /**
   * upper bound of the age of the oldest unapplied event, in ms; 0 when caught up.
   * Taken as now − (the later of: the last moment the partition was caught up, the last applied
   * event's log time): every unapplied event was appended after both.
   */
  readonly stalenessMs: number;
  /** per partition: the next offset to apply */
  readonly applied: ReadonlyMap<string, bigint>;
}

/**
 * How far a projection is behind the log. A projection that no runner applies (never started,
 * stopped, halted, or silent for HEARTBEAT_TIMEOUT_MS) counts as stale even when it has applied the
 * end: its staleness is at least the time since its last heartbeat (since the epoch when it never had one).
 */
export const measure = (
  checkpoints: readonly Checkpoint[],
  ends: readonly Position[],
  now: number,
  liveness?: Liveness,
): Freshness => {
  const byPartition = new Map(checkpoints.map((c) => [partitionKey(c.topic, c.partition), c]));
  const applied = new Map<string, bigint>();
  for (const [key, c] of byPartition) applied.set(key, c.nextOffset);
  let lag = 0n;
  let staleness = 0;
  for (const end of ends) {
    const c = byPartition.get(partitionKey(end.topic, end.partition));
    const next = c?.nextOffset ?? 0n;
    if (next >= end.offset) continue;
    lag += end.offset - next;
    const lastEventAt = (c?.lastEventAt && Date.parse(c.lastEventAt)) || 0;
    const since = Math.max(c?.caughtUpAt ?? 0, lastEventAt);
    staleness = Math.max(staleness, Math.max(0, now - since));
  }
  if (liveness) {
    const heartbeat = liveness.heartbeatAt ?? 0;
    if (liveness.state !== 'running' || heartbeat < now - HEARTBEAT_TIMEOUT_MS) {
      staleness = Math.max(staleness, now - heartbeat);
    }
  }
  return { lagEvents: Number(lag), stalenessMs: staleness, applied };
};

/** the position a set of checkpoints reflects: the last applied offset of each partition */
export const reflectedPositions = (checkpoints: readonly Checkpoint[]): Position[] =>
  checkpoints
    .filter((c) => c.nextOffset > 0n)
    .map((c) => ({ topic: c.topic, partition: c.partition, offset: c.nextOffset - 1n }));
