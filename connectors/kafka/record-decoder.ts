import { createRequire } from 'node:module';

// kafkajs 2.2.4 (its last release) decodes a record's headers by spreading the header object once
// per header: with CloudEvents' nine headers that is a tenth of the projection runner's CPU and a
// good part of its garbage. This is the same decoder (same output, field for field) with the headers
// built in one object, and offsets added as numbers while they are safe integers. It is put in
// kafkajs's module cache before kafkajs loads its fetch decoders, which happens on the first fetch.

const require = createRequire(import.meta.url);
const kafkajsDir = require.resolve('kafkajs').replace(/index\.js$/, '');
const RECORD_DECODER = `${kafkajsDir}src/protocol/recordBatch/record/v0/decoder.js`;
const RECORD_BATCH_DECODER = `${kafkajsDir}src/protocol/recordBatch/v0/decoder.js`;
const version = (require('kafkajs/package.json') as { version: string }).version;

interface Long {
  add(n: unknown): Long;
  toString(): string;
}
interface KafkajsDecoder {
  buffer: Buffer;
  offset: number;
  readInt8(): number;
  readVarInt(): number;
  readVarLong(): Long;
  readVarIntBytes(): Buffer | null;
}
interface BatchContext {
  firstOffset: string;
  firstTimestamp: string;
  magicByte: number;
  isControlBatch?: boolean;
  timestampType: number;
  maxTimestamp: string;
}

const LongClass = require(`${kafkajsDir}src/utils/long.js`) as { fromValue(v: unknown): Long };
const { LOG_APPEND_TIME } = require(`${kafkajsDir}src/protocol/timestampTypes.js`) as {
  LOG_APPEND_TIME: number;
};

type HeaderValue = Buffer | null | (Buffer | null)[];

// Records of one writer carry the same header names in the same order: the name last seen at a
// position is reused when its bytes match (a byte loop is cheaper than decoding a new string).
const seenNames: { bytes: Buffer; name: string }[] = [];
const headerName = (buffer: Buffer, at: number, length: number, position: number): string => {
  const seen = seenNames[position];
  if (seen && seen.bytes.length === length) {
    let same = true;
    for (let j = 0; j < length; j++) {
      if (buffer[at + j] !== seen.bytes[j]) {
        same = false;
        break;
      }
    }
    if (same) return seen.name;
  }
  const name = buffer.toString('utf8', at, at + length);
  if (position < 64) seenNames[position] = { bytes: Buffer.from(buffer.subarray(at, at + length)), name };
  return name;
};

/** kafkajs's record v0 decoder (src/protocol/recordBatch/record/v0/decoder.js), without the quadratic headers */
export const decodeRecord = (decoder: KafkajsDecoder, batchContext: BatchContext = {} as BatchContext) => {
  const {
    firstOffset,
    firstTimestamp,
    magicByte,
    isControlBatch = false,
    timestampType,
    maxTimestamp,
  } = batchContext;
  const attributes = decoder.readInt8();
  const timestampDelta = decoder.readVarLong();
  const timestamp =
    timestampType === LOG_APPEND_TIME && maxTimestamp
      ? maxTimestamp
      : LongClass.fromValue(firstTimestamp).add(timestampDelta).toString();
  const offsetDelta = decoder.readVarInt();
  const base = Number(firstOffset);
  const offset = Number.isSafeInteger(base + offsetDelta)
    ? String(base + offsetDelta)
    : LongClass.fromValue(firstOffset).add(offsetDelta).toString();
  const key = decoder.readVarIntBytes();
  const value = decoder.readVarIntBytes();
  const headers: Record<string, HeaderValue> = {};
  const count = decoder.readVarInt();
  for (let i = 0; i < count; i++) {
    const length = decoder.readVarInt();
    let name: string | null = null;
    if (length !== -1) {
      name = headerName(decoder.buffer, decoder.offset, length, i);
      decoder.offset += length;
    }
    const v = decoder.readVarIntBytes();
    // the same lookup kafkajs makes (an inherited property counts as present), then an own property
    const current = headers[name as string];
    const next = current === undefined ? v : Array.isArray(current) ? current.concat([v]) : [current, v];
    // plain assignment keeps one hidden class per header layout; only `__proto__` needs defining
    if (name === '__proto__') {
      Object.defineProperty(headers, name, {
        value: next,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    } else headers[name as string] = next;
  }
  return {
    magicByte,
    attributes,
    timestamp,
    offset,
    key,
    value,
    headers,
    isControlRecord: isControlBatch,
    batchContext,
  };
};

/** true when kafkajs decodes records with `decodeRecord` (its fetch decoders were not loaded before) */
export const installed = (() => {
  // another version may decode differently; decoders loaded already keep the original
  if (version !== '2.2.4' || require.cache[RECORD_BATCH_DECODER]) return false;
  require(RECORD_DECODER);
  require.cache[RECORD_DECODER]!.exports = decodeRecord;
  return true;
})();
