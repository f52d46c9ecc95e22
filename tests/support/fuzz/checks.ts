// After the requests: the projections catch up and run; the log holds exactly the acknowledged
// appends (a refused one left nothing); the dead letters are exactly the events no column can hold;
// every projection's rows equal a fold of the log without them.

import type { Change, ColumnType, Row } from '../../../core/projection.ts';
import type { Position, RecordedEvent } from '../../../core/types.ts';
import { changesFor, DELETED, foldChanges, type ProjectionDefinition } from '../../../projections/define.ts';
import { readAll } from '../log-reader.ts';
import { foldOrders } from '../orders.ts';
import type { Finding } from './findings.ts';
import type { Model } from './model.ts';
import type { FuzzTarget } from './run.ts';
import type { Sender } from './send.ts';

const SETTLE_MS = 180_000;

interface Summary {
  name: string;
  state: string;
  lagEvents: number;
  rebuilding: unknown;
  deadLettered: number;
}

const positionKey = (p: Position) => `${p.topic}/${p.partition}/${p.offset}`;

/** whether a column of this type can hold the value (Postgres's ranges) */
const holds = (type: ColumnType, v: unknown): boolean => {
  if (v === null || v === undefined) return true;
  switch (type) {
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v) && v >= -(2 ** 31) && v <= 2 ** 31 - 1;
    case 'bigint':
      return (
        (typeof v === 'number' && Number.isSafeInteger(v)) ||
        (typeof v === 'bigint' && v >= -(2n ** 63n) && v < 2n ** 63n)
      );
    case 'double':
      return typeof v === 'number' && Number.isFinite(v);
    case 'timestamptz': {
      const t = Date.parse(String(v));
      // Postgres: 4713 BC to 294276 AD (past the end of JS dates, year 275760)
      return Number.isFinite(t) && t >= Date.UTC(-4712, 0, 1);
    }
    case 'text':
      return (
        typeof v !== 'string' ||
        !(
          v.includes('\u0000') ||
          /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(v)
        )
      );
    default:
      return true;
  }
};

/** the changes of one event, or why the projection cannot apply them (a handler throws, a column refuses) */
const changesOf = (def: ProjectionDefinition, e: RecordedEvent): Change[] | string => {
  let changes: Change[];
  try {
    changes = changesFor(def, [e]);
  } catch (error) {
    return `the handler throws: ${(error as Error).message}`;
  }
  for (const c of changes) {
    const values =
      c.kind === 'upsert' ? c.row : c.kind === 'patch' ? c.set : c.kind === 'increment' ? c.by : {};
    for (const [column, v] of Object.entries(values)) {
      const type = def.columns[column];
      if (type && !holds(type, v)) return `${column} = ${String(v)} does not fit ${type}`;
    }
  }
  return changes;
};

/** a stored or folded value in one comparable form */
const comparable = (type: ColumnType | undefined, v: unknown) => {
  if (v === null || v === undefined) return null;
  if (type === 'timestamptz') return Date.parse(v instanceof Date ? v.toISOString() : String(v));
  if (type === 'integer' || type === 'bigint' || type === 'double') return Number(v);
  return v;
};
const sameValue = (type: ColumnType | undefined, a: unknown, b: unknown) => {
  const [x, y] = [comparable(type, a), comparable(type, b)];
  // Postgres keeps microseconds, a JS date milliseconds: rounding may differ by one
  if (type === 'timestamptz' && typeof x === 'number' && typeof y === 'number') return Math.abs(x - y) <= 1;
  return Object.is(x, y) || JSON.stringify(x) === JSON.stringify(y);
};

/** stored rows against folded ones: one difference per column (and for rows only on one side) */
const compareRows = (
  key: string,
  stored: readonly Row[],
  folded: ReadonlyMap<string, Row>,
  typeOf: (column: string) => ColumnType | undefined,
  columns: readonly string[],
) => {
  const byColumn = new Map<string, { key: string; stored: unknown; folded: unknown }[]>();
  const add = (what: string, pair: { key: string; stored: unknown; folded: unknown }) =>
    byColumn.set(what, [...(byColumn.get(what) ?? []), pair]);
  const seen = new Set<string>();
  for (const row of stored) {
    const k = String(row[key]);
    seen.add(k);
    const want = folded.get(k);
    if (!want) add('stored, not in the fold', { key: k, stored: row, folded: undefined });
    else
      for (const c of columns)
        if (!sameValue(typeOf(c), row[c], want[c]))
          add(`column ${c}`, { key: k, stored: row[c], folded: want[c] });
  }
  for (const [k, want] of folded)
    if (!seen.has(k)) add('in the fold, not stored', { key: k, stored: undefined, folded: want });
  return [...byColumn].map(([what, pairs]) => ({
    what: `${what} (${pairs.length} rows)`,
    pairs,
    detail: pairs
      .slice(0, 5)
      .map(
        (p) =>
          `${JSON.stringify(p.key)}: stored ${JSON.stringify(p.stored)}, fold ${JSON.stringify(p.folded)}`,
      )
      .join('\n    '),
  }));
};

