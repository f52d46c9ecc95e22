import { describe, expect, it } from 'vitest';
import { pollUntil } from '../../core/poll.ts';

const options = (over = {}) => ({
  waitMs: 1000,
  everyMs: 1,
  retriable: (e: unknown) => (e as Error).message === 'not yet',
  timeoutMessage: 'timed out',
  ...over,
});

describe('pollUntil', () => {
  it('tries until the attempt gives a value, through retriable errors', async () => {
    let n = 0;
    const value = await pollUntil(async () => {
      n += 1;
      if (n === 1) throw new Error('not yet');
      return n < 3 ? undefined : 'there';
    }, options());
    expect({ value, n }).toEqual({ value: 'there', n: 3 });
  });

  it('ends on an error that is not retriable', async () => {
    await expect(
      pollUntil(async () => {
        throw new Error('broken');
      }, options()),
    ).rejects.toThrow('broken');
  });

  it('gives up with the timeout error once waitMs have passed', async () => {
    let clock = 0;
    let n = 0;
    await expect(
      pollUntil(
        async () => {
          n += 1;
          clock += 400;
          return undefined;
        },
        options({ now: () => clock }),
      ),
    ).rejects.toThrow('timed out');
    expect(n).toBe(3);
  });

  it('gives up as soon as the clock reaches the deadline, without another attempt', async () => {
    const clock = [0, 1000, 1001];
    let n = 0;
    await expect(
      pollUntil(
        async () => {
          n += 1;
          return undefined;
        },
        options({ now: () => clock.shift() ?? 2000 }),
      ),
    ).rejects.toThrow('timed out');
    expect(n).toBe(1);
  });
});
