import type { KafkajsModules } from './fast-paths.ts';

// kafkajs 2.2.4 (its last release) decodes a record's headers by spreading the header object once
// per header: with CloudEvents' nine headers that is a tenth of the projection runner's CPU and a
// good part of its garbage. This is the same decoder (same output, field for field) with the headers
// built in one object, and offsets added as numbers while they are safe integers.
//
// Importing this file changes nothing: fast-paths.ts installs it (kafkajs 2.2.4 only, its private files
// loaded inside try/catch) in kafkajs's module cache before kafkajs loads its record batch decoder, which
// makes it PROCESS-WIDE: every kafkajs client of the process that loads the same kafkajs copy uses it.

const RECORD_DECODER = 'src/protocol/recordBatch/record/v0/decoder.js';
const RECORD_BATCH_DECODER = 'src/protocol/recordBatch/v0/decoder.js';

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

/** what the decoder uses of kafkajs, loaded when it is installed */
interface Kafkajs {
  Long: { fromValue(v: unknown): Long };
  LOG_APPEND_TIME: number;
}
let kafkajs: Kafkajs | undefined;

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
  if (!kafkajs) throw new Error('the record decoder is not installed (see installRecordDecoder)');
  const { Long: LongClass, LOG_APPEND_TIME } = kafkajs;
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

/**
 * Puts the decoder in kafkajs's module cache, then loads kafkajs's record batch decoder, which takes it
 * from there. Throws, having changed nothing, when kafkajs has decoded record batches already (its batch
 * decoder keeps its own) or a file is not where kafkajs 2.2.4 has it.
 */
export const installRecordDecoder = (modules: KafkajsModules) => {
  if (modules.loaded(RECORD_BATCH_DECODER)) {
    throw new Error(
      "kafkajs had loaded its record batch decoder (fetched) before logfront's first Kafka log or reader",
    );
  }
  const loaded: Kafkajs = {
    Long: modules.load('src/utils/long.js') as Kafkajs['Long'],
    LOG_APPEND_TIME: (modules.load('src/protocol/timestampTypes.js') as { LOG_APPEND_TIME: number })
      .LOG_APPEND_TIME,
  };
  const original = modules.load(RECORD_DECODER);
  kafkajs = loaded;
  modules.replace(RECORD_DECODER, decodeRecord);
  try {
    modules.load(RECORD_BATCH_DECODER);
  } catch (error) {
    modules.replace(RECORD_DECODER, original);
    throw error;
  }
};
