// The resilience core (core/resilience): the retry policy, the breaker machine and the layer that
// joins them, driven through their clock, sleep and random seams.
import { describe, expect, it } from 'vitest';
import { DependencyUnavailable, VersionConflict } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import {
  BREAKER_LEVEL,
  type BreakerTransition,
  CircuitOpen,
  createBreaker,
} from '../../core/resilience/breaker.ts';
import { createResilience } from '../../core/resilience/resilience.ts';
import {
  backoffMs,
  DEFAULT_POLICY,
  type RetryEvent,
  type RetryPolicy,
  retry,
  schedule,
  seededRandom,
} from '../../core/resilience/retry.ts';

const down = () => new DependencyUnavailable('postgres', 'connection refused');
const policy: RetryPolicy = { baseMs: 100, maxDelayMs: 1000, maxAttempts: 5, budgetMs: 10_000 };

/** a clock that moves only when the fake sleep waits */
const fakeTime = (start = 1_000_000) => {
  let t = start;
  const waits: number[] = [];
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms;
    },
    sleep: async (ms: number) => {
      waits.push(ms);
      t += ms;
    },
    waits,
  };
};

/** an attempt that fails with `errors` in turn, then returns `value` */
const failing = <T>(errors: unknown[], value: T) => {
  let calls = 0;
  const attempt = async () => {
    calls++;
    const error = errors.shift();
    if (error !== undefined) throw error;
    return value;
  };
  return Object.assign(attempt, { calls: () => calls });
};

describe('backoffMs and schedule', () => {
  it('doubles the cap from baseMs up to maxDelayMs, scaled by the random number (full jitter)', () => {
    expect([1, 2, 3, 4, 5].map((n) => backoffMs(policy, n, 1))).toEqual([100, 200, 400, 800, 1000]);
    expect(backoffMs(policy, 3, 0.5)).toBe(200);
    expect(backoffMs(policy, 1, 0)).toBe(0);
  });

  it('schedule takes one wait per retry the policy allows, no more', () => {
    expect(schedule(policy, [1, 1, 1, 1, 1, 1, 1])).toEqual([100, 200, 400, 800]);
    expect(schedule(policy, [0.5])).toEqual([50]);
  });

  it('seededRandom is reproducible and stays in [0, 1)', () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const xs = Array.from({ length: 1000 }, () => a());
    expect(xs).toEqual(Array.from({ length: 1000 }, () => b()));
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(seededRandom(43)()).not.toBe(xs[0]);
  });
});

