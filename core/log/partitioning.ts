// Where a stream lives: the partition Kafka's default partitioner gives a record keyed by the stream id.
// Written out here (no Kafka client), bit for bit what kafkajs's DefaultPartitioner and the Java
// client's (Utils.murmur2 of the key's UTF-8 bytes, made positive, modulo the partition count) give, so
// a record logfront writes lands where any Kafka client would put it.

const SEED = 0x9747b28c;
const M = 0x5bd1e995;

/** Kafka's murmur2 (32-bit, seed 0x9747b28c) of `bytes`, as a signed 32-bit integer */
export const murmur2 = (bytes: Uint8Array): number => {
  const length = bytes.length;
  let h = (SEED ^ length) | 0;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  // the last one to three bytes, mixed as Java's switch falls through from case 3 to case 1
  const rest = length & 3;
  if (rest === 3) h ^= bytes[whole + 2]! << 16;
  if (rest >= 2) h ^= bytes[whole + 1]! << 8;
  if (rest >= 1) {
    h ^= bytes[whole]!;
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
};

/** the partition (0 ≤ p < `partitions`) of a stream: murmur2 of its id's UTF-8 bytes, made positive */
export const partitionOf = (stream: string, partitions: number): number =>
  (murmur2(Buffer.from(stream, 'utf8')) & 0x7fffffff) % partitions;
