// GDPR erasure of a data subject (DESIGN §7): its data keys are destroyed, so its sensitive fields (and the
// bytes of its blobs) become unreadable wherever they are stored, and its projection rows and blobs are
// deleted.

import { createHmac, randomBytes } from 'node:crypto';
import { ErasureUnavailable, ValidationFailed } from '../errors.ts';
import { keyOfChange } from '../fold.ts';
import type { Change, ProjectionSpec } from '../projection.ts';
import { partitionKey } from '../read/positions.ts';
import type { Position, RecordedEvent } from '../types.ts';
import type { AuditActor, AuditInput, AuditTrail } from './audit.ts';
import { type DataKeyStore, DEFAULT_TENANT, type FieldCipher, unwrapKey, wrapKey } from './crypto.ts';
import { subjectIdProblem, TENANT_NAME, TENANT_NAME_RULE } from './names.ts';
import { errorMessage } from './redaction.ts';
import { rowId, tenantOfChange } from './tenancy.ts';

export interface ErasureRequest {
  readonly tenant?: string | undefined;
  /** who asked: the request's principal */
  readonly actor: string;
  readonly traceId?: string | null | undefined;
}

export interface ErasureResult {
  readonly subjectId: string;
  readonly tenant: string;
  readonly erased: true;
  readonly keysDestroyed: number;
  /** rows deleted, per projection that declares a subject column */
  readonly rowsDeleted: Record<string, number>;
  /** the subject's blobs deleted (their objects and their records) */
  readonly blobsDeleted: number;
}

/** a blob of a data subject, as the erasure deletes it */
export interface SubjectBlob {
  readonly blobId: string;
  readonly upload: string;
  readonly key: string;
}

/** the blobs uploaded for a data subject (docs/blobs.md), which its erasure deletes */
export interface SubjectBlobs {
  of(tenant: string, subjectId: string): Promise<readonly SubjectBlob[]>;
  /** deletes the blob's object, then its record; deleting one already gone is not an error */
  delete(blob: SubjectBlob): Promise<void>;
}

export interface Erasure {
  erase(subjectId: string, request: ErasureRequest): Promise<ErasureResult>;
}

