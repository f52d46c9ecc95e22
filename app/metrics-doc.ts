// docs/metrics.md, written from the metrics registry itself: every series a logfront process exports,
// its type, labels and meaning. `node --import tsx dashboards/metrics-doc.ts` rewrites the file;
// tests/integration/metrics-doc.embedded.test.ts checks it is current and matches GET /metrics.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Registry } from 'prom-client';

interface Described {
  name: string;
  help: string;
  type: string;
  labelNames: readonly string[];
}

const cell = (s: string) => s.replace(/\|/g, '\\|');

/** the document: logfront's series in a table, Node's process metrics named once */
export const metricsDoc = (registry: Registry): string => {
  const all = registry.getMetricsAsArray() as unknown as Described[];
  const ours = all.filter((m) => m.name.startsWith('logfront_')).sort((a, b) => a.name.localeCompare(b.name));
  const node = all.filter((m) => !m.name.startsWith('logfront_')).map((m) => `\`${m.name}\``);
  return `# Metrics

<!-- written by app/metrics-doc.ts from the metrics registry: do not edit by hand -->

Every logfront process serves these at \`GET /metrics\` (Prometheus text format). Counters end in
\`_total\`, durations are in seconds (\`_seconds\`), sizes in bytes. The dashboards and rules of
\`dashboards/\` use exactly these names ([observability](observability.md)); what to do when one moves is
in the [runbooks](runbooks.md).

| metric | type | labels | meaning |
|---|---|---|---|
${ours.map((m) => `| \`${m.name}\` | ${m.type} | ${m.labelNames.map((l) => `\`${l}\``).join(', ')} | ${cell(m.help)} |`).join('\n')}

Node's process metrics (prom-client's defaults: CPU, memory, event loop lag, garbage collection, handles):
${node.join(', ')}.
`;
};

export const METRICS_DOC = join(dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'metrics.md');
