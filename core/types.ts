// The envelope, identifiers and positions of the log. Pure data, no I/O.

export type Brand<T, B extends string> = T & { readonly __brand: B };

export type StreamId = Brand<string, 'StreamId'>;
export type EventId = Brand<string, 'EventId'>;
export type ProjectionName = Brand<string, 'ProjectionName'>;

export type ExpectedVersion = number | 'no_stream' | 'stream_exists' | 'any';

export interface EventMetadata {
  tenant?: string;
  actor?: string;
  /** data subject id (GDPR) */
  subject?: string;
  correlationId?: string;
  causationId?: string;
  traceparent?: string;
  occurredAt?: string;
  /** set on read: sensitive fields (`data.<path>`) whose data subject was erased; they read as null */
  erased?: readonly string[];
}

/** Where one record sits in the log. `offset` is a bigint: Kafka offsets are int64. */
export interface Position {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
}

/** An event as a producer hands it in. */
export interface NewEvent {
  id?: string;
  type: string;
  data: unknown;
  metadata?: EventMetadata;
}

/** An event checked against its schema, with its id fixed, ready for the log. */
export interface PreparedEvent {
  id: EventId;
  type: string;
  data: unknown;
  metadata: EventMetadata;
  /** the id was generated for this append (the caller gave none): it cannot have been appended before */
  freshId?: true;
}

export interface RecordedEvent<T = unknown> {
  id: EventId;
  stream: StreamId;
  type: string;
  version: number;
  data: T;
  metadata: EventMetadata;
  position: Position;
  /** ISO time the log recorded the event */
  recordedAt: string;
  /**
   * set when the record's payload could not be decoded or upcast (data is then null): a data error
   * of this one event, which a projection dead-letters, never a reason to stop reading the partition
   */
  undecodable?: {
    kind: 'decode' | 'upcast';
    reason: string;
    /** the record's payload as it is in the log, base64 (kept by the archive, so nothing is lost) */
    payload?: string;
  };
}

export interface AppendResult {
  stream: StreamId;
  fromVersion: number;
  toVersion: number;
  /** position of the last event of the append */
  position: Position;
}
