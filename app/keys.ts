// `logfront keys rotate` as the composition root runs it: the data keys re-wrapped with the new KEK,
// recorded in the audit log, and (embedded) the copies wrapped with the previous KEK removed from the
// data directory's files. docs/security.md#rotating-the-kek.
import { ConfigError } from '../core/errors.ts';
import type { AuditActor, AuditInput, AuditTrail } from '../core/security/audit.ts';
import { errorMessage } from '../core/security/redaction.ts';
import { type RewrappableKeys, type RotationResult, rotateDataKeys } from '../core/security/rotation.ts';

export const rotateKeys = async (deps: {
  /** the KEK to wrap with; null when sensitive fields are not encrypted */
  kek: Buffer | null;
  previous: Buffer | null;
  keys: RewrappableKeys;
  audit: Pick<AuditTrail, 'record' | 'offer'>;
  by: AuditActor;
  /** the database schema of the key table, to name it in the audit log */
  schema: string;
  purge?: ((projections: readonly string[]) => Promise<void>) | undefined;
}): Promise<RotationResult> => {
  const { kek } = deps;
  if (!kek) {
    throw new ConfigError([
      {
        path: 'LOGFRONT_ENCRYPTION',
        message: 'off: sensitive fields are not encrypted, no data key to rotate',
      },
    ]);
  }
  const rotated = (outcome: AuditInput['outcome'], more: Partial<AuditInput> = {}): AuditInput => ({
    ...deps.by,
    action: 'keys.rotated',
    resource: `data-keys/${deps.schema}`,
    outcome,
    ...more,
  });
  // no key is re-wrapped before the audit log holds the request
  await deps.audit.record(rotated('started'));
  let result: RotationResult;
  try {
    result = await rotateDataKeys({ keys: deps.keys, kek, previous: deps.previous });
    // the rows wrapped with the previous KEK are dead tuples now: gone from the files too (embedded)
    await deps.purge?.([]);
  } catch (error) {
    deps.audit.offer(rotated('failure', { reason: errorMessage(error) }));
    throw error;
  }
  const details = { ...result };
  await deps.audit.record(
    result.unreadable
      ? rotated('failure', {
          reason: `${result.unreadable} data keys open with neither the new nor the previous KEK`,
          details,
        })
      : rotated('success', { details }),
  );
  return result;
};
