import type { Change, ColumnType, ProjectionSpec, Row } from '../core/projection.ts';
import type { RecordedEvent } from '../core/types.ts';

export type Handler = (event: RecordedEvent<never>) => Change | readonly Change[] | undefined | null;

export interface ProjectionDefinition extends ProjectionSpec {
  /** stream categories whose topics feed the projection */
  readonly categories: readonly string[];
  readonly on: Readonly<Record<string, Handler>>;
}

const NAME = /^[a-z][a-z0-9_]{0,39}$/;
const COLUMN = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

export const defineProjection = <H extends Record<string, Handler>>(definition: {
  name: string;
  key: string;
  columns: Record<string, ColumnType>;
  categories: readonly string[];
  on: H;
}): ProjectionDefinition => {
  if (!NAME.test(definition.name)) throw new Error(`projection name "${definition.name}" must match ${NAME}`);
  for (const column of Object.keys(definition.columns)) {
    if (!COLUMN.test(column)) throw new Error(`column "${column}" of ${definition.name} must match ${COLUMN}`);
  }
  if (definition.columns[definition.key] !== 'text') {
    throw new Error(`key column "${definition.key}" of ${definition.name} must be declared as text`);
  }
  if (definition.categories.length === 0) throw new Error(`projection ${definition.name} reads no category`);
  return Object.freeze({ ...definition });
};

export const upsert = (row: Row): Change => ({ kind: 'upsert', row });
export const patch = (key: string, set: Row): Change => ({ kind: 'patch', key, set });
export const remove = (key: string): Change => ({ kind: 'delete', key });

/** The changes a definition asks for, in event order. Pure: used by the runner and by tests' folds. */
export const changesFor = (definition: ProjectionDefinition, events: readonly RecordedEvent[]): Change[] => {
  const out: Change[] = [];
  for (const event of events) {
    const handler = definition.on[event.type];
    if (!handler) continue;
    const result = handler(event as RecordedEvent<never>);
    if (!result) continue;
    if (Array.isArray(result)) out.push(...(result as Change[]));
    else out.push(result as Change);
  }
  return out;
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
      if (current) rows.set(change.key, { ...current, ...change.set, [spec.key]: change.key });
    } else {
      rows.set(change.key, DELETED);
    }
  }
  return rows;
};

/** marker for a row deleted in a fold */
export const DELETED: Row = Object.freeze({ __deleted: true });
