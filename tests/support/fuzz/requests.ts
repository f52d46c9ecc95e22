// The requests the fuzzer sends, as fast-check arbitraries. Each generated value is a Plan: a route
// label, what the request is meant to be (valid input the server should take, invalid input it must
// refuse with a 4xx, or anything) and a build step that turns it into bytes against the model at the
// moment it is sent (so "the stream's current version" or "a cursor from an earlier page" are real).
import fc from 'fast-check';
import { type Model, pick, remember } from './model.ts';
import type { Wire } from './send.ts';

export interface Limits {
  maxAppendBytes: number;
  maxAppendEvents: number;
  maxBlobBytes: number;
  /** the HTTP body limit of the JSON routes */
  bodyLimit: number;
}

export type Intent = 'valid' | 'invalid' | 'any';

export interface Built {
  wire: Wire;
  /** what the request turned out to be, when the model changed it (no accepted append to replay yet) */
  route?: string;
  intent?: Intent;
  /** an append: where to, with which event ids (the final checks hold the log against it) */
  append?: { stream: string; ids: string[]; replayOf?: readonly [number, number] };
  /** sent twice at once (the same bytes): both answers are judged, and must agree */
  twice?: boolean;
  /** learns from the answer: versions, positions, cursors, blob ids */
  learn?(status: number, json: unknown): void;
}

export interface Plan {
  route: string;
  intent: Intent;
  /** the class of the request, for the report ("NUL in data.carrier", "fromVersion=3000000000") */
  why: string;
  build(m: Model): Built;
}

// ---------------------------------------------------------------------------------------------
// values

/** `arbitrary` in about `percent` % of the values, null in the rest */
const sometimes = <T>(arbitrary: fc.Arbitrary<T>, percent: number) =>
  fc.oneof({ weight: percent, arbitrary }, { weight: 100 - percent, arbitrary: fc.constant(null) });

/**
 * percent-encodes any JS string for a URL; a lone surrogate (which encodeURIComponent refuses) as the
 * three bytes WTF-8 gives it, which are no valid UTF-8: the server must refuse them, not crash
 */
export const encodeAny = (text: string) =>
  text.replace(/[\ud800-\udbff][\udc00-\udfff]|[\s\S]/g, (c) => {
    if (c.length === 2 || !/[\ud800-\udfff]/.test(c)) return encodeURIComponent(c);
    const u = c.charCodeAt(0);
    return [0xe0 | (u >> 12), 0x80 | ((u >> 6) & 0x3f), 0x80 | (u & 0x3f)]
      .map((b) => `%${b.toString(16).toUpperCase()}`)
      .join('');
  });

const LONE = ['\ud800', '\udfff', '\udc00', '\ud83d'] as const;
const BAD_CHARS = ['\u0000', '\u0000', '\u0000', ...LONE] as const;

/** strings every store can hold, chosen for awkwardness */
const SPECIALS = [
  ' ',
  '\t',
  '\n',
  '\r\n',
  '\u2028',
  'é',
  'e\u0301',
  '😀',
  '👩‍👩‍👧',
  'ﷺ',
  '\u202e',
  'مرحبا',
  '中文',
  '\uffff',
  '\ufeff',
  "'; DROP TABLE orders; --",
  '%00',
  '%',
  '\\u0000',
  '\\',
  '"',
  '<script>',
  '__proto__',
  'constructor',
  'toString',
  'null',
  '0',
  '-1',
  'NaN',
  'a/b',
  '../..',
  '\u001f',
  '\u007f',
  '\u0085',
  '$where',
  '{"$gt":""}',
];

const storable = fc.oneof(
  { weight: 5, arbitrary: fc.string({ minLength: 1, maxLength: 12 }) },
  {
    weight: 2,
    arbitrary: fc
      .string({ unit: 'binary', minLength: 1, maxLength: 12 })
      .map((s) => s.replaceAll('\u0000', '0')),
  },
  { weight: 3, arbitrary: fc.constantFrom(...SPECIALS) },
  { weight: 1, arbitrary: fc.integer({ min: 100, max: 200 }).map((n) => 'ü'.repeat(n)) },
);

/** `text` with one character no store can hold put in at a place; always invalid Unicode or NUL */
const spoil = (text: string, bad: string, at: number) => {
  const i = at % (text.length + 1);
  return `${text.slice(0, i)}${bad}${text.slice(i)}`;
};
const unstorable = fc
  .tuple(storable, fc.constantFrom(...BAD_CHARS), fc.nat())
  .map(([text, bad, at]) => spoil(text, bad, at));

const int4Edge = fc.constantFrom(0, 1, 2 ** 31 - 1, 2 ** 31, 3_000_000_000, 2 ** 53 - 1);
const smallOr = (edge: fc.Arbitrary<number>, min: number) =>
  fc.oneof(
    { weight: 20, arbitrary: fc.integer({ min, max: 50 }) },
    { weight: 1, arbitrary: edge.filter((n) => n >= min) },
  );

const EMAILS = ['someone@example.com', 'first.last+tag@sub.example.org', 'x@y.io', 'UPPER@EXAMPLE.COM'];
const OCCURRED_VALID = [
  '2024-01-01T00:00:00Z',
  '0001-01-01T00:00:00Z',
  '9999-12-31T23:59:59.999Z',
  '9999-12-31T23:59:59-01:00',
  '2024-02-29T23:59:59+14:00',
  '1970-01-01T00:00:00.000001Z',
  '2000-01-01T00:00:00.123456Z',
  '1969-12-31T23:59:59.999Z',
];
const OCCURRED_INVALID = [
  '0000-01-01T00:00:00Z',
  '+275760-09-13T00:00:00Z',
  '-000001-01-01T00:00:00Z',
  '2024-13-01T00:00:00Z',
  '2024-02-30T00:00:00Z',
  '2024-01-01',
  'yesterday',
  '',
  '2024-01-01T25:00:00Z',
];
const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

const customerId = storable.filter((s) => !s.startsWith('erased-'));

interface EventSeed {
  type: 'OrderPlaced' | 'OrderShipped' | 'OrderCancelled';
  order: number;
  withId: boolean;
  customerId: string;
  email: string;
  items: { sku: string; qty: number; priceCents: number }[];
  totalCents: number;
  text: string;
  metadata: Record<string, string> | null;
}

const metadata = fc.record(
  {
    occurredAt: fc.constantFrom(...OCCURRED_VALID),
    actor: storable,
    subject: storable,
    correlationId: storable,
    causationId: storable,
    traceparent: fc.constant(TRACEPARENT),
  },
  { requiredKeys: [] },
);

const eventSeed: fc.Arbitrary<EventSeed> = fc.record({
  type: fc.constantFrom('OrderPlaced', 'OrderPlaced', 'OrderShipped', 'OrderCancelled'),
  order: fc.nat(),
  withId: fc.boolean(),
  customerId,
  email: fc.constantFrom(...EMAILS),
  items: fc.array(
    fc.record({
      sku: storable,
      qty: smallOr(int4Edge, 1),
      priceCents: smallOr(int4Edge, 0),
    }),
    { minLength: 1, maxLength: 3 },
  ),
  totalCents: smallOr(int4Edge, 0),
  text: storable,
  metadata: sometimes(metadata, 50),
});

