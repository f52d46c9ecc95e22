import type { Change, ColumnType, ProjectionSpec, Row } from '../core/projection.ts';

export { DELETED, foldChanges } from '../core/fold.ts';

import type { RecordedEvent } from '../core/types.ts';

export type Handler = (event: RecordedEvent<never>) => Change | readonly Change[] | undefined | null;

export interface ProjectionDefinition extends ProjectionSpec {
  /** stream categories whose topics feed the projection */
  readonly categories: readonly string[];
  readonly on: Readonly<Record<string, Handler>>;
  /**
   * what to do with an event whose handler (or whose rows) still fail after `retries`: send it to the
   * dead-letter topic and stop (`halt`, the default) or go on past it (`skip`)
   */
  readonly onError: 'halt' | 'skip';
  readonly retries: number;
  /** the text column naming a row's data subject: erasing the subject deletes its rows */
  readonly subject?: string;
}

const NAME = /^[a-z][a-z0-9_]{0,39}$/;
const COLUMN = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

export const defineProjection = <H extends Record<string, Handler>>(definition: {
  name: string;
  key: string;
  columns: Record<string, ColumnType>;
  categories: readonly string[];
  on: H;
  onError?: 'halt' | 'skip';
  retries?: number;
  subject?: string;
}): ProjectionDefinition => {
  if (!NAME.test(definition.name)) throw new Error(`projection name "${definition.name}" must match ${NAME}`);
  for (const column of Object.keys(definition.columns)) {
    if (!COLUMN.test(column))
      throw new Error(`column "${column}" of ${definition.name} must match ${COLUMN}`);
    if (column.startsWith('__lf_'))
      throw new Error(`column "${column}" of ${definition.name}: names starting with __lf_ are reserved`);
  }
  if (definition.columns[definition.key] !== 'text') {
    throw new Error(`key column "${definition.key}" of ${definition.name} must be declared as text`);
  }
  if (definition.subject !== undefined && definition.columns[definition.subject] !== 'text') {
    throw new Error(`subject column "${definition.subject}" of ${definition.name} must be declared as text`);
  }
  if (definition.categories.length === 0) throw new Error(`projection ${definition.name} reads no category`);
  // one bad event never stops a projection: it is dead-lettered and skipped unless the projection opts into halting
  return Object.freeze({ onError: 'skip', retries: 3, ...definition });
};

export const upsert = (row: Row): Change => ({ kind: 'upsert', row });
export const patch = (key: string, set: Row): Change => ({ kind: 'patch', key, set });
export const remove = (key: string): Change => ({ kind: 'delete', key });
export const increment = (key: string, by: Record<string, number>): Change => ({
  kind: 'increment',
  key,
  by,
});

export const changesFor = (definition: ProjectionDefinition, events: readonly RecordedEvent[]): Change[] => {
  const out: Change[] = [];
  for (const event of events) {
    const handler = Object.hasOwn(definition.on, event.type) ? definition.on[event.type] : undefined;
    if (!handler) continue;
    const result = handler(event as RecordedEvent<never>);
    if (!result) continue;
    if (Array.isArray(result)) out.push(...(result as Change[]));
    else out.push(result as Change);
  }
  return out;
};
