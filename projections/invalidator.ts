import type { Logger } from '../core/logger.ts';
import type { EventLog, LogBatch, ProjectionStore, Subscription } from '../core/ports.ts';
import type { Change } from '../core/projection.ts';
import type { KeyTouch, SharedCache } from '../core/read/cache.ts';
import { partitionKey } from '../core/read/positions.ts';
import { rowId, tenantOfEvent } from '../core/security/tenancy.ts';
import { changesFor, type ProjectionDefinition } from './define.ts';

/** The cache invalidation consumer of one projection: reads the log and marks the rows events touch. */
export interface Invalidator {
  start(): Promise<void>;
  stop(): Promise<void>;
}

const keyOf = (definition: ProjectionDefinition, change: Change) =>
  change.kind === 'upsert' ? String(change.row[definition.key]) : change.key;

/** the rows each event of the batch touches, by running the projection's handlers (pure) */
export const touchesOf = (definition: ProjectionDefinition, batch: LogBatch): KeyTouch[] => {
  const touches: KeyTouch[] = [];
  for (const event of batch.events) {
    let changes: Change[];
    try {
      changes = changesFor(definition, [event]);
    } catch {
      continue; // the runner dead-letters it; it changes no row
    }
    // a row is the event's tenant's: the cache names it by its rowId (core/security/tenancy.ts)
    const tenant = tenantOfEvent(event);
    for (const change of changes) {
      touches.push({
        key: rowId(tenant, keyOf(definition, change)),
        topic: event.position.topic,
        partition: event.position.partition,
        offset: event.position.offset,
      });
    }
  }
  return touches;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// at-least-once: after a crash or rebalance a batch is marked again; marks only move forward.
export const createInvalidator = (options: {
  log: EventLog;
  store: ProjectionStore;
  cache: SharedCache;
  definition: ProjectionDefinition;
  groupPrefix: string;
  batchEvents: number;
  logger: Logger;
  /** how long a batch retries an unreachable cache before the subscription restarts */
  retryForMs?: number;
}): Invalidator => {
  const { log, store, cache, definition, logger } = options;
  const name = definition.name;
  let subscription: Subscription | undefined;
  let running = false;
  // marks failed to reach the cache: entries stored before may be superseded without a mark
  let marksLost = false;

  // Where to start: where invalidation got to; without that (first start, cache emptied), the
  // projection's checkpoint — every entry anyone can store from now on is at or past it.
  // The fallback is decided once per partition: the projection's checkpoint moves, and a start that
  // moves between two asks would never match the batch fetched from the first answer.
  const fallback = new Map<string, bigint | undefined>();
  const startAt = async (topic: string, partition: number) => {
    const k = partitionKey(topic, partition);
    try {
      const reached = (await cache.progress(name)).find((p) => partitionKey(p.topic, p.partition) === k);
      if (reached) return reached.offset;
    } catch {
      marksLost = true;
    }
    if (fallback.has(k)) return fallback.get(k);
    const generation = (await store.activeGeneration(name)) ?? 0;
    const checkpoint = (await store.checkpoints(name, generation)).find(
      (c) => partitionKey(c.topic, c.partition) === k,
    );
    fallback.set(k, checkpoint?.nextOffset);
    return checkpoint?.nextOffset;
  };

  // partitions whose progress this subscription wrote to the cache: if the cache no longer has it, Redis
  // lost its state (an empty restart, a failover) with the marks of events the projection may not have
  // applied yet; the subscription then starts again from the projection's checkpoint, marking them again
  const wrote = new Set<string>();
  const lostProgress = async (topic: string, partition: number) => {
    const k = partitionKey(topic, partition);
    if (!wrote.has(k)) return false;
    const progress = await cache.progress(name);
    return !progress.some((p) => partitionKey(p.topic, p.partition) === k);
  };

  const onBatch = async (batch: LogBatch) => {
    if (await lostProgress(batch.topic, batch.partition).catch(() => false)) {
      wrote.clear();
      fallback.clear();
      logger.warn(
        { projection: name },
        'the cache lost its state: marking again from the projection checkpoint',
      );
      throw new Error(`the cache of ${name} lost its invalidation progress`);
    }
    const touches = touchesOf(definition, batch);
    const reached = [{ topic: batch.topic, partition: batch.partition, offset: batch.nextOffset }];
    const deadline = Date.now() + (options.retryForMs ?? 5000);
    for (let attempt = 1; ; attempt++) {
      try {
        if (marksLost) {
          await cache.bumpEpoch(name);
          marksLost = false;
          logger.warn({ projection: name }, 'cache reachable again: entries stored before are retired');
        }
        await cache.invalidate(name, touches, reached);
        wrote.add(partitionKey(batch.topic, batch.partition));
        return;
      } catch (error) {
        marksLost = true;
        if (!running || Date.now() > deadline) throw error;
        if (attempt === 1)
          logger.warn({ err: error, projection: name }, 'cache invalidation failed; retrying');
        await sleep(Math.min(50 * attempt, 250));
      }
    }
  };

  return {
    start: async () => {
      if (subscription) return;
      running = true;
      await log.ensureTopics(definition.categories);
      subscription = await log.subscribe({
        groupId: `${options.groupPrefix}.cache.${name}`,
        topics: definition.categories.map((c) => log.topicFor(c)),
        startAt,
        onBatch,
        maxBatchEvents: options.batchEvents,
        onError: (error) => logger.warn({ err: error, projection: name }, 'cache invalidation restarts'),
      });
    },
    stop: async () => {
      running = false;
      const s = subscription;
      subscription = undefined;
      await s?.stop();
    },
  };
};
