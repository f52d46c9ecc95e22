import { describe, expect, it } from 'vitest';
import {
  CheckpointFenced,
  ConfigError,
  Conflict,
  DependencyUnavailable,
  isLogfrontError,
  LogfrontError,
  NotFound,
  StalenessBudgetExceeded,
  TooLarge,
  Unavailable,
  ValidationFailed,
  VersionConflict,
} from '../../core/errors.ts';

describe('errors', () => {
  const cases: [string, LogfrontError, string, number][] = [
    ['ValidationFailed', new ValidationFailed('bad'), 'validation_failed', 400],
    ['VersionConflict', new VersionConflict('order-1', 2, 3), 'version_conflict', 409],
    ['NotFound', new NotFound('no such projection'), 'not_found', 404],
    ['Conflict', new Conflict('ids already appended'), 'conflict', 409],
    ['TooLarge', new TooLarge('too big', 10), 'too_large', 413],
    [
      'StalenessBudgetExceeded',
      new StalenessBudgetExceeded('orders', 1, 1, 0),
      'staleness_budget_exceeded',
      503,
    ],
    ['Unavailable', new Unavailable('kafka is down'), 'unavailable', 503],
    [
      'DependencyUnavailable',
      new DependencyUnavailable('kafka', 'connection refused'),
      'dependency_unavailable',
      503,
    ],
    ['ConfigError', new ConfigError([]), 'config_invalid', 500],
    ['CheckpointFenced', new CheckpointFenced('moved'), 'checkpoint_fenced', 409],
  ];
  for (const [name, error, code, status] of cases) {
    it(`${name} has the stable code ${code} and maps to HTTP ${status}`, () => {
      expect(error.code).toBe(code);
      expect(error.status).toBe(status);
      expect(error).toBeInstanceOf(LogfrontError);
      expect(error).toBeInstanceOf(Error);
      expect(isLogfrontError(error)).toBe(true);
    });
  }

  it('plain errors and non-errors are not logfront errors', () => {
    expect(isLogfrontError(new Error('x'))).toBe(false);
    expect(isLogfrontError({ code: 'not_found', status: 404 })).toBe(false);
    expect(isLogfrontError(undefined)).toBe(false);
  });

  it('errors without facts of their own send no details', () => {
    expect(new NotFound('x').details()).toEqual({});
    expect(new Conflict('x').details()).toEqual({});
    expect(new CheckpointFenced('x').details()).toEqual({});
  });

  describe('ValidationFailed', () => {
    it('lists every issue in its message and its details', () => {
      const issues = [
        { path: 'events.0.type', message: 'unknown event type' },
        { path: 'events.1.data.qty', message: 'too small' },
      ];

      const error = new ValidationFailed('events failed validation', issues);

      expect(error.message).toBe(
        'events failed validation: events.0.type: unknown event type; events.1.data.qty: too small',
      );
      expect(error.details()).toEqual({ issues });
      expect(error.issues).toBe(issues);
    });

    it('an issue at the root is shown as (root)', () => {
      expect(new ValidationFailed('bad body', [{ path: '', message: 'expected an object' }]).message).toBe(
        'bad body: (root): expected an object',
      );
    });

    it('without issues the message stands alone and the details list none', () => {
      const error = new ValidationFailed('bad request');

      expect(error.message).toBe('bad request');
      expect(error.details()).toEqual({ issues: [] });
    });
  });

  describe('VersionConflict', () => {
    it('states where the stream is and what was expected', () => {
      const error = new VersionConflict('order-1', 2, 5);

      expect(error.message).toBe('stream order-1 is at version 5, expected 2');
      expect(error.details()).toEqual({ stream: 'order-1', expected: 2, actual: 5 });
    });

    it('a symbolic expectation is named as such', () => {
      const error = new VersionConflict('order-1', 'no_stream', 1);

      expect(error.message).toBe('stream order-1 is at version 1, expected no_stream');
      expect(error.details()).toEqual({ stream: 'order-1', expected: 'no_stream', actual: 1 });
    });
  });

  it('TooLarge tells the caller the limit', () => {
    const error = new TooLarge('append of 2000 events is over the limit', 1000);

    expect(error.message).toBe('append of 2000 events is over the limit');
    expect(error.limit).toBe(1000);
    expect(error.details()).toEqual({ limit: 1000 });
  });

  it('StalenessBudgetExceeded states staleness, lag and budget', () => {
    const error = new StalenessBudgetExceeded('orders', 1500, 42, 1000);

    expect(error.message).toBe(
      'projection orders is 1500 ms stale (42 events behind), over the budget of 1000 ms',
    );
    expect(error.details()).toEqual({
      projection: 'orders',
      stalenessMs: 1500,
      lagEvents: 42,
      budgetMs: 1000,
    });
    expect(error.budgetMs).toBe(1000);
  });

  it('Unavailable asks to retry after one second unless told otherwise', () => {
    expect(new Unavailable('down').retryAfterSeconds).toBe(1);
    expect(new Unavailable('down', 30).retryAfterSeconds).toBe(30);
    expect(new Unavailable('kafka is down').message).toBe('kafka is down');
  });

  it('DependencyUnavailable names the dependency, asks to retry like any Unavailable and keeps its cause', () => {
    const cause = new Error('connect ECONNREFUSED 127.0.0.1:5432');
    const error = new DependencyUnavailable('postgres', cause.message, { cause });
    expect(error).toBeInstanceOf(Unavailable);
    expect(error.message).toBe('postgres is unavailable: connect ECONNREFUSED 127.0.0.1:5432');
    expect(error.details()).toEqual({ dependency: 'postgres' });
    expect(error.retryAfterSeconds).toBe(1);
    expect(error.cause).toBe(cause);
    expect(new DependencyUnavailable('s3', 'slow down', { retryAfterSeconds: 5 }).retryAfterSeconds).toBe(5);
  });

  it('ConfigError lists every wrong variable', () => {
    const error = new ConfigError([
      { path: 'LOGFRONT_PORT', message: 'too big' },
      { path: 'LOGFRONT_MODE', message: 'invalid option' },
    ]);

    expect(error.message).toBe(
      'invalid configuration: LOGFRONT_PORT: too big; LOGFRONT_MODE: invalid option',
    );
    expect(error.issues).toHaveLength(2);
  });
});