const eventOf = (seed: EventSeed, orderId: string, id: string | undefined) => {
  const data =
    seed.type === 'OrderPlaced'
      ? {
          orderId,
          customerId: seed.customerId,
          customerEmail: seed.email,
          items: seed.items,
          totalCents: seed.totalCents,
        }
      : seed.type === 'OrderShipped'
        ? { orderId, carrier: seed.text }
        : { orderId, reason: seed.text };
  return {
    ...(id ? { id } : {}),
    type: seed.type,
    data,
    ...(seed.metadata ? { metadata: seed.metadata } : {}),
  };
};

type Expected = 'omit' | 'any' | 'no_stream' | 'stream_exists' | 'current' | 'behind' | 'ahead';
const expectedArb = fc.constantFrom<Expected>(
  'omit',
  'omit',
  'any',
  'no_stream',
  'stream_exists',
  'current',
  'current',
  'current',
  'behind',
  'ahead',
);
const expectedValue = (e: Expected, version: number) => {
  switch (e) {
    case 'omit':
      return undefined;
    case 'current':
      return version;
    case 'behind':
      return Math.max(0, version - 1);
    case 'ahead':
      return version + 1;
    default:
      return e;
  }
};

const headerIf = (name: string, value: string | null): Record<string, string> =>
  value === null ? {} : { [name]: value };

const JSON_TYPES = ['application/json', 'application/json; charset=utf-8', 'Application/JSON'];

/** the request for an append to `stream` of `events` (each with or without an id) */
const appendWire = (stream: string, body: string, contentType = 'application/json'): Wire => ({
  method: 'POST',
  path: `/v1/streams/${encodeAny(stream)}/events`,
  headers: { 'content-type': contentType },
  body,
});

/** learns the versions and position an append got; one whose events all have ids may be sent again */
const learnAppend =
  (m: Model, stream: string, body: string, allIds: boolean) => (status: number, json: unknown) => {
    if (status !== 201) return;
    const r = json as { toVersion?: unknown; fromVersion?: unknown; position?: unknown };
    if (typeof r.toVersion === 'number')
      m.versions.set(stream, Math.max(m.versions.get(stream) ?? 0, r.toVersion));
    if (typeof r.position === 'string') remember(m.positions, r.position);
    if (typeof r.fromVersion === 'number' && typeof r.toVersion === 'number' && allIds) {
      m.replayable.push({ stream, body, range: [r.fromVersion, r.toVersion] });
      if (m.replayable.length > 64) m.replayable.shift();
    }
  };

// ---------------------------------------------------------------------------------------------
// appends

const validAppend = (limits: Limits) =>
  fc
    .record({
      slot: fc.nat(),
      events: fc.array(eventSeed, { minLength: 1, maxLength: 4 }),
      expected: expectedArb,
      contentType: fc.constantFrom(...JSON_TYPES),
    })
    .map(
      (g): Plan => ({
        route: 'POST /v1/streams/:stream/events',
        intent: 'valid',
        why: 'a valid append',
        build: (m) => {
          const slot = pick(m.streams, g.slot)!;
          const events = g.events.map((e) =>
            eventOf(e, pick(slot.orderIds, e.order)!, e.withId ? m.nextId() : undefined),
          );
          const expectedVersion = expectedValue(g.expected, m.versions.get(slot.name) ?? 0);
          const body = JSON.stringify({
            ...(expectedVersion === undefined ? {} : { expectedVersion }),
            events,
          });
          const ids = events.flatMap((e) => (e.id ? [e.id] : []));
          // awkward text is long in UTF-8: the events may be over the byte limit, which is a 413
          const over = Buffer.byteLength(JSON.stringify(events)) > limits.maxAppendBytes;
          return {
            ...(over ? { intent: 'invalid' as const } : {}),
            wire: appendWire(slot.name, body, g.contentType),
            append: { stream: slot.name, ids },
            learn: learnAppend(m, slot.name, body, ids.length === events.length),
          };
        },
      }),
    );

/** an accepted append sent again, ids and all (or with its ids in upper case: the same UUIDs) */
const replay: fc.Arbitrary<Plan> = fc.tuple(fc.nat(), fc.boolean()).map(([n, upper]) => ({
  route: 'POST /v1/streams/:stream/events',
  intent: 'valid',
  why: `an accepted append sent again${upper ? ', its ids in upper case' : ''} (idempotency)`,
  build: (m) => {
    const r = pick(m.replayable, n);
    if (!r)
      return {
        route: 'GET /v1/projections',
        intent: 'any',
        wire: { method: 'GET', path: '/v1/projections' },
      };
    const body = upper
      ? r.body.replace(/"id":"([0-9a-f-]{36})"/g, (_, id: string) => `"id":"${id.toUpperCase()}"`)
      : r.body;
    return { wire: appendWire(r.stream, body), append: { stream: r.stream, ids: [], replayOf: r.range } };
  },
}));

/**
 * the same new append (ids and all) sent twice at once: both must get the one answer, and the log
 * must hold its events once
 */
const twins = (limits: Limits): fc.Arbitrary<Plan> =>
  fc.record({ slot: fc.nat(), events: fc.array(eventSeed, { minLength: 1, maxLength: 3 }) }).map((g) => ({
    route: 'POST /v1/streams/:stream/events',
    intent: 'valid',
    why: 'one append sent twice at once (idempotency under concurrency)',
    build: (m) => {
      const slot = pick(m.streams, g.slot)!;
      const events = g.events.map((e) => eventOf(e, pick(slot.orderIds, e.order)!, m.nextId()));
      const body = JSON.stringify({ events });
      const ids = events.map((e) => e.id!);
      return {
        ...(Buffer.byteLength(JSON.stringify(events)) > limits.maxAppendBytes
          ? { intent: 'invalid' as const }
          : {}),
        wire: appendWire(slot.name, body),
        append: { stream: slot.name, ids },
        twice: true,
        learn: learnAppend(m, slot.name, body, true),
      };
    },
  }));

/**
 * a BlobCommitted written with the append API: a commit of chunks that were never sent, or of a
 * checksum that does not match; the blob sink and later blob reads must cope
 */
const forgedBlobCommit: fc.Arbitrary<Plan> = fc
  .record({
    n: fc.nat({ max: 10 }),
    size: fc.constantFrom(0, 1, 100, 2 ** 31),
    chunks: fc.constantFrom(0, 1, 3),
    sha: fc.constantFrom('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', '0'.repeat(64)),
    contentType: fc.constantFrom('application/octet-stream', 'x'.repeat(255)),
  })
  .map((g) => ({
    route: 'POST /v1/streams/:stream/events',
    intent: 'any',
    why: `a forged BlobCommitted of ${g.chunks} chunks, ${g.size} bytes`,
    build: (m) => {
      const blobId = `${m.tag}-forged${g.n}`;
      const stream = `blob-${blobId}`;
      const body = JSON.stringify({
        events: [
          {
            id: m.nextId(),
            type: 'BlobCommitted',
            data: {
              blobId,
              upload: m.nextId(),
              size: g.size,
              contentType: g.contentType,
              sha256: g.sha,
              chunks: g.chunks,
            },
          },
        ],
      });
      return {
        wire: appendWire(stream, body),
        append: { stream, ids: [] },
        learn: (status: number) => {
          if (status === 201 && !m.blobIds.includes(blobId)) remember(m.blobIds, blobId);
        },
      };
    },
  }));

