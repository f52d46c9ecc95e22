import type { ExpectedVersion } from './types.ts';

export interface Issue {
  path: string;
  message: string;
}

/** Every error a caller may see. `code` is stable; `status` is the HTTP status it maps to. */
export abstract class LogfrontError extends Error {
  abstract readonly code: string;
  abstract readonly status: number;
  /** facts a caller needs, sent next to `error` and `message` */
  details(): Record<string, unknown> {
    return {};
  }
}

export class ValidationFailed extends LogfrontError {
  readonly code = 'validation_failed';
  readonly status = 400;
  constructor(
    message: string,
    readonly issues: Issue[] = [],
  ) {
    super(
      issues.length
        ? `${message}: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`
        : message,
    );
  }
  override details() {
    return { issues: this.issues };
  }
}

export class VersionConflict extends LogfrontError {
  readonly code = 'version_conflict';
  readonly status = 409;
  constructor(
    readonly stream: string,
    readonly expected: ExpectedVersion,
    readonly actual: number,
  ) {
    super(`stream ${stream} is at version ${actual}, expected ${String(expected)}`);
  }
  override details() {
    return { stream: this.stream, expected: this.expected, actual: this.actual };
  }
}

export class NotFound extends LogfrontError {
  readonly code = 'not_found';
  readonly status = 404;
}

export class Conflict extends LogfrontError {
  readonly code = 'conflict';
  readonly status = 409;
}

export class TooLarge extends LogfrontError {
  readonly code = 'too_large';
  readonly status = 413;
  constructor(
    message: string,
    readonly limit: number,
  ) {
    super(message);
  }
  override details() {
    return { limit: this.limit };
  }
}

/** logfront cannot answer now (it is shutting down, a part of it is closed): try again after `Retry-After`. */
export class Unavailable extends LogfrontError {
  readonly code: string = 'unavailable';
  readonly status = 503;
  constructor(
    message: string,
    readonly retryAfterSeconds = 1,
  ) {
    super(message);
  }
}

/**
 * The projection is further behind than the caller's budget allows, and did not catch up within it: a
 * 503 with Retry-After (the budget, at least a second: by then the projection may have caught up).
 */
export class StalenessBudgetExceeded extends Unavailable {
  override readonly code: string = 'staleness_budget_exceeded';
  constructor(
    readonly projection: string,
    readonly stalenessMs: number,
    readonly lagEvents: number,
    readonly budgetMs: number,
  ) {
    super(
      `projection ${projection} is ${stalenessMs} ms stale (${lagEvents} events behind), over the budget of ${budgetMs} ms`,
      Math.max(1, Math.ceil(budgetMs / 1000)),
    );
  }
  override details() {
    return {
      projection: this.projection,
      stalenessMs: this.stalenessMs,
      lagEvents: this.lagEvents,
      budgetMs: this.budgetMs,
    };
  }
}

/**
 * An append was not committed within its deadline (LOGFRONT_APPEND_DEADLINE_MS from its receipt). It may
 * still commit if it was already inside a Kafka transaction when the deadline passed; a retry with the same
 * event ids is answered with the first result then, and appends them otherwise: so it is safe to retry.
 */
export class AppendTimeout extends Unavailable {
  override readonly code: string = 'append_timeout';
  constructor(
    readonly stream: string,
    readonly deadlineMs: number,
  ) {
    super(
      `the append to ${stream} was not committed within its deadline of ${deadlineMs} ms; it is safe to retry with the same event ids (an append that did commit is answered with its first result, never written twice)`,
      1,
    );
  }
  override details() {
    return { stream: this.stream, deadlineMs: this.deadlineMs };
  }
}

/** More appends wait for a partition than its queue holds: refused at once, try again after `Retry-After`. */
export class Overloaded extends LogfrontError {
  readonly code = 'overloaded';
  readonly status = 429;
  constructor(
    message: string,
    readonly retryAfterSeconds = 1,
  ) {
    super(message);
  }
}

