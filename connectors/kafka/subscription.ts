// A subscription to the log's topics through a consumer group: at-least-once batches in offset order
// per partition, started where the subscriber's own checkpoints say, fetching overlapped with applying.
import type { Admin, Kafka } from 'kafkajs';
import { ArchiveGap } from '../../core/blobs/archive.ts';
import type { Logger } from '../../core/logger.ts';
import type { SubscribeOptions, Subscription } from '../../core/ports.ts';
import { errorMessage } from '../../core/security/redaction.ts';
import { type ApplyQueue, createApplyQueue } from './apply-queue.ts';
import { topicOffsets } from './client.ts';
import type { RecordMapper } from './records.ts';
import type { Topics } from './topics.ts';

/** batches of `maxBatchEvents` a partition may have fetched ahead of the one being applied */
const QUEUED_BATCHES = 4;
/** payload bytes a partition may have fetched ahead (blob chunks are large; most events are not) */
const QUEUED_BYTES = 8 * 1024 * 1024;
/** a fetch's bytes at most, over all partitions (Kafka still returns a larger first record batch whole) */
const FETCH_MAX_BYTES = 4 * 1024 * 1024;

/** what a gathering fetch waits for, unless its `gatherMs` pass first */
const GATHER_BYTES = 1024 * 1024;

/** a pause that does not keep the process alive on its own */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());

/** waits `ms` (if positive), heartbeating the group so a long wait does not cost the assignment */
const idle = async (ms: number, heartbeat: () => Promise<void>) => {
  for (let left = ms; left > 0; left -= 1000) {
    await sleep(Math.min(left, 1000));
    await heartbeat();
  }
};

