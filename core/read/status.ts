import type { ArchiveHoles } from '../blobs/archive.ts';
import type { EventLog, ProjectionStore } from '../ports.ts';
import type { ProjectionState } from '../projection.ts';
import type { ReadableProjection } from './facade.ts';
import { HEARTBEAT_TIMEOUT_MS, measure } from './watermarks.ts';

export interface ProjectionSummary {
  name: string;
  generation: number;
  state: ProjectionState | 'unresponsive';
  lagEvents: number;
  stalenessMs: number;
  deadLettered: number;
  heartbeatAt: string | null;
  /** the reason of the last dead letter (why a halted projection stopped) */
  lastError: string | null;
  /** a blue/green rebuild under way: its generation and how far it has come */
  rebuilding: { generation: number; appliedEvents: number; totalEvents: number; lagEvents: number } | null;
  /**
   * partitions stopped below the log start, in this process: offsets [from, to) neither the log nor the
   * archive holds. The projection is not advanced past them (see docs/projections.md).
   */
  holes: { topic: string; partition: number; from: string; to: string }[];
}

export const projectionSummaries = async (
  store: ProjectionStore,
  log: EventLog,
  projections: readonly ReadableProjection[],
  now = Date.now(),
  holes?: ArchiveHoles,
): Promise<ProjectionSummary[]> =>
  Promise.all(
    projections.map(async (p) => {
      const [status, ends] = await Promise.all([
        store.status(p.name),
        log.endOffsets(p.categories.map((c) => log.topicFor(c))),
      ]);
      const freshness = measure(status?.checkpoints ?? [], ends, now, {
        state: status?.state ?? 'idle',
        heartbeatAt: status?.heartbeatAt ?? null,
      });
      let state: ProjectionSummary['state'] = status?.state ?? 'idle';
      if (state === 'running' && (status?.heartbeatAt ?? 0) < now - HEARTBEAT_TIMEOUT_MS)
        state = 'unresponsive';
      return {
        name: p.name,
        generation: status?.generation ?? 0,
        state,
        lagEvents: freshness.lagEvents,
        stalenessMs: freshness.stalenessMs,
        deadLettered: status?.deadLettered ?? 0,
        heartbeatAt: status?.heartbeatAt ? new Date(status.heartbeatAt).toISOString() : null,
        lastError: status?.lastError ?? null,
        rebuilding: status?.building
          ? {
              generation: status.building.generation,
              appliedEvents: status.building.checkpoints.reduce((n, c) => n + Number(c.nextOffset), 0),
              totalEvents: ends.reduce((n, e) => n + Number(e.offset), 0),
              lagEvents: measure(status.building.checkpoints, ends, now).lagEvents,
            }
          : null,
        holes: (holes?.open(p.name) ?? []).map((h) => ({
          topic: h.topic,
          partition: h.partition,
          from: String(h.from),
          to: String(h.to),
        })),
      };
    }),
  );
