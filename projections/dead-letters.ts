// Dead letters you can act on: list a projection's, retry one after a fix (its changes are computed
// again from the event as the log holds it, and applied exactly once), skip one, or resume a halted
// projection past the event it halted on.

import { Conflict, LogfrontError, NotFound, ValidationFailed } from '../core/errors.ts';
import { idOfChange } from '../core/fold.ts';
import type { DeadLetterEntry, DeadLetterState, EventLog, ProjectionStore } from '../core/ports.ts';
import { type AuditActor, type AuditTrail, SYSTEM } from '../core/security/audit.ts';
import type { ErasedRows } from '../core/security/erasure.ts';
import type { ProjectionDefinition } from './define.ts';
import { changesOfEvent, isPoison } from './runner.ts';

/** a retried dead letter whose event still cannot be applied; the letter stays pending */
export class DeadLetterStillFailing extends LogfrontError {
  readonly code = 'dead_letter_still_failing';
  readonly status = 422;
  constructor(
    readonly id: string,
    readonly reason: string,
  ) {
    super(`dead letter ${id} still fails: ${reason}`);
  }
  override details() {
    return { id: this.id, reason: this.reason };
  }
}

export interface DeadLetterPage {
  readonly items: DeadLetterEntry[];
  /** the cursor of the next page; null on the last */
  readonly next: string | null;
}

export interface DeadLetters {
  list(
    projection: string,
    options?: { limit?: number; cursor?: string; state?: string },
  ): Promise<DeadLetterPage>;
  /** applies the event again with the projection's handler as it is now; exactly once */
  retry(projection: string, id: string, by?: AuditActor): Promise<DeadLetterEntry>;
  skip(projection: string, id: string, by?: AuditActor): Promise<DeadLetterEntry>;
  /** skips the event a halted projection halted on, so it runs again; Conflict when it is not halted */
  resume(projection: string, by?: AuditActor): Promise<DeadLetterEntry>;
}

const MAX_LIMIT = 500;
/** a page's size when the caller gives none (the HTTP API documents it) */
export const DEAD_LETTERS_DEFAULT_LIMIT = 50;
const STATES: readonly DeadLetterState[] = ['pending', 'retried', 'skipped'];
const ID = /^[1-9][0-9]{0,17}$/;

