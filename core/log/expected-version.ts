import type { ExpectedVersion } from '../types.ts';

/** whether a stream at version `head` (0 = no stream) satisfies `expected` */
export const expectedMatches = (expected: ExpectedVersion, head: number) =>
  expected === 'any' ||
  (expected === 'no_stream' && head === 0) ||
  (expected === 'stream_exists' && head > 0) ||
  expected === head;
