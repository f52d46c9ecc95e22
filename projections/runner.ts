import { ArchiveGap, type ArchiveHoles } from '../core/blobs/archive.ts';
import { CheckpointFenced, ProjectionHalted } from '../core/errors.ts';
import type { EventCatalog } from '../core/log/event-types.ts';
import type { Logger } from '../core/logger.ts';
import type { DeadLetterKind, EventLog, LogBatch, ProjectionStore, Subscription } from '../core/ports.ts';
import type { Change, Checkpoint, CheckpointAdvance } from '../core/projection.ts';
import { partitionKey } from '../core/read/positions.ts';
import type { ErasedRows } from '../core/security/erasure.ts';
import { errorMessage, valuesAt, withoutValues } from '../core/security/redaction.ts';
import { forTenant, tenantOfEvent } from '../core/security/tenancy.ts';
import type { Telemetry } from '../core/telemetry.ts';
import { inConsumerSpan } from '../core/tracing.ts';
import type { RecordedEvent } from '../core/types.ts';
import { checkChanges } from './column-bounds.ts';
import type { Handler, ProjectionDefinition } from './define.ts';

export interface ProjectionRunner {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** the generation this runner applies */
  readonly generation: number;
  /** true once the projection halted on an event it could not apply */
  readonly halted: boolean;
}

export interface RunnerOptions {
  log: EventLog;
  store: ProjectionStore;
  definition: ProjectionDefinition;
  /** prefix of consumer group ids */
  groupPrefix: string;
  batchEvents: number;
  logger: Logger;
  /** build this generation (a rebuild); default: the active one */
  generation?: number;
  heartbeatMs?: number;
  now?: () => number;
  /** the event types: the values of their sensitive fields are kept out of dead-letter reasons */
  catalog?: Pick<EventCatalog, 'get'>;
  /**
   * erasures' record: a change that would write a row of a subject erased after its event deletes the
   * row instead (a projection with a subject column; core/security/erasure.ts)
   */
  erased?: ErasedRows;
  /** where each applied batch is reported (its events and time), for metrics */
  telemetry?: Pick<Telemetry, 'applied'>;
  /** where a partition stopped below the log start (records neither the log nor the archive holds) is told */
  holes?: ArchiveHoles;
}

/** why an event is poison, as a dead letter and a log line may say it (core/security/redaction.ts) */
const reasonOf = (error: unknown) =>
  error instanceof Error ? `${error.name}: ${errorMessage(error)}` : `thrown: ${errorMessage(error)}`;

/** SQLSTATE class 22 (data exception) or 23 (integrity constraint violation) */
const refusedRows = (error: unknown) => /^2[23]/.test(String((error as { code?: unknown }).code));

/** an event the projection cannot apply, after its retries */
class Poison extends Error {
  constructor(
    readonly event: RecordedEvent,
    readonly kind: DeadLetterKind,
    cause: unknown,
  ) {
    super(reasonOf(cause), { cause });
  }
}

/** the changes of one event, or the Poison that says why there are none (after `retries` more tries) */
export const changesOfEvent = (
  definition: ProjectionDefinition,
  event: RecordedEvent,
  into: Change[] = [],
): Change[] => {
  if (event.undecodable) {
    throw new Poison(event, event.undecodable.kind, new Error(event.undecodable.reason));
  }
  const handler = Object.hasOwn(definition.on, event.type) ? definition.on[event.type] : undefined;
  if (!handler) return into;
  for (let attempt = 0; ; attempt++) {
    let result: ReturnType<Handler>;
    try {
      result = handler(event as RecordedEvent<never>);
    } catch (error) {
      if (attempt >= definition.retries) throw new Poison(event, 'handler', error);
      continue;
    }
    if (!result) return into;
    const changes = Array.isArray(result) ? (result as Change[]) : [result as Change];
    try {
      checkChanges(definition, changes);
    } catch (error) {
      throw new Poison(event, 'column', error);
    }
    // the rows an event changes are its tenant's, whatever the handler wrote
    for (const c of forTenant(changes, tenantOfEvent(event))) into.push(c);
    return into;
  }
};

