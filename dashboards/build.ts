// The Grafana dashboards of dashboards/grafana/, written from the short specs below so that they stay
// alike and use only the metric names the code emits. `node --import tsx dashboards/build.ts` writes
// them; tests/unit/dashboards.test.ts checks the committed JSON is what this writes, and
// tests/integration/prometheus.test.ts that every expression returns data from a running logfront.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Panel {
  title: string;
  /** one PromQL expression a series set; `legend` names its series */
  targets: { expr: string; legend: string }[];
  unit?: string;
  description?: string;
}

export interface Dashboard {
  uid: string;
  title: string;
  description: string;
  panels: Panel[];
}

const APPEND = 'method="POST",route="/v1/streams/:stream/events"';
const ROWS = 'method="GET",route=~"/v1/projections/:name/rows.*"';
const BLOBS = 'route=~"/v1/blobs.*"';
const quantile = (q: number, selector: string, by = '') =>
  `histogram_quantile(${q}, sum by (le${by ? `, ${by}` : ''}) (rate(logfront_http_request_duration_seconds_bucket{${selector}}[5m])))`;

export const DASHBOARDS: Dashboard[] = [
  {
    uid: 'logfront-overview',
    title: 'logfront: overview',
    description: 'The golden signals of every logfront process: traffic, errors, latency, saturation.',
    panels: [
      {
        title: 'Requests by status',
        targets: [{ expr: 'sum by (status) (rate(logfront_http_requests_total[5m]))', legend: '{{status}}' }],
        unit: 'reqps',
      },
      {
        title: 'Error ratio (5xx)',
        targets: [{ expr: 'logfront:slo_errors:ratio_rate5m', legend: '5xx ÷ all' }],
        unit: 'percentunit',
        description: 'SLO: 99.9 % of requests without a 5xx (dashboards/rules/logfront-alerts.yml)',
      },
      {
        title: 'Latency p50 / p99',
        targets: [
          { expr: quantile(0.5, 'route!="/metrics"'), legend: 'p50' },
          { expr: quantile(0.99, 'route!="/metrics"'), legend: 'p99' },
        ],
        unit: 's',
      },
      {
        title: 'Projection staleness',
        targets: [
          { expr: 'max by (projection) (logfront_projection_staleness_seconds)', legend: '{{projection}}' },
        ],
        unit: 's',
      },
      {
        title: 'Event loop lag p99 and resident memory',
        targets: [
          { expr: 'max(nodejs_eventloop_lag_p99_seconds)', legend: 'event loop lag p99 (s)' },
          { expr: 'max(process_resident_memory_bytes) / 1048576', legend: 'RSS (MiB)' },
        ],
      },
      {
        title: 'Dependencies: breaker state (0 closed, 1 half-open, 2 open)',
        targets: [{ expr: 'max by (dependency) (logfront_breaker_state)', legend: '{{dependency}}' }],
      },
    ],
  },
  {
    uid: 'logfront-write-path',
    title: 'logfront: write path',
    description: 'Appends: rate, outcome, latency; the stream index that answers their versions.',
    panels: [
      {
        title: 'Appends by status',
        targets: [
          {
            expr: `sum by (status) (rate(logfront_http_requests_total{${APPEND}}[5m]))`,
            legend: '{{status}}',
          },
        ],
        unit: 'reqps',
        description:
          '201 appended, 200 idempotent repeat, 409 conflict, 429 queue full, 503 dependency or deadline',
      },
      {
        title: 'Append latency',
        targets: [
          { expr: quantile(0.5, APPEND), legend: 'p50' },
          { expr: 'logfront:append_latency_seconds:p99_5m', legend: 'p99' },
        ],
        unit: 's',
      },
      {
        title: 'Append refusals by code',
        targets: [
          {
            expr: `sum by (status, code) (rate(logfront_http_errors_total{${APPEND}}[5m])) or vector(0)`,
            legend: '{{status}} {{code}}',
          },
        ],
        unit: 'reqps',
        description:
          'version_conflict is the caller’s expected version; 429 and 503 say to retry after Retry-After',
      },
      {
        title: 'Group commit: events per transaction, transaction p99',
        targets: [
          {
            expr: 'sum(rate(logfront_sequencer_group_commit_events_sum[5m])) / sum(rate(logfront_sequencer_group_commit_events_count[5m]))',
            legend: 'events per transaction',
          },
          {
            expr: 'histogram_quantile(0.99, sum by (le) (rate(logfront_sequencer_transaction_seconds_bucket[5m])))',
            legend: 'transaction p99 (s)',
          },
        ],
      },
      {
        title: 'Sequencer: appends queued, ownership changes',
        targets: [
          { expr: 'sum(logfront_sequencer_queue_appends)', legend: 'queued' },
          {
            expr: 'sum(increase(logfront_sequencer_ownership_changes_total[5m]))',
            legend: 'takeovers (5 m)',
          },
        ],
      },
      {
        title: 'Appends slower than 250 ms (SLO budget 1 %)',
        targets: [{ expr: 'logfront:slo_append_slow:ratio_rate5m', legend: 'slow ÷ all' }],
        unit: 'percentunit',
      },
      {
        title: 'Stream index lag',
        targets: [{ expr: 'sum by (topic) (logfront_stream_index_lag_events)', legend: '{{topic}}' }],
        description: 'offsets the index has not covered: what a sequencer taking a partition over reads',
      },
      {
        title: 'Kafka retries',
        targets: [
          {
            expr: 'sum by (operation) (rate(logfront_retries_total{dependency="kafka"}[5m])) or vector(0)',
            legend: '{{operation}}',
          },
        ],
        unit: 'ops',
      },
    ],
  },
  {
    uid: 'logfront-projections',
    title: 'logfront: projections and staleness',
    description: 'Each projection: whether it runs, how far behind it is, what it dead-lettered.',
    panels: [
      {
        title: 'Running',
        targets: [{ expr: 'max by (projection) (logfront_projection_running)', legend: '{{projection}}' }],
      },
      {
        title: 'Lag (events)',
        targets: [{ expr: 'max by (projection) (logfront_projection_lag_events)', legend: '{{projection}}' }],
      },
      {
        title: 'Staleness p99 over the last hour',
        targets: [{ expr: 'logfront:projection_staleness_seconds:p99_1h', legend: '{{projection}}' }],
        unit: 's',
        description: 'SLO: p99 ≤ 5 s',
      },
      {
        title: 'Apply: events per second, batch p99',
        targets: [
          {
            expr: 'sum by (projection) (rate(logfront_projection_applied_events_total[5m]))',
            legend: '{{projection}} events/s',
          },
          {
            expr: 'histogram_quantile(0.99, sum by (le, projection) (rate(logfront_projection_apply_seconds_bucket[5m])))',
            legend: '{{projection}} p99 (s)',
          },
        ],
      },
      {
        title: 'Dead letters by state',
        targets: [
          { expr: 'sum by (projection, state) (logfront_dead_letters)', legend: '{{projection}} {{state}}' },
        ],
      },
      {
        title: 'Budgeted reads failing (SLO budget 0.1 %)',
        targets: [{ expr: 'logfront:slo_read_failed:ratio_rate5m', legend: '5xx ÷ row reads' }],
        unit: 'percentunit',
      },
    ],
  },
  {
    uid: 'logfront-cache',
    title: 'logfront: cache',
    description: 'The read cache: hits by tier, misses, errors, and the consistency probe.',
    panels: [
      {
        title: 'Hits by tier and misses',
        targets: [
          { expr: 'sum by (tier) (rate(logfront_cache_hits_total[5m]))', legend: 'hit {{tier}}' },
          { expr: 'sum(rate(logfront_cache_misses_total[5m]))', legend: 'miss' },
        ],
        unit: 'ops',
      },
      {
        title: 'Cache errors by operation',
        targets: [
          {
            expr: 'sum by (operation) (rate(logfront_cache_errors_total[5m])) or vector(0)',
            legend: '{{operation}}',
          },
        ],
        unit: 'ops',
      },
      {
        title: 'Probe mismatches (must stay 0)',
        targets: [{ expr: 'sum(increase(logfront_cache_probe_mismatches_total[1h]))', legend: 'mismatches' }],
      },
      {
        title: 'Row read latency',
        targets: [
          { expr: quantile(0.5, ROWS), legend: 'p50' },
          { expr: 'logfront:read_latency_seconds:p99_5m', legend: 'p99' },
        ],
        unit: 's',
      },
    ],
  },
  {
    uid: 'logfront-blobs',
    title: 'logfront: blobs and archive',
    description: 'Blob uploads and downloads, checksum refusals, and S3 calls.',
    panels: [
      {
        title: 'Blob requests by method and status',
        targets: [
          {
            expr: `sum by (method, status) (rate(logfront_http_requests_total{${BLOBS}}[5m]))`,
            legend: '{{method}} {{status}}',
          },
        ],
        unit: 'reqps',
      },
      {
        title: 'Blob latency p99',
        targets: [{ expr: quantile(0.99, BLOBS, 'method'), legend: '{{method}}' }],
        unit: 's',
      },
      {
        title: 'Blob bytes',
        targets: [
          { expr: 'sum by (direction) (rate(logfront_blob_bytes_total[5m]))', legend: '{{direction}}' },
        ],
        unit: 'Bps',
      },
      {
        title: 'Checksum mismatches (must stay 0)',
        targets: [
          { expr: 'sum(increase(logfront_blob_checksum_mismatches_total[1h]))', legend: 'mismatches' },
        ],
      },
      {
        title: 'S3 retries',
        targets: [
          { expr: 'sum(rate(logfront_retries_total{dependency="s3"}[5m])) or vector(0)', legend: 'retries' },
        ],
        unit: 'ops',
      },
    ],
  },
  {
    uid: 'logfront-dependencies',
    title: 'logfront: dependencies',
    description:
      'Kafka, Postgres, Redis, S3 and the schema registry as logfront sees them: breakers, retries, 503s.',
    panels: [
      {
        title: 'Breaker state (0 closed, 1 half-open, 2 open)',
        targets: [{ expr: 'max by (dependency) (logfront_breaker_state)', legend: '{{dependency}}' }],
      },
      {
        title: 'Breaker transitions',
        targets: [
          {
            expr: 'sum by (dependency, to) (increase(logfront_breaker_transitions_total[5m])) or vector(0)',
            legend: '{{dependency}} → {{to}}',
          },
        ],
      },
      {
        title: 'Retries by dependency',
        targets: [
          {
            expr: 'sum by (dependency) (rate(logfront_retries_total[5m])) or vector(0)',
            legend: '{{dependency}}',
          },
        ],
        unit: 'ops',
      },
      {
        title: '503 answers by route',
        targets: [
          {
            expr: 'sum by (route) (rate(logfront_http_requests_total{status="503"}[5m])) or vector(0)',
            legend: '{{route}}',
          },
        ],
        unit: 'reqps',
      },
      {
        title: 'Audit queue',
        targets: [
          { expr: 'sum(logfront_audit_queued_records)', legend: 'queued' },
          { expr: 'sum(increase(logfront_audit_dropped_total[1h])) or vector(0)', legend: 'dropped (1 h)' },
        ],
      },
    ],
  },
];

