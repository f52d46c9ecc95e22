// GDPR erasure of a data subject (DESIGN §7): its data keys are destroyed, so its sensitive fields (and the
// bytes of its blobs) become unreadable wherever they are stored, and its projection rows and blobs are
// deleted.

import { ErasureUnavailable, ValidationFailed } from '../errors.ts';
import type { AuditActor, AuditInput, AuditTrail } from './audit.ts';
import { DEFAULT_TENANT, type FieldCipher } from './crypto.ts';
import { errorMessage } from './redaction.ts';

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

const validId = (id: string) =>
  id.length >= 1 && id.length <= 200 && ![...id].some((c) => c.charCodeAt(0) < 0x20);

export const createErasure = (deps: {
  /** null when sensitive fields are not encrypted (no key-encryption key) */
  cipher: FieldCipher | null;
  projections: readonly { readonly name: string; readonly subject?: string }[];
  /** deletes the rows of `tenant` whose `column` is `value` */
  deleteRows: (projection: string, column: string, value: string, tenant: string) => Promise<number>;
  /** absent without a blob store */
  blobs?: SubjectBlobs | undefined;
  audit: Pick<AuditTrail, 'record' | 'offer' | 'subjectRef'>;
}): Erasure => ({
  // The audit log holds the request before anything is destroyed (outcome `started`), and the outcome
  // after: when either cannot be written the erasure reports failure, and the caller tries it again
  // (erasing again destroys what is left, if anything, and is recorded again).
  erase: async (subjectId, request) => {
    const tenant = request.tenant ?? DEFAULT_TENANT;
    const issues = [
      ...(validId(subjectId)
        ? []
        : [{ path: 'subjectId', message: '1 to 200 characters, no control characters' }]),
      ...(validId(tenant) ? [] : [{ path: 'tenant', message: '1 to 200 characters, no control characters' }]),
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
        'sensitive fields are not encrypted (no LOGFRONT_KEK), so a data subject cannot be erased',
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