export const subscribeToKafka = async (
  deps: {
    kafka: Kafka;
    admin: () => Promise<Admin>;
    topics: Topics;
    records: RecordMapper;
    logger: Logger;
    /** partitions a topic is created with: this many are fetched and applied side by side */
    partitions: number;
    sessionTimeoutMs: number;
  },
  sub: SubscribeOptions,
): Promise<Subscription> => {
  const { logger, records } = deps;
  await Promise.all(sub.topics.map((t) => deps.topics.info(t)));
  const heartbeatInterval = Math.max(500, Math.floor(deps.sessionTimeoutMs / 10));
  const consumer = deps.kafka.consumer({
    groupId: sub.groupId,
    // a fetch answers as soon as a record is there, unless the subscriber would rather gather: then
    // the broker holds it until GATHER_BYTES or gatherMs, which spares it a fetch per transaction
    maxWaitTimeInMs: sub.gatherMs ?? 100,
    ...(sub.gatherMs ? { minBytes: GATHER_BYTES } : {}),
    maxBytesPerPartition: 256 * 1024,
    maxBytes: FETCH_MAX_BYTES,
    sessionTimeout: deps.sessionTimeoutMs,
    heartbeatInterval,
    allowAutoTopicCreation: false,
    readUncommitted: false,
  });
  let fetchStartedAt = Date.now();
  consumer.on(consumer.events.FETCH_START, () => {
    fetchStartedAt = Date.now();
  });
  let stopped = false;
  // kafkajs retries a failed fetch, and restarts the consumer when retries run out: it rejoins and
  // seeks to the checkpoints again. Either way the subscriber hears of the failure once.
  let lastReported: unknown;
  const report = (error: unknown) => {
    if (error !== lastReported) sub.onError?.(error);
    lastReported = error;
  };

  // where the subscriber stands in a partition, and where the log starts
  const positionOf = async (topic: string, partition: number) => {
    const stored = await sub.startAt(topic, partition);
    const a = await deps.admin();
    const low = BigInt((await topicOffsets(a, topic)).find((o) => o.partition === partition)!.low);
    // no position: the log's start, or everything (0) where records below it can be read from elsewhere
    return { from: stored ?? (sub.belowLogStart ? 0n : low), low };
  };
  // Partitions whose subscriber stands below the log start (retention dropped records it has not read):
  // paused, while the records are read from below (the archive) or, when nothing holds them, stopped
  // and reported. Never moved to the log start silently.
  const below = new Set<string>();
  const assigned = new Set<string>(); // this member's partitions, as the last join gave them
  const paused = new Set<string>();
  const pause = (topic: string, partition: number) => {
    paused.add(`${topic}/${partition}`);
    consumer.pause([{ topic, partitions: [partition] }]);
  };
  // kafkajs keeps a partition paused across rebalances: one this subscription paused is resumed by it
  // (a stopped consumer takes neither a resume nor a seek: it throws)
  const unpause = (topic: string, partition: number) => {
    if (paused.delete(`${topic}/${partition}`) && !stopped) {
      consumer.resume([{ topic, partitions: [partition] }]);
    }
  };
  // the position a partition is read from (seeking there), resumed if it was paused
  const readFrom = (topic: string, partition: number, offset: bigint) => {
    if (stopped) return;
    consumer.seek({ topic, partition, offset: offset.toString() });
    unpause(topic, partition);
  };
  // fills [from, to) from below, or says why it cannot (once per reason), until the subscriber stands
  // at or past the log start; looks again, backing off, while it does not
  const leaveBelow = async (topic: string, partition: number, from: bigint, to: bigint) => {
    const key = `${topic}/${partition}`;
    let said: string | undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        if (!sub.belowLogStart) throw new ArchiveGap(topic, partition, from, to);
        logger.info(
          { topic, partition, from: from.toString(), to: to.toString() },
          'the position is below the log start: reading the records before it from the archive',
        );
        await sub.belowLogStart(topic, partition, from, to);
      } catch (error) {
        if (errorMessage(error) !== said) {
          logger.error(
            { err: error, topic, partition, from: from.toString(), to: to.toString() },
            'partition stopped: records below the log start cannot be read; it waits for them',
          );
          report(error);
        }
        said = errorMessage(error);
      }
      const at = await positionOf(topic, partition).catch((err: unknown) => {
        logger.warn({ err, topic, partition }, 'could not read the stored checkpoint');
        return undefined;
      });
      if (at && at.from >= at.low) return readFrom(topic, partition, at.from);
      if (at) [from, to] = [at.from, at.low];
      await sleep(Math.min(1000 * 2 ** attempt, 30_000));
      // stopped, or the partition was taken away: the new owner settles it
      if (stopped || !assigned.has(key)) return unpause(topic, partition);
    }
  };
  // The stored checkpoints are the truth; Kafka's committed offsets are only a hint.
  // Where a partition must be read from: the subscriber's position; undefined while it is below the
  // log start (the partition is paused until that is settled)
  const startOf = async (topic: string, partition: number): Promise<bigint | undefined> => {
    const key = `${topic}/${partition}`;
    const { from, low } = await positionOf(topic, partition);
    if (from >= low) return from;
    if (below.has(key) || stopped) return undefined; // another look got here first
    below.add(key);
    pause(topic, partition);
    leaveBelow(topic, partition, from, low)
      .catch((err: unknown) =>
        logger.warn({ err, topic, partition }, 'could not settle a position below the log start'),
      )
      .finally(() => below.delete(key)); // settled, or the next look (a join, a failed batch) decides again
    return undefined;
  };
  consumer.on(consumer.events.CRASH, ({ payload }) => report(payload.error));

  // Fetching and applying overlap: a partition's fetched batches wait in its queue (bounded) while the
  // one before them is applied, in order. Partitions whose batches continue where the subscriber
  // stands are `verified`: the first batch after a join, a seek or a failed batch must start at
  // the subscriber's position, and only then are its batches queued again.
  const verified = new Set<string>();
  const fetchNext = new Map<string, bigint>(); // a verified partition's next fetch offset
  let joins = 0;
  const failures = new Map<string, number>(); // partition → failed batches in a row (backoff)
  const retryAt = new Map<string, number>();
  const applied = new Map<string, { topic: string; partition: number; offset: string }>();
  const max = sub.maxBatchEvents ?? 500;
  const queues = new Map<string, ApplyQueue>();
  const queueOf = (topic: string, partition: number) => {
    const key = `${topic}/${partition}`;
    let queue = queues.get(key);
    if (!queue) {
      queue = createApplyQueue({
        maxEvents: max,
        limitEvents: QUEUED_BATCHES * max,
        limitBytes: QUEUED_BYTES,
        bytesOf: (e) => records.payloadBytes(e),
        apply: (batch) => sub.onBatch(batch),
        onApplied: (batch) => {
          failures.delete(key);
          applied.set(key, { topic, partition, offset: batch.nextOffset.toString() });
        },
        onError: (error) => {
          // what was queued behind the failed batch is dropped; it is read again from the position
          verified.delete(key);
          report(error);
          void recover(topic, partition, key);
        },
      });
      queues.set(key, queue);
    }
    return queue;
  };
  // after a failed batch, waits (backing off) and seeks the partition back to the subscriber's
  // position, unless a batch or a join set it right meanwhile
  const recover = async (topic: string, partition: number, key: string) => {
    const join = joins;
    for (;;) {
      const n = (failures.get(key) ?? 0) + 1;
      failures.set(key, n);
      const wait = Math.min(100 * 2 ** (n - 1), 5000);
      retryAt.set(key, Date.now() + wait);
      await sleep(wait);
      if (stopped || joins !== join || verified.has(key)) return;
      try {
        const offset = await startOf(topic, partition);
        if (offset !== undefined && !stopped && joins === join && !verified.has(key)) {
          readFrom(topic, partition, offset);
        }
        return;
      } catch (err) {
        logger.warn({ err, topic, partition }, 'could not read the stored checkpoint');
      }
    }
  };
  // A fetch that does not continue the one before (kafkajs moves a position below the log start to the
  // log start by itself): what is queued is dropped and the partition is read again from the
  // subscriber's position, which decides (below the log start: filled from below, or stopped)
  const discontinued = (topic: string, partition: number, key: string) => {
    logger.warn(
      { topic, partition, expected: fetchNext.get(key)?.toString() },
      'a fetch did not continue the one before; reading again from the subscriber position',
    );
    verified.delete(key);
    queueOf(topic, partition).clear();
    void recover(topic, partition, key);
  };
  // a rebalance may take partitions away: what they have queued is not applied (the batch being
  // applied finishes; its conditional checkpoint fences it if the partition moved on elsewhere)
  const forget = () => {
    joins++;
    verified.clear();
    for (const queue of queues.values()) queue.clear();
  };
  consumer.on(consumer.events.REBALANCING, forget);
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    forget();
    const join = joins;
    assigned.clear();
    for (const [topic, partitions] of Object.entries(payload.memberAssignment)) {
      for (const partition of partitions) {
        const key = `${topic}/${partition}`;
        assigned.add(key);
        // an answer that comes after a batch verified the partition (or after the next join) is old:
        // seeking to it would deliver again what was applied since
        startOf(topic, partition)
          .then((offset) => {
            if (offset !== undefined && !stopped && joins === join && !verified.has(key)) {
              readFrom(topic, partition, offset);
            }
          })
          .catch((err) => logger.warn({ err, topic, partition }, 'could not read the stored checkpoint'));
      }
    }
  });
  // Kafka's committed offsets (a hint for the first fetch after a join): what was applied, once a second
  let lastCommit = Date.now();
  const commitApplied = () => {
    if (Date.now() - lastCommit < 1000 || applied.size === 0) return;
    lastCommit = Date.now();
    const offsets = [...applied.values()];
    applied.clear();
    consumer.commitOffsets(offsets).catch(() => {}); // a rebalance refuses it; the next one tries again
  };
  // kafkajs resolves a batch of only transaction markers (or aborted records) itself and never hands
  // it to eachBatch; without this the subscriber's position would stay below the partition's end
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    const { topic, partition } = payload;
    const key = `${topic}/${partition}`;
    if (payload.batchSize !== 0 || stopped) return;
    const markers = {
      topic,
      partition,
      events: [],
      nextOffset: BigInt(payload.lastOffset) + 1n,
      highWatermark: BigInt(payload.highWatermark),
      fetchedAt: fetchStartedAt,
    };
    if (verified.has(key)) {
      if (payload.firstOffset !== null && BigInt(payload.firstOffset) !== fetchNext.get(key)) {
        discontinued(topic, partition, key);
        return;
      }
      fetchNext.set(key, markers.nextOffset);
      queueOf(topic, partition).push(markers);
      return;
    }
    // A position on a transaction marker (a batch that ended just before it) with nothing after it:
    // no batch ever reaches eachBatch to verify the partition, so markers that start at the
    // subscriber's position verify it here.
    const join = joins;
    startOf(topic, partition)
      .then((want) => {
        if (stopped || joins !== join || verified.has(key) || payload.firstOffset === null) return;
        if (BigInt(payload.firstOffset) !== want) return;
        verified.add(key);
        fetchNext.set(key, markers.nextOffset);
        queueOf(topic, partition).push(markers);
      })
      .catch((err) => logger.warn({ err, topic, partition }, 'could not read the stored checkpoint'));
  });
  await consumer.connect();
  await consumer.subscribe({ topics: [...sub.topics], fromBeginning: true });
  await consumer.run({
    // partitions are fetched and applied side by side; order within a partition is kept
    partitionsConsumedConcurrently: Math.max(1, deps.partitions),
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      const fetchedAt = fetchStartedAt;
      const join = joins;
      const key = `${batch.topic}/${batch.partition}`;
      const live = () => !stopped && isRunning() && !isStale() && joins === join;
      // kafkajs keeps the offset it fetched from on the batch, untyped
      const fetchedFrom = BigInt((batch as typeof batch & { fetchedOffset: string }).fetchedOffset);
      if (verified.has(key) && fetchedFrom !== fetchNext.get(key)) {
        discontinued(batch.topic, batch.partition, key);
        return;
      }
      // The seek on join races the first fetch, which starts at the group's committed offset: a hint
      // that can be ahead of the subscriber's own position (a new checkpoint store, a new schema).
      // So the first batch of a partition after a join (or a failed batch) must start where the
      // subscriber says.
      if (!verified.has(key)) {
        await idle((retryAt.get(key) ?? 0) - Date.now(), heartbeat);
        if (!live()) return;
        const want = await startOf(batch.topic, batch.partition);
        if (!live() || want === undefined) return;
        if (fetchedFrom !== want) {
          consumer.seek({ topic: batch.topic, partition: batch.partition, offset: want.toString() });
          return;
        }
        verified.add(key);
        fetchNext.set(key, want);
      }
      const queue = queueOf(batch.topic, batch.partition);
      // backpressure: while the partition has enough waiting, the next fetch waits too
      while (queue.full) {
        await Promise.race([queue.room(), sleep(heartbeatInterval)]);
        await heartbeat();
        if (!live() || !verified.has(key)) return;
      }
      const { events, foreign } = await records.toEvents(
        batch.topic,
        batch.partition,
        batch.messages,
        sub.withData !== false,
      );
      if (foreign.length) {
        logger.warn(
          { topic: batch.topic, partition: batch.partition, offsets: foreign.map((m) => m.offset) },
          'skipped records not written by logfront (no key, ce_type or lf_stream_version)',
        );
      }
      // a failed batch or a join since this one was fetched: it may not continue the queue
      if (!live() || !verified.has(key)) return;
      const nextOffset = BigInt(batch.lastOffset()) + 1n;
      fetchNext.set(key, nextOffset);
      queue.push({
        topic: batch.topic,
        partition: batch.partition,
        events,
        nextOffset,
        highWatermark: BigInt(batch.highWatermark),
        fetchedAt,
      });
      // the next fetch continues after this batch; the subscriber's position stays the truth
      resolveOffset(batch.lastOffset());
      commitApplied();
    },
  });
  return {
    stop: async () => {
      stopped = true;
      for (const queue of queues.values()) queue.clear();
      await consumer.disconnect();
      await Promise.all([...queues.values()].map((q) => q.idle()));
    },
  };
};
