import { createProgress, renderProgress } from '../progress.ts';
import { clientOf, clientOptions, defineCommand, jsonOption, need, print } from './shared.ts';

/** `orders → g2 [########------------] 40% 12,000/30,000 events, 8,000 events/s, ETA 2 s` */
export const progressLine = (
  name: string,
  generation: number,
  applied: number,
  total: number,
  elapsedMs: number,
) => renderProgress({ label: `${name} → g${generation}`, done: applied, total, elapsedMs });

export const rebuild = defineCommand({
  name: 'rebuild',
  usage: ['rebuild <projection>'],
  does: 'blue/green rebuild with a progress bar',
  help: 'Usage: logfront rebuild <projection> [--json]\n\nStarts a blue/green rebuild on the server and follows it with a progress bar (events/s, ETA) until\nthe new generation is active. The old generation serves reads until the switch.',
  options: { ...jsonOption, ...clientOptions },
  run: async ({ values, positionals }, io) => {
    need('rebuild', positionals, 1, '<projection>');
    const api = clientOf(io, values);
    const name = positionals[0]!;
    const started = await api.rebuild(name);
    const t0 = Date.now();
    // a bar redrawn on a terminal, a line per poll otherwise, nothing with --json
    const progress = createProgress(values.json ? {} : { tty: io.tty, line: io.out }, {
      label: `${name} → g${started.generation}`,
      total: 0,
      everyMs: 0,
    });
    for (;;) {
      await new Promise((r) => setTimeout(r, 500));
      const p = (await api.projections()).projections.find((x) => x.name === name)!;
      const r = p.rebuilding as { generation: number; appliedEvents: number; totalEvents: number } | null;
      if (r && r.generation === started.generation) {
        progress.update(r.appliedEvents, r.totalEvents);
        continue;
      }
      progress.finish();
      if (p.generation === started.generation) {
        const seconds = ((Date.now() - t0) / 1000).toFixed(1);
        print(
          io,
          values.json,
          { ...started, seconds: Number(seconds) },
          () => `${name}: generation ${started.generation} is active (${seconds} s)`,
        );
        return 0;
      }
      throw new Error(
        `the rebuild of ${name} stopped before the switch${p.lastError ? `: ${p.lastError}` : ''}`,
      );
    }
  },
});
