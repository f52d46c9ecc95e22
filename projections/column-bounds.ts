// What a projection's column type lets its handler write. The Postgres projection store sends a batch's
// rows as one JSON document (JSON.stringify) that `jsonb_populate_recordset` turns into the table's
// types, so a value is refused here when that path would refuse it (a class 22 or 23 error, or a
// TypeError from JSON.stringify) or change it silently (NaN written as NULL, a column that is not in the
// table dropped, an unsafe integer rounded). Refused, it is a data error of the event that produced it
// (`ColumnValueRefused`), instead of a database error that fails the whole batch.

import { z } from 'zod';
import { ColumnValueRefused } from '../core/errors.ts';
import {
  END_INSTANT_MS,
  FIRST_INSTANT_MS,
  unstorable,
  unstorableDateTime,
  unstorableText,
} from '../core/log/storable.ts';
import type { Change, ColumnType, ProjectionSpec } from '../core/projection.ts';

export const INT4_MIN = -2147483648;
export const INT4_MAX = 2147483647;
// Stryker disable next-line UnaryOperator: +(2n ** 63n) throws as the module loads, which the vitest runner counts as no test run
export const INT8_MIN = -(2n ** 63n);
export const INT8_MAX = 2n ** 63n - 1n;

/** why a value cannot be written, starting with the value as a message shows it; undefined when it can */
type Refusal = string | undefined;

/**
 * A value as a message shows it: by its kind, never by its content. A refusal becomes a dead-letter
 * reason and a log line, and the projection cannot know whether its handler copied a sensitive field
 * into the column (docs/security.md#logs); the event itself says what the value was.
 */
const shown = (value: unknown): string => {
  if (typeof value === 'string')
    return `a string of ${value.length} character${value.length === 1 ? '' : 's'}`;
  if (typeof value === 'bigint') return 'a JS bigint';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return String(value);
    return Number.isInteger(value) ? 'an integer' : 'a number with a fraction';
  }
  if (value === null || value === undefined) return String(value);
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'an invalid Date' : 'a Date';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
};

/** a name the projection's code chose (a column type, a change kind), quoted and cut when long */
const named = (value: unknown): string =>
  typeof value === 'string'
    ? JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
    : shown(value);

/** a path as a message shows it: indexes and plain names as they are, any other name quoted */
const pathOf = (path: readonly (string | number)[]) =>
  path
    .map(String)
    .map((p) =>
      /^[A-Za-z0-9_$-]{1,64}$/.test(p) ? p : JSON.stringify(p.length > 64 ? `${p.slice(0, 64)}…` : p),
    )
    .join('.');

const text = (value: unknown): Refusal => {
  if (typeof value !== 'string') return `${shown(value)} is not a string`;
  const why = unstorableText(value);
  return why && `${shown(value)} ${why}`;
};

const integer = (value: unknown): Refusal => {
  if (typeof value !== 'number') return `${shown(value)} is not an integer (int4)`;
  if (!Number.isInteger(value)) return `${shown(value)} is not an integer`;
  if (value < INT4_MIN || value > INT4_MAX)
    return `${shown(value)} is outside integer (int4) range ${INT4_MIN}..${INT4_MAX}`;
  return undefined;
};

// an int8 travels as a number only while a double holds it exactly; beyond, as a decimal string (how
// the store reads an int8 back); a JS bigint the store cannot serialise at all
/**
 * a decimal integer; its group: the significant digits (past any sign and leading zeros; 0 for zero).
 * The zeros and the group never match the same character, so a long input is matched in linear time.
 */