/** Grafana's variable syntax, `${name}`, which a plain string would have the linter flag */
const variable = (name: string) => `$${'{'}${name}}`;

/** a dashboard as Grafana imports it: a datasource input, one time-series panel each, two a row */
export const grafanaJson = (d: Dashboard) => ({
  __inputs: [
    {
      name: 'DS_PROMETHEUS',
      label: 'Prometheus',
      type: 'datasource',
      pluginId: 'prometheus',
      pluginName: 'Prometheus',
    },
  ],
  uid: d.uid,
  title: d.title,
  description: d.description,
  tags: ['logfront'],
  timezone: 'utc',
  schemaVersion: 39,
  version: 1,
  editable: true,
  refresh: '30s',
  time: { from: 'now-6h', to: 'now' },
  templating: {
    list: [
      {
        name: 'datasource',
        type: 'datasource',
        query: 'prometheus',
        current: { text: variable('DS_PROMETHEUS'), value: variable('DS_PROMETHEUS') },
      },
    ],
  },
  links: [
    {
      title: 'Runbooks',
      type: 'link',
      url: 'https://github.com/logfront/logfront/blob/main/docs/runbooks.md',
    },
  ],
  panels: d.panels.map((p, i) => ({
    id: i + 1,
    type: 'timeseries',
    title: p.title,
    ...(p.description ? { description: p.description } : {}),
    datasource: { type: 'prometheus', uid: variable('datasource') },
    gridPos: { h: 8, w: 12, x: (i % 2) * 12, y: Math.floor(i / 2) * 8 },
    fieldConfig: { defaults: { ...(p.unit ? { unit: p.unit } : {}) }, overrides: [] },
    options: { legend: { displayMode: 'list', placement: 'bottom' }, tooltip: { mode: 'multi' } },
    targets: p.targets.map((t, j) => ({
      refId: String.fromCharCode(65 + j),
      datasource: { type: 'prometheus', uid: variable('datasource') },
      expr: t.expr,
      legendFormat: t.legend,
    })),
  })),
});

export const fileOf = (d: Dashboard) => `${d.uid.replace(/^logfront-/, '')}.json`;

export const GRAFANA_DIR = join(dirname(fileURLToPath(import.meta.url)), 'grafana');

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const d of DASHBOARDS) {
    writeFileSync(join(GRAFANA_DIR, fileOf(d)), `${JSON.stringify(grafanaJson(d), null, 2)}\n`);
  }
  console.log(`wrote ${DASHBOARDS.length} dashboards to ${GRAFANA_DIR}`);
}