type Mutation = { why: string; apply(body: Record<string, unknown>, m: Model): string | { body: string } };

const at = (body: Record<string, unknown>, path: (string | number)[], value: unknown) => {
  let o = body as Record<string | number, unknown>;
  for (const p of path.slice(0, -1)) o = o[p] as Record<string | number, unknown>;
  o[path.at(-1)!] = value;
};
const deep = (depth: number, kind: 'array' | 'object') =>
  kind === 'array'
    ? `${'['.repeat(depth)}1${']'.repeat(depth)}`
    : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
/** the JSON of `body` with the string "@@RAW@@" swapped for raw JSON text */
const withRaw = (body: Record<string, unknown>, path: (string | number)[], raw: string) => {
  at(body, path, '@@RAW@@');
  return JSON.stringify(body).replace('"@@RAW@@"', raw);
};

const dataStringFields = {
  OrderPlaced: ['orderId', 'customerId', 'customerEmail'],
  OrderShipped: ['orderId', 'carrier'],
  OrderCancelled: ['orderId', 'reason'],
} as const;

/** every way the fuzzer spoils a valid append: each must be refused with a 4xx, leaving nothing */
const mutations = (limits: Limits) =>
  fc.oneof(
    // text no store can hold, anywhere
    {
      weight: 5,
      arbitrary: fc
        .tuple(
          unstorable,
          fc.nat(),
          fc.constantFrom('data', 'sku', 'metadata', 'metadataKey', 'dataKey', 'type', 'id'),
        )
        .map(
          ([bad, n, where]): Mutation => ({
            why: `${bad.includes('\u0000') ? 'NUL' : 'a lone surrogate'} in ${where}`,
            apply: (body) => {
              const event = (body.events as Record<string, unknown>[])[0]!;
              const type = event.type as keyof typeof dataStringFields;
              const data = event.data as Record<string, unknown>;
              if (where === 'data') data[pick(dataStringFields[type], n)!] = bad;
              else if (where === 'sku' && type === 'OrderPlaced')
                (data.items as Record<string, unknown>[])[0]!.sku = bad;
              else if (where === 'metadata') event.metadata = { correlationId: bad };
              else if (where === 'metadataKey') event.metadata = { [bad]: 'x' };
              else if (where === 'dataKey') data[bad] = 'x';
              else if (where === 'type') event.type = bad;
              else if (where === 'id') event.id = spoil('0190a8f0-0000-7000-8000-000000000000', bad, n);
              else data.orderId = bad;
              return JSON.stringify(body);
            },
          }),
        ),
    },
    // JSON nested 10,000 deep (and just over the depth the API allows)
    {
      weight: 3,
      arbitrary: fc
        .tuple(
          fc.constantFrom(10_000, 10_000, 40, 33),
          fc.constantFrom<'array' | 'object'>('array', 'object'),
          fc.constantFrom('data', 'metadata', 'events', 'item'),
        )
        .map(
          ([depth, kind, where]): Mutation => ({
            why: `JSON nested ${depth} deep in ${where}`,
            apply: (body) => {
              const path: (string | number)[] =
                where === 'events'
                  ? ['events']
                  : where === 'metadata'
                    ? ['events', 0, 'metadata']
                    : where === 'item'
                      ? ['events', 0, 'data', 'orderId']
                      : ['events', 0, 'data'];
              return withRaw(body, path, deep(depth, kind));
            },
          }),
        ),
    },
    {
      weight: 2,
      arbitrary: fc.constantFrom(...OCCURRED_INVALID).map(
        (t): Mutation => ({
          why: `occurredAt ${JSON.stringify(t)}`,
          apply: (body) => {
            at(body, ['events', 0, 'metadata'], { occurredAt: t });
            return JSON.stringify(body);
          },
        }),
      ),
    },
    // schema violations
    {
      weight: 2,
      arbitrary: fc
        .constantFrom(
          ['totalCents', '-1'],
          ['totalCents', '1e400'],
          ['totalCents', '1.5'],
          ['totalCents', '"100"'],
          ['totalCents', 'null'],
          ['totalCents', '9007199254740993'],
          ['orderId', '""'],
          ['orderId', '42'],
          ['customerEmail', '"not an email"'],
          ['items', '[]'],
          ['items', '[{"sku":"s","qty":0,"priceCents":1}]'],
          ['items', '[{"sku":"s","qty":1.5,"priceCents":1}]'],
          ['items', '[{"sku":"s","qty":1,"priceCents":-1}]'],
          ['items', '[{"sku":"","qty":1,"priceCents":1}]'],
          ['items', '{"0":{"sku":"s","qty":1,"priceCents":1}}'],
          ['extra', '1'],
          ['__proto__', '{"polluted":true}'],
          ['constructor', '{"prototype":{}}'],
        )
        .map(
          ([field, raw]): Mutation => ({
            why: `data.${field} = ${raw}`,
            apply: (body) => {
              const event = (body.events as Record<string, unknown>[])[0]!;
              event.type = 'OrderPlaced';
              event.data = {
                orderId: 'o',
                customerId: 'c',
                customerEmail: 'a@b.co',
                items: [{ sku: 's', qty: 1, priceCents: 1 }],
                totalCents: 1,
              };
              if (field === '__proto__' || field === 'constructor')
                return JSON.stringify(body).replace('"data":{', `"data":{"${field}":${raw},`);
              return withRaw(body, ['events', 0, 'data', field], raw);
            },
          }),
        ),
    },
    // the envelope
    {
      weight: 2,
      arbitrary: fc
        .constantFrom(
          ['events', '[]'],
          ['events', 'null'],
          ['events', '{}'],
          ['events', '"x"'],
          ['events', '[1]'],
          ['events', '[null]'],
          ['events', '[[]]'],
          ['expectedVersion', '-1'],
          ['expectedVersion', '1.5'],
          ['expectedVersion', '"3"'],
          ['expectedVersion', '1e300'],
          ['expectedVersion', 'null'],
          ['expectedVersion', 'true'],
          ['expectedVersion', '{}'],
          ['expectedVersion', '"NO_STREAM"'],
          ['expectedVersion', '3000000000'],
          ['expectedVersion', '9007199254740991'],
          ['extra', '1'],
          ['__proto__', '{"events":[]}'],
          ['type', '"OrderPlaced"'],
        )
        .map(
          ([field, raw]): Mutation => ({
            why: `${field} = ${raw}`,
            apply: (body) =>
              field === '__proto__'
                ? JSON.stringify(body).replace(/^\{/, `{"__proto__":${raw},`)
                : withRaw(body, [field], raw),
          }),
        ),
    },
    {
      weight: 2,
      arbitrary: fc
        .constantFrom(
          ['type', '"OrderTeleported"'],
          ['type', '"orderplaced"'],
          ['type', '42'],
          ['type', '"BlobCommitted"'],
          ['id', '"not-a-uuid"'],
          ['id', '"0190a8f0-0000-7000-8000-00000000000"'],
          ['id', '42'],
          ['data', 'null'],
          ['data', '[]'],
          ['metadata', '[]'],
          ['metadata', `{"tenant":"${'t'.repeat(201)}"}`],
          ['metadata', '{"traceparent":"00-zz"}'],
          ['metadata', '{"unknown":"x"}'],
          ['metadata', '{"occurredAt":12}'],
          ['extra', '1'],
        )
        .map(
          ([field, raw]): Mutation => ({
            why: `events.0.${field} = ${raw}`,
            apply: (body) => withRaw(body, ['events', 0, field], raw),
          }),
        ),
    },
    {
      weight: 1,
      arbitrary: fc.constant<Mutation>({
        why: 'the same event id twice in a batch',
        apply: (body, m) => {
          const events = body.events as Record<string, unknown>[];
          const id = m.nextId();
          events.push({ ...events[0]!, id });
          events[0]!.id = id;
          return JSON.stringify(body);
        },
      }),
    },
    {
      weight: 1,
      arbitrary: fc.constant<Mutation>({
        why: `more than ${limits.maxAppendEvents} events`,
        apply: (body) => {
          const events = body.events as unknown[];
          body.events = Array.from(
            { length: limits.maxAppendEvents + 1 },
            (_, i) => events[i % events.length],
          );
          return JSON.stringify(body);
        },
      }),
    },
    {
      weight: 1,
      arbitrary: fc.constant<Mutation>({
        why: 'events over the byte limit',
        apply: (body) => {
          at(body, ['events', 0, 'metadata'], { correlationId: 'x'.repeat(150) });
          const events = body.events as Record<string, unknown>[];
          const data = events[0]!.data as Record<string, unknown>;
          if (events[0]!.type === 'OrderShipped') data.carrier = 'x'.repeat(limits.maxAppendBytes);
          else if (events[0]!.type === 'OrderCancelled') data.reason = 'x'.repeat(limits.maxAppendBytes);
          else data.customerId = 'x'.repeat(limits.maxAppendBytes);
          return JSON.stringify(body);
        },
      }),
    },
    {
      weight: 1,
      arbitrary: fc.constant<Mutation>({
        why: 'a body over the HTTP limit',
        apply: (body) => JSON.stringify({ ...body, pad: 'x'.repeat(limits.bodyLimit + 1024) }),
      }),
    },
    // not JSON
    {
      weight: 2,
      arbitrary: fc
        .constantFrom(
          (j: string) => j.slice(0, Math.max(1, j.length >> 1)),
          (j: string) => `${j.slice(0, -1)},}`,
          (j: string) => j.replaceAll('"', "'"),
          (j: string) => j.replace('{', '{"n":NaN,'),
          (j: string) => `/* c */${j}`,
          (j: string) => `${j}${j}`,
          (j: string) => `${j}garbage`,
          () => '',
          () => ' ',
          () => 'null',
          () => '[1,2]',
          () => '"events"',
          () => '42',
          () => '{',
          () => '\u0000',
          (j: string) => j.replace('{', '{\u0000'),
          () => '['.repeat(10_000),
        )
        .map(
          (f): Mutation => ({
            why: `not an append body: ${f.toString().slice(0, 60)}`,
            apply: (body) => ({ body: f(JSON.stringify(body)) }),
          }),
        ),
    },
  );

const BAD_STREAMS = [
  'nocategory',
  '-x',
  'order-',
  'order-a b',
  'order-a\u0000b',
  'order-\ud800',
  `order-${'x'.repeat(201)}`,
  `${'c'.repeat(65)}-x`,
  'order-é',
  '1order-x',
  'order-a/b',
  'order-a%2Fb',
  '__proto__-x',
];

const invalidAppend = (limits: Limits) =>
  fc
    .record({
      slot: fc.nat(),
      events: fc.array(eventSeed, { minLength: 1, maxLength: 3 }),
      mutation: mutations(limits),
      badStream: sometimes(fc.constantFrom(...BAD_STREAMS), 12),
      contentType: fc.constantFrom(...JSON_TYPES),
    })
    .map(
      (g): Plan => ({
        route: 'POST /v1/streams/:stream/events',
        intent: 'invalid',
        why: g.badStream !== null ? `stream id ${JSON.stringify(g.badStream)}` : g.mutation.why,
        build: (m) => {
          const slot = pick(m.streams, g.slot)!;
          const events = g.events.map((e) => eventOf(e, pick(slot.orderIds, e.order)!, m.nextId()));
          const body: Record<string, unknown> = { events };
          const stream = g.badStream ?? slot.name;
          const text = g.badStream !== null ? JSON.stringify(body) : g.mutation.apply(body, m);
          // the ids it carries, also those a mutation put in
          const ids = new Set(events.map((e) => e.id!));
          if (Array.isArray(body.events))
            for (const e of body.events as { id?: unknown }[]) if (typeof e?.id === 'string') ids.add(e.id);
          return {
            wire: appendWire(stream, typeof text === 'string' ? text : text.body, g.contentType),
            append: { stream, ids: [...ids] },
          };
        },
      }),
    );

/** a valid append body with a content type the JSON routes must refuse (or a header that lies) */
const wrongContentType = fc
  .record({
    slot: fc.nat(),
    events: fc.array(eventSeed, { minLength: 1, maxLength: 2 }),
    contentType: fc.constantFrom(
      null,
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/xml',
      'application/jsonx',
      'json',
      '',
      '*/*',
      'application/json; charset=utf-16',
      'application/json; charset=latin1',
      'application/json, text/plain',
      'application/json\u0000',
      'application/problem+json',
      'application/vnd.api+json',
    ),
  })
  .map(
    (g): Plan => ({
      route: 'POST /v1/streams/:stream/events',
      // a charset other than UTF-8 or a structured-syntax suffix may be taken as JSON or refused
      intent: /charset|\+json|, /.test(g.contentType ?? '') ? 'any' : 'invalid',
      why: `content-type ${JSON.stringify(g.contentType)}`,
      build: (m) => {
        const slot = pick(m.streams, g.slot)!;
        const events = g.events.map((e) => eventOf(e, pick(slot.orderIds, e.order)!, m.nextId()));
        const body = JSON.stringify({ events });
        return {
          wire: {
            method: 'POST',
            path: `/v1/streams/${slot.name}/events`,
            headers: headerIf('content-type', g.contentType),
            body,
          },
          append: { stream: slot.name, ids: events.map((e) => e.id!) },
          learn: learnAppend(m, slot.name, body, true),
        };
      },
    }),
  );

// ---------------------------------------------------------------------------------------------
// reads

/** a query string from pairs; a value of null is a bare name (`?a`), raw values are sent as they are */
const query = (pairs: readonly (readonly [string, string | null, boolean?])[]) =>
  pairs.length
    ? `?${pairs
        .map(([k, v, raw]) =>
          v === null ? encodeAny(k) : `${raw ? k : encodeAny(k)}=${raw ? v : encodeAny(v)}`,
        )
        .join('&')}`
    : '';

const VERSIONS = [
  '1',
  '2',
  '0',
  '-1',
  '3000000000',
  '2147483647',
  '2147483648',
  'abc',
  '1.5',
  '',
  '1e3',
  '0x10',
  ' 1',
];
const LIMITS = ['1', '100', '1000', '1001', '0', '-1', 'abc', '3000000000', '', '5.5', '1e2'];

/** a key, id or name as a URL path segment: valid, edge, or malformed */
const segment = (known: fc.Arbitrary<string>) =>
  fc.oneof(
    { weight: 8, arbitrary: known.map((s) => encodeURIComponent(s)) },
    { weight: 2, arbitrary: storable.map((s) => encodeURIComponent(s)) },
    { weight: 1, arbitrary: unstorable.map(encodeAny) },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        '%ED%A0%80', // a lone surrogate, WTF-8: no valid UTF-8
        '%E0%A4%A',
        '%',
        '%zz',
        '%C0%AF',
        '%FF',
        'a%00b',
        '..',
        '%2e%2e',
        'a%2Fb',
        '%20',
        'x'.repeat(101),
        'x'.repeat(200),
        'x'.repeat(201),
        'y'.repeat(600),
        '%F0%9F%98%80'.repeat(60),
      ),
    },
  );

