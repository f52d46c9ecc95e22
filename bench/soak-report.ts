// The soak's HTML report: the SLO verdicts, then plots over time (inline SVG, no script, no library):
// operations per second, p99 latency, staleness and errors, with the fault windows shaded.

interface Series {
  label: string;
  color: string;
  points: { t: number; v: number }[];
}

export interface SoakResult {
  date: string;
  params: { seconds: number; rate: number; budgetMs: number; chaos: boolean };
  slos: { slo: string; objective: string; measured: string; met: boolean }[];
  checks: { check: string; measured: string; ok: boolean }[];
  faults: { fault: string; from: number; to: number }[];
  totals: { operations: number; shed: number; outcomes: Record<string, number> };
  series: {
    seconds: {
      t: number;
      ops: Record<string, number>;
      errors: number;
      p99: Record<string, number | undefined>;
      maxStalenessMs: number;
    }[];
    staleness: { t: number; ms: number }[];
  };
  ok: boolean;
}

const html = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const W = 900;
const H = 220;
const PAD = { left: 60, right: 120, top: 15, bottom: 30 };

/** one line chart: each series a polyline, fault windows as grey bands, axes with a few ticks */
export const chart = (
  title: string,
  unit: string,
  series: Series[],
  seconds: number,
  faults: SoakResult['faults'],
) => {
  const maxV = Math.max(1, ...series.flatMap((s) => s.points.map((p) => p.v)));
  const x = (t: number) => PAD.left + (t / Math.max(1, seconds)) * (W - PAD.left - PAD.right);
  const y = (v: number) => H - PAD.bottom - (v / maxV) * (H - PAD.top - PAD.bottom);
  const bands = faults
    .map(
      (f) =>
        `<rect x="${x(f.from).toFixed(1)}" y="${PAD.top}" width="${Math.max(1, x(f.to) - x(f.from)).toFixed(1)}" height="${H - PAD.top - PAD.bottom}" fill="#eee"><title>${html(f.fault)}</title></rect>`,
    )
    .join('');
  const lines = series
    .filter((s) => s.points.length)
    .map(
      (s) =>
        `<polyline fill="none" stroke="${s.color}" stroke-width="1.5" points="${s.points.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' ')}"/>`,
    )
    .join('');
  const legend = series
    .map(
      (s, i) =>
        `<text x="${W - PAD.right + 10}" y="${PAD.top + 14 * (i + 1)}" fill="${s.color}" font-size="12">${html(s.label)}</text>`,
    )
    .join('');
  const ticks = [0, 0.5, 1]
    .map(
      (f) =>
        `<text x="${PAD.left - 6}" y="${y(maxV * f) + 4}" text-anchor="end" font-size="11">${Math.round(maxV * f)}</text>`,
    )
    .join('');
  const xticks = [0, 0.25, 0.5, 0.75, 1]
    .map(
      (f) =>
        `<text x="${x(seconds * f)}" y="${H - 10}" text-anchor="middle" font-size="11">${Math.round(seconds * f)} s</text>`,
    )
    .join('');
  return `<h2>${html(title)}</h2>
<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" role="img" aria-label="${html(title)}">
<rect width="${W}" height="${H}" fill="white"/>${bands}
<line x1="${PAD.left}" y1="${H - PAD.bottom}" x2="${W - PAD.right}" y2="${H - PAD.bottom}" stroke="#888"/>
<line x1="${PAD.left}" y1="${PAD.top}" x2="${PAD.left}" y2="${H - PAD.bottom}" stroke="#888"/>
<text x="12" y="${PAD.top + 10}" font-size="11">${html(unit)}</text>${ticks}${xticks}${lines}${legend}
</svg>`;
};

const COLORS: Record<string, string> = { append: '#1f77b4', read: '#2ca02c', blob: '#ff7f0e' };

export const renderReport = (r: SoakResult): string => {
  const s = r.series.seconds;
  const per = (kind: string, pick: (x: (typeof s)[number]) => number | undefined) => ({
    label: kind,
    color: COLORS[kind] ?? '#333',
    points: s.flatMap((x) => {
      const v = pick(x);
      return v === undefined ? [] : [{ t: x.t, v }];
    }),
  });
  const kinds = ['append', 'read', 'blob'];
  const rows = (cells: string[][]) =>
    cells.map((c) => `<tr>${c.map((x) => `<td>${x}</td>`).join('')}</tr>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>logfront soak ${html(r.date)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:960px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}.ok{color:#2a2}.bad{color:#c22;font-weight:bold}</style>
</head><body>
<h1>logfront soak: ${r.ok ? '<span class="ok">every SLO met</span>' : '<span class="bad">SLO missed or check failed</span>'}</h1>
<p>${html(r.date)} · ${r.params.seconds} s at ${r.params.rate} operations/s · read budget ${r.params.budgetMs} ms · chaos ${r.params.chaos ? 'on' : 'off'} · ${r.totals.operations} operations, ${r.totals.shed} shed</p>
<table><tr><th>SLO</th><th>objective</th><th>measured</th><th></th></tr>
${rows(r.slos.map((x) => [html(x.slo), html(x.objective), html(x.measured), x.met ? '<span class="ok">met</span>' : '<span class="bad">missed</span>']))}
</table>
<table style="margin-top:1em"><tr><th>check</th><th>measured</th><th></th></tr>
${rows(r.checks.map((x) => [html(x.check), html(x.measured), x.ok ? '<span class="ok">ok</span>' : '<span class="bad">failed</span>']))}
</table>
${r.faults.length ? `<p>Faults (shaded below): ${r.faults.map((f) => `${html(f.fault)} ${f.from}–${f.to} s`).join('; ')}</p>` : ''}
${chart(
  'Operations answered per second',
  'ops/s',
  kinds.map((k) => per(k, (x) => x.ops[k])),
  r.params.seconds,
  r.faults,
)}
${chart(
  'p99 latency per second',
  'ms',
  kinds.map((k) => per(k, (x) => x.p99[k])),
  r.params.seconds,
  r.faults,
)}
${chart(
  'Staleness of the orders projection',
  'ms',
  [
    { label: 'projection', color: '#9467bd', points: r.series.staleness.map((p) => ({ t: p.t, v: p.ms })) },
    { label: 'max read', color: '#8c564b', points: s.map((x) => ({ t: x.t, v: x.maxStalenessMs })) },
  ],
  r.params.seconds,
  r.faults,
)}
${chart('Answers other than 2xx per second', 'count', [{ label: 'not 2xx', color: '#d62728', points: s.map((x) => ({ t: x.t, v: x.errors })) }], r.params.seconds, r.faults)}
<h2>Outcomes</h2><table><tr><th>kind and answer</th><th>count</th></tr>
${rows(
  Object.entries(r.totals.outcomes)
    .sort()
    .map(([k, n]) => [html(k), String(n)]),
)}
</table>
</body></html>
`;
};
