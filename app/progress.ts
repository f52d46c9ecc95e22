// Progress of long work (rebuild, bulk append, replay): a bar redrawn in place on a terminal, a plain
// line now and then for logs and pipes, nothing at all for --json.

/** Where progress goes. Both absent: silent. */
export interface ProgressSink {
  /** a terminal (stderr when it is a TTY): one line redrawn in place */
  readonly tty?: { write(text: string): void; readonly columns?: number } | undefined;
  /** plain lines, at most one per `everyMs` (used when there is no terminal) */
  readonly line?: ((text: string) => void) | undefined;
}

export interface ProgressOptions {
  /** what is progressing, e.g. `orders → g2` or `events.ndjson` */
  readonly label: string;
  readonly total: number;
  /** what is counted (default `events`) */
  readonly unit?: string;
  /** least ms between two plain lines (default 2000; 0: every update) */
  readonly everyMs?: number;
  /** least ms between two redraws on a terminal (default 100) */
  readonly redrawMs?: number;
  readonly now?: () => number;
}

export interface Progress {
  /** `done` more units are finished */
  advance(done: number): void;
  /** the absolute count (and, when it changed, the total) */
  update(done: number, total?: number): void;
  /** the last state, drawn once more; ends the terminal line */
  finish(): void;
}

const n = (x: number) => x.toLocaleString('en-US');

/** `label [########------------] 40% 12,000/30,000 events, 8,000 events/s, ETA 2 s` */
export const renderProgress = (p: {
  label: string;
  done: number;
  total: number;
  elapsedMs: number;
  unit?: string;
}) => {
  const unit = p.unit ?? 'events';
  const share = p.total > 0 ? Math.min(1, p.done / p.total) : 1;
  const bar = '#'.repeat(Math.round(share * 20)).padEnd(20, '-');
  const rate = p.elapsedMs > 0 ? Math.round((p.done / p.elapsedMs) * 1000) : 0;
  const left = Math.max(0, p.total - p.done);
  const eta = left === 0 ? '0 s' : rate > 0 ? `${Math.ceil(left / rate)} s` : '?';
  return `${p.label} [${bar}] ${Math.floor(share * 100)}% ${n(p.done)}/${n(p.total)} ${unit}, ${n(rate)} ${unit}/s, ETA ${eta}`;
};

export const createProgress = (sink: ProgressSink, options: ProgressOptions): Progress => {
  const now = options.now ?? Date.now;
  const started = now();
  const everyMs = options.everyMs ?? 2000;
  const redrawMs = options.redrawMs ?? 100;
  let done = 0;
  let total = options.total;
  // a terminal shows the bar at once; plain lines start after `everyMs`, so quick work prints none
  let lastDraw = sink.tty ? Number.NEGATIVE_INFINITY : started;
  let drawn = false;
  const text = () =>
    renderProgress({
      label: options.label,
      done,
      total,
      elapsedMs: now() - started,
      ...(options.unit ? { unit: options.unit } : {}),
    });
  const draw = (force: boolean) => {
    const t = now();
    if (sink.tty) {
      if (!force && t - lastDraw < redrawMs) return;
      const columns = sink.tty.columns ?? 0;
      const line = text();
      // \r to the line's start, \x1b[K clears what a longer previous line left
      sink.tty.write(`\r${columns > 1 ? line.slice(0, columns - 1) : line}\x1b[K`);
    } else if (sink.line) {
      if (!force && t - lastDraw < everyMs) return;
      sink.line(text());
    } else return;
    lastDraw = t;
    drawn = true;
  };
  return {
    advance: (more) => {
      done += more;
      draw(false);
    },
    update: (absolute, newTotal) => {
      done = absolute;
      if (newTotal !== undefined) total = newTotal;
      draw(false);
    },
    finish: () => {
      if (sink.tty) {
        draw(true);
        sink.tty.write('\n');
      } else if (drawn) draw(true);
    },
  };
};