const stalenessValues = ['0', '100', '1000', '-1', 'abc', '1e3', '3600001', '99999999999999999999', '', ' 5'];
const readOptions = (m: Model, picks: { kind: number; n: number }[]) =>
  picks.map(({ kind, n }): [string, string, boolean?] => {
    switch (kind % 9) {
      case 0:
        return ['maxStalenessMs', pick(stalenessValues, n)!];
      case 1:
        return ['after', pick(m.positions, n) ?? 'W1siYSIsMCwiMSJdXQ'];
      case 2:
        return [
          'after',
          pick(
            [
              '%%%',
              'xyz',
              '',
              '%00',
              '%ED%A0%80',
              Buffer.from('[["x",0,"1"]]').toString('base64url'),
              Buffer.from('[["x",2147483648,"1"]]').toString('base64url'),
              Buffer.from('[["x",0,"99999999999999999999"]]').toString('base64url'),
              Buffer.from('[["x\\u0000",0,"1"]]').toString('base64url'),
              Buffer.from('{"__proto__":1}').toString('base64url'),
              'A'.repeat(10_001),
            ],
            n,
          )!,
          true,
        ];
      case 3:
        return ['consistency', pick(['strong', 'eventual', 'psychic', ''], n)!];
      case 4:
        return ['onStale', pick(['error', 'serve', 'maybe'], n)!];
      case 5:
        return [pick(['bogus', 'toString', '__proto__', 'constructor', 'hasOwnProperty'], n)!, '1'];
      case 6:
        return ['maxStalenessMs', pick(['0', '1000'], n)!]; // repeated below by a second pick
      default:
        return ['maxStalenessMs', '1000'];
    }
  });

