import fc from 'fast-check';
import { Partitioners } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { murmur2 as ours, partitionOf } from '../../core/log/partitioning.ts';

/** Kafka's Java Utils.murmur2, written out independently as the oracle */
const murmur2 = (bytes: Buffer): number => {
  const m = 0x5bd1e995;
  let h = (0x9747b28c ^ bytes.length) | 0;
  const length4 = bytes.length >> 2;
  for (let i = 0; i < length4; i++) {
    let k = bytes.readInt32LE(i * 4);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  const tail = length4 * 4;
  const rest = bytes.length & 3;
  // the tail bytes, mixed as Java's switch falls through from case 3 to case 1
  if (rest >= 3) h ^= bytes[tail + 2]! << 16;
  if (rest >= 2) h ^= bytes[tail + 1]! << 8;
  if (rest >= 1) {
    h ^= bytes[tail]!;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
};
const javaPartition = (key: string, partitions: number) =>
  (murmur2(Buffer.from(key, 'utf8')) & 0x7fffffff) % partitions;

const kafkajsPartition = (key: string | Buffer, partitions: number) =>
  Partitioners.DefaultPartitioner()({
    topic: 'any',
    partitionMetadata: Array.from({ length: partitions }, (_, partitionId) => ({
      partitionId,
      leader: 1,
      replicas: [1],
      isr: [1],
      offlineReplicas: [],
      partitionErrorCode: 0,
    })),
    message: { key, value: 'v' },
  });

const streams = [
  'order-1',
  'order-2',
  'order-0190f2a4-7b1c-7d3e-8f00-123456789abc',
  'cart-x',
  'Customer_42-a.b:c',
  'order-ünïcödé',
  'x-y',
  `order-${'z'.repeat(200)}`,
  ...Array.from({ length: 200 }, (_, i) => `order-${i}`),
];

describe('partitionOf', () => {
  it('the oracle reproduces the murmur2 values of Kafka’s own test suite', () => {
    expect(murmur2(Buffer.from('21'))).toBe(-973932308);
    expect(murmur2(Buffer.from('foobar'))).toBe(-790332482);
    expect(murmur2(Buffer.from('a-little-bit-long-string'))).toBe(-985981536);
    expect(murmur2(Buffer.from('a-little-bit-longer-string'))).toBe(-1486304829);
    expect(murmur2(Buffer.from('lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8'))).toBe(-58897971);
    expect(murmur2(Buffer.from('abc'))).toBe(479470107);
  });

  it('a stream goes where the Java client would put a message keyed by its id', () => {
    for (const partitions of [1, 2, 3, 7, 12, 100]) {
      for (const stream of streams)
        expect(partitionOf(stream, partitions)).toBe(javaPartition(stream, partitions));
    }
  });

  it('a stream goes where kafkajs’s default partitioner puts a message keyed by its id', () => {
    for (const partitions of [1, 3, 16]) {
      for (const stream of streams)
        expect(partitionOf(stream, partitions)).toBe(kafkajsPartition(stream, partitions));
    }
  });

  it('any stream id, and any key bytes, go where kafkajs’s default partitioner puts them', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 80 }),
        fc.integer({ min: 1, max: 1000 }),
        (stream, partitions) => partitionOf(stream, partitions) === kafkajsPartition(stream, partitions),
      ),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 64 }),
        fc.integer({ min: 1, max: 1000 }),
        (bytes, partitions) => {
          const key = Buffer.from(bytes);
          return (
            (ours(key) & 0x7fffffff) % partitions === kafkajsPartition(key, partitions) &&
            ours(key) === murmur2(key)
          );
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('the same stream always lands on the same partition', () => {
    for (const stream of streams) expect(partitionOf(stream, 6)).toBe(partitionOf(stream, 6));
  });

  it('the partition is within the topic', () => {
    for (const partitions of [1, 2, 5, 1000]) {
      for (const stream of streams) {
        const p = partitionOf(stream, partitions);
        expect(Number.isInteger(p)).toBe(true);
        expect(p).toBeGreaterThanOrEqual(0);
        expect(p).toBeLessThan(partitions);
      }
    }
  });

  it('a one-partition topic puts every stream on partition 0', () => {
    for (const stream of streams) expect(partitionOf(stream, 1)).toBe(0);
  });

  it('streams spread over every partition', () => {
    const used = new Set(streams.map((s) => partitionOf(s, 8)));

    expect(used.size).toBe(8);
  });
});
