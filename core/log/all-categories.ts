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
  /** the lookup for new categories under way, if any: never two at once, and `stop` waits for it */
  let lookup: Promise<void> | undefined;

  // subscribes to the topics of `to`, which become the categories read once the subscription is made
  const subscribe = async (to: ReadonlySet<string>) => {
    // stopped meanwhile, or nothing to read yet (discovery subscribes once a topic appears)
    if (!running || to.size === 0) return;
    await log.ensureTopics([...to]);
    deps.onSubscribe?.();
    const made = await log.subscribe({
      ...deps.options,
      topics: [...to].map((c) => log.topicFor(c)),
    });
    // stopped meanwhile: the subscription just made is stopped too, never left reading
    if (!running) return made.stop();
    subscription = made;
    categories = new Set(to);
  };

  // a resubscription that fails leaves `categories` as they were: the next look finds the new ones again
  const lookForCategories = async () => {
    try {
      const found = (await log.categories()).filter((c) => !categories.has(c));
      if (!found.length || !running) return;
      logger.info({ categories: found }, `${deps.name}: new categories`);
      const s = subscription;
      subscription = undefined;
      await s?.stop();
      await subscribe(new Set([...categories, ...found]));
    } catch (error) {
      logger.warn({ err: error }, `${deps.name}: looking for new categories failed; tried again later`);
    }
  };

  return {
    start: async () => {
      if (running) return;
      running = true;
      try {
        await subscribe(new Set([...categories, ...(await log.categories())]));
      } catch (error) {
        running = false; // a start that failed may be tried again
        throw error;
      }
      if (!running) return; // stopped while it started: no discovery either
      discovery = setInterval(() => {
        lookup ??= lookForCategories().finally(() => {
          lookup = undefined;
        });
      }, deps.intervalMs);
      discovery.unref();
    },
    stop: async () => {
      running = false;
      clearInterval(discovery);
      await lookup;
      const s = subscription;
      subscription = undefined;
      await s?.stop();
    },
  };
};