describe('retry', () => {
  it('an attempt that succeeds at once is neither retried nor reported', async () => {
    const time = fakeTime();
    const events: RetryEvent[] = [];
    const attempt = failing([], 'ok');
    const value = await retry(attempt, {
      dependency: 'postgres',
      operation: 'query',
      retryable: () => true,
      onRetry: (e) => events.push(e),
      ...time,
    });
    expect(value).toBe('ok');
    expect(attempt.calls()).toBe(1);
    expect(events).toEqual([]);
  });

  it('retries what is retryable with the policy’s waits, reports each retry, and returns the value', async () => {
    const time = fakeTime();
    const events: RetryEvent[] = [];
    const errors = [down(), down(), down()];
    const attempt = failing([...errors], 42);
    const value = await retry(attempt, {
      dependency: 'postgres',
      operation: 'query',
      policy,
      retryable: (e) => e instanceof DependencyUnavailable,
      onRetry: (e) => events.push(e),
      random: () => 1,
      ...time,
    });
    expect(value).toBe(42);
    expect(time.waits).toEqual([100, 200, 400]);
    expect(events.map((e) => [e.attempt, e.delayMs, e.error])).toEqual([
      [1, 100, errors[0]],
      [2, 200, errors[1]],
      [3, 400, errors[2]],
    ]);
    expect(events[0]).toMatchObject({ dependency: 'postgres', operation: 'query' });
  });

  it('an error that is not retryable is thrown at once', async () => {
    const time = fakeTime();
    const conflict = new VersionConflict('order-1', 1, 2);
    const attempt = failing([conflict], 'never');
    await expect(
      retry(attempt, { dependency: 'kafka', operation: 'append', retryable: () => false, ...time }),
    ).rejects.toBe(conflict);
    expect(attempt.calls()).toBe(1);
    expect(time.waits).toEqual([]);
  });

  it('gives up after maxAttempts with the last error', async () => {
    const time = fakeTime();
    const errors = Array.from({ length: 10 }, down);
    const attempt = failing([...errors], 'never');
    await expect(
      retry(attempt, { dependency: 'postgres', operation: 'q', policy, retryable: () => true, ...time }),
    ).rejects.toBe(errors[4]);
    expect(attempt.calls()).toBe(5);
  });

  it('gives up when the next wait would pass the budget', async () => {
    const time = fakeTime();
    const attempt = failing(Array.from({ length: 10 }, down), 'never');
    await expect(
      retry(attempt, {
        dependency: 'postgres',
        operation: 'q',
        policy: { ...policy, budgetMs: 250 },
        retryable: () => true,
        random: () => 1,
        ...time,
      }),
    ).rejects.toBeInstanceOf(DependencyUnavailable);
    // 100 (at 100), then 200 would end at 300 ≥ 250
    expect(time.waits).toEqual([100]);
    expect(attempt.calls()).toBe(2);
  });

  it('gives up when the next wait would pass the caller’s deadline, earlier than the budget', async () => {
    const time = fakeTime();
    const attempt = failing(Array.from({ length: 10 }, down), 'never');
    await expect(
      retry(attempt, {
        dependency: 'postgres',
        operation: 'q',
        policy,
        deadline: time.now() + 50,
        retryable: () => true,
        random: () => 1,
        ...time,
      }),
    ).rejects.toBeInstanceOf(DependencyUnavailable);
    expect(attempt.calls()).toBe(1);
  });

  it('an aborted signal stops the retries, before a wait and after one', async () => {
    const time = fakeTime();
    const before = new AbortController();
    before.abort();
    const first = failing([down(), down()], 'never');
    await expect(
      retry(first, {
        dependency: 'postgres',
        operation: 'q',
        retryable: () => true,
        signal: before.signal,
        ...time,
      }),
    ).rejects.toBeInstanceOf(DependencyUnavailable);
    expect(first.calls()).toBe(1);

    const during = new AbortController();
    const second = failing([down(), down()], 'never');
    await expect(
      retry(second, {
        dependency: 'postgres',
        operation: 'q',
        retryable: () => true,
        signal: during.signal,
        now: time.now,
        sleep: async () => during.abort(),
      }),
    ).rejects.toBeInstanceOf(DependencyUnavailable);
    expect(second.calls()).toBe(1);
  });

  it('passes the attempt number and, without seams, waits for real with the default policy', async () => {
    const seen: number[] = [];
    const value = await retry(
      async (n) => {
        seen.push(n);
        if (n < 2) throw down();
        return n;
      },
      { dependency: 'postgres', operation: 'q', retryable: () => true, random: () => 0.01 },
    );
    expect(value).toBe(2);
    expect(seen).toEqual([1, 2]);
    expect(DEFAULT_POLICY.maxAttempts).toBeGreaterThan(1);
  });
});