export const createErasure = (deps: {
  /** null when sensitive fields are not encrypted (no key-encryption key) */
  cipher: FieldCipher | null;
  projections: readonly { readonly name: string; readonly subject?: string }[];
  /** deletes the rows of `tenant` whose `column` is `value` */
  deleteRows: (projection: string, column: string, value: string, tenant: string) => Promise<number>;
  /** absent without a blob store */
  blobs?: SubjectBlobs | undefined;
  audit: Pick<AuditTrail, 'record' | 'offer' | 'subjectRef'>;
  /**
   * records the subject as erased, without its id or any key (ErasedSubjects), before its rows are
   * deleted: from then on neither a rebuild nor a late event writes a row of it from an earlier event
   */
  remember?: (tenant: string, subject: string) => Promise<void>;
  /** makes what was deleted physically gone from the store's files (the embedded data directory) */
  purge?: (projections: readonly string[]) => Promise<void>;
}): Erasure => ({
  // The audit log holds the request before anything is destroyed (outcome `started`), and the outcome
  // after: when either cannot be written the erasure reports failure, and the caller tries it again
  // (erasing again destroys what is left, if anything, and is recorded again).
  erase: async (subjectId, request) => {
    const tenant = request.tenant ?? DEFAULT_TENANT;
    // the rules the append path checks with: every subject an append accepts can be erased
    const subjectProblem = subjectIdProblem(subjectId);
    const issues = [
      ...(subjectProblem === undefined ? [] : [{ path: 'subjectId', message: subjectProblem }]),
      ...(TENANT_NAME.test(tenant) ? [] : [{ path: 'tenant', message: TENANT_NAME_RULE }]),
    ];
    if (issues.length) throw new ValidationFailed('invalid erasure', issues);
    const by: AuditActor = { actor: request.actor, tenant, traceId: request.traceId ?? null };
    // the subject as the audit log names it: an HMAC under the audit secret, never the id or its bare hash
    const subject = deps.audit.subjectRef(tenant, subjectId);
    const erased = (outcome: AuditInput['outcome'], more: Partial<AuditInput> = {}): AuditInput => ({
      ...by,
      action: 'subject.erased',
      resource: `subject/${subject}`,
      outcome,
      ...more,
    });
    if (!deps.cipher) {
      const error = new ErasureUnavailable(
        'sensitive fields are not encrypted (LOGFRONT_ENCRYPTION=off, no LOGFRONT_KEK), so a data subject cannot be erased',
      );
      deps.audit.offer(erased('failure', { reason: error.message }));
      throw error;
    }
    let outcome: AuditInput[] | undefined;
    // each blob deleted is recorded, also when a later step fails
    const blobsDeleted: SubjectBlob[] = [];
    const blobDeleted = (blob: SubjectBlob): AuditInput => ({
      ...by,
      action: 'object.deleted',
      resource: `blob/${blob.blobId}`,
      outcome: 'success',
      details: { kind: 'blob', key: blob.key, subject },
    });
    try {
      await deps.audit.record(erased('started'));
      const keysDestroyed = await deps.cipher.forget(tenant, subjectId);
      await deps.remember?.(tenant, subjectId);
      const rowsDeleted: Record<string, number> = {};
      for (const p of deps.projections) {
        if (p.subject) rowsDeleted[p.name] = await deps.deleteRows(p.name, p.subject, subjectId, tenant);
      }
      if (deps.blobs) {
        for (const blob of await deps.blobs.of(tenant, subjectId)) {
          await deps.blobs.delete(blob);
          blobsDeleted.push(blob);
        }
      }
      // also when nothing was found: an erasure that stopped before its purge is finished by the next one
      await deps.purge?.(Object.keys(rowsDeleted));
      outcome = [
        ...Object.entries(rowsDeleted)
          .filter(([, rows]) => rows > 0)
          .map(
            ([projection, rows]): AuditInput => ({
              ...by,
              action: 'object.deleted',
              resource: `projection/${projection}`,
              outcome: 'success',
              details: { kind: 'rows', rows, subject },
            }),
          ),
        ...blobsDeleted.map(blobDeleted),
        erased('success', { details: { keysDestroyed, rowsDeleted, blobsDeleted: blobsDeleted.length } }),
      ];
      await deps.audit.record(...outcome);
      return {
        subjectId,
        tenant,
        erased: true,
        keysDestroyed,
        rowsDeleted,
        blobsDeleted: blobsDeleted.length,
      };
    } catch (error) {
      if (outcome) {
        // destroyed, but the outcome is not recorded: queued to be written when the audit log is back,
        // and the erasure reports failure so that its caller tries again
        for (const entry of outcome) deps.audit.offer(entry);
      } else {
        for (const blob of blobsDeleted) deps.audit.offer(blobDeleted(blob));
        deps.audit.offer(erased('failure', { reason: errorMessage(error) }));
      }
      throw error;
    }
  },
});

// ---- Erase and rebuild agree -------------------------------------------------------------------------
// An erasure deletes the subject's rows; a rebuild (and a runner applying events it had not reached yet)
// must not write them again from the events that came before the erasure, whose sensitive fields now read
// as null. So the erasure leaves a record: the subject's HMAC and the log's end positions (its horizon)
// when it ran. A change from an event below the horizon that would give a row the erased subject deletes
// that row instead, in the live runner and in a rebuild alike; events after it write rows as usual (a
// subject appended to again gets a new key, and its new rows).

/** the log's end when a subject was erased: partitionKey(topic, partition) → the next offset then */
export type Horizon = ReadonlyMap<string, bigint>;

/** The erasures' record: no key, no subject id, an HMAC of tenant and subject (`ref`) and a horizon. */
export interface ErasedSubjects {
  /** records `ref` as erased at `ends`; erased again, the later horizon replaces the earlier */
  record(ref: string, ends: readonly Position[]): Promise<void>;
  /** the horizons of those of `refs` that were erased, and a version that moves with every record */
  lookup(refs: readonly string[]): Promise<{ version: bigint; horizons: Map<string, Horizon> }>;
  version(): Promise<bigint>;
}

/** whether the erasure whose horizon is `horizon` covers the event at `position` */
export const erasedBefore = (horizon: Horizon | undefined, position: Position) => {
  const end = horizon?.get(partitionKey(position.topic, position.partition));
  return end !== undefined && position.offset < end;
};

// The HMAC key that names erased subjects is a data key of its own, under a tenant no append, token or
// erasure can name (names.ts): wrapped by the KEK like the others, re-wrapped by a rotation, never erased.
const REFS_TENANT = '';
const REFS_SUBJECT = 'logfront:erased-subjects';

