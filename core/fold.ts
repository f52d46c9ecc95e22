import type { Change, ProjectionSpec, Row } from './projection.ts';
import { DEFAULT_TENANT } from './security/auth.ts';
import { rowId, TENANT_COLUMN, tenantOfChange } from './security/tenancy.ts';

/** marker for a row deleted in a fold */
export const DELETED: Row = Object.freeze({ __deleted: true });

/**
 * A row as the fold keeps it: the default tenant's as the handler wrote it, another tenant's with its
 * tenant in the system column (which the store writes and never reads back as a column of the row).
 * The store gives the rows it reads the same shape.
 */
export const ownedBy = (row: Row, tenant: string): Row => {
  if (tenant !== DEFAULT_TENANT) return { ...row, [TENANT_COLUMN]: tenant };
  const { [TENANT_COLUMN]: _, ...own } = row;
  return own;
};

/** a row with `by` added to its numeric columns (a missing column counts as 0) */
const incremented = (
  spec: ProjectionSpec,
  key: string,
  tenant: string,
  current: Row | undefined,
  by: Readonly<Record<string, number>>,
): Row => {
  const row: Row = ownedBy({ ...(current ?? {}), [spec.key]: key }, tenant);
  for (const [column, delta] of Object.entries(by)) row[column] = Number(row[column] ?? 0) + delta;
  return row;
};

/**
 * Applies changes to rows in memory, in order: the reference semantics of a projection. `rows` is by
 * rowId (core/security/tenancy.ts): the key for the default tenant's rows; a change changes the rows of
 * its own tenant only.
 */
export const foldChanges = (spec: ProjectionSpec, rows: Map<string, Row>, changes: readonly Change[]) => {
  for (const change of changes) {
    const id = idOfChange(spec, change);
    const tenant = tenantOfChange(change);
    if (change.kind === 'upsert') {
      rows.set(id, ownedBy(change.row, tenant));
    } else if (change.kind === 'patch') {
      const current = rows.get(id);
      // a patch of a row that does not exist is dropped: the event came before its creation
      if (current && current !== DELETED)
        rows.set(id, ownedBy({ ...current, ...change.set, [spec.key]: change.key }, tenant));
    } else if (change.kind === 'increment') {
      const current = rows.get(id);
      rows.set(
        id,
        incremented(spec, change.key, tenant, current === DELETED ? undefined : current, change.by),
      );
    } else {
      rows.set(id, DELETED);
    }
  }
  return rows;
};

/** the key a change is about; an upsert's row must carry a text key */
export const keyOfChange = (spec: ProjectionSpec, change: Change): string => {
  if (change.kind !== 'upsert') return change.key;
  const key = change.row[spec.key];
  if (typeof key !== 'string' || key === '') throw new Error(`${spec.name}: upsert without a text key`);
  return key;
};

/** the row a change is about, across tenants: its rowId */
export const idOfChange = (spec: ProjectionSpec, change: Change): string =>
  rowId(change.tenant, keyOfChange(spec, change));

/** What a batch's changes do to its rows (by rowId), known without reading the table where possible. */
export interface FoldPlan {
  /** rows (or DELETED) fully determined by the batch: its first change for the row upserts or deletes */
  readonly rows: Map<string, Row>;
  /** rows changed only by patches: the columns to set on the row, if it exists (undefined set as null) */
  readonly patches: Map<string, Row>;
  /** rows whose result depends on the stored row beyond a patch (an increment before any upsert/delete) */
  readonly read: Set<string>;
}

/**
 * Splits a batch's changes by what they need from the table. Same result as `foldChanges` over the
 * stored rows: an upsert or delete makes the rows before it irrelevant; patches of a row that is not
 * known can be applied by the database to the stored row (or dropped when there is none); only an
 * increment of a row that is not known needs the stored row read first.
 */
export const planFold = (spec: ProjectionSpec, changes: readonly Change[]): FoldPlan => {
  // a key is decided by its first change that is not a patch; a key with none was changed by patches only
  const state = new Map<string, 'known' | 'read'>();
  const keys = changes.map((change) => idOfChange(spec, change));
  changes.forEach((change, i) => {
    const key = keys[i]!;
    if (state.has(key) || change.kind === 'patch') return;
    state.set(key, change.kind === 'upsert' || change.kind === 'delete' ? 'known' : 'read');
  });
  const rows = new Map<string, Row>();
  const patches = new Map<string, Row>();
  const read = new Set<string>();
  const known: Change[] = [];
  changes.forEach((change, i) => {
    const key = keys[i]!;
    const s = state.get(key);
    if (s === 'known') known.push(change);
    else if (s === 'read') read.add(key);
    else {
      const columns = (change as Extract<Change, { kind: 'patch' }>).set;
      const set = patches.get(key) ?? {};
      patches.set(key, set);
      for (const column in columns) {
        if (!Object.hasOwn(columns, column) || column === spec.key) continue;
        const value = columns[column];
        set[column] = value === undefined ? null : value;
      }
    }
  });
  foldChanges(spec, rows, known);
  return { rows, patches, read };
};
