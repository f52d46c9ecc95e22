import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { installKafkaFastPaths, kafkaFastPaths } from '../../connectors/kafka/fast-paths.ts';
import {
  createRequest,
  originalProduceRequest,
  type ProduceArgs,
  produceRequest,
} from '../../connectors/kafka/produce-encoder.ts';

// as a Kafka event log does when it is made
installKafkaFastPaths();

const require = createRequire(import.meta.url);
const dir = require.resolve('kafkajs').replace(/index\.js$/, '');
const Long = require(`${dir}src/utils/long.js`) as {
  fromValue(v: unknown): never;
  fromInt(n: number): never;
};

// kafkajs's own request framing, run from its source (the module cache may hold ours)
const originalCreateRequest = (() => {
  const file = `${dir}src/protocol/request.js`;
  const module = { exports: {} as unknown };
  new Function('require', 'module', 'exports', readFileSync(file, 'utf8'))(
    createRequire(file),
    module,
    module.exports,
  );
  return module.exports as Parameters<typeof createRequest>[0];
})();

const bytes = async (request: { encode: () => Promise<{ buffer: Buffer }> }) =>
  Buffer.from((await request.encode()).buffer);

const cases: Record<string, ProduceArgs> = {
  'a transactional batch of binary values with CloudEvents headers': {
    acks: -1,
    timeout: 30_000,
    transactionalId: 'lf.sequencer.t.0',
    producerId: Long.fromValue(123_456_789_012),
    producerEpoch: 7,
    topicData: [
      {
        topic: 'lf.blob',
        partitions: [
          {
            partition: 2,
            firstSequence: 41,
            messages: Array.from({ length: 5 }, (_, i) => ({
              key: 'blob-x',
              value: Buffer.alloc(200_000 + i, i),
              headers: { ce_id: `id-${i}`, ce_type: 'BlobChunk', lf_metadata: '{}', ü: Buffer.from('ß') },
            })),
          },
        ],
      },
    ],
  },
  'several topics and partitions, null and string keys and values, repeated headers, no transaction': {
    acks: 1,
    timeout: 5000,
    producerId: Long.fromInt(-1),
    topicData: [
      {
        topic: 'a',
        partitions: [
          { partition: 0, messages: [{ key: null, value: 'plain ✓' }] },
          {
            partition: 1,
            messages: [
              { key: Buffer.from('k'), value: null, headers: { dup: ['1', Buffer.from('2')] } },
              { value: Buffer.alloc(0) },
            ],
          },
        ],
      },
      { topic: 'b-ü', partitions: [{ partition: 0, messages: [{ key: 'x', value: 'y', headers: {} }] }] },
    ],
  },
  '200 records (offset deltas past one varint byte)': {
    acks: -1,
    timeout: 1000,
    transactionalId: 't',
    producerId: Long.fromValue(1),
    producerEpoch: 0,
    topicData: [
      {
        topic: 't',
        partitions: [
          {
            partition: 0,
            messages: Array.from({ length: 200 }, (_, i) => ({ key: `s${i}`, value: `v${i}` })),
          },
        ],
      },
    ],
  },
};

describe('produce request encoder', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-11-28T12:00:00.123Z'));
  });
  afterEach(() => vi.useRealTimers());

  it('is what kafkajs builds produce requests with', () => {
    expect(kafkaFastPaths()).toMatchObject({ produceEncoder: true, requestFraming: true });
    expect(require(`${dir}src/protocol/requests/produce/v3/request.js`)).toBe(produceRequest);
  });

  for (const [name, args] of Object.entries(cases)) {
    it(`writes the bytes kafkajs writes: ${name}`, async () => {
      const ours = produceRequest(args);
      const theirs = originalProduceRequest(args);
      const shape = (r: typeof ours) => [r.apiKey, r.apiVersion, r.apiName, r.expectResponse()];
      expect(shape(ours)).toEqual(shape(theirs));
      expect((await bytes(ours)).equals(await bytes(theirs))).toBe(true);
      // framed as a request: the same bytes as kafkajs's framing of kafkajs's payload
      for (const clientId of ['logfront', null, 'x'.repeat(300)]) {
        const framing = { correlationId: 77, clientId: clientId as string };
        const framed = await createRequest(originalCreateRequest)({ ...framing, request: ours });
        const expected = await originalCreateRequest({ ...framing, request: theirs });
        expect(framed.buffer.equals(expected.buffer)).toBe(true);
      }
    });
  }

  it('leaves what it does not cover to kafkajs: compression, message timestamps, other value types', async () => {
    const base = cases['200 records (offset deltas past one varint byte)']!;
    const message = base.topicData[0]!.partitions[0]!.messages[0]!;
    const variants: ProduceArgs[] = [
      { ...base, compression: 1 },
      {
        ...base,
        topicData: [{ topic: 't', partitions: [{ partition: 0, messages: [{ ...message, timestamp: 5 }] }] }],
      },
      {
        ...base,
        topicData: [
          {
            topic: 't',
            partitions: [{ partition: 0, messages: [{ key: 'k', value: 7 as unknown as string }] }],
          },
        ],
      },
    ];
    for (const args of variants) {
      const theirs = originalProduceRequest(args);
      expect(produceRequest(args).encode.toString()).toBe(theirs.encode.toString());
    }
  });

  it('frames other requests exactly as kafkajs does', async () => {
    const Encoder = require(`${dir}src/protocol/encoder.js`) as new () => {
      writeInt32(n: number): { buffer: Buffer };
    };
    const request = { apiKey: 3, apiVersion: 1, encode: async () => new Encoder().writeInt32(42) as never };
    const args = { correlationId: 5, clientId: 'c', request };
    const ours = await createRequest(originalCreateRequest)(args);
    expect(ours.buffer.equals((await originalCreateRequest(args)).buffer)).toBe(true);
  });
});
