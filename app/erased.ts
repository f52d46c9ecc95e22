// What an erasure leaves behind so that no rebuild, late event or retried dead letter writes the erased
// subject's rows again (docs/erasure.md#erase-and-rebuild-agree): its record in Postgres (or PGlite), and
// the screening of the runners' batches against it.
import {
  createPostgresErasedSubjects,
  createPostgresRowsByKeyEraser,
} from '../connectors/postgres/erasure.ts';
import type { Sql } from '../connectors/sql/sql.ts';
import type { EventLog } from '../core/ports.ts';
import type { DataKeyStore } from '../core/security/crypto.ts';
import { createErasedRows, createSubjectRefs, type ErasedRows } from '../core/security/erasure.ts';
import type { Domain } from './domain.ts';

export const createErasureRecord = (deps: {
  sql: Sql;
  schema: string;
  /** the data keys (the record's HMAC key is one of them) and the KEK they are wrapped with */
  keys: DataKeyStore;
  kek: Buffer;
  log: EventLog;
  domain: Domain;
  /** rows deleted by key leave the read cache too */
  uncache: (projection: string, rows: readonly Record<string, unknown>[]) => Promise<void>;
}): { remember: (tenant: string, subject: string) => Promise<void>; erasedRows: ErasedRows } => {
  const refOf = createSubjectRefs(deps.keys, deps.kek);
  const erased = createPostgresErasedSubjects(deps.sql, deps.schema);
  const deleteKeys = createPostgresRowsByKeyEraser(deps.sql, deps.schema);
  // the horizon: where the log ends, on the topics of the projections that have a subject column
  const topics = [
    ...new Set(deps.domain.projections.filter((p) => p.subject).flatMap((p) => p.categories)),
  ].map((c) => deps.log.topicFor(c));
  return {
    remember: async (tenant, subject) =>
      erased.record(await refOf(tenant, subject), await deps.log.endOffsets(topics)),
    erasedRows: createErasedRows({
      refOf,
      erased,
      deleteRows: async (projection, generation, rows) =>
        deps.uncache(projection.name, await deleteKeys(projection, generation, rows)),
    }),
  };
};
