// Child of bench/takeover.ts: runs the stream index (DESIGN.md §2) until it has caught up with the log,
// when this logfront has one. Feature-detected, so the benchmark runs before and after it lands:
// `startStreamIndex(): Promise<void>`, `streamIndexLag(): Promise<number>` (events behind the log end,
// summed over partitions), stopped by `close()`.
import { createLogfront, type Logfront } from '../app/compose.ts';
import { benchConfig } from './harness.ts';
import { childMain, type IndexParams, type IndexResult } from './takeover-child.ts';

interface StreamIndexApi {
  startStreamIndex(): Promise<void>;
  streamIndexLag(): Promise<number>;
}

const hasStreamIndex = (lf: Logfront): lf is Logfront & StreamIndexApi =>
  'startStreamIndex' in lf &&
  typeof (lf as Partial<StreamIndexApi>).startStreamIndex === 'function' &&
  typeof (lf as Partial<StreamIndexApi>).streamIndexLag === 'function';

await childMain<IndexParams, IndexResult>(async (p) => {
  const lf = await createLogfront(benchConfig(p.name, p.overrides));
  try {
    if (!hasStreamIndex(lf)) return { supported: false };
    const started = performance.now();
    await lf.startStreamIndex();
    const startMs = performance.now() - started;
    for (;;) {
      const lag = await lf.streamIndexLag();
      if (lag === 0) break;
      if (performance.now() - started > p.timeoutMs) {
        throw new Error(`the stream index was still ${lag} events behind after ${p.timeoutMs / 1000} s`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    return { supported: true, seconds: (performance.now() - started) / 1000, startMs };
  } finally {
    await lf.close();
  }
});