describe('the breaker', () => {
  const breakerWith = (over: { failureThreshold?: number; openMs?: number } = {}) => {
    const time = fakeTime();
    const transitions: BreakerTransition[] = [];
    const breaker = createBreaker({
      dependency: 'postgres',
      failureThreshold: 3,
      openMs: 5000,
      isFailure: (e) => e instanceof DependencyUnavailable,
      onTransition: (t) => transitions.push(t),
      now: time.now,
      ...over,
    });
    return { breaker, transitions, time };
  };
  const fail = (b: ReturnType<typeof createBreaker>, error: unknown = down()) =>
    b.call(() => Promise.reject(error)).catch((e: unknown) => e);

  it('stays closed below the threshold; a success resets the count', async () => {
    const { breaker, transitions } = breakerWith();
    await fail(breaker);
    await fail(breaker);
    expect(await breaker.call(async () => 'ok')).toBe('ok');
    await fail(breaker);
    await fail(breaker);
    expect(breaker.state).toBe('closed');
    expect(transitions).toEqual([]);
  });

  it('opens after failureThreshold failures in a row, then refuses at once with Retry-After', async () => {
    const { breaker, transitions, time } = breakerWith();
    const last = down();
    await fail(breaker);
    await fail(breaker);
    await fail(breaker, last);
    expect(breaker.state).toBe('open');
    expect(transitions).toEqual([{ dependency: 'postgres', from: 'closed', to: 'open', error: last }]);
    let called = false;
    time.advance(1500);
    const refused = await breaker
      .call(async () => {
        called = true;
      })
      .catch((e: unknown) => e);
    expect(called).toBe(false);
    expect(refused).toBeInstanceOf(CircuitOpen);
    expect(refused).toBeInstanceOf(DependencyUnavailable);
    expect(refused).toMatchObject({ dependency: 'postgres', retryAfterSeconds: 4, cause: last });
    expect((refused as Error).message).toContain('connection refused');
  });

  it('errors that are not failures of the dependency count as answers: they never open it', async () => {
    const { breaker } = breakerWith();
    for (let i = 0; i < 10; i++) await fail(breaker, new VersionConflict('s', 1, 2));
    expect(breaker.state).toBe('closed');
  });

  it('after openMs one trial call goes through (half-open); its success closes the breaker', async () => {
    const { breaker, transitions, time } = breakerWith();
    for (let i = 0; i < 3; i++) await fail(breaker);
    time.advance(5000);
    let release!: () => void;
    const trial = breaker.call(() => new Promise<string>((r) => (release = () => r('back'))));
    expect(breaker.state).toBe('half_open');
    // another call while the trial is under way waits for its verdict as if open
    expect(await breaker.call(async () => 'second').catch((e: unknown) => e)).toBeInstanceOf(CircuitOpen);
    release();
    expect(await trial).toBe('back');
    expect(breaker.state).toBe('closed');
    expect(transitions.map((t) => [t.from, t.to])).toEqual([
      ['closed', 'open'],
      ['open', 'half_open'],
      ['half_open', 'closed'],
    ]);
    expect(transitions[2]).not.toHaveProperty('error');
  });

  it('a failed trial opens it for another period', async () => {
    const { breaker, transitions, time } = breakerWith();
    for (let i = 0; i < 3; i++) await fail(breaker);
    time.advance(5000);
    await fail(breaker);
    expect(breaker.state).toBe('open');
    expect(transitions.map((t) => t.to)).toEqual(['open', 'half_open', 'open']);
    time.advance(4999);
    expect(breaker.state).toBe('open');
    time.advance(1);
    expect(breaker.state).toBe('half_open');
  });

  it('record takes outcomes of calls made elsewhere; a refusal without a known error still refuses', async () => {
    const { breaker } = breakerWith({ failureThreshold: 1 });
    breaker.record({ ok: false, error: 'not an Error' });
    expect(breaker.state).toBe('open');
    const refused = (await fail(breaker)) as CircuitOpen;
    expect(refused).toBeInstanceOf(CircuitOpen);
    expect(refused.message).toBe('postgres is unavailable: circuit open after repeated failures');
    expect(refused.retryAfterSeconds).toBe(5);
  });

  it('defaults: 5 failures, the real clock, no listener; a threshold below 1 counts as 1', async () => {
    const b = createBreaker({ dependency: 's3', isFailure: () => true });
    for (let i = 0; i < 4; i++) await fail(b);
    expect(b.state).toBe('closed');
    await fail(b);
    expect(b.state).toBe('open');
    const one = createBreaker({ dependency: 's3', isFailure: () => true, failureThreshold: 0 });
    await fail(one);
    expect(one.state).toBe('open');
    expect(BREAKER_LEVEL).toEqual({ closed: 0, half_open: 1, open: 2 });
  });
});

