// What the fuzzer found, how it prints, and the shape of the list of known, still open findings.
import type { FuzzReport } from './run.ts';
import type { Answer, Wire } from './send.ts';

export interface Finding {
  kind:
    | 'status_5xx'
    | 'error_shape'
    | 'answer_shape'
    | 'stack_trace'
    | 'no_answer'
    | 'connection'
    | 'accepted_invalid'
    | 'append_answer'
    | 'idempotency'
    | 'log'
    | 'projection'
    | 'fold'
    | 'dead_letters'
    | 'note';
  target: 'embedded' | 'services';
  /** the route label (`POST /v1/streams/:stream/events`), or the final check's name */
  route: string;
  /** the class of request (`NUL in data`, `fromVersion=3000000000`) */
  why: string;
  detail: string;
  request: string;
  answer: string;
  status: number;
  /** the answer's `error`, if it had one */
  code: string;
  /** a fold difference: per row, the stored and the folded value */
  pairs?: { key: string; stored: unknown; folded: unknown }[];
}

/**
 * A finding the fuzzer knows of and that is not fixed yet: excluded from the assertions (and counted
 * in the summary) until the fix lands; then its entry is deleted. Each names its issue.
 */
export interface KnownOpen {
  /** the issue, the place to fix and what is wrong, in one line */
  issue: string;
  /** only on these targets (default both) */
  targets?: readonly ('embedded' | 'services')[];
  matches(f: Finding): boolean;
}

const clip = (text: string, max: number) =>
  text.length > max ? `${text.slice(0, max)}… (${text.length} characters)` : text;

/** JSON.stringify, so NUL, lone surrogates and control characters print as escapes */
const shown = (text: string, max: number) => JSON.stringify(clip(text, max));

export const requestText = (wire: Wire) => {
  if (wire.raw) return `raw bytes ${shown(wire.raw.toString('latin1'), 300)}`;
  const headers = Object.entries(wire.headers ?? {})
    .map(([k, v]) => `${k}: ${clip(String(v), 80)}`)
    .join('; ');
  const body =
    wire.body === undefined
      ? ''
      : typeof wire.body === 'string'
        ? ` body ${shown(wire.body, 400)}`
        : ` body <${wire.body.length} bytes>`;
  return `${wire.method} ${clip(wire.path, 300)}${headers ? ` [${headers}]` : ''}${body}${wire.chunked ? ' (chunked)' : ''}`;
};

export const answerText = (answer: Answer) =>
  answer.status
    ? `${answer.status} ${clip(answer.body, 400)}${answer.note ? ` (${answer.note})` : ''}`
    : `no answer (${answer.failure ?? 'closed'}) after ${Math.round(answer.ms)} ms`;

/**
 * findings that are likely the same bug: an answer out of shape by its status and body (whatever asked
 * for it), anything else by its kind, route, status, code and class of request (headers aside)
 */
const signature = (f: Finding) =>
  f.kind === 'error_shape'
    ? [f.kind, f.target, f.status, f.answer.slice(0, 80)].join(' | ')
    : [
        f.kind,
        f.target,
        f.route,
        f.status,
        f.code,
        f.why.replace(/; headers .*/, '').replace(/\d+/g, 'N'),
      ].join(' | ');

export const groupFindings = (findings: readonly Finding[]) => {
  const groups = new Map<string, { count: number; first: Finding }>();
  for (const f of findings) {
    const key = signature(f);
    const g = groups.get(key);
    if (g) g.count += 1;
    else groups.set(key, { count: 1, first: f });
  }
  return [...groups.values()].sort((a, b) => b.count - a.count);
};

export const formatFinding = (f: Finding, count = 1) =>
  [
    `  [${f.kind}] ${f.route} — ${f.why}${count > 1 ? ` (×${count})` : ''}`,
    `    ${f.detail}`,
    ...(f.request ? [`    request: ${f.request}`] : []),
    ...(f.answer ? [`    answer:  ${f.answer}`] : []),
  ].join('\n');

const table = (map: Map<string, number>) =>
  [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');

/** the run in a few lines: the seed, the numbers, and every finding (grouped) with an example */
export const formatReport = (target: string, report: FuzzReport) => {
  const lines = [
    `[fuzz ${target}] seed=${report.seed} requests=${report.requests} in ${(report.ms / 1000).toFixed(1)} s ` +
      `(${Math.round(report.requests / (report.ms / 1000))}/s) 5xx=${report.fiveHundreds} ` +
      `findings=${report.findings.length} known-open=${[...report.known.values()].reduce((n, l) => n + l.length, 0)}`,
    `  replay: LOGFRONT_FUZZ_SEED=${report.seed} LOGFRONT_FUZZ_RUNS=${report.requests}`,
    `  by status: ${table(report.byStatus)}`,
    `  by intent: ${table(report.byIntent)}`,
    `  by route: ${table(report.byRoute)}`,
    ...report.stats.map((line) => `  ${line}`),
  ];
  for (const [known, list] of report.known) lines.push(`  known open (×${list.length}): ${known.issue}`);
  const notes = groupFindings(report.notes);
  if (notes.length) {
    lines.push(`  notes (not failures): ${report.notes.length}`);
    for (const g of notes.slice(0, 12)) lines.push(formatFinding(g.first, g.count));
  }
  const groups = groupFindings(report.findings);
  if (groups.length) {
    lines.push(`  FINDINGS: ${report.findings.length} in ${groups.length} groups`);
    for (const g of groups.slice(0, 40)) lines.push(formatFinding(g.first, g.count));
    if (groups.length > 40) lines.push(`  … and ${groups.length - 40} more groups`);
  }
  return lines.join('\n');
};
