import { describe, expect, it } from 'vitest';
import { progressLine } from '../../app/cli.ts';
import { createProgress, renderProgress } from '../../app/progress.ts';

const clock = () => {
  let t = 1_000_000;
  return { now: () => t, tick: (ms: number) => (t += ms) };
};

describe('progress', () => {
  it('renders a bar, the share, counts, rate and ETA', () => {
    expect(renderProgress({ label: 'x', done: 12_000, total: 30_000, elapsedMs: 1500 })).toBe(
      'x [########------------] 40% 12,000/30,000 events, 8,000 events/s, ETA 3 s',
    );
    expect(renderProgress({ label: 'y', done: 0, total: 0, elapsedMs: 0, unit: 'records' })).toBe(
      'y [####################] 100% 0/0 records, 0 records/s, ETA 0 s',
    );
    expect(renderProgress({ label: 'z', done: 0, total: 5, elapsedMs: 10 })).toMatch(/ 0 events\/s, ETA \?$/);
    expect(progressLine('orders', 2, 5, 10, 1000)).toBe(
      'orders → g2 [##########----------] 50% 5/10 events, 5 events/s, ETA 1 s',
    );
  });

  it('on a terminal, redraws one line in place at most every redrawMs and ends it on finish', () => {
    const c = clock();
    const writes: string[] = [];
    const p = createProgress(
      { tty: { write: (s) => writes.push(s), columns: 30 } },
      { label: 'f', total: 10, now: c.now, redrawMs: 100 },
    );
    p.advance(1);
    p.advance(1); // too soon: not drawn
    c.tick(150);
    p.advance(3);
    p.finish();
    expect(writes).toHaveLength(4);
    // cut to the terminal's width, so the line never wraps
    expect(writes[0]).toBe('\rf [##------------------] 10% \x1b[K');
    expect(writes[1]).toBe('\rf [##########----------] 50% \x1b[K');
    expect(writes[3]).toBe('\n');
  });

  it('on a terminal of unknown width, draws the whole line', () => {
    const writes: string[] = [];
    const p = createProgress({ tty: { write: (s) => writes.push(s) } }, { label: 'f', total: 2 });
    p.advance(2);
    expect(writes[0]!.startsWith('\rf [####################] 100% 2/2 events, ')).toBe(true);
    expect(writes[0]!.endsWith(' events/s, ETA 0 s\x1b[K')).toBe(true);
  });

  it('without a terminal, prints a plain line at most every everyMs, and the last state if it printed any', () => {
    const c = clock();
    const lines: string[] = [];
    const p = createProgress(
      { line: (l) => lines.push(l) },
      { label: 'f', total: 4, now: c.now, everyMs: 2000 },
    );
    p.advance(1);
    c.tick(500);
    p.advance(1);
    c.tick(2000);
    p.update(3, 5);
    p.finish();
    // none in the first everyMs
    expect(lines).toEqual([expect.stringMatching(/ 60% 3\/5 /), expect.stringMatching(/ 60% 3\/5 /)]);

    const quiet: string[] = [];
    const fast = createProgress({ line: (l) => quiet.push(l) }, { label: 'f', total: 1, everyMs: 2000 });
    fast.finish();
    expect(quiet).toEqual([]);
  });

  it('with no sink (--json), draws nothing', () => {
    const p = createProgress({}, { label: 'f', total: 2 });
    p.advance(1);
    p.update(2);
    expect(() => p.finish()).not.toThrow();
  });
});
