// What the fuzzer knows of the server while it runs: the streams it writes to and how far each has
// got, positions and cursors it was given, blobs it stored, and every append it sent with its outcome
// (the final checks hold the log against these).

/** a stream the fuzzer appends to; an `order` stream also owns its orderIds (no other stream uses them) */
export interface StreamSlot {
  readonly name: string;
  readonly orderIds: readonly string[];
}

export interface AppendRecord {
  readonly stream: string;
  /** the event ids the request carried (events without one get theirs from the server) */
  readonly ids: readonly string[];
  readonly status: number;
  /** 201: the versions the answer gave */
  readonly range?: readonly [number, number];
}

export interface Model {
  readonly tag: string;
  readonly streams: readonly StreamSlot[];
  /** the highest version each stream is known to have reached */
  readonly versions: Map<string, number>;
  readonly positions: string[];
  readonly cursors: string[];
  readonly blobIds: string[];
  readonly appends: AppendRecord[];
  /** accepted appends that may be sent again (idempotency): stream, body, the versions they got */
  readonly replayable: { stream: string; body: string; range: readonly [number, number] }[];
  /** streams where an append's outcome is unknown (no answer, or a 5xx): left out of the log check */
  readonly uncertain: Set<string>;
  /** the next event id (deterministic per run: `<tag>` and a counter, in the UUID form) */
  nextId(): string;
}

const RECENT = 64;
export const remember = (list: string[], value: string) => {
  list.push(value);
  if (list.length > RECENT) list.shift();
};

/** suffixes of orderIds: valid but awkward (unicode, URL syntax, long, control characters, proto names) */
const ORDER_SUFFIXES = [
  'é',
  '😀',
  ' space ',
  'a/b',
  '..',
  '%41',
  "o'brien",
  '"dq"',
  'back\\slash',
  'ﷺ',
  '中文',
  'x'.repeat(150),
  '\u2028',
  'tab\there',
  '<b>',
  '__proto__',
  'constructor',
  'a?b=c&d',
  '#',
  '+plus',
  '\u0001ctl',
  '\uffff',
  'e\u0301',
  '👩‍👩‍👧',
  '\u202eRTL',
  'null',
];

/**
 * The streams of a run (all under `tag`): order streams with one plain and one awkward orderId
 * each, ids of 101–200 characters and with every allowed punctuation, and a few other categories
 * (a 64-character one, one that differs from `order` by case) whose events no projection reads.
 */
export const streamSlots = (tag: string): StreamSlot[] => {
  const order = (id: string, i: number) => ({
    name: `order-${id}`,
    orderIds: [id, `${id}#${ORDER_SUFFIXES[i % ORDER_SUFFIXES.length]}`],
  });
  return [
    ...Array.from({ length: 40 }, (_, i) => order(`${tag}${i}`, i)),
    order(`${tag}${'a'.repeat(190)}`, 40), // an id of 200 characters, the most there is
    order(`${tag}${'b'.repeat(120)}`, 41),
    order(`${tag}:x.y-z_w`, 42),
    order(`${tag}-dash-in-id`, 43),
    { name: `fuzz-${tag}1`, orderIds: [`${tag}f1`] },
    { name: `fuzz-${tag}2`, orderIds: [`${tag}f2`] },
    { name: `Order-${tag}`, orderIds: [`${tag}O`] },
    { name: `${'C'.repeat(64)}-${tag}`, orderIds: [`${tag}C`] },
  ];
};

export const createModel = (tag: string): Model => {
  let counter = 0;
  // 8 hex of the tag, then a counter: the UUID form the API checks (version 4, variant 8)
  const prefix = tag.padEnd(8, '0').slice(0, 8);
  return {
    tag,
    streams: streamSlots(tag),
    versions: new Map(),
    positions: [],
    cursors: [],
    blobIds: [],
    appends: [],
    replayable: [],
    uncertain: new Set(),
    nextId: () => {
      const n = (counter++).toString(16).padStart(15, '0');
      return `${prefix}-${n.slice(0, 4)}-4${n.slice(4, 7)}-8${n.slice(7, 10)}-${n.slice(10).padStart(12, '0')}`;
    },
  };
};

export const pick = <T>(list: readonly T[], n: number): T | undefined =>
  list.length ? list[n % list.length] : undefined;