const DECIMAL = /^[+-]?0*([1-9][0-9]*|0)$/;
const bigint = (value: unknown): Refusal => {
  if (typeof value === 'bigint')
    return 'the value is a JS bigint, which the store cannot serialise: pass it as a decimal string';
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) return `${shown(value)} is not an integer`;
    if (!Number.isSafeInteger(value))
      return `${shown(value)} is beyond 2^53 - 1, where a JS number is no longer exact: pass it as a decimal string`;
    return undefined;
  }
  if (typeof value !== 'string') return `${shown(value)} is not an integer (int8)`;
  const decimal = DECIMAL.exec(value);
  if (!decimal) return `${shown(value)} is not a decimal integer`;
  // more than 19 significant digits is out of range whatever they are (and not worth a BigInt)
  // Stryker disable next-line ConditionalExpression: equivalent (only slower), the range check refuses such a BigInt too
  const n = decimal[1]!.length > 19 ? null : BigInt(value);
  if (n === null || n < INT8_MIN || n > INT8_MAX)
    return `${shown(value)} is outside bigint (int8) range ${INT8_MIN}..${INT8_MAX}`;
  return undefined;
};

const double = (value: unknown): Refusal => {
  if (typeof value !== 'number') return `${shown(value)} is not a number (double precision)`;
  if (!Number.isFinite(value)) return `${shown(value)} is not a finite number (the store would write NULL)`;
  return undefined;
};

const boolean = (value: unknown): Refusal =>
  typeof value === 'boolean' ? undefined : `${shown(value)} is not a boolean`;

// A timestamp is a Date or the ISO 8601 date-time with an offset that an event's occurredAt is (the same
// format, calendar-checked), from 0001-01-01 to the end of 9999 UTC (core/log/storable.ts).
const ISO_DATETIME = z.iso.datetime({ offset: true });
const YEARS = 'the years 0001..9999 (UTC)';

const timestamptz = (value: unknown): Refusal => {
  if (value instanceof Date) {
    const ms = value.getTime();
    if (Number.isNaN(ms)) return 'an invalid Date is not a timestamp (the store would write NULL)';
    return ms >= FIRST_INSTANT_MS && ms < END_INSTANT_MS ? undefined : `${shown(value)} is outside ${YEARS}`;
  }
  if (typeof value !== 'string')
    return `${shown(value)} is not a timestamp: pass a Date or an ISO 8601 date-time with an offset`;
  if (!ISO_DATETIME.safeParse(value).success)
    return `${shown(value)} is not an ISO 8601 date-time with an offset, like 2024-05-01T12:00:00Z`;
  const why = unstorableDateTime(value);
  return why ? `${shown(value)} ${why}` : undefined;
};

// what JSON.stringify would throw on (a bigint) or write as something else (NaN and Infinity as null, an
// invalid Date as null, a Map or a Set as {}, a function or a symbol as nothing); `unstorable` has
// already bounded the depth
const notJson = (value: unknown, at: (string | number)[]): Refusal => {
  const where = at.length ? `at ${pathOf(at)}: ` : '';
  if (typeof value === 'bigint') return `${where}the value is a JS bigint, which JSON cannot hold`;
  if (typeof value === 'number' && !Number.isFinite(value))
    return `${where}${shown(value)} is not a finite number (JSON would write null)`;
  if (typeof value === 'function' || typeof value === 'symbol') return `${where}${shown(value)} is not JSON`;
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array) return undefined;
  if (value instanceof Date)
    return Number.isNaN(value.getTime()) ? `${where}an invalid Date (JSON would write null)` : undefined;
  if (value instanceof Map || value instanceof Set)
    return `${where}a ${value instanceof Map ? 'Map' : 'Set'} is not JSON (it would be written as {})`;
  for (const [k, item] of Object.entries(value)) {
    const why = notJson(item, [...at, Array.isArray(value) ? Number(k) : k]);
    if (why) return why;
  }
  return undefined;
};

const jsonb = (value: unknown): Refusal => {
  const [issue] = unstorable(value);
  if (issue) return `${issue.path.length ? `at ${pathOf(issue.path)}: ` : ''}${issue.message}`;
  return notJson(value, []);
};

const REFUSALS: Record<ColumnType, (value: unknown) => Refusal> = {
  text,
  integer,
  bigint,
  double,
  boolean,
  timestamptz,
  jsonb,
};

