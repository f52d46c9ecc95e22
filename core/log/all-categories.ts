import type { Logger } from '../logger.ts';
import type { EventLog, SubscribeOptions, Subscription } from '../ports.ts';

export interface AllCategories {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A subscription to every category the log has a topic for, plus `categories`: one whose first topic
 * appears later joins it, looked for every `intervalMs` (the subscription restarts with it and each
 * partition resumes where `startAt` says).
 */
export const subscribeToAllCategories = (deps: {
  log: EventLog;
  categories?: readonly string[];
  intervalMs: number;
  logger: Logger;
  /** what this subscription is, for the logs */
  name: string;
  /** called before each (re)subscription */
  onSubscribe?: () => void;
  options: Omit<SubscribeOptions, 'topics'>;
}): AllCategories => {
  const { log, logger } = deps;
  let categories = new Set(deps.categories ?? []);
  let subscription: Subscription | undefined;
  let discovery: NodeJS.Timeout | undefined;
  let running = false;
  let looking = false;

  const subscribe = async () => {
    if (categories.size === 0) return; // nothing to read yet: discovery subscribes once a topic appears
    await log.ensureTopics([...categories]);
    deps.onSubscribe?.();
    subscription = await log.subscribe({
      ...deps.options,
      topics: [...categories].map((c) => log.topicFor(c)),
    });
  };

  const lookForCategories = async () => {
    if (looking || !running) return;
    looking = true;
    try {
      const found = (await log.categories()).filter((c) => !categories.has(c));
      if (!found.length || !running) return;
      categories = new Set([...categories, ...found]);
      logger.info({ categories: found }, `${deps.name}: new categories`);
      const s = subscription;
      subscription = undefined;
      await s?.stop();
      if (running) await subscribe();
    } catch (error) {
      logger.warn({ err: error }, `${deps.name}: looking for new categories failed; tried again later`);
    } finally {
      looking = false;
    }
  };

  return {
    start: async () => {
      if (running) return;
      running = true;
      categories = new Set([...categories, ...(await log.categories())]);
      await subscribe();
      discovery = setInterval(() => void lookForCategories(), deps.intervalMs);
      discovery.unref();
    },
    stop: async () => {
      running = false;
      if (discovery) clearInterval(discovery);
      const s = subscription;
      subscription = undefined;
      await s?.stop();
    },
  };
};