export const finalChecks = async (
  target: FuzzTarget,
  model: Model,
  sender: Sender,
): Promise<{ findings: Finding[]; stats: string[] }> => {
  const findings: Finding[] = [];
  const stats: string[] = [];
  const found = (
    kind: Finding['kind'],
    route: string,
    why: string,
    detail: string,
    pairs?: Finding['pairs'],
  ) =>
    findings.push({
      kind,
      target: target.name,
      route,
      why,
      detail,
      request: '',
      answer: '',
      status: 0,
      code: '',
      ...(pairs ? { pairs } : {}),
    });

  // 1. the projections catch up (any rebuild finishes) and every one is running
  const deadline = Date.now() + SETTLE_MS;
  let summaries: Summary[] = [];
  let settled = false;
  while (Date.now() < deadline) {
    const answer = await sender.send({ method: 'GET', path: '/v1/projections' }, 30_000);
    if (answer.status === 200) {
      summaries = (JSON.parse(answer.body) as { projections: Summary[] }).projections;
      settled = summaries.every((p) => p.state === 'running' && p.lagEvents === 0 && !p.rebuilding);
      if (settled) break;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const reported = new Set(summaries.map((p) => p.name));
  for (const def of target.projections)
    if (!reported.has(def.name))
      found(
        'projection',
        `projection ${def.name}`,
        'GET /v1/projections does not report it',
        JSON.stringify(summaries),
      );
  for (const p of summaries)
    if (p.state !== 'running' || p.lagEvents !== 0 || p.rebuilding)
      found(
        'projection',
        `projection ${p.name}`,
        `not running and caught up within ${SETTLE_MS / 1000} s`,
        JSON.stringify(p),
      );

  // 2. the log holds exactly what was acknowledged
  const categories = await target.log.categories();
  const events = await readAll(
    target.log,
    categories.map((c) => target.log.topicFor(c)),
  );
  const acknowledged = new Map<string, Set<number>>();
  const refusedIds = new Map<string, number>();
  const refusals = new Map<string, number>();
  // (an id both refused and accepted: one of two twins was refused, the other appended)
  const acceptedIds = new Set(model.appends.filter((a) => a.status === 201).flatMap((a) => a.ids));
  for (const a of model.appends) {
    if (a.status === 201 && a.range) {
      const versions = acknowledged.get(a.stream) ?? new Set<number>();
      for (let v = a.range[0]; v <= a.range[1]; v++) versions.add(v);
      acknowledged.set(a.stream, versions);
    } else if (a.status >= 400 && a.status < 500) {
      for (const id of a.ids) if (!acceptedIds.has(id)) refusedIds.set(id, a.status);
      refusals.set(a.stream, (refusals.get(a.stream) ?? 0) + 1);
    }
  }
  const logged = new Map<string, RecordedEvent[]>();
  for (const e of events) {
    const list = logged.get(e.stream) ?? [];
    list.push(e);
    logged.set(e.stream, list);
    if (refusedIds.has(e.id))
      found(
        'log',
        'log',
        'an event of a refused append is in the log',
        `event ${e.id} (${e.type}) at ${e.stream} v${e.version}; its append was answered ${refusedIds.get(e.id)}`,
      );
  }
  stats.push(
    `log: ${events.length} events in ${logged.size} streams; ${[...acknowledged.values()].reduce((n, v) => n + v.size, 0)} acknowledged, ${refusals.size ? [...refusals.values()].reduce((n, v) => n + v, 0) : 0} appends refused`,
  );
  // blob streams are written by the blob service, not by appends
  const streams = new Set([...logged.keys(), ...acknowledged.keys()].filter((s) => !s.startsWith('blob-')));
  for (const stream of streams) {
    if (model.uncertain.has(stream)) continue;
    const inLog = (logged.get(stream) ?? []).map((e) => e.version);
    const expected = acknowledged.get(stream) ?? new Set<number>();
    const unique = new Set(inLog);
    if (unique.size !== inLog.length)
      found('log', 'log', 'a stream holds a version twice', `${stream}: versions ${inLog.join(',')}`);
    const extra = [...unique].filter((v) => !expected.has(v));
    const missing = [...expected].filter((v) => !unique.has(v));
    if (extra.length)
      found(
        'log',
        'log',
        'events in the log that no 201 acknowledged',
        `${stream}: versions ${extra.join(',')} (${refusals.get(stream) ?? 0} appends to it were refused)`,
      );
    if (missing.length)
      found(
        'log',
        'log',
        'acknowledged events missing from the log',
        `${stream}: versions ${missing.join(',')}`,
      );
  }
  // an acknowledged append whose events all had ids: those events, in order, at the versions it was given
  const at = new Map(events.map((e) => [`${e.stream}@${e.version}`, e]));
  for (const a of model.appends) {
    if (a.status !== 201 || !a.range || a.ids.length !== a.range[1] - a.range[0] + 1) continue;
    if (model.uncertain.has(a.stream)) continue;
    const wrong = a.ids.filter((id, i) => at.get(`${a.stream}@${a.range![0] + i}`)?.id !== id.toLowerCase());
    if (wrong.length)
      found(
        'log',
        'log',
        'an acknowledged append whose events are not at the versions its answer gave',
        `${a.stream} v${a.range.join('–')}: ids ${a.ids.join(',')}; the log has ${a.ids
          .map((_, i) => at.get(`${a.stream}@${a.range![0] + i}`)?.id ?? 'nothing')
          .join(',')}`,
      );
  }

  // 3. per projection: the dead letters are the events no column can hold; the rows are the fold of the rest
  for (const def of target.projections) {
    const topics = new Set(def.categories.map((c) => target.log.topicFor(c)));
    const input = events
      .filter((e) => topics.has(e.position.topic))
      .sort((a, b) =>
        a.position.topic !== b.position.topic
          ? a.position.topic < b.position.topic
            ? -1
            : 1
          : a.position.partition - b.position.partition || Number(a.position.offset - b.position.offset),
      );
    const dead = new Map(
      (await target.log.deadLetters(def.name, 1_000_000)).map((d) => [positionKey(d.event.position), d]),
    );
    const poison = new Map<string, string>();
    const changes: Change[] = [];
    for (const e of input) {
      const c = changesOf(def, e);
      if (typeof c === 'string') poison.set(positionKey(e.position), `${e.stream} v${e.version}: ${c}`);
      else if (!dead.has(positionKey(e.position))) changes.push(...c);
    }
    // (an event no column can hold need not be dead-lettered: a later event of its batch may replace its
    // row before the store sees it; the fold below shows whether anything was lost)
    const wronglyDead = [...dead.entries()].filter(([k]) => !poison.has(k));
    if (wronglyDead.length)
      found(
        'dead_letters',
        `projection ${def.name}`,
        'dead-lettered events a column can hold',
        wronglyDead
          .slice(0, 5)
          .map(
            ([, d]) => `${d.event.stream} v${d.event.version} (${d.event.type}): ${d.reason.slice(0, 200)}`,
          )
          .join('\n    '),
      );
    if (!settled) continue; // rows of a projection still behind are no fold of the whole log
    const expected = foldChanges(def, new Map<string, Row>(), changes);
    for (const [k, row] of expected) if (row === DELETED) expected.delete(k);
    const stored = (await target.store.list(def, { filters: {}, limit: 1_000_000, afterKey: null })).rows;
    const columns = Object.keys(def.columns);
    stats.push(
      `${def.name}: ${input.length} events, ${stored.length} rows, ${dead.size} dead letters, ${summaries.find((p) => p.name === def.name)?.state ?? 'no state'}`,
    );
    for (const d of compareRows(def.key, stored, expected, (c) => def.columns[c], columns))
      found(
        'fold',
        `projection ${def.name}`,
        `rows that differ from the fold of the log: ${d.what}`,
        d.detail,
        d.pairs,
      );
    // the sample projection also against a fold written without its code (tests/support/orders.ts)
    if (def.name === 'orders') {
      const plain = foldOrders(input.filter((e) => !dead.has(positionKey(e.position))));
      const checked = columns.filter((c) => c !== 'updatedAt');
      for (const d of compareRows(def.key, stored, plain, (c) => def.columns[c], checked))
        found(
          'fold',
          'projection orders',
          `rows that differ from the plain fold of the order events: ${d.what}`,
          d.detail,
          d.pairs,
        );
    }
  }
  return { findings, stats };
};
