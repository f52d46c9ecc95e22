// The ports: what the domain needs from the outside world. Adapters live in connectors/.
import type {
  Change,
  Checkpoint,
  CheckpointAdvance,
  ListQuery,
  ListRead,
  ProjectionSpec,
  ProjectionState,
  ProjectionStatus,
  RowRead,
} from './projection.ts';
import type {
  AppendResult,
  EventId,
  ExpectedVersion,
  Position,
  PreparedEvent,
  RecordedEvent,
  StreamId,
} from './types.ts';

export interface LogBatch {
  readonly topic: string;
  readonly partition: number;
  /** events in offset order; may be empty when only transaction markers were read */
  readonly events: readonly RecordedEvent[];
  /** the offset to resume from after this batch */
  readonly nextOffset: bigint;
  /** the partition's end (next offset to be written) when the batch was fetched */
  readonly highWatermark: bigint;
  /** ms epoch when the batch was fetched */
  readonly fetchedAt: number;
}

export interface SubscribeOptions {
  /** consumer group: processes with the same group share the partitions */
  readonly groupId: string;
  readonly topics: readonly string[];
  /** where to start in a partition on assignment; undefined → the start of the log */
  readonly startAt: (topic: string, partition: number) => Promise<bigint | undefined>;
  // at-least-once: after a crash or rebalance a batch may be delivered again; dedupe by offset.
  readonly onBatch: (batch: LogBatch) => Promise<void>;
  readonly maxBatchEvents?: number;
  /** false: the events' `data` may be left undecoded (null); for subscribers that read only their places */
  readonly withData?: boolean;
  /**
   * how long the log may hold a fetch back to gather more (ms): a subscriber that is not read by the
   * next request (the stream index) trades that much lag for fewer, larger fetches; a log that fetches
   * nothing ignores it. Unset: a fetch answers as soon as anything is there.
   */
  readonly gatherMs?: number;
  /** a batch failed (onBatch threw, or the log did); the subscription restarts from `startAt` and redelivers */
  readonly onError?: (error: unknown) => void;
  /**
   * The subscriber stands below the log's start (retention dropped [from, to) before it read them; no
   * position counts as 0 here): deliver those records through onBatch from elsewhere (the archive), or
   * throw (ArchiveGap) to keep the partition stopped. Unset: the partition stops and onError hears an
   * ArchiveGap. Never moved to the log's start silently. No position without this: the log's start.
   */
  readonly belowLogStart?: (topic: string, partition: number, from: bigint, to: bigint) => Promise<void>;
}

export interface Subscription {
  stop(): Promise<void>;
}

/**
 * why an event is a dead letter: its handler threw, a value it wrote is outside its column's type,
 * the database refused its rows, or its record could not be decoded or upcast
 */
export type DeadLetterKind = 'handler' | 'column' | 'rows' | 'decode' | 'upcast';
export type DeadLetterState = 'pending' | 'retried' | 'skipped';

/** a dead letter as the projection store keeps it: the event's place and identity, not its data */
export interface NewDeadLetter {
  readonly position: Position;
  readonly stream: StreamId;
  readonly version: number;
  readonly eventId: EventId;
  readonly type: string;
  readonly kind: DeadLetterKind;
  readonly reason: string;
}

export interface DeadLetterEntry extends NewDeadLetter {
  /** the letter's id, a decimal string */
  readonly id: string;
  readonly projection: string;
  readonly generation: number;
  readonly state: DeadLetterState;
  readonly recordedAt: string;
  readonly resolvedAt: string | null;
}

export interface DeadLetterQuery {
  /** the id of the last letter of the previous page */
  readonly after?: string;
  readonly limit: number;
  readonly state?: DeadLetterState;
}

export interface DeadLetter {
  readonly projection: string;
  readonly reason: string;
  readonly event: RecordedEvent;
}