/** names (tenant, subject) by an HMAC under a key kept in the key store: `hmac:<32 hex>` */
export const createSubjectRefs = (keys: DataKeyStore, kek: Buffer) => {
  let key: Promise<Buffer> | undefined;
  const load = () =>
    (key ??= (async () => {
      const keyId = randomBytes(12).toString('base64url');
      const candidate = randomBytes(32);
      const stored = await keys.keyFor(REFS_TENANT, REFS_SUBJECT, {
        keyId,
        wrapped: wrapKey(kek, keyId, candidate),
      });
      return stored.keyId === keyId ? candidate : unwrapKey(kek, stored.keyId, stored.wrapped);
    })().catch((error: unknown) => {
      key = undefined;
      throw error;
    }));
  return async (tenant: string, subject: string) =>
    `hmac:${createHmac('sha256', await load())
      .update(`${tenant}\n${subject}`)
      .digest('hex')
      .slice(0, 32)}`;
};

/** what screening needs of a projection: its key column and the column naming a row's data subject */
export interface SubjectProjection extends ProjectionSpec {
  readonly subject?: string;
}

export interface ScreenedChanges {
  readonly changes: Change[];
  /**
   * after `changes` were committed to `generation`: deletes the rows they wrote for a subject whose
   * erasure was recorded while they were applied (the erasure's own deletion may have run before them);
   * answers their keys
   */
  settle(generation: number): Promise<string[]>;
}

export interface ErasedRows {
  /** the changes with those that would give a row a subject erased after their event made deletions */
  screen(
    projection: SubjectProjection,
    changes: readonly Change[],
    eventOf: (change: Change) => RecordedEvent | undefined,
  ): Promise<ScreenedChanges>;
}

/** the subject a change gives its row, when the projection names a subject column and the change sets it */
const subjectOfChange = (projection: SubjectProjection, change: Change): string | undefined => {
  const column = projection.subject;
  if (column === undefined || change.kind === 'delete') return undefined;
  if (column === projection.key) return keyOfChange(projection, change);
  const value =
    change.kind === 'upsert' ? change.row[column] : change.kind === 'patch' ? change.set[column] : undefined;
  return typeof value === 'string' ? value : undefined;
};

export const createErasedRows = (deps: {
  refOf: (tenant: string, subject: string) => Promise<string>;
  erased: ErasedSubjects;
  /** deletes rows, each by its tenant and key, from a generation of the projection */
  deleteRows: (
    projection: SubjectProjection,
    generation: number,
    rows: readonly { readonly tenant: string; readonly key: string }[],
  ) => Promise<void>;
}): ErasedRows => ({
  screen: async (projection, changes, eventOf) => {
    const candidates: { index: number; ref: string; event: RecordedEvent }[] = [];
    // a batch names few subjects, many times: one HMAC each
    const named = new Map<string, string>();
    for (const [index, change] of changes.entries()) {
      const subject = subjectOfChange(projection, change);
      const event = subject === undefined ? undefined : eventOf(change);
      if (subject === undefined || event === undefined) continue;
      const tenant = event.metadata.tenant ?? DEFAULT_TENANT;
      let ref = named.get(`${tenant}\n${subject}`);
      if (ref === undefined) {
        ref = await deps.refOf(tenant, subject);
        named.set(`${tenant}\n${subject}`, ref);
      }
      candidates.push({ index, event, ref });
    }
    if (candidates.length === 0) return { changes: [...changes], settle: async () => [] };
    const refs = [...new Set(named.values())];
    const seen = await deps.erased.lookup(refs);
    const covered = (horizons: Map<string, Horizon>) =>
      candidates.filter((c) => erasedBefore(horizons.get(c.ref), c.event.position));
    const screened = [...changes];
    const replaced = new Set<number>();
    for (const c of covered(seen.horizons)) {
      const change = changes[c.index]!;
      // the row of the change's tenant: another tenant's row of the same key is not this subject's
      screened[c.index] = {
        kind: 'delete',
        key: keyOfChange(projection, change),
        ...(change.tenant === undefined ? {} : { tenant: change.tenant }),
      };
      replaced.add(c.index);
    }
    return {
      changes: screened,
      settle: async (generation) => {
        if ((await deps.erased.version()) === seen.version) return [];
        const late = covered((await deps.erased.lookup(refs)).horizons).filter((c) => !replaced.has(c.index));
        const rows = new Map<string, { tenant: string; key: string }>();
        for (const c of late) {
          const change = changes[c.index]!;
          const row = { tenant: tenantOfChange(change), key: keyOfChange(projection, change) };
          rows.set(rowId(row.tenant, row.key), row);
        }
        if (rows.size) await deps.deleteRows(projection, generation, [...rows.values()]);
        return [...rows.keys()];
      },
    };
  },
});
