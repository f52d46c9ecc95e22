import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DASHBOARDS, fileOf, GRAFANA_DIR, grafanaJson } from '../../dashboards/build.ts';
import { anchorsOf, expressionsToCheck, headingAnchor, readRules } from '../support/rules.ts';

const ROOT = join(import.meta.dirname, '..', '..');

describe('dashboards/', () => {
  it('has the committed Grafana JSON that dashboards/build.ts writes', () => {
    for (const d of DASHBOARDS) {
      const committed = JSON.parse(readFileSync(join(GRAFANA_DIR, fileOf(d)), 'utf8'));
      expect(committed, `${fileOf(d)}: run node --import tsx dashboards/build.ts`).toEqual(grafanaJson(d));
    }
  });

  it('has the dashboards the issue lists: overview, write path, projections, cache, blobs, dependencies', () => {
    expect(DASHBOARDS.map((d) => d.uid)).toEqual([
      'logfront-overview',
      'logfront-write-path',
      'logfront-projections',
      'logfront-cache',
      'logfront-blobs',
      'logfront-dependencies',
    ]);
  });

  it('links every alert to a runbook section that exists', () => {
    const alerts = readRules().filter((r) => r.alert);
    expect(alerts.length).toBeGreaterThanOrEqual(10);
    const anchors = anchorsOf(readFileSync(join(ROOT, 'docs', 'runbooks.md'), 'utf8'));
    for (const a of alerts) {
      const url = a.annotations?.runbook_url ?? '';
      const [file, anchor] = url.split('#');
      expect(file, `${a.alert}: runbook_url`).toBe('docs/runbooks.md');
      expect(anchors.has(anchor!), `${a.alert}: no section #${anchor} in docs/runbooks.md`).toBe(true);
    }
  });

  it('uses only metric names app/metrics.ts emits, or recording rules defined in dashboards/rules', () => {
    const source = ['metrics.ts', 'metrics-activity.ts']
      .map((f) => readFileSync(join(ROOT, 'app', f), 'utf8'))
      .join('\n');
    const emitted = new Set([...source.matchAll(/'(logfront_[a-z_]+)'/g)].map((m) => m[1]!));
    const recorded = new Set(readRules().flatMap((r) => (r.record ? [r.record] : [])));
    const used = new Set(
      expressionsToCheck().flatMap(({ expr }) =>
        [...expr.matchAll(/\b(logfront[:_][a-z_:0-9]+)/g)].map((m) => m[1]!),
      ),
    );
    for (const name of used) {
      const base = name.replace(/_(bucket|count|sum)$/, '');
      expect(emitted.has(base) || recorded.has(name), `${name} is neither emitted nor recorded`).toBe(true);
    }
  });

  it('reads an alert expression down to its operands', () => {
    const parts = expressionsToCheck().filter((e) => e.where === 'alert LogfrontErrorBudgetBurn');
    expect(parts.map((p) => p.expr)).toEqual([
      'logfront:slo_errors:ratio_rate1h',
      'logfront:slo_errors:ratio_rate5m',
    ]);
    expect(headingAnchor('Broker down (Kafka)')).toBe('broker-down-kafka');
  });
});
