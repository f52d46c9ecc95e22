// A circuit breaker per dependency, as an xstate machine: closed (calls go through; failures in a row
// are counted), open (calls fail at once with 503 dependency_unavailable and Retry-After, sparing the
// dependency and the caller a timeout each), half-open (one trial call decides: closed again, or open
// for another period).

import { assign, createActor, setup } from 'xstate';
import { type Dependency, DependencyUnavailable } from '../errors.ts';

export type BreakerState = 'closed' | 'open' | 'half_open';

/** the number a gauge shows for a state: 0 closed, 1 half-open, 2 open */
export const BREAKER_LEVEL: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };

export interface BreakerTransition {
  readonly dependency: Dependency;
  readonly from: BreakerState;
  readonly to: BreakerState;
  /** the failure that opened it, when one did */
  readonly error?: unknown;
}

export interface BreakerOptions {
  readonly dependency: Dependency;
  /** failures in a row that open the breaker (default 5) */
  readonly failureThreshold?: number;
  /** how long it stays open before a trial call (ms, default 5000) */
  readonly openMs?: number;
  /** a failure of the dependency (down, unreachable, too slow); any other error proves it answered */
  readonly isFailure: (error: unknown) => boolean;
  readonly onTransition?: (t: BreakerTransition) => void;
  readonly now?: () => number;
}

export interface Breaker {
  readonly dependency: Dependency;
  readonly state: BreakerState;
  /** runs `call` unless the breaker is open (then DependencyUnavailable, with the wait as Retry-After) */
  call<T>(call: () => Promise<T>): Promise<T>;
  /** what a call made elsewhere found (a driver's own reconnects, a health probe) */
  record(outcome: { ok: true } | { ok: false; error: unknown }): void;
}

/** what a call meets while the breaker is open: the dependency is down, no attempt was made */
export class CircuitOpen extends DependencyUnavailable {}

type BreakerEvent = { type: 'SUCCESS' } | { type: 'FAILURE'; error: unknown } | { type: 'PROBE' };

const machine = setup({
  types: {
    context: {} as {
      failures: number;
      openedAt: number;
      threshold: number;
      openMs: number;
      now: () => number;
    },
    input: {} as { threshold: number; openMs: number; now: () => number },
    events: {} as BreakerEvent,
  },
  guards: {
    tripped: ({ context }) => context.failures + 1 >= context.threshold,
    rested: ({ context }) => context.now() - context.openedAt >= context.openMs,
  },
  actions: {
    reset: assign({ failures: 0 }),
    count: assign({ failures: ({ context }) => context.failures + 1 }),
    opened: assign({ openedAt: ({ context }) => context.now(), failures: 0 }),
  },
}).createMachine({
  id: 'breaker',
  initial: 'closed',
  context: ({ input }) => ({ failures: 0, openedAt: 0, ...input }),
  states: {
    closed: {
      on: {
        SUCCESS: { actions: 'reset' },
        FAILURE: [{ guard: 'tripped', target: 'open' }, { actions: 'count' }],
      },
    },
    open: {
      entry: 'opened',
      on: { PROBE: { guard: 'rested', target: 'half_open' } },
    },
    half_open: {
      on: {
        SUCCESS: { target: 'closed', actions: 'reset' },
        FAILURE: { target: 'open' },
      },
    },
  },
});

export const createBreaker = (options: BreakerOptions): Breaker => {
  const now = options.now ?? Date.now;
  const openMs = options.openMs ?? 5000;
  const actor = createActor(machine, {
    input: { threshold: Math.max(1, options.failureThreshold ?? 5), openMs, now },
  });
  let state: BreakerState = 'closed';
  let lastError: unknown;
  actor.subscribe((snapshot) => {
    const to = snapshot.value as BreakerState;
    if (to === state) return;
    const from = state;
    state = to;
    options.onTransition?.({
      dependency: options.dependency,
      from,
      to,
      ...(to === 'open' ? { error: lastError } : {}),
    });
  });
  actor.start();
  /** a trial call is under way in half-open: the others wait for its verdict as if open */
  let trial = false;

  const refuse = () => {
    const ctx = actor.getSnapshot().context;
    const leftMs = Math.max(0, ctx.openedAt + openMs - now());
    const why = lastError instanceof Error ? `: ${lastError.message}` : '';
    return new CircuitOpen(options.dependency, `circuit open after repeated failures${why}`, {
      retryAfterSeconds: Math.max(1, Math.ceil(leftMs / 1000)),
      ...(lastError !== undefined ? { cause: lastError } : {}),
    });
  };

  const record: Breaker['record'] = (outcome) => {
    if (outcome.ok) actor.send({ type: 'SUCCESS' });
    else {
      lastError = outcome.error;
      actor.send({ type: 'FAILURE', error: outcome.error });
    }
  };

  return {
    dependency: options.dependency,
    get state() {
      if (state === 'open') actor.send({ type: 'PROBE' });
      return state;
    },
    record,
    call: async (call) => {
      if (state === 'open') actor.send({ type: 'PROBE' });
      if (state === 'open' || (state === 'half_open' && trial)) throw refuse();
      const probing = state === 'half_open';
      if (probing) trial = true;
      try {
        const value = await call();
        record({ ok: true });
        return value;
      } catch (error) {
        record(options.isFailure(error) ? { ok: false, error } : { ok: true });
        throw error;
      } finally {
        if (probing) trial = false;
      }
    },
  };
};