const PROJECTION_NAMES = [
  'orders',
  'orders',
  'orders',
  'orders',
  'orders',
  'orders',
  'nope',
  'Orders',
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  'orders%20',
  '%00',
];

const optionPicks = fc.array(fc.record({ kind: fc.nat(), n: fc.nat() }), { maxLength: 3 });

const rowGet = fc
  .record({
    name: fc.constantFrom(...PROJECTION_NAMES),
    key: segment(fc.constant('@known')),
    knownKey: fc.nat(),
    options: optionPicks,
  })
  .map(
    (g): Plan => ({
      route: 'GET /v1/projections/:name/rows/:key',
      intent: 'any',
      why: `row ${g.key.slice(0, 40)}`,
      build: (m) => {
        const known = pick(m.streams, g.knownKey)!;
        const key =
          g.key === encodeURIComponent('@known')
            ? encodeURIComponent(pick(known.orderIds, g.knownKey >> 3)!)
            : g.key;
        return {
          wire: {
            method: 'GET',
            path: `/v1/projections/${g.name}/rows/${key}${query(readOptions(m, g.options))}`,
          },
          learn: (_status, json) => {
            const p = (json as { meta?: { position?: unknown } })?.meta?.position;
            if (typeof p === 'string') remember(m.positions, p);
          },
        };
      },
    }),
  );

const FILTER_COLUMNS = ['orderId', 'customerId', 'status', 'totalCents', 'itemCount', 'updatedAt', 'version'];
const FILTER_NAMES = [
  'toString',
  'constructor',
  '__proto__',
  'hasOwnProperty',
  'valueOf',
  'colour',
  '',
  'status ',
];
const FILTER_VALUES = [
  'placed',
  'shipped',
  'cancelled',
  '1',
  '2147483648',
  'abc',
  '',
  '2024-01-01T00:00:00Z',
];

const listRows = fc
  .record({
    name: fc.constantFrom(...PROJECTION_NAMES),
    filters: fc.array(
      fc.record({
        name: fc.oneof(
          { weight: 4, arbitrary: fc.constantFrom(...FILTER_COLUMNS) },
          { weight: 2, arbitrary: fc.constantFrom(...FILTER_NAMES) },
          { weight: 1, arbitrary: unstorable },
        ),
        value: fc.oneof(
          { weight: 3, arbitrary: fc.constantFrom(...FILTER_VALUES) },
          { weight: 2, arbitrary: storable },
          { weight: 1, arbitrary: unstorable },
        ),
      }),
      { maxLength: 3 },
    ),
    limit: fc.option(fc.constantFrom('1', '3', '50', '500', '501', '0', '-1', 'abc', '3000000000'), {
      freq: 2,
    }),
    cursor: fc.option(
      fc.oneof(
        fc.constant('@known'),
        fc.constantFrom(
          'xyz',
          '',
          '%%',
          '%00',
          'a%00b',
          '%ED%A0%80',
          Buffer.from('{"k":"\\u0000"}').toString('base64url'),
          Buffer.from('{"k":"\\ud800"}').toString('base64url'),
          Buffer.from('{"k":5}').toString('base64url'),
          Buffer.from(`{"k":"${'x'.repeat(5000)}"}`).toString('base64url'),
          Buffer.from('{"__proto__":{"k":"x"}}').toString('base64url'),
          Buffer.from('null').toString('base64url'),
        ),
      ),
      { freq: 2 },
    ),
    cursorPick: fc.nat(),
    options: optionPicks,
  })
  .map(
    (g): Plan => ({
      route: 'GET /v1/projections/:name/rows',
      intent: 'any',
      why: `list with ${g.filters.map((f) => f.name).join(',') || 'no filter'}`,
      build: (m) => {
        const pairs: [string, string | null, boolean?][] = g.filters.map((f) => [f.name, f.value]);
        if (g.limit !== null) pairs.push(['limit', g.limit]);
        if (g.cursor !== null) {
          const cursor = g.cursor === '@known' ? pick(m.cursors, g.cursorPick) : g.cursor;
          if (cursor !== undefined) pairs.push(['cursor', cursor, true]);
        }
        pairs.push(...readOptions(m, g.options));
        return {
          wire: { method: 'GET', path: `/v1/projections/${g.name}/rows${query(pairs)}` },
          learn: (_status, json) => {
            const next = (json as { next?: unknown })?.next;
            if (typeof next === 'string') remember(m.cursors, next);
          },
        };
      },
    }),
  );

