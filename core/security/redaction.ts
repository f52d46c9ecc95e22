// What never reaches a log line, an audit record or a dead-letter reason (DESIGN §7, docs/security.md
// "Logs"): the values of fields the deployment's event types mark sensitive, at any depth; credentials
// (the Authorization header, bearer tokens, the dev key, JWTs); the parameters, rows and payloads a
// failed statement or a failed decode carries. Redaction follows the schemas, never a fixed list of field
// names: a log object is walked, and a key path that ends with a sensitive path is replaced whole.

export const REDACTED = '[redacted]';

/** keys whose value is a credential, in whatever object they are (case-insensitive) */
const SECRET_KEY =
  /^(?:authorization|proxy-authorization|cookie|set-cookie|x-api-key|api[-_]?key|(?:access|refresh|id|bearer|auth)?[-_]?token|password|passwd|passphrase|(?:client|jwt)?[-_]?secret|secret[-_]?access[-_]?key|kek)$/i;

/**
 * credentials recognisable by their shape: a bearer token after its scheme, the password of a URL
 * (`postgres://user:password@host`), the dev key, a JWT, a PEM private key (a TLS client key)
 */
const TOKEN_SHAPES =
  /(\bBearer\s+)[^\s"',;]+|(\/\/[^\s:@/]*:)[^\s@/]+@|lfdev_[A-Za-z0-9_-]{16,}|eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*|-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/gi;

/** what every credential shape contains: most strings are let go after this one cheap test */
const TOKEN_HINT = /bearer|@|lfdev_|eyj|private key/i;

/** `text` with every credential of a recognisable shape replaced */
export const withoutTokens = (text: string): string =>
  TOKEN_HINT.test(text)
    ? text.replace(TOKEN_SHAPES, (_match, scheme?: string, user?: string) =>
        scheme ? `${scheme}${REDACTED}` : user ? `${user}${REDACTED}@` : REDACTED,
      )
    : text;

/** keys are few and repeat: whether each names a credential is remembered (up to a bound) */
const secretKeys = new Map<string, boolean>();
const isSecretKey = (key: string) => {
  let secret = secretKeys.get(key);
  if (secret === undefined) {
    secret = SECRET_KEY.test(key);
    if (secretKeys.size < 10_000) secretKeys.set(key, secret);
  }
  return secret;
};

/** a Postgres error (pg or PGlite): a five-character SQLSTATE and a severity */
const sqlStateOf = (error: object): string | undefined => {
  const { code, severity } = error as { code?: unknown; severity?: unknown };
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && typeof severity === 'string'
    ? code
    : undefined;
};

/**
 * The message of an error as logs and dead-letter reasons may show it. Postgres quotes the value it
 * refuses in the message of a data exception (class 22: `invalid input syntax for type integer: "…"`);
 * its other messages quote identifiers (constraints, columns), which stay. JSON.parse quotes the text it
 * could not parse. Credentials of a recognisable shape are replaced everywhere.
 */
export const errorMessage = (error: unknown): string => {
  if (!(error instanceof Error)) return withoutTokens(String(error));
  let text = String(error.message);
  if (sqlStateOf(error)?.startsWith('22')) text = text.replace(/"[\s\S]*"/, `"${REDACTED}"`);
  if (error instanceof SyntaxError)
    text = text.replace(/, (?:\.\.\.)?"[\s\S]*" is not valid JSON$/, ' (not valid JSON)');
  return withoutTokens(text);
};

/**
 * Fields of an error that carry what a statement or a request was about rather than what went wrong:
 * SQL parameters and text (PGlite keeps `query` and `params` on its errors), Postgres' `detail` and
 * `where` (`Key (email)=(…) already exists`, `JSON data, line 1: …`), payloads, rows and events.
 */
const PAYLOAD_FIELDS = new Set([
  'parameters',
  'params',
  'values',
  'query',
  'queryOptions',
  'internalQuery',
  'detail',
  'where',
  'payload',
  'body',
  'data',
  'rawPacket',
  'row',
  'rows',
  'event',
  'events',
  'record',
  'records',
  'messages',
  'request',
  'response',
  '$response',
  'config',
]);

const MAX_DEPTH = 16;

interface PathNode {
  readonly next: Map<string, PathNode>;
  end: boolean;
}

const node = (): PathNode => ({ next: new Map(), end: false });
const NONE: readonly PathNode[] = [];

/**
 * A sensitive path as a list of keys. Array elements are transparent to matching (a log shows
 * `contacts[2].phone`; the path says `contacts.phone`), so an index or `*` segment matches by omission.
 */
const keysOf = (path: string) => path.split('.').filter((k) => k !== '' && k !== '*' && !/^\d+$/.test(k));

export type Redactor = (fields: object) => Record<string, unknown>;

/**
 * Redacts a log object: a value whose key path ends with one of `sensitivePaths` (data paths of the event
 * types: `patient.ssn` covers `data.patient.ssn`, `event.data.patient.ssn`,
 * `body.events[3].data.patient.ssn` and an error's `patient.ssn`), a value under a credential's key, and
 * credentials of a recognisable shape in any string. Errors become plain objects without their payload
 * fields. The object given is not changed; the answer is a copy.
 */
export const createRedactor = (sensitivePaths: Iterable<string>): Redactor => {
  const root = node();
  for (const path of sensitivePaths) {
    const keys = keysOf(path);
    if (keys.length === 0) continue;
    let at = root;
    for (const k of keys) {
      let child = at.next.get(k);
      if (!child) {
        child = node();
        at.next.set(k, child);
      }
      at = child;
    }
    at.end = true;
  }

  // `active`: the trie nodes the key path so far ends in (a suffix of it is a prefix of a sensitive path)
  const fields = (
    source: object,
    keys: readonly string[],
    active: readonly PathNode[],
    depth: number,
    seen: Set<object>,
    out: Record<string, unknown>,
  ) => {
    for (const key of keys) {
      const value = (source as Record<string, unknown>)[key];
      if (isSecretKey(key)) {
        out[key] = REDACTED;
        continue;
      }
      let hit = false;
      let next = NONE;
      for (let i = -1; i < active.length; i++) {
        const to = (i < 0 ? root : active[i]!).next.get(key);
        if (!to) continue;
        if (to.end) hit = true;
        else next = next === NONE ? [to] : [...next, to];
      }
      out[key] =
        hit && value !== undefined && value !== null ? REDACTED : visit(value, next, depth + 1, seen);
    }
    return out;
  };

  const errorObject = (error: Error, active: readonly PathNode[], depth: number, seen: Set<object>) => {
    const message = errorMessage(error);
    const out: Record<string, unknown> = {
      type:
        error.constructor?.name && error.constructor !== Object ? error.constructor.name : String(error.name),
      message,
    };
    if (typeof error.stack === 'string') {
      // the stack's first line repeats the message: the frames follow the redacted one
      const frames = error.stack.indexOf('\n    at ');
      out.stack = `${String(error.name)}: ${message}${frames >= 0 ? error.stack.slice(frames) : ''}`;
    }
    const keys = Object.keys(error).filter((k) => !PAYLOAD_FIELDS.has(k) && !Object.hasOwn(out, k));
    fields(error, keys, active, depth, seen, out);
    const { cause, errors } = error as { cause?: unknown; errors?: unknown };
    if (cause !== undefined && !Object.hasOwn(out, 'cause'))
      out.cause = visit(cause, active, depth + 1, seen);
    if (Array.isArray(errors) && !Object.hasOwn(out, 'errors'))
      out.errors = visit(errors, active, depth + 1, seen);
    return out;
  };

  const visit = (value: unknown, active: readonly PathNode[], depth: number, seen: Set<object>): unknown => {
    if (typeof value === 'string') return withoutTokens(value);
    if (typeof value !== 'object' || value === null || value instanceof Date) return value;
    if (value instanceof Uint8Array) return `[${value.byteLength} bytes]`;
    if (seen.has(value)) return '[circular]';
    if (depth > MAX_DEPTH) return '[nested too deep]';
    seen.add(value);
    try {
      if (Array.isArray(value)) return value.map((item) => visit(item, active, depth + 1, seen));
      if (value instanceof Error) return errorObject(value, active, depth, seen);
      const toJSON = (value as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === 'function') return visit(toJSON.call(value), active, depth, seen);
      return fields(value, Object.keys(value), active, depth, seen, {});
    } finally {
      seen.delete(value);
    }
  };

  return (logged) => visit(logged, [], 0, new Set()) as Record<string, unknown>;
};

/** the values at `paths` of `data` (leaves: strings and numbers; an object's or an array's, each) */
export const valuesAt = (data: unknown, paths: readonly string[]): string[] => {
  const found: string[] = [];
  const leaves = (v: unknown, depth: number) => {
    if (found.length >= 100 || depth > MAX_DEPTH) return;
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint') {
      if (String(v) !== '') found.push(String(v));
    } else if (typeof v === 'object' && v !== null && !(v instanceof Uint8Array)) {
      for (const item of Object.values(v)) leaves(item, depth + 1);
    }
  };
  const at = (v: unknown, keys: readonly string[], depth: number): void => {
    if (keys.length === 0) {
      leaves(v, depth);
      return;
    }
    if (Array.isArray(v)) {
      for (const item of v) at(item, keys, depth + 1);
      return;
    }
    if (typeof v !== 'object' || v === null || !Object.hasOwn(v, keys[0]!)) return;
    at((v as Record<string, unknown>)[keys[0]!], keys.slice(1), depth + 1);
  };
  for (const path of paths) at(data, keysOf(path), 0);
  return found;
};

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * `text` without any of `values`, as they are or JSON-escaped. A value of fewer than four characters is
 * replaced where it stands alone only (an `M` does not take every M of a message with it).
 */
export const withoutValues = (text: string, values: readonly string[]): string => {
  let out = text;
  const forms = new Set<string>();
  for (const v of values) {
    forms.add(v);
    forms.add(JSON.stringify(v).slice(1, -1));
  }
  // the longest first: a value that contains another is replaced whole
  for (const form of [...forms].sort((a, b) => b.length - a.length)) {
    if (form === '') continue;
    const pattern = escapeRegExp(form);
    out = out.replace(
      new RegExp(form.length < 4 ? `(?<![\\p{L}\\p{N}])${pattern}(?![\\p{L}\\p{N}])` : pattern, 'gu'),
      REDACTED,
    );
  }
  return out;
};
