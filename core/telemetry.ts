// What the parts of logfront report for metrics, as they happen: a runner's applied batch, a
// sequencer's transaction or takeover. app/metrics.ts listens and turns them into Prometheus series;
// with no listener a report is a loop over an empty list.

export interface AppliedBatch {
  projection: string;
  events: number;
  seconds: number;
}

export type SequencerReport =
  | { kind: 'ownership'; topic: string; partition: number }
  | {
      kind: 'commit';
      topic: string;
      partition: number;
      /** appends and events in the transaction, its record bytes, and the appends still queued behind it */
      appends: number;
      events: number;
      bytes: number;
      queued: number;
      seconds: number;
    };

export interface TelemetryListener {
  applied?(batch: AppliedBatch): void;
  sequencer?(report: SequencerReport): void;
}

export interface Telemetry {
  applied(batch: AppliedBatch): void;
  sequencer(report: SequencerReport): void;
  listen(listener: TelemetryListener): () => void;
}

export const createTelemetry = (): Telemetry => {
  const listeners = new Set<TelemetryListener>();
  return {
    applied: (batch) => {
      for (const l of listeners) l.applied?.(batch);
    },
    sequencer: (report) => {
      for (const l of listeners) l.sequencer?.(report);
    },
    listen: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
};