describe('the resilience layer', () => {
  const logged: { level: string; fields: object; message?: string }[] = [];
  const log = (level: string) => (fields: object | string, message?: string) =>
    void logged.push({
      level,
      fields: typeof fields === 'string' ? {} : fields,
      message: message ?? String(fields),
    });
  const logger: Logger = { error: log('error'), warn: log('warn'), info: log('info'), debug: log('debug') };

  const layer = (over: Partial<Parameters<typeof createResilience>[0]> = {}) => {
    const time = fakeTime();
    const resilience = createResilience({
      logger,
      isFailure: (_dep, e) => e instanceof DependencyUnavailable,
      failureThreshold: 2,
      openMs: 1000,
      policies: { postgres: { baseMs: 1, maxDelayMs: 1, maxAttempts: 3, budgetMs: 1000 } },
      now: time.now,
      ...over,
    });
    return { resilience, time };
  };

  it('run retries a failing dependency and counts each retry by dependency and operation', async () => {
    const { resilience } = layer({ failureThreshold: 10 });
    const attempt = failing([down(), down()], 'row');
    expect(await resilience.run('postgres', 'query', attempt)).toBe('row');
    expect(attempt.calls()).toBe(3);
    expect(resilience.retries()).toEqual([{ dependency: 'postgres', operation: 'query', count: 2 }]);
    expect(logged.some((l) => l.level === 'debug' && l.message === 'retrying')).toBe(true);
  });

  it('an open breaker ends the retries at once; the transitions are counted and logged', async () => {
    const { resilience, time } = layer();
    const attempt = failing(Array.from({ length: 10 }, down), 'never');
    const error = await resilience.run('postgres', 'query', attempt).catch((e: unknown) => e);
    // two failures open it; the third attempt meets the open breaker and is not retried
    expect(error).toBeInstanceOf(CircuitOpen);
    expect(attempt.calls()).toBe(2);
    expect(resilience.breaker('postgres').state).toBe('open');
    expect(resilience.states()).toContainEqual({ dependency: 'postgres', state: 'open' });
    expect(resilience.states()).toContainEqual({ dependency: 'kafka', state: 'closed' });
    time.advance(1000);
    expect(await resilience.run('postgres', 'query', async () => 'back')).toBe('back');
    expect(resilience.transitions()).toEqual([
      { dependency: 'postgres', from: 'closed', to: 'open', count: 1 },
      { dependency: 'postgres', from: 'open', to: 'half_open', count: 1 },
      { dependency: 'postgres', from: 'half_open', to: 'closed', count: 1 },
    ]);
    expect(logged.some((l) => l.level === 'warn' && l.message === 'circuit breaker opened')).toBe(true);
    expect(logged.some((l) => l.level === 'info' && l.message === 'circuit breaker half-open')).toBe(true);
    expect(logged.some((l) => l.level === 'info' && l.message === 'circuit breaker closed')).toBe(true);
  });

  it('a caller’s retryable, policy, deadline and signal are used; retried counts a loop of its own', async () => {
    const { resilience, time } = layer({ failureThreshold: 100 });
    const once = failing([down(), down()], 'x');
    await expect(
      resilience.run('postgres', 'connect', once, { retryable: () => false }),
    ).rejects.toBeInstanceOf(DependencyUnavailable);
    expect(once.calls()).toBe(1);
    const twice = failing([down(), down(), down()], 'x');
    await expect(
      resilience.run('kafka', 'admin', twice, {
        policy: { baseMs: 1, maxDelayMs: 1, maxAttempts: 2, budgetMs: 100 },
        deadline: time.now() + 1000,
        signal: new AbortController().signal,
      }),
    ).rejects.toBeInstanceOf(DependencyUnavailable);
    expect(twice.calls()).toBe(2);
    resilience.retried({ dependency: 'kafka', operation: 'fetch', attempt: 1, delayMs: 5, error: down() });
    resilience.retried({ dependency: 'kafka', operation: 'fetch', attempt: 2, delayMs: 5, error: down() });
    expect(resilience.retries()).toContainEqual({ dependency: 'kafka', operation: 'fetch', count: 2 });
  });

  it('one breaker per dependency, made once; defaults without a clock or thresholds', async () => {
    const resilience = createResilience({ logger, isFailure: () => true });
    expect(resilience.breaker('s3')).toBe(resilience.breaker('s3'));
    expect(resilience.states().map((s) => s.dependency)).toEqual([
      'kafka',
      'postgres',
      'schema-registry',
      'redis',
      's3',
    ]);
    expect(await resilience.run('redis', 'get', async () => 1)).toBe(1);
    expect(resilience.retries()).toEqual([]);
    expect(resilience.transitions()).toEqual([]);
  });
});
