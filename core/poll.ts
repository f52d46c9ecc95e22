// Polling a condition that becomes true after a while (a topic's leaders after it is made): tried
// every `everyMs` until it holds or `waitMs` have passed; errors the caller calls retriable are tried again.
import { setTimeout as sleep } from 'node:timers/promises';

export const pollUntil = async <T>(
  attempt: () => Promise<T | undefined>,
  options: {
    waitMs: number;
    everyMs: number;
    /** an error worth another attempt (any other ends the poll) */
    retriable: (error: unknown) => boolean;
    /** what the error says when `waitMs` have passed */
    timeoutMessage: string;
    now?: () => number;
  },
): Promise<T> => {
  const now = options.now ?? Date.now;
  const deadline = now() + options.waitMs;
  for (;;) {
    try {
      const value = await attempt();
      if (value !== undefined) return value;
    } catch (error) {
      if (!options.retriable(error)) throw error;
    }
    if (now() >= deadline) throw new Error(options.timeoutMessage);
    await sleep(options.everyMs);
  }
};
