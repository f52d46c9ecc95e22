import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { installKafkaFastPaths, kafkaFastPaths } from '../../connectors/kafka/fast-paths.ts';
import { decodeRecord } from '../../connectors/kafka/record-decoder.ts';

// as a Kafka event log does when it is made
installKafkaFastPaths();

const require = createRequire(import.meta.url);
const dir = require.resolve('kafkajs').replace(/index\.js$/, '');
type Fn = (...args: never[]) => unknown;
const Decoder = require(`${dir}src/protocol/decoder.js`) as new (b: Buffer) => { readVarIntBytes(): Buffer };
const encodeRecord = require(`${dir}src/protocol/recordBatch/record/v0/index.js`) as Fn;
const { LOG_APPEND_TIME, CREATE_TIME } = require(`${dir}src/protocol/timestampTypes.js`) as {
  LOG_APPEND_TIME: number;
  CREATE_TIME: number;
};

// kafkajs's own record decoder, run from its source (the module cache holds ours once installed)
const original = (() => {
  const file = `${dir}src/protocol/recordBatch/record/v0/decoder.js`;
  const module = { exports: {} as unknown };
  const source = readFileSync(file, 'utf8');
  new Function('require', 'module', 'exports', source)(createRequire(file), module, module.exports);
  return module.exports as (d: unknown, c: unknown) => { headers: object };
})();

const bytesOf = (record: {
  offsetDelta?: number;
  timestampDelta?: number;
  key: Buffer | null;
  value: Buffer | null;
  headers?: Record<string, unknown>;
}) => {
  const encoded = (encodeRecord as (r: unknown) => { buffer: Buffer })(record).buffer;
  return new Decoder(encoded).readVarIntBytes();
};

describe('record decoder', () => {
  it('is what kafkajs decodes records with', () => {
    expect(kafkaFastPaths().recordDecoder).toBe(true);
    expect(require(`${dir}src/protocol/recordBatch/record/v0/decoder.js`)).toBe(decodeRecord);
  });

  it('decodes exactly what kafkajs decodes: headers (repeated, named like Object.prototype members), null key and value, both timestamp types, offsets past 2^53', () => {
    const records: {
      offsetDelta?: number;
      timestampDelta?: number;
      key: Buffer | null;
      value: Buffer | null;
      headers?: Record<string, unknown>;
    }[] = [
      {
        offsetDelta: 3,
        timestampDelta: 7,
        key: Buffer.from('order-1'),
        value: Buffer.from('{"a":1}'),
        headers: {
          ce_type: Buffer.from('OrderPlaced'),
          ce_id: Buffer.from('x'),
          dup: [Buffer.from('1'), Buffer.from('2'), Buffer.from('3')],
          constructor: Buffer.from('c'),
          __proto__: Buffer.from('p'),
          ünï: Buffer.from('ü'),
        },
      },
      { offsetDelta: 0, key: null, value: null },
      { offsetDelta: 1, key: Buffer.from('k'), value: Buffer.alloc(0), headers: { empty: Buffer.alloc(0) } },
      // same position, same length, other name: not mistaken for the name seen before
      { offsetDelta: 2, key: Buffer.from('k'), value: null, headers: { emptx: Buffer.from('1') } },
    ];
    const contexts = [
      {
        firstOffset: '41',
        firstTimestamp: '1700000000000',
        magicByte: 2,
        timestampType: LOG_APPEND_TIME,
        maxTimestamp: '1700000000999',
      },
      {
        firstOffset: '9007199254740993',
        firstTimestamp: '1700000000000',
        magicByte: 2,
        timestampType: CREATE_TIME,
        maxTimestamp: '1700000000999',
        isControlBatch: true,
      },
    ];
    for (const record of records) {
      // kafkajs's encoder takes __proto__ from a literal as the prototype: give it as an own property
      if (record.headers && '__proto__' in record.headers) {
        Object.defineProperty(record.headers, '__proto__', { value: Buffer.from('p'), enumerable: true });
      }
      for (const context of contexts) {
        const ours = decodeRecord(new Decoder(bytesOf(record)) as never, context);
        const theirs = original(new Decoder(bytesOf(record)), context);
        // header by header: a header named `constructor` defeats comparing the objects whole
        const { headers: ourHeaders, ...ourRest } = ours;
        const { headers: theirHeaders, ...theirRest } = theirs as typeof ours;
        expect(ourRest).toStrictEqual(theirRest);
        expect(Reflect.ownKeys(ourHeaders)).toEqual(Reflect.ownKeys(theirHeaders));
        for (const name of Reflect.ownKeys(theirHeaders)) {
          expect(Object.getOwnPropertyDescriptor(ourHeaders, name)).toStrictEqual(
            Object.getOwnPropertyDescriptor(theirHeaders, name),
          );
        }
        expect(Object.getPrototypeOf(ourHeaders)).toBe(Object.getPrototypeOf(theirHeaders));
      }
    }
  });
});
