// GDPR erasure of a data subject (DESIGN §7): its data keys are destroyed, so its sensitive fields
// become unreadable in every event wherever it is stored, and its projection rows are deleted.
import { createHash } from 'node:crypto';
import { DEFAULT_TENANT, type FieldCipher } from './crypto.ts';
import { ErasureUnavailable, ValidationFailed } from './errors.ts';
import type { Logger } from './logger.ts';
import { errorMessage } from './redaction.ts';

export interface ErasureRequest {
  readonly tenant?: string | undefined;
  /** who asked (a principal once authentication exists) */
  readonly actor: string;
  readonly traceId?: string | undefined;
}

export interface ErasureResult {
  readonly subjectId: string;
  readonly tenant: string;
  readonly erased: true;
  readonly keysDestroyed: number;
  /** rows deleted, per projection that declares a subject column */
  readonly rowsDeleted: Record<string, number>;
}

export interface Erasure {
  erase(subjectId: string, request: ErasureRequest): Promise<ErasureResult>;
}

/** an identifier as the audit log shows it: a short hash, never the value */
export const redact = (id: string) => `sha256:${createHash('sha256').update(id).digest('hex').slice(0, 12)}`;

const validId = (id: string) =>
  id.length >= 1 && id.length <= 200 && ![...id].some((c) => c.charCodeAt(0) < 0x20);

export const createErasure = (deps: {
  /** null when sensitive fields are not encrypted (no key-encryption key) */
  cipher: FieldCipher | null;
  projections: readonly { readonly name: string; readonly subject?: string }[];
  deleteRows: (projection: string, column: string, value: string) => Promise<number>;
  logger: Logger;
}): Erasure => {
  // the audit log is written whatever LOGFRONT_LOG_LEVEL says
  const auditLog = deps.logger.child({}, { level: 'info' });
  return {
    erase: async (subjectId, request) => {
      const tenant = request.tenant ?? DEFAULT_TENANT;
      const issues = [
        ...(validId(subjectId)
          ? []
          : [{ path: 'subjectId', message: '1 to 200 characters, no control characters' }]),
        ...(validId(tenant)
          ? []
          : [{ path: 'tenant', message: '1 to 200 characters, no control characters' }]),
      ];
      if (issues.length) throw new ValidationFailed('invalid erasure', issues);
      const audit = {
        event: 'object.deleted',
        actor: request.actor,
        tenant,
        action: 'erase',
        resource: `subject/${redact(subjectId)}`,
        traceId: request.traceId ?? null,
      };
      try {
        if (!deps.cipher) {
          throw new ErasureUnavailable(
            'sensitive fields are not encrypted (no LOGFRONT_KEK), so a data subject cannot be erased',
          );
        }
        const keysDestroyed = await deps.cipher.forget(tenant, subjectId);
        const rowsDeleted: Record<string, number> = {};
        for (const p of deps.projections) {
          if (p.subject) rowsDeleted[p.name] = await deps.deleteRows(p.name, p.subject, subjectId);
        }
        auditLog.info(
          { audit: { ...audit, outcome: 'success', keysDestroyed, rowsDeleted } },
          'object.deleted',
        );
        return { subjectId, tenant, erased: true, keysDestroyed, rowsDeleted };
      } catch (error) {
        auditLog.warn(
          { audit: { ...audit, outcome: 'failure', reason: errorMessage(error) } },
          'object.deleted',
        );
        throw error;
      }
    },
  };
};
