// What a projection is, as far as the stores and the facade need to know.

export type ColumnType = 'text' | 'integer' | 'bigint' | 'double' | 'boolean' | 'timestamptz' | 'jsonb';

export type Row = Record<string, unknown>;

export interface ProjectionSpec {
  readonly name: string;
  /** the key column; its values are text */
  readonly key: string;
  readonly columns: Readonly<Record<string, ColumnType>>;
}

/**
 * One row change a handler asks for. Applied in log order within a batch. `tenant`: the rows it
 * changes are that tenant's (the runner sets it from the event's tenant; absent: the default tenant).
 */
export type Change = (
  | { readonly kind: 'upsert'; readonly row: Row }
  | { readonly kind: 'patch'; readonly key: string; readonly set: Row }
  | { readonly kind: 'delete'; readonly key: string }
  /** adds to numeric columns; a missing row is created with the key and the deltas */
  | { readonly kind: 'increment'; readonly key: string; readonly by: Readonly<Record<string, number>> }
) & { readonly tenant?: string };

export interface Checkpoint {
  readonly topic: string;
  readonly partition: number;
  /** the next offset to apply: every record below it has been applied */
  readonly nextOffset: bigint;
  /** recorded time of the last event applied */
  readonly lastEventAt: string | null;
  /**
   * ms epoch T such that every record the log held at T on this partition has been applied.
   * Staleness while behind is at most now − caughtUpAt.
   */
  readonly caughtUpAt: number | null;
}

export interface CheckpointAdvance {
  readonly topic: string;
  readonly partition: number;
  /** the checkpoint this batch starts from (null: none stored yet); the write fails if it moved */
  readonly from: bigint | null;
  readonly to: bigint;
  readonly lastEventAt: string | null;
  readonly caughtUpAt: number | null;
}

export type ProjectionState = 'idle' | 'running' | 'stopped' | 'halted' | 'rebuilding';

export interface ProjectionStatus {
  readonly name: string;
  readonly generation: number;
  readonly state: ProjectionState;
  readonly heartbeatAt: number | null;
  readonly checkpoints: readonly Checkpoint[];
  readonly deadLettered: number;
  readonly lastError: string | null;
  /** a generation being rebuilt, with its checkpoints */
  readonly building: { readonly generation: number; readonly checkpoints: readonly Checkpoint[] } | null;
}

/** whether a runner is applying the projection: its state and last heartbeat (ms epoch) */
export interface Liveness {
  readonly state: ProjectionState;
  readonly heartbeatAt: number | null;
}

export interface RowRead {
  readonly row: Row | null;
  /** the row's tenant (null without a row) */
  readonly tenant: string | null;
  readonly generation: number;
  readonly checkpoints: readonly Checkpoint[];
  readonly liveness: Liveness;
}

export interface ListQuery {
  readonly filters: Readonly<Record<string, string>>;
  readonly limit: number;
  /** key after which the page starts */
  readonly afterKey: string | null;
  /** only this tenant's rows, in key order; absent: every tenant's, in key then tenant order */
  readonly tenant?: string | undefined;
  /** with every tenant's rows: the tenant of the row at `afterKey` (absent: the default tenant) */
  readonly afterTenant?: string | undefined;
}

export interface ListRead {
  readonly rows: Row[];
  /** the tenant of each row, in the same order */
  readonly tenants: string[];
  readonly generation: number;
  readonly checkpoints: readonly Checkpoint[];
  readonly liveness: Liveness;
}
