// The one retry policy: exponential backoff with full jitter, a total budget, and the caller's
// deadline. Every call to a real system that is worth another attempt goes through `retry`; what an
// attempt may throw without being worth another (a conflict, a refusal, the caller's mistake) ends it.

import type { Dependency } from '../errors.ts';

export interface RetryPolicy {
  /** the first wait's upper bound (ms); each attempt doubles it */
  readonly baseMs: number;
  /** no wait is longer than this (ms) */
  readonly maxDelayMs: number;
  /** attempts in all, the first included */
  readonly maxAttempts: number;
  /** time from the first attempt after which none is started (ms) */
  readonly budgetMs: number;
}

/** what a dependency's calls use unless a caller says otherwise */
export const DEFAULT_POLICY: RetryPolicy = { baseMs: 50, maxDelayMs: 2000, maxAttempts: 8, budgetMs: 10_000 };

/** the wait before attempt `attempt + 1` (attempt counts from 1): full jitter, uniform in [0, cap) */
export const backoffMs = (policy: RetryPolicy, attempt: number, random: number): number =>
  random * Math.min(policy.maxDelayMs, policy.baseMs * 2 ** (attempt - 1));

/** a retry as it is reported (metrics, logs) */
export interface RetryEvent {
  readonly dependency: Dependency;
  readonly operation: string;
  /** the attempt that failed (from 1) */
  readonly attempt: number;
  readonly delayMs: number;
  readonly error: unknown;
}

export interface RetryOptions {
  readonly dependency: Dependency;
  /** what is being done, for metrics and logs: `produce`, `fetch`, `listen`, … */
  readonly operation: string;
  readonly policy?: RetryPolicy;
  /** an error worth another attempt; any other is thrown at once */
  readonly retryable: (error: unknown) => boolean;
  /** epoch ms after which no attempt starts (the request's deadline) */
  readonly deadline?: number;
  /** stops the retries (shutdown): the last error is thrown */
  readonly signal?: AbortSignal;
  readonly onRetry?: (event: RetryEvent) => void;
  /** seams for tests: [0, 1) random numbers, the clock, and the wait */
  readonly random?: () => number;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Runs `attempt` until it succeeds, throws what is not retryable, or the policy gives up: attempts
 * used up, the budget or the deadline would pass during the next wait, or the signal aborted. Then
 * the last error is thrown as it was.
 */
export const retry = async <T>(attempt: (n: number) => Promise<T>, options: RetryOptions): Promise<T> => {
  const policy = options.policy ?? DEFAULT_POLICY;
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const sleep = options.sleep ?? realSleep;
  const started = now();
  const giveUpAt = Math.min(started + policy.budgetMs, options.deadline ?? Number.POSITIVE_INFINITY);
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (error) {
      if (!options.retryable(error) || n >= policy.maxAttempts || options.signal?.aborted) throw error;
      const delayMs = backoffMs(policy, n, random());
      if (now() + delayMs >= giveUpAt) throw error;
      options.onRetry?.({
        dependency: options.dependency,
        operation: options.operation,
        attempt: n,
        delayMs,
        error,
      });
      await sleep(delayMs);
      if (options.signal?.aborted) throw error;
    }
  }
};

/** the waits a policy would take with these random numbers: what a golden test pins */
export const schedule = (policy: RetryPolicy, randoms: readonly number[]): number[] =>
  randoms.slice(0, policy.maxAttempts - 1).map((r, i) => backoffMs(policy, i + 1, r));

/** a seeded [0, 1) generator (mulberry32): reproducible jitter for tests and golden files */
export const seededRandom = (seed: number): (() => number) => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};
