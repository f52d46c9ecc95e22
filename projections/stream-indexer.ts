import { CheckpointFenced } from '../core/errors.ts';
import { subscribeToAllCategories } from '../core/log/all-categories.ts';
import type { Logger } from '../core/logger.ts';
import type { EventLog, IndexedEvent, LogBatch, StreamIndex } from '../core/ports.ts';
import { partitionKey } from '../core/read/positions.ts';

/** a batch with fewer events than this lingers before it is written */
const SMALL_BATCH = 100;

/** The builder of the stream index: reads every topic of the log and indexes each event's place. */
export interface StreamIndexer {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** events of the log not indexed yet, per partition and in all (the index's lag) */
  lag(): Promise<{ events: number; partitions: { topic: string; partition: number; events: number }[] }>;
}

// exactly-once: a batch's rows and the checkpoint's advance commit together; a batch below the
// checkpoint is skipped, and a checkpoint another indexer moved fences this one (the log redelivers).
export const createStreamIndexer = (deps: {
  /** the log as stored, with the archive below Kafka's log start */
  log: EventLog;
  index: StreamIndex;
  groupPrefix: string;
  batchEvents: number;
  logger: Logger;
  /** how often new categories are looked for */
  discoveryMs?: number;
  /**
   * how long a small batch waits before it is written, so that what follows joins it: one Postgres
   * transaction for many appends instead of one each (the index's lag grows by at most this)
   */
  lingerMs?: number;
  /**
   * how long the log may hold a fetch back to gather more (see SubscribeOptions.gatherMs): one fetch
   * for many transactions, where a fetch each would cost the broker as much as the appends do
   */
  gatherMs?: number;
}): StreamIndexer => {
  const lingerMs = deps.lingerMs ?? 20;
  const gatherMs = deps.gatherMs ?? 50;
  const { log, index, logger } = deps;
  const checkpoints = new Map<string, bigint | null>();

  const startAt = async (topic: string, partition: number) => {
    const at = await index.checkpoint(topic, partition);
    checkpoints.set(partitionKey(topic, partition), at ?? null);
    return at;
  };

  const onBatch = async (batch: LogBatch) => {
    // a small batch lingers: the subscription queues what is fetched meanwhile and hands it over
    // with the next batch
    if (batch.events.length > 0 && batch.events.length < SMALL_BATCH && lingerMs > 0) {
      await new Promise((r) => setTimeout(r, lingerMs));
    }
    const key = partitionKey(batch.topic, batch.partition);
    const from = checkpoints.has(key)
      ? checkpoints.get(key)!
      : ((await startAt(batch.topic, batch.partition)) ?? null);
    if (from !== null && batch.nextOffset <= from) return; // indexed already
    const events: IndexedEvent[] = [];
    for (const e of batch.events) {
      if (from !== null && e.position.offset < from) continue;
      events.push({
        stream: e.stream,
        version: e.version,
        id: e.id,
        topic: e.position.topic,
        partition: e.position.partition,
        offset: e.position.offset,
      });
    }
    try {
      await index.apply(batch.topic, batch.partition, events, { from, to: batch.nextOffset });
    } catch (error) {
      if (error instanceof CheckpointFenced) checkpoints.delete(key); // read again on redelivery
      throw error;
    }
    checkpoints.set(key, batch.nextOffset);
  };

  const subscription = subscribeToAllCategories({
    log,
    intervalMs: deps.discoveryMs ?? 5000,
    logger,
    name: 'stream index',
    options: {
      groupId: `${deps.groupPrefix}.stream-index`,
      startAt,
      onBatch,
      maxBatchEvents: Math.max(deps.batchEvents, 2000),
      withData: false, // the index needs each event's place, never its payload
      gatherMs,
      onError: (error) => {
        checkpoints.clear();
        logger.warn({ err: error }, 'stream index: a batch failed; resuming from its checkpoint');
      },
    },
  });

  return {
    start: () => subscription.start(),
    stop: () => subscription.stop(),
    lag: async () => {
      const topics = (await log.categories()).map((c) => log.topicFor(c));
      const [ends, indexed] = await Promise.all([log.endOffsets(topics), index.checkpoints()]);
      const at = new Map(indexed.map((c) => [partitionKey(c.topic, c.partition), c.nextOffset]));
      const partitions = ends.map((end) => {
        const k = partitionKey(end.topic, end.partition);
        // offsets count records and transaction markers alike: an upper bound of the events behind
        const from = at.get(k) ?? 0n;
        const behind = end.offset > from ? Number(end.offset - from) : 0;
        return { topic: end.topic, partition: end.partition, events: behind };
      });
      return { events: partitions.reduce((n, p) => n + p.events, 0), partitions };
    },
  };
};