const streamRead = fc
  .record({
    slot: fc.nat(),
    badStream: sometimes(fc.constantFrom(...BAD_STREAMS), 15),
    fromVersion: fc.option(fc.constantFrom(...VERSIONS)),
    limit: fc.option(fc.constantFrom(...LIMITS)),
    repeat: fc.boolean(),
    extra: sometimes(fc.constantFrom('bogus', 'toString', '__proto__', 'fromversion'), 15),
  })
  .map(
    (g): Plan => ({
      route: 'GET /v1/streams/:stream/events',
      intent: 'any',
      why: `read from ${g.fromVersion}, limit ${g.limit}`,
      build: (m) => {
        const stream = g.badStream ?? pick(m.streams, g.slot)!.name;
        const pairs: [string, string][] = [];
        if (g.fromVersion !== null) pairs.push(['fromVersion', g.fromVersion]);
        if (g.limit !== null) pairs.push(['limit', g.limit]);
        if (g.repeat && pairs.length) pairs.push(pairs[0]!);
        if (g.extra !== null) pairs.push([g.extra, '1']);
        const path = encodeAny(stream);
        return { wire: { method: 'GET', path: `/v1/streams/${path}/events${query(pairs)}` } };
      },
    }),
  );

// ---------------------------------------------------------------------------------------------
// blobs, erasure, rebuilds, the rest

const blobPut = (limits: Limits) =>
  fc
    .record({
      id: fc.oneof(
        { weight: 6, arbitrary: fc.nat({ max: 30 }).map((n) => `@blob${n}`) },
        {
          weight: 2,
          arbitrary: fc.constantFrom(
            'a'.repeat(200),
            'a'.repeat(201),
            '..',
            '.',
            'a%00b',
            '%ED%A0%80',
            'a%2Fb',
            'é',
            'a b',
            '%',
            '-',
          ),
        },
      ),
      size: fc.oneof(
        { weight: 6, arbitrary: fc.nat({ max: 3000 }) },
        { weight: 1, arbitrary: fc.constantFrom(0, limits.maxBlobBytes, limits.maxBlobBytes + 1) },
      ),
      contentType: fc.constantFrom(
        'application/octet-stream',
        'image/png',
        'text/plain; charset=utf-8',
        'application/json',
        '',
        null,
        'x'.repeat(300),
      ),
      chunked: fc.boolean(),
      byte: fc.nat({ max: 255 }),
    })
    .map(
      (g): Plan => ({
        route: 'PUT /v1/blobs/:blobId',
        intent: g.size > limits.maxBlobBytes ? 'invalid' : 'any',
        why: `blob of ${g.size} bytes${g.chunked ? ', chunked' : ''}, type ${g.contentType}`,
        build: (m) => {
          const id = g.id.startsWith('@blob') ? `${m.tag}-${g.id.slice(1)}` : g.id;
          const body = Buffer.alloc(g.size, g.byte);
          return {
            wire: {
              method: 'PUT',
              path: `/v1/blobs/${id}`,
              headers: headerIf('content-type', g.contentType),
              body,
              chunked: g.chunked && g.size > 1,
            },
            learn: (status) => {
              if (status === 201 && !m.blobIds.includes(id)) remember(m.blobIds, id);
            },
          };
        },
      }),
    );

const blobGet = fc
  .record({
    head: fc.boolean(),
    known: fc.nat(),
    id: sometimes(segment(fc.constant('missing-blob')), 30),
    options: optionPicks,
  })
  .map(
    (g): Plan => ({
      route: g.head ? 'HEAD /v1/blobs/:blobId' : 'GET /v1/blobs/:blobId',
      intent: 'any',
      why: 'a blob read',
      build: (m) => ({
        wire: {
          method: g.head ? 'HEAD' : 'GET',
          path: `/v1/blobs/${g.id ?? pick(m.blobIds, g.known) ?? 'none'}${query(readOptions(m, g.options))}`,
        },
      }),
    }),
  );

const erase = fc
  .record({
    subject: fc.oneof(
      { weight: 4, arbitrary: storable.map((s) => encodeURIComponent(`erased-${s}`)) },
      { weight: 1, arbitrary: unstorable.map((s) => `erased-${encodeAny(s)}`) },
      {
        weight: 1,
        arbitrary: fc.constantFrom('erased-%01', `erased-${'x'.repeat(200)}`, 'erased-%ED%A0%80'),
      },
    ),
    tenant: fc.option(
      fc.constantFrom('default', 'a', '', 't%00', 'x'.repeat(201), 'a&tenant=b', '%ED%A0%80', 'tenant2'),
      { freq: 2 },
    ),
    traceparent: fc.option(fc.constantFrom(TRACEPARENT, 'garbage', '00-', '-'), { freq: 2 }),
  })
  .map(
    (g): Plan => ({
      route: 'DELETE /v1/subjects/:subjectId',
      intent: 'any',
      why: 'an erasure',
      build: () => ({
        wire: {
          method: 'DELETE',
          path: `/v1/subjects/${g.subject}${g.tenant === null ? '' : `?tenant=${g.tenant}`}`,
          headers: headerIf('traceparent', g.traceparent),
        },
      }),
    }),
  );

const rebuild = fc
  .record({
    name: fc.constantFrom('orders', 'nope', '__proto__', 'constructor', '%00', 'x'.repeat(300)),
    body: fc.constantFrom<'none' | 'json-empty' | 'json' | 'text' | 'deep'>(
      'none',
      'json-empty',
      'json',
      'text',
      'deep',
    ),
  })
  .map(
    (g): Plan => ({
      route: 'POST /v1/projections/:name/rebuild',
      intent: 'any',
      why: `rebuild ${g.name.slice(0, 20)} with ${g.body}`,
      build: () => ({
        wire: {
          method: 'POST',
          path: `/v1/projections/${g.name}/rebuild`,
          ...(g.body === 'none'
            ? {}
            : g.body === 'json-empty'
              ? { headers: { 'content-type': 'application/json' }, body: '' }
              : g.body === 'json' || g.body === 'deep'
                ? {
                    headers: { 'content-type': 'application/json' },
                    body: g.body === 'deep' ? deep(10_000, 'object') : '{}',
                  }
                : { headers: { 'content-type': 'text/plain' }, body: 'go' }),
        },
      }),
    }),
  );