export interface EventLog {
  topicFor(category: string): string;
  /** create topics for these categories if missing */
  ensureTopics(categories: readonly string[]): Promise<void>;
  /** the categories the log has a topic for */
  categories(): Promise<string[]>;
  /**
   * `deadline`: epoch ms by which the append must be committed, or it fails with AppendTimeout (503);
   * an append still waiting for its turn then is never written (docs/http-api.md#deadlines-and-backpressure)
   */
  append(
    stream: StreamId,
    events: readonly PreparedEvent[],
    expected: ExpectedVersion,
    options?: { readonly deadline?: number },
  ): Promise<AppendResult>;
  /** events of one stream from `fromVersion`, contiguous, at most `limit` */
  readStream(stream: StreamId, fromVersion: number, limit: number): Promise<RecordedEvent[]>;
  subscribe(options: SubscribeOptions): Promise<Subscription>;
  /** records an event a projection could not apply, with the reason; at-least-once */
  deadLetter(projection: string, event: RecordedEvent, reason: string): Promise<void>;
  /** the dead letters of a projection, oldest first */
  deadLetters(projection: string, limit: number): Promise<DeadLetter[]>;
  /** per partition of each topic, the next offset to be written (the end a reader can reach) */
  endOffsets(topics: readonly string[]): Promise<Position[]>;
  /** per partition, the first offset the log still holds (retention moves it); absent: the log keeps everything */
  startOffsets?(topics: readonly string[]): Promise<Position[]>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** where one event of a stream sits in the log */
export interface IndexedEvent {
  readonly stream: StreamId;
  readonly version: number;
  readonly id: EventId;
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
}

/** what the index knows of one stream: its head version (0: none) and which of the asked ids it holds */
export interface IndexedStream {
  readonly version: number;
  /** event id → [version, offset] */
  readonly ids: ReadonlyMap<string, readonly [number, bigint]>;
}

/**
 * The stream index (DESIGN §2): every event's place in the log by stream and version, and each
 * stream's head, built from the log like a projection (rows and checkpoint in one transaction).
 * Everything it answers reflects the records below its checkpoint of the partition; what lies after
 * it (the index's lag) is read from the log.
 */
export interface StreamIndex {
  /** the next offset of the partition the index has not covered; undefined: it has covered nothing */
  checkpoint(topic: string, partition: number): Promise<bigint | undefined>;
  /** every partition's checkpoint */
  checkpoints(): Promise<{ topic: string; partition: number; nextOffset: bigint }[]>;
  /**
   * the rows of a batch of the partition and the checkpoint's advance from `from` to `to`, in one
   * transaction; CheckpointFenced when the checkpoint is no longer at `from`
   */
  apply(
    topic: string,
    partition: number,
    events: readonly IndexedEvent[],
    advance: { from: bigint | null; to: bigint },
  ): Promise<void>;
  /** per stream asked: its head version and which of its `ids` the index holds */
  lookup(
    queries: readonly { stream: StreamId; ids: readonly string[] }[],
  ): Promise<Map<string, IndexedStream>>;
  /**
   * the stream's events from `fromVersion` (at most `limit`, in version order) and, read in the same
   * snapshot, the checkpoint of the partition that holds the stream
   */
  positions(
    stream: StreamId,
    topic: string,
    partition: number,
    fromVersion: number,
    limit: number,
  ): Promise<{ events: IndexedEvent[]; checkpoint: bigint | undefined }>;
  ping(): Promise<void>;
}

export interface ProjectionStore {
  /** create the projection's bookkeeping and the tables of this generation */
  prepare(spec: ProjectionSpec, generation: number): Promise<void>;
  activeGeneration(name: string): Promise<number | null>;
  /**
   * starts a blue/green rebuild: a new generation with empty tables, marked as building.
   * Conflict when another rebuild of the projection is alive (its heartbeat is under 30 s old).
   */
  beginRebuild(spec: ProjectionSpec): Promise<number>;
  /** keeps a rebuild marked alive */
  rebuildHeartbeat(name: string, generation: number): Promise<void>;
  /** makes the building generation the active one, atomically; returns the generation it replaced */
  switchGeneration(name: string, generation: number): Promise<number>;
  /** gives up a rebuild: the building mark is cleared (its tables are dropped with dropGeneration) */
  abandonRebuild(name: string, generation: number): Promise<void>;
  /** drops a generation's tables and checkpoints */
  dropGeneration(spec: ProjectionSpec, generation: number): Promise<void>;
  checkpoints(name: string, generation: number): Promise<Checkpoint[]>;
  /** row changes and checkpoint advance in one transaction; CheckpointFenced if the checkpoint moved */
  applyBatch(
    spec: ProjectionSpec,
    generation: number,
    changes: readonly Change[],
    advance: CheckpointAdvance,
  ): Promise<void>;
  setState(name: string, generation: number, state: ProjectionState, heartbeatAt?: number): Promise<void>;
  /**
   * records a dead letter (once per event and generation: a letter recorded again is not counted
   * again); with an advance (onError: skip) moves the checkpoint past the event in the same
   * transaction, without one (halt) marks the projection halted with the reason
   */
  recordDeadLetter(
    name: string,
    generation: number,
    letter: NewDeadLetter,
    advance: CheckpointAdvance | null,
  ): Promise<void>;
  /** a page of the projection's dead letters in the order they were recorded, after `after` (an id) */
  deadLetters(name: string, page: DeadLetterQuery): Promise<DeadLetterEntry[]>;
  deadLetter(name: string, id: string): Promise<DeadLetterEntry | null>;
  /**
   * resolves a pending dead letter of the active generation, in one transaction: `retried` applies
   * `changes` (the event's, computed again); both mark it resolved. When the projection halted on
   * this event, its checkpoint moves past it and it runs again. NotFound for an unknown letter,
   * Conflict for one resolved already or of another generation.
   */
  resolveDeadLetter(
    spec: ProjectionSpec,
    id: string,
    resolution: 'retried' | 'skipped',
    changes: readonly Change[],
  ): Promise<DeadLetterEntry>;
  /** dead letters per projection and kind, for the metrics */
  deadLetterCounts(): Promise<
    { projection: string; kind: DeadLetterKind; state: DeadLetterState; count: number }[]
  >;
  status(name: string): Promise<ProjectionStatus | null>;
  /**
   * the row and the checkpoints of the active generation, read in one snapshot. With a tenant, that
   * tenant's row only; without one, the default tenant's row, else the first other tenant's by name.
   */
  get(spec: ProjectionSpec, key: string, tenant?: string): Promise<RowRead>;
  /** a page of rows: a tenant's in key order, or every tenant's in key then tenant order */
  list(spec: ProjectionSpec, query: ListQuery): Promise<ListRead>;
  /** called after any checkpoint of `name` commits; returns the unsubscribe */
  onCheckpoint(listener: (projection: string) => void): Promise<() => Promise<void>>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface CompatibilityResult {
  readonly compatible: boolean;
  readonly messages: readonly string[];
}

export interface SchemaRegistry {
  /** register (idempotent) and return the schema id */
  register(subject: string, jsonSchema: object): Promise<number>;
  check(subject: string, jsonSchema: object): Promise<CompatibilityResult>;
  /** the 1-based version of `subject` that `schemaId` is */
  versionOf(subject: string, schemaId: number): Promise<number>;
  encode(schemaId: number, value: unknown): Promise<Buffer>;
  decode(payload: Buffer): Promise<{ schemaId: number; value: unknown }>;
  ping(): Promise<void>;
}

/** A dependency /readyz asks. */
export interface Probe {
  readonly name: string;
  /** a dependency logfront degrades without (the cache): reported by /readyz, never makes it fail */
  readonly optional?: boolean;
  ping(): Promise<void>;
}
