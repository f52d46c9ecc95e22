// The resilience layer of one process: a breaker per dependency and the retry policy, with what they
// did counted for /metrics (retries by dependency and operation, breaker transitions) and logged.

import type { Dependency } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { type Breaker, type BreakerState, CircuitOpen, createBreaker } from './breaker.ts';
import { DEFAULT_POLICY, type RetryEvent, type RetryPolicy, retry } from './retry.ts';

export const DEPENDENCIES: readonly Dependency[] = ['kafka', 'postgres', 'schema-registry', 'redis', 's3'];

export interface RunOptions {
  /** an error worth another attempt (default: what the layer counts as the dependency failing) */
  readonly retryable?: (error: unknown) => boolean;
  readonly policy?: RetryPolicy;
  /** epoch ms after which no attempt starts */
  readonly deadline?: number;
  readonly signal?: AbortSignal;
}

export interface Resilience {
  breaker(dependency: Dependency): Breaker;
  /**
   * `attempt` through the dependency's breaker, retried by the policy while it fails as the dependency
   * failing; an open breaker fails the call at once (503 dependency_unavailable, Retry-After)
   */
  run<T>(
    dependency: Dependency,
    operation: string,
    attempt: () => Promise<T>,
    options?: RunOptions,
  ): Promise<T>;
  /** counts a retry made by a loop of its own (a consumer's, a driver's) */
  retried(event: RetryEvent): void;
  /** for /metrics */
  states(): { dependency: Dependency; state: BreakerState }[];
  retries(): { dependency: Dependency; operation: string; count: number }[];
  transitions(): { dependency: Dependency; from: BreakerState; to: BreakerState; count: number }[];
}

export const createResilience = (deps: {
  logger: Logger;
  /** a failure of the dependency (down, unreachable, too slow), as against an answer it gave */
  isFailure: (dependency: Dependency, error: unknown) => boolean;
  policies?: Partial<Record<Dependency, RetryPolicy>>;
  failureThreshold?: number;
  openMs?: number;
  now?: () => number;
}): Resilience => {
  const { logger } = deps;
  const retries = new Map<string, { dependency: Dependency; operation: string; count: number }>();
  const transitions = new Map<
    string,
    { dependency: Dependency; from: BreakerState; to: BreakerState; count: number }
  >();
  const breakers = new Map<Dependency, Breaker>();
  const breaker = (dependency: Dependency) => {
    let b = breakers.get(dependency);
    if (!b) {
      b = createBreaker({
        dependency,
        isFailure: (e) => deps.isFailure(dependency, e),
        ...(deps.failureThreshold !== undefined ? { failureThreshold: deps.failureThreshold } : {}),
        ...(deps.openMs !== undefined ? { openMs: deps.openMs } : {}),
        ...(deps.now ? { now: deps.now } : {}),
        onTransition: ({ from, to, error }) => {
          const key = `${dependency}\0${from}\0${to}`;
          const t = transitions.get(key) ?? { dependency, from, to, count: 0 };
          t.count++;
          transitions.set(key, t);
          const fields = { dependency, from, to, ...(error ? { err: error } : {}) };
          if (to === 'open') logger.warn(fields, 'circuit breaker opened');
          else logger.info(fields, `circuit breaker ${to.replace('_', '-')}`);
        },
      });
      breakers.set(dependency, b);
    }
    return b;
  };
  const retried = (event: RetryEvent) => {
    const key = `${event.dependency}\0${event.operation}`;
    const r = retries.get(key) ?? { dependency: event.dependency, operation: event.operation, count: 0 };
    r.count++;
    retries.set(key, r);
    logger.debug(
      { dependency: event.dependency, operation: event.operation, attempt: event.attempt, err: event.error },
      'retrying',
    );
  };
  return {
    breaker,
    retried,
    run: (dependency, operation, attempt, options = {}) => {
      const b = breaker(dependency);
      const retryable = options.retryable ?? ((e: unknown) => deps.isFailure(dependency, e));
      return retry(() => b.call(attempt), {
        dependency,
        operation,
        policy: options.policy ?? deps.policies?.[dependency] ?? DEFAULT_POLICY,
        retryable: (e) => !(e instanceof CircuitOpen) && retryable(e),
        onRetry: retried,
        ...(options.deadline !== undefined ? { deadline: options.deadline } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
        ...(deps.now ? { now: deps.now } : {}),
      });
    },
    states: () => DEPENDENCIES.map((dependency) => ({ dependency, state: breaker(dependency).state })),
    retries: () => [...retries.values()].map((r) => ({ ...r })),
    transitions: () => [...transitions.values()].map((t) => ({ ...t })),
  };
};