export const createDeadLetters = (deps: {
  log: EventLog;
  store: ProjectionStore;
  projections: readonly ProjectionDefinition[];
  /**
   * the rows a retry is about to change (by rowId, as the cache names them), so no cache serves them
   * as they were: the log's order does not hold for a retried event, whose position is older than the
   * rows' newest
   */
  beforeRowsChange?: (projection: string, keys: readonly string[]) => Promise<void>;
  /** where retries and skips are recorded (dead_letter.retried, dead_letter.skipped; best effort) */
  audit?: Pick<AuditTrail, 'offer'>;
  /** a retried event writes no row of a subject erased after it, as the runner (core/security/erasure.ts) */
  erased?: ErasedRows;
}): DeadLetters => {
  // the resolution, and its record in the audit trail whether it succeeds or fails
  const audited = async (
    action: 'dead_letter.retried' | 'dead_letter.skipped',
    projection: string,
    id: string | undefined,
    by: AuditActor,
    resolve: () => Promise<DeadLetterEntry>,
  ) => {
    const resource = `projection/${projection}/dead-letters${id === undefined ? '' : `/${id}`}`;
    try {
      const letter = await resolve();
      deps.audit?.offer({
        ...by,
        action,
        resource: `projection/${projection}/dead-letters/${letter.id}`,
        outcome: 'success',
        details: {
          stream: letter.stream,
          version: letter.version,
          type: letter.type,
          eventId: letter.eventId,
          generation: letter.generation,
          ...(id === undefined ? { resumed: true } : {}),
        },
      });
      return letter;
    } catch (error) {
      deps.audit?.offer({ ...by, action, resource, outcome: 'failure', reason: (error as Error).message });
      throw error;
    }
  };
  const definitionOf = (name: string) => {
    const definition = deps.projections.find((p) => p.name === name);
    if (!definition) throw new NotFound(`no projection ${name}`);
    return definition;
  };
  const pendingLetter = async (definition: ProjectionDefinition, id: string) => {
    const letter = ID.test(id) ? await deps.store.deadLetter(definition.name, id) : null;
    if (!letter) throw new NotFound(`projection ${definition.name} has no dead letter ${id}`);
    if (letter.state !== 'pending') {
      throw new Conflict(`dead letter ${id} of ${definition.name} was ${letter.state} already`);
    }
    return letter;
  };

  const retry = async (projection: string, id: string) => {
    const definition = definitionOf(projection);
    const letter = await pendingLetter(definition, id);
    const [event] = await deps.log.readStream(letter.stream, letter.version, 1);
    if (!event || event.id !== letter.eventId) {
      throw new Conflict(
        `the event of dead letter ${id} (${letter.stream} version ${letter.version}) is no longer in the log`,
      );
    }
    let changes: ReturnType<typeof changesOfEvent>;
    try {
      changes = changesOfEvent(definition, event);
    } catch (error) {
      if (!isPoison(error)) throw error;
      throw new DeadLetterStillFailing(id, error.message);
    }
    if (deps.erased && definition.subject !== undefined) {
      const at = { ...event, position: letter.position };
      changes = (await deps.erased.screen(definition, changes, () => at)).changes;
    }
    // the rows by their rowId, as the cache names them (the changes carry the event's tenant)
    const keys = [...new Set(changes.map((c) => idOfChange(definition, c)))];
    if (keys.length) await deps.beforeRowsChange?.(definition.name, keys);
    try {
      return await deps.store.resolveDeadLetter(definition, id, 'retried', changes);
    } catch (error) {
      // rows the database still refuses (SQLSTATE class 22, 23): the letter stays pending
      if (/^2[23]/.test(String((error as { code?: unknown }).code ?? ''))) {
        throw new DeadLetterStillFailing(id, (error as Error).message);
      }
      throw error;
    }
  };

  return {
    list: async (projection, options = {}) => {
      definitionOf(projection);
      const limit = options.limit ?? DEAD_LETTERS_DEFAULT_LIMIT;
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
        throw new ValidationFailed('invalid limit', [{ path: 'limit', message: `expected 1…${MAX_LIMIT}` }]);
      }
      if (options.cursor !== undefined && !ID.test(options.cursor)) {
        throw new ValidationFailed('invalid cursor', [
          { path: 'cursor', message: 'not a cursor of this list' },
        ]);
      }
      const state = options.state as DeadLetterState | undefined;
      if (state !== undefined && !STATES.includes(state)) {
        throw new ValidationFailed('invalid state', [
          { path: 'state', message: `one of ${STATES.join(', ')}` },
        ]);
      }
      const found = await deps.store.deadLetters(projection, {
        limit: limit + 1,
        ...(options.cursor ? { after: options.cursor } : {}),
        ...(state ? { state } : {}),
      });
      const items = found.slice(0, limit);
      return { items, next: found.length > limit ? items.at(-1)!.id : null };
    },
    retry: (projection, id, by = SYSTEM) =>
      audited('dead_letter.retried', projection, id, by, () => retry(projection, id)),
    skip: (projection, id, by = SYSTEM) =>
      audited('dead_letter.skipped', projection, id, by, async () => {
        const definition = definitionOf(projection);
        await pendingLetter(definition, id);
        return deps.store.resolveDeadLetter(definition, id, 'skipped', []);
      }),
    resume: (projection, by = SYSTEM) =>
      audited('dead_letter.skipped', projection, undefined, by, async () => {
        const definition = definitionOf(projection);
        const status = await deps.store.status(projection);
        if (status?.state !== 'halted') {
          throw new Conflict(`projection ${projection} is not halted (it is ${status?.state ?? 'idle'})`);
        }
        // the letter it halted on: the last pending one of the active generation
        const pending = await deps.store.deadLetters(projection, { state: 'pending', limit: 10_000 });
        const letter = pending.filter((l) => l.generation === status.generation).at(-1);
        if (!letter) throw new Conflict(`projection ${projection} is halted but has no pending dead letter`);
        return deps.store.resolveDeadLetter(definition, letter.id, 'skipped', []);
      }),
  };
};
