// What every store logfront writes to can hold (Postgres text and jsonb, Kafka, S3): no NUL character,
// no lone UTF-16 surrogate, and a bounded depth. Input that breaks these is refused at the door with a
// 400 naming its path, instead of being appended and then refused by a projection's database.

/** the deepest nesting of objects and arrays an event's data or metadata may have */
export const MAX_DEPTH = 32;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** why a string cannot be stored, or undefined when it can */
export const unstorableText = (text: string): string | undefined => {
  if (text.includes('\u0000')) return 'contains a NUL character (\\u0000), which Postgres cannot store';
  if (LONE_SURROGATE.test(text)) return 'contains a lone UTF-16 surrogate (not valid Unicode)';
  return undefined;
};

export interface StorableIssue {
  path: (string | number)[];
  message: string;
}

/** every place in `value` (strings, object keys, nesting) that no store can hold; at most 20 */
export const unstorable = (value: unknown, path: (string | number)[] = []): StorableIssue[] => {
  const issues: StorableIssue[] = [];
  const visit = (v: unknown, at: (string | number)[], depth: number) => {
    if (issues.length >= 20) return;
    if (typeof v === 'string') {
      const why = unstorableText(v);
      if (why) issues.push({ path: at, message: why });
      return;
    }
    if (typeof v !== 'object' || v === null || Buffer.isBuffer(v) || v instanceof Uint8Array) return;
    if (depth >= MAX_DEPTH) {
      issues.push({ path: at, message: `nested deeper than ${MAX_DEPTH} levels` });
      return;
    }
    if (Array.isArray(v)) {
      for (const [i, item] of v.entries()) visit(item, [...at, i], depth + 1);
      return;
    }
    for (const [k, item] of Object.entries(v)) {
      const why = unstorableText(k);
      if (why) issues.push({ path: [...at, k], message: `its name ${why}` });
      visit(item, [...at, k], depth + 1);
    }
  };
  visit(value, path, 0);
  return issues;
};

/**
 * the path of the first place nested deeper than `max` levels, without recursion (so a body nested
 * 10,000 deep is named, not a stack overflow); undefined when there is none
 */
export const tooDeep = (value: unknown, max: number): (string | number)[] | undefined => {
  const stack: { v: unknown; at: (string | number)[] }[] = [{ v: value, at: [] }];
  while (stack.length) {
    const { v, at } = stack.pop()!;
    if (typeof v !== 'object' || v === null || Buffer.isBuffer(v) || v instanceof Uint8Array) continue;
    if (at.length >= max) return at;
    for (const [k, item] of Object.entries(v))
      stack.push({ v: item, at: [...at, Array.isArray(v) ? Number(k) : k] });
  }
  return undefined;
};

const DATE_TIME_PARTS = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(?:Z|([+-])(\d\d):(\d\d))$/;
/** the first and the end of the instants a timestamptz holds as given: years 0001..9999 UTC */
export const FIRST_INSTANT_MS = Date.parse('0001-01-01T00:00:00Z');
export const END_INSTANT_MS = Date.parse('+010000-01-01T00:00:00Z');
const YEARS = 'the years 0001..9999 (UTC)';

/**
 * why an ISO 8601 date-time with an offset (its format already checked) cannot be stored as the same
 * instant, or undefined: Postgres refuses year 0000 and offsets beyond ±15:59, and an instant outside
 * the years 0001..9999 does not read back as the same value
 */
export const unstorableDateTime = (iso: string): string | undefined => {
  const parts = DATE_TIME_PARTS.exec(iso);
  if (!parts) return undefined; // a form with no seconds: Postgres takes it as it is
  // Stryker disable next-line StringLiteral: equivalent, a missing part reads as 0 whatever the default ('' is 0, a NaN fraction carries nothing)
  const [, local = '', fraction = '', sign, hours = '00', minutes = '00'] = parts;
  if (local.startsWith('0000-')) return `is in year 0000, outside ${YEARS}`;
  if (Number(hours) > 15) return 'has an offset beyond ±15:59, which Postgres refuses';
  const offsetMs = (sign === '-' ? -1 : 1) * (Number(hours) * 60 + Number(minutes)) * 60_000;
  // Postgres keeps microseconds: a fraction that rounds up to a whole second moves the instant
  // Stryker disable next-line StringLiteral: equivalent, `0.` and `0.0` are both 0
  const carryMs = Math.round(Number(`0.${fraction || '0'}`) * 1e6) === 1e6 ? 1000 : 0;
  const ms = Date.parse(`${local}Z`) - offsetMs + carryMs;
  return ms >= FIRST_INSTANT_MS && ms < END_INSTANT_MS ? undefined : `is outside ${YEARS}`;
};
