import { describe, expect, it } from 'vitest';
import type { EventLog, ProjectionStore } from '../../core/ports.ts';
import type { ProjectionStatus } from '../../core/projection.ts';
import { projectionSummaries } from '../../core/read/status.ts';
import { HEARTBEAT_TIMEOUT_MS } from '../../core/read/watermarks.ts';

// pure mapping from a stored status and the log's end to the summary the API shows
const NOW = 1_800_000_000_000;
const spec = { name: 'orders', key: 'orderId', columns: { orderId: 'text' as const }, categories: ['order'] };
const log = {
  topicFor: (c: string) => `p.events.${c}`,
  endOffsets: async () => [
    { topic: 'p.events.order', partition: 0, offset: 100n },
    { topic: 'p.events.order', partition: 1, offset: 50n },
  ],
} as unknown as EventLog;
const storeWith = (status: ProjectionStatus | null) =>
  ({ status: async () => status }) as unknown as ProjectionStore;
const checkpoint = (partition: number, nextOffset: bigint) => ({
  topic: 'p.events.order',
  partition,
  nextOffset,
  lastEventAt: null,
  caughtUpAt: NOW - 1000,
});
const base: ProjectionStatus = {
  name: 'orders',
  generation: 1,
  state: 'running',
  heartbeatAt: NOW - 500,
  checkpoints: [checkpoint(0, 100n), checkpoint(1, 50n)],
  deadLettered: 0,
  lastError: null,
  building: null,
};

describe('projection summaries', () => {
  it('a running, caught-up projection has no lag and no staleness', async () => {
    const [s] = await projectionSummaries(storeWith(base), log, [spec], NOW);
    expect(s).toMatchObject({ state: 'running', lagEvents: 0, stalenessMs: 0, rebuilding: null });
  });

  it('a runner silent for longer than the heartbeat timeout is unresponsive, and stale', async () => {
    const silent = { ...base, heartbeatAt: NOW - HEARTBEAT_TIMEOUT_MS - 5000 };
    const [s] = await projectionSummaries(storeWith(silent), log, [spec], NOW);
    expect(s).toMatchObject({ state: 'unresponsive', stalenessMs: HEARTBEAT_TIMEOUT_MS + 5000 });
  });

  it('a rebuild shows its generation and how many records it has applied of the log', async () => {
    const building = { ...base, building: { generation: 2, checkpoints: [checkpoint(0, 60n)] } };
    const [s] = await projectionSummaries(storeWith(building), log, [spec], NOW);
    expect(s!.rebuilding).toEqual({ generation: 2, appliedEvents: 60, totalEvents: 150, lagEvents: 90 });
  });

  it('a projection with no stored status is idle, generation 0, stale since the epoch', async () => {
    const [s] = await projectionSummaries(storeWith(null), log, [spec], NOW);
    expect(s).toMatchObject({
      state: 'idle',
      generation: 0,
      lagEvents: 150,
      stalenessMs: NOW,
      heartbeatAt: null,
    });
  });
});