/** the other routes, unknown routes and methods, and the routes API.md adds (subscriptions and more) */
const misc = fc
  .record({
    which: fc.constantFrom(
      ['GET', '/v1/projections'],
      ['GET', '/healthz'],
      ['GET', '/readyz'],
      ['GET', '/metrics'],
      ['GET', '/openapi.json'],
      ['GET', '/console'],
      ['GET', '/v1/projections?x=1&x=2'],
      ['GET', '/v2/whatever'],
      ['GET', '/'],
      ['GET', '/v1/'],
      ['GET', '/v1/streams//events'],
      ['GET', '/v1/projections/orders/rows/'],
      ['DELETE', '/v1/projections'],
      ['PATCH', '/v1/streams/@stream/events'],
      ['PUT', '/v1/streams/@stream/events'],
      ['OPTIONS', '/v1/projections'],
      ['TRACE', '/v1/projections'],
      ['POST', '/healthz'],
      ['HEAD', '/v1/projections'],
      ['GET', '/v1/streams/@stream/subscribe?from=1&types=OrderPlaced,OrderShipped'],
      ['GET', '/v1/categories/order/subscribe?from=abc'],
      ['GET', '/v1/subscribe?from=%00'],
      ['POST', '/v1/subscriptions/g1'],
      ['GET', '/v1/subscriptions/g1/events?max=-1'],
      ['POST', '/v1/subscriptions/g1/ack'],
      ['GET', '/v1/projections/orders/dead-letters?limit=0&cursor=%%'],
      ['POST', '/v1/projections/orders/dead-letters/1/retry'],
      ['POST', '/v1/projections/orders/dead-letters/x%00/skip'],
      ['DELETE', '/v1/streams/@stream?hard=maybe'],
      ['POST', '/v1/streams/@stream/truncate?before=3000000000'],
      ['GET', '/v1/audit?limit=5'],
      ['GET', '/v1/audit?limit=0&cursor=%%'],
      ['GET', '/v1/audit?since=%00&action=acl.denied'],
      ['GET', '/v1/audit?cursor=9223372036854775807&action=auth.failed'],
      ['GET', '/v1/audit?cursor=9999999999999999999'],
      ['GET', '/v1/audit?tenant=%ED%A0%80&since=2026-01-01'],
      ['GET', '/v1/audit?tenant=a%00'],
    ),
    slot: fc.nat(),
    body: fc.constantFrom('{}', '{}', '{"category":"order","from":"0"}', '{', '', deep(10_000, 'array')),
  })
  .map(
    (g): Plan => ({
      route: `${g.which[0]} ${g.which[1]!.split('?')[0]!.replace('@stream', ':stream')}`,
      intent: 'any',
      why: 'another route',
      build: (m) => {
        const path = g.which[1]!.replace('@stream', pick(m.streams, g.slot)!.name);
        // a state-changing route takes JSON (and refuses anything else)
        const body = ['POST', 'PUT', 'PATCH'].includes(g.which[0]!) ? g.body : undefined;
        return {
          wire: {
            method: g.which[0]!,
            path,
            ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body }),
          },
        };
      },
    }),
  );

/** targets that are not valid URLs: bad percent-encoding, raw bytes, absolute forms, repeated parameters */
const malformedUrl = fc
  .constantFrom(
    '/v1/streams/%E0%A4%A/events',
    '/v1/streams/%/events',
    '/v1/streams/order-1/events?fromVersion=%',
    '/v1/streams/order-1/events?fromVersion=1&fromVersion=2',
    '/v1/streams/order-1/events?limit=1&limit=2&limit=3',
    '/v1/projections/orders/rows/%ED%A0%80',
    '/v1/projections/orders/rows/%C0%80',
    '/v1/projections/orders/rows?status=%zz',
    '/v1/projections/orders/rows?status=placed&status=shipped',
    '/v1/projections/orders/rows?limit=1&limit=2',
    '/v1/projections/orders/rows?cursor=a&cursor=b',
    '/v1/projections/orders/rows?%ED%A0%80=x',
    '/v1/projections/orders/rows?=x',
    '/v1/projections/orders/rows?&&&',
    '/v1/projections/orders/rows?status',
    '/v1/projections/orders/rows/1?maxStalenessMs=1&maxStalenessMs=2',
    '/v1/projections/orders/rows/1?after=a&after=b',
    '/v1/subjects/x?tenant=a&tenant=b',
    '//v1//projections',
    '/v1/./projections',
    '/v1/streams/../projections',
    '/v1/%2e%2e/healthz',
    '/v1/projections#frag',
    'http://evil.example/v1/projections',
    '*',
    `/v1/projections/orders/rows/${'%41'.repeat(3000)}`,
    `/v1/projections/orders/rows?status=${'x'.repeat(12_000)}`,
  )
  .map(
    (path): Plan => ({
      route: 'malformed URL',
      intent: 'any',
      why: path.slice(0, 80),
      build: () => ({ wire: { method: 'GET', path } }),
    }),
  );

