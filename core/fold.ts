import type { Change, ProjectionSpec, Row } from './projection.ts';

/** marker for a row deleted in a fold */
export const DELETED: Row = Object.freeze({ __deleted: true });

/** a row with `by` added to its numeric columns (a missing column counts as 0) */
const incremented = (
  spec: ProjectionSpec,
  key: string,
  current: Row | undefined,
  by: Readonly<Record<string, number>>,
): Row => {
  const row: Row = { ...(current ?? {}), [spec.key]: key };
  for (const [column, delta] of Object.entries(by)) row[column] = Number(row[column] ?? 0) + delta;
  return row;
};

/** Applies changes to rows in memory, in order: the reference semantics of a projection. */
export const foldChanges = (spec: ProjectionSpec, rows: Map<string, Row>, changes: readonly Change[]) => {
  for (const change of changes) {
    if (change.kind === 'upsert') {
      const key = change.row[spec.key];
      if (typeof key !== 'string' || key === '') throw new Error(`${spec.name}: upsert without a text key`);
      rows.set(key, { ...change.row });
    } else if (change.kind === 'patch') {
      const current = rows.get(change.key);
      // a patch of a row that does not exist is dropped: the event came before its creation
      if (current && current !== DELETED)
        rows.set(change.key, { ...current, ...change.set, [spec.key]: change.key });
    } else if (change.kind === 'increment') {
      const current = rows.get(change.key);
      rows.set(
        change.key,
        incremented(spec, change.key, current === DELETED ? undefined : current, change.by),
      );
    } else {
      rows.set(change.key, DELETED);
    }
  }
  return rows;
};
