import { describe, expect, it } from 'vitest';
import { expectedMatches } from '../../core/log/expected-version.ts';
import type { ExpectedVersion } from '../../core/types.ts';

// head: the stream's version, 0 when the stream does not exist
const cases: [ExpectedVersion, number, boolean][] = [
  ['any', 0, true],
  ['any', 7, true],
  ['no_stream', 0, true],
  ['no_stream', 1, false],
  ['stream_exists', 0, false],
  ['stream_exists', 1, true],
  ['stream_exists', 99, true],
  [0, 0, true],
  [0, 1, false],
  [3, 3, true],
  [3, 2, false],
  [3, 4, false],
];

describe('expectedMatches', () => {
  for (const [expected, head, matches] of cases) {
    it(`a writer expecting ${String(expected)} ${matches ? 'may' : 'may not'} append to a stream at version ${head}`, () => {
      expect(expectedMatches(expected, head)).toBe(matches);
    });
  }

  it('a second writer with the same expected version gets a conflict', () => {
    let head = 4;
    const expected = 4;

    const first = expectedMatches(expected, head);
    head += 1;
    const second = expectedMatches(expected, head);

    expect(first).toBe(true);
    expect(second).toBe(false);
  });
});