/** requests node's client will not send: written to a socket as bytes */
const rawRequests = fc
  .constantFrom<{ why: string; lines: string[]; body?: string; eol?: string; drop?: boolean }>(
    {
      why: 'Content-Length larger than the body',
      lines: [
        'POST /v1/streams/order-raw1/events HTTP/1.1',
        'Host: x',
        'Content-Type: application/json',
        'Content-Length: 100',
      ],
      body: '{"events":[]}',
      drop: true,
    },
    {
      why: 'Content-Length smaller than the body',
      lines: [
        'POST /v1/streams/order-raw2/events HTTP/1.1',
        'Host: x',
        'Content-Type: application/json',
        'Content-Length: 5',
        'Connection: close',
      ],
      body: '{"events":[{"type":"OrderShipped","data":{"orderId":"r","carrier":"c"}}]}',
    },
    {
      why: 'two different Content-Lengths',
      lines: [
        'POST /v1/streams/order-raw3/events HTTP/1.1',
        'Host: x',
        'Content-Type: application/json',
        'Content-Length: 2',
        'Content-Length: 3',
      ],
      body: '{}',
    },
    {
      why: 'Content-Length: -1',
      lines: [
        'POST /v1/streams/order-raw4/events HTTP/1.1',
        'Host: x',
        'Content-Type: application/json',
        'Content-Length: -1',
      ],
      body: '{}',
    },
    {
      why: 'Content-Length: abc',
      lines: [
        'POST /v1/streams/order-raw5/events HTTP/1.1',
        'Host: x',
        'Content-Type: application/json',
        'Content-Length: abc',
      ],
      body: '{}',
    },
    {
      why: 'Content-Length and chunked both',
      lines: [
        'POST /v1/streams/order-raw6/events HTTP/1.1',
        'Host: x',
        'Content-Type: application/json',
        'Content-Length: 2',
        'Transfer-Encoding: chunked',
      ],
      body: '2\r\n{}\r\n0\r\n\r\n',
    },
    {
      why: 'a bad chunk size',
      lines: [
        'POST /v1/streams/order-raw7/events HTTP/1.1',
        'Host: x',
        'Content-Type: application/json',
        'Transfer-Encoding: chunked',
      ],
      body: 'zz\r\n{}\r\n0\r\n\r\n',
    },
    {
      why: 'a NUL in a header',
      lines: ['GET /v1/projections HTTP/1.1', 'Host: x', 'X-A: a\u0000b', 'Connection: close'],
    },
    {
      why: 'a header line without a colon',
      lines: ['GET /v1/projections HTTP/1.1', 'Host: x', 'nocolon', 'Connection: close'],
    },
    {
      why: 'an obs-fold header',
      lines: ['GET /v1/projections HTTP/1.1', 'Host: x', 'X-A: a', ' folded', 'Connection: close'],
    },
    {
      why: 'a space in the target',
      lines: ['GET /v1/projections/orders/rows/a b HTTP/1.1', 'Host: x', 'Connection: close'],
    },
    {
      why: 'raw UTF-8 in the target',
      lines: ['GET /v1/projections/orders/rows/é😀 HTTP/1.1', 'Host: x', 'Connection: close'],
    },
    {
      why: 'raw UTF-8 stream id',
      lines: ['GET /v1/streams/order-é/events HTTP/1.1', 'Host: x', 'Connection: close'],
    },
    {
      why: 'a NUL in the target',
      lines: ['GET /v1/projections/orders/rows/a\u0000b HTTP/1.1', 'Host: x', 'Connection: close'],
    },
    { why: 'HTTP/1.0 without Host', lines: ['GET /v1/projections HTTP/1.0'] },
    {
      why: 'HTTP/2.0 in an HTTP/1 line',
      lines: ['GET /v1/projections HTTP/2.0', 'Host: x', 'Connection: close'],
    },
    { why: 'HTTP/1.1 without Host', lines: ['GET /v1/projections HTTP/1.1', 'Connection: close'] },
    { why: 'two Hosts', lines: ['GET /v1/projections HTTP/1.1', 'Host: a', 'Host: b', 'Connection: close'] },
    { why: 'an unknown method', lines: ['FOO /v1/projections HTTP/1.1', 'Host: x', 'Connection: close'] },
    { why: 'a lower-case method', lines: ['get /v1/projections HTTP/1.1', 'Host: x', 'Connection: close'] },
    {
      why: 'bare LF line ends',
      lines: ['GET /v1/projections HTTP/1.1', 'Host: x', 'Connection: close'],
      eol: '\n',
    },
    {
      why: 'a header of 20 KiB',
      lines: ['GET /v1/projections HTTP/1.1', 'Host: x', `X-Big: ${'x'.repeat(20_480)}`, 'Connection: close'],
    },
    { why: 'garbage', lines: ['\u0016\u0003\u0001\u0000\u00a5\u0001\u0000'] },
    {
      why: 'a body on a GET',
      lines: [
        'GET /v1/projections HTTP/1.1',
        'Host: x',
        'Content-Type: application/json',
        'Content-Length: 2',
        'Connection: close',
      ],
      body: '{}',
    },
    {
      why: 'gzip announced, plain JSON sent',
      lines: [
        'POST /v1/streams/order-raw8/events HTTP/1.1',
        'Host: x',
        'Content-Type: application/json',
        'Content-Encoding: gzip',
        'Content-Length: 2',
        'Connection: close',
      ],
      body: '{}',
    },
  )
  .map(
    (r): Plan => ({
      route: 'raw bytes',
      intent: 'any',
      why: r.why,
      build: (m) => {
        const lines = r.lines.map((l) => l.replace(/order-raw(\d)/, `order-${m.tag}raw$1`));
        const stream = /order-\w+raw\d/.exec(lines[0] ?? '')?.[0];
        return {
          wire: {
            method: 'RAW',
            path: lines[0] ?? '',
            raw: Buffer.concat([
              Buffer.from(lines.join(r.eol ?? '\r\n') + (r.eol ?? '\r\n').repeat(2), 'utf8'),
              Buffer.from(r.body ?? ''),
            ]),
            ...(r.drop ? { mayGoUnanswered: true } : {}),
          },
          // what a raw append carries is never valid: the stream must stay empty
          ...(stream ? { append: { stream, ids: [] } } : {}),
        };
      },
    }),
  );

/** headers added to any request: accept, host, auth, tracing, encodings, conditionals, big values */
const extraHeaders = sometimes(
  fc.dictionary(
    fc.constantFrom(
      'accept',
      'host',
      'authorization',
      'traceparent',
      'accept-encoding',
      'if-none-match',
      'range',
      'origin',
      'cookie',
      'user-agent',
      'x-forwarded-for',
      'x-http-method-override',
      'expect',
      'x-big',
    ),
    fc.constantFrom(
      'text/html',
      '*/*',
      'application/json;q=0',
      'evil.example',
      '127.0.0.1:1',
      'Bearer x',
      'Basic %%%',
      TRACEPARENT,
      '00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-ff',
      'gzip, br',
      'bytes=0-0',
      'bytes=99999-',
      '"x"',
      'null',
      'a=b; c=d',
      'ünïcödé',
      'DELETE',
      '100-continue',
      'x'.repeat(8000),
    ),
    { minKeys: 1, maxKeys: 3 },
  ),
  10,
);

/** every kind of request, weighted so that about half are valid (and the projection gets events) */
export const planArbitrary = (limits: Limits): fc.Arbitrary<Plan> =>
  fc
    .tuple(
      fc.oneof(
        // a rebuild replays the whole log: rare
        { weight: 1, arbitrary: rebuild },
        { weight: 40, arbitrary: validAppend(limits) },
        { weight: 3, arbitrary: replay },
        { weight: 2, arbitrary: twins(limits) },
        { weight: 1, arbitrary: forgedBlobCommit },
        { weight: 20, arbitrary: invalidAppend(limits) },
        { weight: 3, arbitrary: wrongContentType },
        { weight: 8, arbitrary: streamRead },
        { weight: 8, arbitrary: rowGet },
        { weight: 8, arbitrary: listRows },
        { weight: 4, arbitrary: blobPut(limits) },
        { weight: 2, arbitrary: blobGet },
        { weight: 2, arbitrary: erase },
        { weight: 3, arbitrary: misc },
        { weight: 3, arbitrary: malformedUrl },
        { weight: 2, arbitrary: rawRequests },
      ),
      extraHeaders,
    )
    .map(([chosen, headers]): Plan => {
      if (!headers) return chosen;
      return {
        ...chosen,
        why: `${chosen.why}; headers ${Object.keys(headers).join(',')}`,
        // a header may turn a valid request into one refused for its headers (Expect, a foreign Host, …)
        intent: chosen.intent === 'valid' ? 'any' : chosen.intent,
        build: (m: Model) => {
          const built = chosen.build(m);
          if (built.wire.raw) return built;
          const wire = { ...built.wire, headers: { ...built.wire.headers, ...headers } };
          return { ...built, ...(built.intent === 'valid' ? { intent: 'any' as const } : {}), wire };
        },
      };
    });
