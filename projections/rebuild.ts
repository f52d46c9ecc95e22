import { partitionKey } from '../core/read/positions.ts';
import { createProjectionRunner, type RunnerOptions } from './runner.ts';

export interface Rebuild {
  readonly generation: number;
  /** resolves once the new generation is active; rejects when the rebuild was given up */
  readonly done: Promise<void>;
  /** gives the rebuild up (its tables are dropped) */
  cancel(): Promise<void>;
}

/**
 * Blue/green rebuild: a new generation builds its tables from the start of the log while the active
 * one keeps serving; once it has applied the log's end it becomes active in one transaction, and the
 * old generation's tables are dropped after `dropAfterMs` (reads already under way finish on them).
 * Runners of the old generation, in any process, follow the switch on their next heartbeat.
 */
export const startRebuild = async (
  deps: Omit<RunnerOptions, 'generation'> & { pollMs?: number; dropAfterMs?: number },
): Promise<Rebuild> => {
  const { log, store, definition, logger } = deps;
  const topics = definition.categories.map((c) => log.topicFor(c));
  await store.prepare(definition, (await store.activeGeneration(definition.name)) ?? 1);
  const generation = await store.beginRebuild(definition);
  const runner = createProjectionRunner({ ...deps, generation });
  let cancelled = false;
  const giveUp = async () => {
    await runner.stop();
    await store.abandonRebuild(definition.name, generation);
    await store.dropGeneration(definition, generation);
  };
  await runner.start().catch(async (error) => {
    await giveUp();
    throw error;
  });
  logger.info({ projection: definition.name, generation }, 'rebuild started');

  const caughtUp = async () => {
    const [ends, checkpoints] = await Promise.all([
      log.endOffsets(topics),
      store.checkpoints(definition.name, generation),
    ]);
    const applied = new Map(checkpoints.map((c) => [partitionKey(c.topic, c.partition), c.nextOffset]));
    return ends.every((e) => (applied.get(partitionKey(e.topic, e.partition)) ?? 0n) >= e.offset);
  };

  const done = (async () => {
    for (;;) {
      await new Promise((r) => setTimeout(r, deps.pollMs ?? 250));
      if (cancelled) throw new Error(`rebuild of ${definition.name} cancelled`);
      if (runner.halted) {
        await giveUp();
        throw new Error(`rebuild of ${definition.name} halted on a poison event; see its dead letters`);
      }
      await store.rebuildHeartbeat(definition.name, generation);
      if (await caughtUp()) break;
    }
    const previous = await store.switchGeneration(definition.name, generation);
    await runner.stop();
    logger.info({ projection: definition.name, generation, previous }, 'rebuild switched generations');
    const drop = setTimeout(() => {
      store
        .dropGeneration(definition, previous)
        .catch((err) =>
          logger.warn({ err, projection: definition.name, previous }, 'could not drop the old generation'),
        );
    }, deps.dropAfterMs ?? 5000);
    drop.unref();
  })();
  done.catch(() => {});

  return {
    generation,
    done,
    cancel: async () => {
      cancelled = true;
      await done.catch(() => {});
      await giveUp().catch(() => {});
    },
  };
};
