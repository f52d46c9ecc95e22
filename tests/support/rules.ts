// The Prometheus rules and dashboards of dashboards/, read as data: each rule with its expression, and
// the expressions a live Prometheus must answer with data (tests/integration/prometheus.test.ts).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { DASHBOARDS } from '../../dashboards/build.ts';

export const RULES_DIR = join(import.meta.dirname, '..', '..', 'dashboards', 'rules');

export interface Rule {
  file: string;
  group: string;
  record?: string;
  alert?: string;
  expr: string;
  annotations?: Record<string, string>;
}

export const ruleFiles = () =>
  readdirSync(RULES_DIR)
    .filter((f) => f.endsWith('.yml'))
    .map((f) => join(RULES_DIR, f));

export const readRules = (): Rule[] =>
  ruleFiles().flatMap((file) => {
    const doc = parse(readFileSync(file, 'utf8')) as {
      groups: { name: string; rules: Omit<Rule, 'file' | 'group'>[] }[];
    };
    return doc.groups.flatMap((g) => g.rules.map((r) => ({ ...r, file, group: g.name })));
  });

/**
 * What must return data from a running logfront: each recording rule's expression, each dashboard
 * target, and each alert's expression without its thresholds (an alert's own expression is empty
 * while all is well: its operands are not). `a > x and b > y` gives `a` and `b`.
 */
export const expressionsToCheck = (): { where: string; expr: string }[] => {
  const out: { where: string; expr: string }[] = [];
  for (const r of readRules()) {
    if (r.record) out.push({ where: `rule ${r.record}`, expr: r.expr });
    else {
      for (const part of r.expr.split(/\s+and\s+/)) {
        const operand = part.replace(/\s*(>|==|<)\s*(\(.*\)|[\d.]+)\s*$/, '').trim();
        out.push({ where: `alert ${r.alert}`, expr: operand });
      }
    }
  }
  for (const d of DASHBOARDS) {
    for (const p of d.panels) {
      for (const t of p.targets) out.push({ where: `dashboard ${d.uid} / ${p.title}`, expr: t.expr });
    }
  }
  return out;
};

/** GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces to hyphens */
export const headingAnchor = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');

/** the anchors a Markdown file defines: its headings' and its explicit `<a id="…">` ones */
export const anchorsOf = (markdown: string) => {
  const anchors = new Set<string>();
  for (const line of markdown.split('\n')) {
    const h = /^#{1,6}\s+(.*)$/.exec(line);
    if (h) anchors.add(headingAnchor(h[1]!));
    for (const m of line.matchAll(/<a id="([^"]+)"><\/a>/g)) anchors.add(m[1]!);
  }
  return anchors;
};
