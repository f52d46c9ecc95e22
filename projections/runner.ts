import { CheckpointFenced } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { EventLog, LogBatch, ProjectionStore, Subscription } from '../core/ports.ts';
import { partitionKey } from '../core/positions.ts';
import type { Checkpoint } from '../core/projection.ts';
import { changesFor, type ProjectionDefinition } from './define.ts';

export interface ProjectionRunner {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** generation being built (the active one for a plain runner) */
  readonly generation: number;
}

export interface RunnerOptions {
  log: EventLog;
  store: ProjectionStore;
  definition: ProjectionDefinition;
  /** prefix of consumer group ids */
  groupPrefix: string;
  batchEvents: number;
  logger: Logger;
  heartbeatMs?: number;
  now?: () => number;
}

// exactly-once effects: rows and checkpoint commit together; a batch below the checkpoint is skipped.
export const createProjectionRunner = (options: RunnerOptions): ProjectionRunner => {
  const { log, store, definition, logger } = options;
  const now = options.now ?? Date.now;
  const checkpoints = new Map<string, Checkpoint>();
  let generation = 0;
  let subscription: Subscription | undefined;
  let heartbeat: NodeJS.Timeout | undefined;

  const reload = async (topic: string, partition: number) => {
    const all = await store.checkpoints(definition.name, generation);
    for (const c of all) checkpoints.set(partitionKey(c.topic, c.partition), c);
    return checkpoints.get(partitionKey(topic, partition));
  };

  const applyBatch = async (batch: LogBatch) => {
    const key = partitionKey(batch.topic, batch.partition);
    const current = checkpoints.get(key) ?? (await reload(batch.topic, batch.partition));
    const from = current?.nextOffset ?? null;
    if (from !== null && batch.nextOffset <= from) return; // all of it applied already
    const events = from === null ? batch.events : batch.events.filter((e) => e.position.offset >= from);
    const caughtUp = batch.nextOffset >= batch.highWatermark;
    const last = events.at(-1);
    const advance = {
      topic: batch.topic,
      partition: batch.partition,
      from,
      to: batch.nextOffset,
      lastEventAt: last?.recordedAt ?? current?.lastEventAt ?? null,
      caughtUpAt: caughtUp ? batch.fetchedAt : (current?.caughtUpAt ?? null),
    };
    try {
      await store.applyBatch(definition, generation, changesFor(definition, events), advance);
    } catch (error) {
      if (error instanceof CheckpointFenced) {
        // another runner advanced this partition: take its checkpoint and let the log redeliver
        await reload(batch.topic, batch.partition);
        logger.warn({ projection: definition.name, partition: key }, 'checkpoint moved; reloaded');
      }
      throw error;
    }
    checkpoints.set(key, {
      topic: batch.topic,
      partition: batch.partition,
      nextOffset: advance.to,
      lastEventAt: advance.lastEventAt,
      caughtUpAt: advance.caughtUpAt,
    });
  };

  return {
    name: definition.name,
    get generation() {
      return generation;
    },
    start: async () => {
      generation = (await store.activeGeneration(definition.name)) ?? 1;
      await store.prepare(definition, generation);
      await log.ensureTopics(definition.categories);
      for (const c of await store.checkpoints(definition.name, generation)) {
        checkpoints.set(partitionKey(c.topic, c.partition), c);
      }
      await store.setState(definition.name, generation, 'running', now());
      subscription = await log.subscribe({
        groupId: `${options.groupPrefix}.projection.${definition.name}.g${generation}`,
        topics: definition.categories.map((c) => log.topicFor(c)),
        startAt: async (topic, partition) => (await reload(topic, partition))?.nextOffset,
        onBatch: applyBatch,
        maxBatchEvents: options.batchEvents,
        onError: (error) =>
          logger.warn(
            { projection: definition.name, err: error },
            'batch failed; retrying from the checkpoint',
          ),
      });
      heartbeat = setInterval(() => {
        store
          .setState(definition.name, generation, 'running', now())
          .catch((err) => logger.warn({ err, projection: definition.name }, 'heartbeat failed'));
      }, options.heartbeatMs ?? 1000);
      heartbeat.unref();
      logger.info({ projection: definition.name, generation }, 'projection runner started');
    },
    stop: async () => {
      if (heartbeat) clearInterval(heartbeat);
      heartbeat = undefined;
      await subscription?.stop();
      subscription = undefined;
      await store.setState(definition.name, generation, 'stopped').catch(() => {});
    },
  };
};