const NUMERIC: readonly ColumnType[] = ['integer', 'bigint', 'double'];

/** an increment adds a JS number to the column in memory (the store's fold), so `by` holds numbers only */
const delta = (type: ColumnType, value: unknown): Refusal => {
  if (typeof value !== 'number') return `${shown(value)} is not a number`;
  if (type === 'double') return double(value);
  if (!Number.isSafeInteger(value)) return `${shown(value)} is not a safe integer`;
  return type === 'integer' ? integer(value) : undefined;
};

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Checks the row changes a projection's handler asked for against the projection's columns, in order;
 * throws `ColumnValueRefused` for the first value its table cannot hold. Pure: call it with the changes
 * of one event to make a bad value that event's data error.
 *
 * - a key (an upsert's key column, the key of a patch, a delete or an increment) is a non-empty string
 *   Postgres can store (no NUL, no lone surrogate);
 * - every other column written is declared, and its value fits its type; null and undefined write NULL;
 * - a patch's key column is ignored, as the store ignores it;
 * - an increment adds numbers to integer, bigint or double columns, each within its column's range.
 */
export const checkChanges = (spec: ProjectionSpec, changes: readonly Change[]): void => {
  const refuse = (column: string | null, reason: string): never => {
    throw new ColumnValueRefused(spec.name, column, reason);
  };
  const typeOf = (column: string): ColumnType => {
    const type = Object.hasOwn(spec.columns, column) ? spec.columns[column] : undefined;
    if (type === undefined)
      return refuse(
        column,
        `not a column of ${spec.name} (its columns: ${Object.keys(spec.columns).join(', ')})`,
      );
    if (!Object.hasOwn(REFUSALS, type))
      return refuse(column, `declared as ${named(type)}, not a column type`);
    return type;
  };
  const checkKey = (key: unknown) => {
    if (typeof key !== 'string') return refuse(spec.key, `the key is ${shown(key)}, not a string`);
    if (key === '') return refuse(spec.key, 'the key is empty');
    const why = unstorableText(key);
    if (why) refuse(spec.key, `the key ${why}`);
  };
  const checkColumns = (row: unknown, what: string) => {
    if (!isRecord(row)) return refuse(null, `the ${what} is ${shown(row)}, not an object of columns`);
    for (const [column, value] of Object.entries(row)) {
      if (column === spec.key) continue;
      const type = typeOf(column);
      if (value === null || value === undefined) continue;
      const why = REFUSALS[type](value);
      if (why) refuse(column, why);
    }
  };

  for (const change of changes as readonly unknown[]) {
    const kind = isRecord(change) ? change.kind : undefined;
    if (kind === 'upsert') {
      const { row } = change as { row: unknown };
      // a row that is no object is refused by checkColumns before its key is looked at
      if (isRecord(row)) checkKey(Object.hasOwn(row, spec.key) ? row[spec.key] : undefined);
      checkColumns(row, 'row of an upsert');
    } else if (kind === 'patch') {
      const { key, set } = change as { key: unknown; set: unknown };
      checkKey(key);
      checkColumns(set, 'set of a patch');
    } else if (kind === 'delete') {
      checkKey((change as { key: unknown }).key);
    } else if (kind === 'increment') {
      const { key, by } = change as { key: unknown; by: unknown };
      checkKey(key);
      if (!isRecord(by)) refuse(null, `the by of an increment is ${shown(by)}, not an object of columns`);
      for (const [column, value] of Object.entries(by as Record<string, unknown>)) {
        const type = typeOf(column);
        if (!NUMERIC.includes(type))
          refuse(column, `a ${type} column cannot be incremented (only integer, bigint and double)`);
        const why = delta(type, value);
        if (why) refuse(column, `the increment: ${why}`);
      }
    } else if (isRecord(change)) {
      refuse(null, `a change of kind ${named(kind)} is not an upsert, patch, delete or increment`);
    } else {
      refuse(null, `${shown(change)} is not a change`);
    }
  }
};