export const isPoison = (error: unknown): error is Poison => error instanceof Poison;

/** the Poison that was thrown; anything else (a database that does not answer, a fence) is thrown on */
const poisonOr = (error: unknown): Poison => {
  if (error instanceof Poison) return error;
  throw error;
};

// exactly-once effects: rows and checkpoint commit together; a batch below the checkpoint is skipped.
export const createProjectionRunner = (options: RunnerOptions): ProjectionRunner => {
  const { log, store, definition, logger } = options;
  const now = options.now ?? Date.now;
  const checkpoints = new Map<string, Checkpoint>();
  const building = options.generation !== undefined;
  let generation = options.generation ?? 0;
  let subscription: Subscription | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  let halted: ProjectionHalted | undefined;

  const reload = async (topic: string, partition: number) => {
    const all = await store.checkpoints(definition.name, generation);
    for (const c of all) checkpoints.set(partitionKey(c.topic, c.partition), c);
    return checkpoints.get(partitionKey(topic, partition));
  };

  // which event each change comes from, to screen it against erasures (only where there is a subject)
  const screening = options.erased !== undefined && definition.subject !== undefined;
  const origins = new WeakMap<Change, RecordedEvent>();

  // the changes of one event, added to `into`; a handler that throws is tried `retries` more times
  const addChangesOf = (event: RecordedEvent, into: Change[]) => {
    const from = into.length;
    changesOfEvent(definition, event, into);
    if (screening) for (let i = from; i < into.length; i++) origins.set(into[i]!, event);
    return into;
  };
  const changesOf = (event: RecordedEvent): Change[] => addChangesOf(event, []);

  // commits `events` (all below `to`) and advances the partition's checkpoint to `to`
  const commit = async (
    batch: LogBatch,
    events: readonly RecordedEvent[],
    changes: Change[],
    to: bigint,
    caughtUp: boolean,
  ) => {
    const key = partitionKey(batch.topic, batch.partition);
    const current = checkpoints.get(key);
    const advance: CheckpointAdvance = {
      topic: batch.topic,
      partition: batch.partition,
      from: current?.nextOffset ?? null,
      to,
      lastEventAt: events.at(-1)?.recordedAt ?? current?.lastEventAt ?? null,
      caughtUpAt: caughtUp ? batch.fetchedAt : (current?.caughtUpAt ?? null),
    };
    const screened = screening
      ? await options.erased!.screen(definition, changes, (c) => origins.get(c))
      : undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        await store.applyBatch(definition, generation, screened?.changes ?? changes, advance);
        break;
      } catch (error) {
        if (error instanceof CheckpointFenced) {
          // another runner advanced this partition: take its checkpoint and let the log redeliver
          await reload(batch.topic, batch.partition);
          logger.warn({ projection: definition.name, partition: key }, 'checkpoint moved; reloaded');
          throw error;
        }
        // only rows Postgres refuses (data exceptions, constraint violations) make an event poison;
        // a database that does not answer is retried by redelivery, never dead-lettered
        if (!refusedRows(error)) throw error;
        if (attempt < definition.retries) continue;
        // the rows of one of these events are refused: apply them one by one to find it
        if (events.length === 1) throw new Poison(events[0]!, 'rows', error);
        if (events.length > 1) {
          for (const [i, e] of events.entries()) {
            const next = events[i + 1]?.position.offset ?? to;
            await commitOrDeadLetter(batch, [e], changesOf(e), next, caughtUp && i === events.length - 1);
          }
          return;
        }
        throw error; // nothing to blame: an advance over transaction markers only
      }
    }
    checkpoints.set(key, {
      topic: batch.topic,
      partition: batch.partition,
      nextOffset: advance.to,
      lastEventAt: advance.lastEventAt,
      caughtUpAt: advance.caughtUpAt,
    });
    // an erasure recorded while this batch was applied may have deleted its rows before they were written
    await screened?.settle(generation).catch((err: unknown) => {
      logger.warn(
        { err, projection: definition.name },
        'could not check the batch against erasures made meanwhile; erase the subject again',
      );
    });
  };

  // commits, or dead-letters the one event whose rows are refused and (skip) moves on to `to`
  const commitOrDeadLetter = async (
    batch: LogBatch,
    events: readonly RecordedEvent[],
    changes: Change[],
    to: bigint,
    caughtUp: boolean,
  ): Promise<void> => {
    try {
      await commit(batch, events, changes, to, caughtUp);
    } catch (error) {
      await deadLetter(batch, poisonOr(error));
      if (checkpoints.get(partitionKey(batch.topic, batch.partition))!.nextOffset < to) {
        await commit(batch, [], [], to, caughtUp);
      }
    }
  };

  // A poison event goes to the dead letters with its reason and position; then on (skip) or stop (halt).
  const deadLetter = async (batch: LogBatch, poison: Poison) => {
    const { event } = poison;
    const where = `${event.position.topic}/${event.position.partition}@${event.position.offset}`;
    // a handler's message may quote the event: the values of its sensitive fields are taken out
    const sensitive = valuesAt(event.data, options.catalog?.get(event.type)?.sensitive ?? []);
    const reason = `${withoutValues(poison.message, sensitive)} (event ${event.id} ${event.type} at ${where})`;
    // the event itself, for tools that read the log's dead-letter topic
    await log.deadLetter(definition.name, event, reason);
    const letter = {
      position: event.position,
      stream: event.stream,
      version: event.version,
      eventId: event.id,
      type: event.type,
      kind: poison.kind,
      reason,
    };
    if (definition.onError === 'skip') {
      const key = partitionKey(batch.topic, batch.partition);
      const current = checkpoints.get(key);
      const to = event.position.offset + 1n;
      await store.recordDeadLetter(definition.name, generation, letter, {
        topic: batch.topic,
        partition: batch.partition,
        from: current?.nextOffset ?? null,
        to,
        lastEventAt: event.recordedAt,
        caughtUpAt: current?.caughtUpAt ?? null,
      });
      checkpoints.set(key, {
        ...(current ?? { topic: batch.topic, partition: batch.partition, caughtUpAt: null }),
        nextOffset: to,
        lastEventAt: event.recordedAt,
      });
      logger.warn({ projection: definition.name, reason }, 'skipped an event it cannot apply');
      return;
    }
    await store.recordDeadLetter(definition.name, generation, letter, null);
    halted = new ProjectionHalted(definition.name, reason);
    logger.error({ projection: definition.name, reason }, 'projection halted');
    // stopping waits for the batch in flight, which is this one: stop once it has returned
    setImmediate(() => void subscription?.stop().catch(() => {}));
    throw halted;
  };

  const applyBatch = async (batch: LogBatch) => {
    if (halted) throw halted;
    const key = partitionKey(batch.topic, batch.partition);
    const current = checkpoints.get(key) ?? (await reload(batch.topic, batch.partition));
    const from = current?.nextOffset ?? null;
    if (from !== null && batch.nextOffset <= from) return; // all of it applied already
    const events = from === null ? batch.events : batch.events.filter((e) => e.position.offset >= from);
    const caughtUp = batch.nextOffset >= batch.highWatermark;
    let pending: RecordedEvent[] = [];
    let changes: Change[] = [];
    for (const e of events) {
      try {
        addChangesOf(e, changes);
        pending.push(e);
      } catch (error) {
        const poison = poisonOr(error);
        if (pending.length) await commitOrDeadLetter(batch, pending, changes, e.position.offset, false);
        pending = [];
        changes = [];
        await deadLetter(batch, poison);
      }
    }
    await commitOrDeadLetter(batch, pending, changes, batch.nextOffset, caughtUp);
    options.holes?.close(definition.name, batch.topic, batch.partition); // it reads on: past any hole
  };

  // a partition stopped below the log start: in the status (holes) until it reads on, never skipped
  const stoppedAt = (gap: ArchiveGap) => {
    options.holes?.report(gap, definition.name);
    logger.error(
      { projection: definition.name, err: gap },
      'partition stopped: records below its checkpoint are neither in the log nor in the archive',
    );
  };

  // a consumer span per batch: the child of its first event's producer span (so one trace runs from
  // the append to the projection's rows) and linked to every event's, by the records' traceparent
  const timedBatch = async (batch: LogBatch) => {
    const started = performance.now();
    await tracedBatch(batch);
    if (batch.events.length > 0) {
      options.telemetry?.applied({
        projection: definition.name,
        events: batch.events.length,
        seconds: (performance.now() - started) / 1000,
      });
    }
  };
  const tracedBatch = (batch: LogBatch) =>
    inConsumerSpan(
      `project ${definition.name}`,
      batch,
      { 'logfront.projection': definition.name, 'logfront.generation': generation },
      () => applyBatch(batch),
    );

  // A plain runner follows the active generation: after a rebuild switched it (here or in another
  // process), the runner restarts on the new one.
  const follow = async () => {
    if (halted) return resumeIfResolved();
    const active = await store.activeGeneration(definition.name);
    if (building || active === null || active === generation) return;
    logger.info({ projection: definition.name, from: generation, to: active }, 'active generation switched');
    await subscription?.stop();
    subscription = undefined;
    checkpoints.clear();
    generation = active;
    await subscribe();
  };

  // A halted projection runs again once its poison event was retried or skipped (by the API or the
  // CLI, in any process): the store then says `running` and its checkpoint stands past the event.
  const resumeIfResolved = async () => {
    const status = await store.status(definition.name);
    if (!status || status.state === 'halted' || status.generation !== generation) return;
    logger.info({ projection: definition.name }, 'resumed past the event it halted on');
    await subscription?.stop();
    checkpoints.clear();
    halted = undefined;
    await subscribe();
  };

  const subscribe = async () => {
    try {
      subscription = await log.subscribe({
        groupId: `${options.groupPrefix}.projection.${definition.name}.g${generation}`,
        topics: definition.categories.map((c) => log.topicFor(c)),
        startAt: async (topic, partition) => (await reload(topic, partition))?.nextOffset,
        onBatch: timedBatch,
        maxBatchEvents: options.batchEvents,
        onError: (error) => {
          if (error instanceof ArchiveGap) stoppedAt(error);
          else if (!(error instanceof ProjectionHalted)) {
            logger.warn(
              { projection: definition.name, err: error },
              'batch failed; retrying from the checkpoint',
            );
          }
        },
      });
    } catch (error) {
      // the archive's replay found a hole before the subscription began
      if (error instanceof ArchiveGap) stoppedAt(error);
      throw error;
    }
  };

  const stopHeartbeat = () => {
    if (heartbeat) clearInterval(heartbeat);
    heartbeat = undefined;
  };

  return {
    name: definition.name,
    get generation() {
      return generation;
    },
    get halted() {
      return halted !== undefined;
    },
    start: async () => {
      if (!building) generation = (await store.activeGeneration(definition.name)) ?? 1;
      await store.prepare(definition, generation);
      await log.ensureTopics(definition.categories);
      for (const c of await store.checkpoints(definition.name, generation)) {
        checkpoints.set(partitionKey(c.topic, c.partition), c);
      }
      const beat = () =>
        building || halted
          ? Promise.resolve()
          : store.setState(definition.name, generation, 'running', now());
      await beat();
      await subscribe();
      let beating = false;
      heartbeat = setInterval(() => {
        if (beating) return;
        beating = true;
        beat()
          .then(follow)
          .catch((err) => logger.warn({ err, projection: definition.name }, 'heartbeat failed'))
          .finally(() => {
            beating = false;
          });
      }, options.heartbeatMs ?? 1000);
      heartbeat.unref();
      logger.info({ projection: definition.name, generation }, 'projection runner started');
    },
    stop: async () => {
      stopHeartbeat();
      await subscription?.stop();
      subscription = undefined;
      if (!halted && !building) await store.setState(definition.name, generation, 'stopped').catch(() => {});
    },
  };
};