/** the services logfront depends on, by the names /readyz gives them */
export type Dependency = 'kafka' | 'postgres' | 'schema-registry' | 'redis' | 's3';

/**
 * A service logfront depends on is down, unreachable or does not answer in time: not the caller's
 * fault, nor logfront's. The adapter that talks to the service says so, naming it.
 */
export class DependencyUnavailable extends Unavailable {
  override readonly code: string = 'dependency_unavailable';
  constructor(
    readonly dependency: Dependency,
    message: string,
    options: { cause?: unknown; retryAfterSeconds?: number } = {},
  ) {
    super(`${dependency} is unavailable: ${message}`, options.retryAfterSeconds ?? 1);
    if (options.cause !== undefined) this.cause = options.cause;
  }
  override details() {
    return { dependency: this.dependency };
  }
}

export class ConfigError extends LogfrontError {
  readonly code = 'config_invalid';
  readonly status = 500;
  constructor(readonly issues: Issue[]) {
    super(`invalid configuration: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
  }
  override details() {
    return { issues: this.issues };
  }
}

/** A projection stopped on an event its handler cannot apply (onError: 'halt'). */
export class ProjectionHalted extends LogfrontError {
  readonly code = 'projection_halted';
  readonly status = 503;
  constructor(
    readonly projection: string,
    readonly reason: string,
  ) {
    super(`projection ${projection} is halted: ${reason}`);
  }
  override details() {
    return { projection: this.projection, reason: this.reason };
  }
}

/** how a column is named in a message: as declared, or quoted and cut when it is not a plain name */
const columnName = (column: string) =>
  /^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(column)
    ? column
    : JSON.stringify(column.length > 64 ? `${column.slice(0, 64)}…` : column);

/**
 * A projection's handler asked for a row change its table cannot hold (a value outside its column's
 * type, a column the projection does not declare, a key that is no key): a data error of the event
 * that produced it, found before the database sees the batch. `column` is null when the change as a
 * whole is malformed.
 */
export class ColumnValueRefused extends LogfrontError {
  readonly code = 'column_value_refused';
  readonly status = 422;
  constructor(
    readonly projection: string,
    readonly column: string | null,
    readonly reason: string,
  ) {
    super(`${projection}${column === null ? '' : `.${columnName(column)}`}: ${reason}`);
  }
  override details() {
    return { projection: this.projection, column: this.column, reason: this.reason };
  }
}

/** A checkpoint moved under a runner's feet: another runner owns the partition now. */
/** a record of the log whose payload cannot be decoded or upcast: a data error of that one event */
export class EventUndecodable extends LogfrontError {
  readonly code = 'event_undecodable';
  readonly status = 422;
  constructor(
    readonly kind: 'decode' | 'upcast',
    message: string,
  ) {
    super(message);
  }
}

/** the client of a waiting read disconnected: the wait ends, nobody is answered (499 in the logs) */
export class ClientGone extends LogfrontError {
  readonly code = 'client_gone';
  readonly status = 499;
  constructor() {
    super('the client disconnected while the read waited');
  }
}

export class CheckpointFenced extends LogfrontError {
  readonly code = 'checkpoint_fenced';
  readonly status = 409;
}

export const isLogfrontError = (e: unknown): e is LogfrontError => e instanceof LogfrontError;

/**
 * `call`, its failures passed through `classify`: an adapter's judgement of which of them say its
 * service is down (DependencyUnavailable) and which are something else (kept as they are)
 */
export const classified =
  <A extends unknown[], R>(classify: (error: unknown) => unknown, call: (...args: A) => Promise<R>) =>
  async (...args: A): Promise<R> => {
    try {
      return await call(...args);
    } catch (error) {
      throw classify(error);
    }
  };

/** Erasure needs encrypted sensitive fields, which need a key-encryption key (LOGFRONT_KEK). */
export class ErasureUnavailable extends LogfrontError {
  readonly code = 'erasure_unavailable';
  readonly status = 409;
}
