import { crc32c } from '@node-rs/crc32';
import type { KafkajsModules } from './fast-paths.ts';

// kafkajs 2.2.4 encodes a Produce request by copying every record's bytes again at each level (the
// record, the batch body as it doubles, the batch, the partition, the topic, the request, the size
// prefix) and computes the batch CRC-32C in JavaScript, about 0.5 GB/s. For blob chunks (4 MiB a
// transaction) that was most of the upload path's CPU and garbage. This encoder writes the same bytes
// (tested against kafkajs's own, byte for byte) into one buffer sized up front, with the CRC from
// @node-rs/crc32, and leaves room in front for the request header so that the request is sent from
// that same buffer. Anything it does not cover (compression, message timestamps, keys or values that
// are neither strings nor buffers) goes to kafkajs's encoder.
//
// Importing this file changes nothing: fast-paths.ts installs it (kafkajs 2.2.4 only, its private files
// loaded inside try/catch) in kafkajs's module cache, which makes it PROCESS-WIDE: every kafkajs client
// of the process that loads the same kafkajs copy uses it. See fast-paths.ts.

const PRODUCE_V3 = 'src/protocol/requests/produce/v3/request.js';
const REQUEST = 'src/protocol/request.js';

interface Long {
  getHighBits(): number;
  getLowBits(): number;
}
interface KafkajsEncoder {
  buf: Buffer;
  offset: number;
  readonly buffer: Buffer;
}
type Bytes = Buffer | string | null | undefined;
interface Message {
  key?: Bytes;
  value?: Bytes;
  headers?: Record<string, Bytes | Bytes[]>;
  timestamp?: unknown;
}
interface PartitionData {
  partition: number;
  messages: Message[];
  firstSequence?: number;
}
interface TopicData {
  topic: string;
  partitions: PartitionData[];
}
export interface ProduceArgs {
  acks: number;
  timeout: number;
  transactionalId?: string | null;
  producerId?: Long;
  producerEpoch?: number;
  compression?: number;
  topicData: TopicData[];
}
interface ProduceRequest {
  apiKey: number;
  apiVersion: number;
  apiName: string;
  expectResponse: () => boolean;
  encode: () => Promise<KafkajsEncoder>;
}

type ProduceV3 = (args: ProduceArgs) => ProduceRequest;
type CreateRequest = (args: {
  correlationId: number;
  clientId: string | null;
  request: { apiKey: number; apiVersion: number; encode: () => Promise<KafkajsEncoder> };
}) => Promise<KafkajsEncoder>;

/** what the encoder uses of kafkajs, loaded when it is installed */
interface Kafkajs {
  Encoder: new (initialSize?: number) => KafkajsEncoder;
  Long: { fromInt(n: number): Long; fromValue(v: unknown): Long };
  /** kafkajs's own Produce v3 request */
  produceV3: ProduceV3;
}
let kafkajs: Kafkajs | undefined;

/** kafkajs's files the encoder uses; throws when one is not where kafkajs 2.2.4 has it */
const loadKafkajs = (modules: KafkajsModules): Kafkajs => ({
  Encoder: modules.load('src/protocol/encoder.js') as Kafkajs['Encoder'],
  Long: modules.load('src/utils/long.js') as Kafkajs['Long'],
  produceV3: modules.load(PRODUCE_V3) as ProduceV3,
});

/** kafkajs's internals, or a clear error when the encoder was not installed */
const internals = () => {
  if (!kafkajs) throw new Error('the produce encoder is not installed (see installProduceEncoder)');
  return kafkajs;
};

/** room left in front of a produce request's payload for the request header */
const HEADROOM = 256;
const withHeadroom = new WeakMap<KafkajsEncoder, Buffer>();

const zigzag = (n: number) => (n << 1) ^ (n >> 31);
const varIntSize = (n: number) => {
  let v = zigzag(n) >>> 0;
  let size = 1;
  while (v >= 0x80) {
    v >>>= 7;
    size++;
  }
  return size;
};
const byteLength = (b: Buffer | string) => (typeof b === 'string' ? Buffer.byteLength(b, 'utf8') : b.length);
const varBytesSize = (b: Bytes) => (b == null ? 1 : varIntSize(byteLength(b)) + byteLength(b));
const isBytes = (b: unknown): b is Bytes =>
  b === null || b === undefined || typeof b === 'string' || Buffer.isBuffer(b);

/** the headers as kafkajs lists them: an array value is one header per element */
const headerList = (headers: Message['headers']) => {
  const list: [string, Buffer | string][] = [];
  for (const key of Object.keys(headers ?? {})) {
    const v = headers![key];
    for (const value of Array.isArray(v) ? v : [v]) list.push([key, value as Buffer | string]);
  }
  return list;
};

/** whether this encoder writes the request exactly as kafkajs would; otherwise kafkajs encodes it */
const covered = (args: ProduceArgs) =>
  (args.compression ?? 0) === 0 &&
  args.topicData.every((t) =>
    t.partitions.every((p) =>
      p.messages.every(
        (m) =>
          m.timestamp == null &&
          isBytes(m.key) &&
          isBytes(m.value) &&
          Object.values(m.headers ?? {}).every((v) =>
            (Array.isArray(v) ? v : [v]).every((x) => typeof x === 'string' || Buffer.isBuffer(x)),
          ),
      ),
    ),
  );

class Writer {
  offset: number;
  constructor(
    readonly buf: Buffer,
    offset: number,
  ) {
    this.offset = offset;
  }
  int8(n: number) {
    this.buf.writeInt8(n, this.offset);
    this.offset += 1;
  }
  int16(n: number) {
    this.buf.writeInt16BE(n, this.offset);
    this.offset += 2;
  }
  int32(n: number) {
    this.buf.writeInt32BE(n, this.offset);
    this.offset += 4;
  }
  int64(n: Long) {
    this.buf.writeInt32BE(n.getHighBits(), this.offset);
    this.buf.writeInt32BE(n.getLowBits(), this.offset + 4);
    this.offset += 8;
  }
  string(s: string | null) {
    if (s === null) return this.int16(-1);
    const n = Buffer.byteLength(s, 'utf8');
    this.int16(n);
    this.offset += this.buf.write(s, this.offset, n, 'utf8');
  }
  varInt(n: number) {
    let v = zigzag(n) >>> 0;
    while (v >= 0x80) {
      this.buf[this.offset++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.offset++] = v;
  }
  raw(b: Buffer | string) {
    if (typeof b === 'string') this.offset += this.buf.write(b, this.offset, 'utf8');
    else {
      b.copy(this.buf, this.offset);
      this.offset += b.length;
    }
  }
  varBytes(b: Bytes) {
    if (b == null) return this.varInt(-1);
    this.varInt(byteLength(b));
    this.raw(b);
  }
}

/** the Produce request (v3, which v4 to v7 reuse) kafkajs would send, written once */
const encodeProduce = (args: ProduceArgs, now: number): KafkajsEncoder => {
  const { Encoder, Long: LongClass } = internals();
  const transactionalId = args.transactionalId ?? null;
  const producerId = args.producerId ?? LongClass.fromInt(-1);
  const producerEpoch = args.producerEpoch ?? 0;
  // sizes first: each record's body, each batch's records, then the whole payload
  const plans = args.topicData.map((t) => ({
    topic: t.topic,
    partitions: t.partitions.map((p) => {
      let recordsSize = 0;
      const records = p.messages.map((m, i) => {
        const headers = headerList(m.headers);
        let headersSize = varIntSize(headers.length);
        for (const [k, v] of headers) headersSize += varBytesSize(k) + varBytesSize(v);
        // attributes, timestamp delta (always 0 here), offset delta, key, value, headers
        const body = 1 + 1 + varIntSize(i) + varBytesSize(m.key) + varBytesSize(m.value) + headersSize;
        recordsSize += varIntSize(body) + body;
        return { m, headers, body };
      });
      return { p, records, crcRegion: 40 + recordsSize };
    }),
  }));
  let payload = (transactionalId === null ? 2 : 2 + Buffer.byteLength(transactionalId, 'utf8')) + 2 + 4 + 4;
  for (const t of plans) {
    payload += 2 + Buffer.byteLength(t.topic, 'utf8') + 4;
    // partition, batch size, then first offset, length, leader epoch, magic, CRC and the CRC's region
    for (const p of t.partitions) payload += 4 + 4 + 8 + 4 + 4 + 1 + 4 + p.crcRegion;
  }
  const buf = Buffer.allocUnsafe(HEADROOM + payload);
  const w = new Writer(buf, HEADROOM);
  w.string(transactionalId);
  w.int16(args.acks);
  w.int32(args.timeout);
  w.int32(plans.length);
  for (const t of plans) {
    w.string(t.topic);
    w.int32(t.partitions.length);
    for (const { p, records, crcRegion } of t.partitions) {
      w.int32(p.partition);
      w.int32(8 + 4 + 4 + 1 + 4 + crcRegion);
      w.int64(LongClass.fromInt(0)); // first offset
      w.int32(4 + 1 + 4 + crcRegion);
      w.int32(0); // partition leader epoch
      w.int8(2); // magic
      const crcAt = w.offset;
      w.offset += 4;
      const regionStart = w.offset;
      w.int16(args.transactionalId ? 16 : 0); // attributes: no compression; transactional
      w.int32(records.length - 1); // last offset delta
      const ts = LongClass.fromValue(now);
      w.int64(ts); // first timestamp
      w.int64(ts); // max timestamp
      w.int64(LongClass.fromValue(producerId));
      w.int16(producerEpoch);
      w.int32(p.firstSequence ?? 0);
      w.int32(records.length);
      records.forEach(({ m, headers, body }, i) => {
        w.varInt(body);
        w.int8(0);
        w.varInt(0);
        w.varInt(i);
        w.varBytes(m.key);
        w.varBytes(m.value);
        w.varInt(headers.length);
        for (const [k, v] of headers) {
          w.varBytes(k);
          w.varBytes(v);
        }
      });
      buf.writeUInt32BE(crc32c(buf.subarray(regionStart, w.offset)) >>> 0, crcAt);
    }
  }
  if (w.offset !== buf.length)
    throw new Error(`produce encoder: wrote ${w.offset - HEADROOM} of ${payload} bytes`);
  const encoder = new Encoder(0);
  encoder.buf = buf.subarray(HEADROOM);
  encoder.offset = payload;
  withHeadroom.set(encoder, buf);
  return encoder;
};

/** kafkajs's own Produce v3 request (for the tests: the bytes must be the same) */
export const originalProduceRequest: ProduceV3 = (args) => internals().produceV3(args);

export const produceRequest: ProduceV3 = (args) => {
  const request = originalProduceRequest(args);
  if (!covered(args)) return request;
  return { ...request, encode: async () => encodeProduce(args, Date.now()) };
};

/**
 * kafkajs's request framing (size, api key and version, correlation id, client id, payload), written
 * in front of a payload that left room for it instead of copying the payload twice.
 */
export const createRequest =
  (original: CreateRequest): CreateRequest =>
  async (args) => {
    const payload = await args.request.encode();
    const whole = withHeadroom.get(payload);
    const clientId = args.clientId;
    const headerSize = 4 + 2 + 2 + 4 + (clientId == null ? 2 : 2 + Buffer.byteLength(clientId, 'utf8'));
    if (!whole || headerSize > HEADROOM)
      return original({ ...args, request: { ...args.request, encode: async () => payload } });
    const start = HEADROOM - headerSize;
    const w = new Writer(whole, start);
    w.int32(headerSize - 4 + payload.offset);
    w.int16(args.request.apiKey);
    w.int16(args.request.apiVersion);
    w.int32(args.correlationId);
    w.string(clientId);
    const out = new (internals().Encoder)(0);
    out.buf = whole.subarray(start);
    out.offset = out.buf.length;
    return out;
  };

/**
 * Puts the framing in kafkajs's module cache. kafkajs reads it once, when it loads: throws when kafkajs
 * was loaded already (or its request.js is not there). Requests it gets from kafkajs's own encoders go
 * to kafkajs's framing unchanged.
 */
export const installRequestFraming = (modules: KafkajsModules) => {
  if (modules.loaded(REQUEST)) throw new Error("kafkajs was loaded before logfront's Kafka connector");
  const original = modules.load(REQUEST) as CreateRequest;
  modules.replace(REQUEST, createRequest(original));
};

/** Puts the encoder in kafkajs's module cache; throws, having changed nothing, when a file is missing. */
export const installProduceEncoder = (modules: KafkajsModules) => {
  const loaded = loadKafkajs(modules);
  if (loaded.produceV3 === produceRequest) return; // installed already: kafkajs's own is kept
  kafkajs = loaded;
  modules.replace(PRODUCE_V3, produceRequest);
};
