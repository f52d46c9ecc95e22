import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { DeadLetterKind, DeadLetterState } from '../core/ports.ts';
import { projectionSummaries } from '../core/read/status.ts';
import { BREAKER_LEVEL } from '../core/resilience/breaker.ts';
import type { Logfront } from './compose.ts';
import { installActivityMetrics } from './metrics-activity.ts';
import { routes, serve } from './routes.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** the process's Prometheus registry (GET /metrics; app/metrics-doc.ts writes docs/metrics.md from it) */
    metricsRegistry: Registry;
  }
}

const LETTER_KINDS: readonly DeadLetterKind[] = ['handler', 'column', 'rows', 'decode', 'upcast'];
const LETTER_STATES: readonly DeadLetterState[] = ['pending', 'retried', 'skipped'];

/**
 * Prometheus metrics of one process, served at GET /metrics. Names are what dashboards and alert
 * rules use: logfront_http_requests_total, logfront_http_request_duration_seconds,
 * logfront_projection_lag_events, logfront_projection_staleness_seconds,
 * logfront_projection_dead_letters, logfront_projection_running, logfront_cache_hits_total,
 * logfront_cache_misses_total, logfront_cache_errors_total, logfront_cache_probe_mismatches_total,
 * logfront_blob_checksum_mismatches_total, logfront_stream_index_lag_events, logfront_kafka_fast_path,
 * logfront_audit_dropped_total, logfront_audit_queued_records, logfront_breaker_state,
 * logfront_breaker_transitions_total, logfront_retries_total, logfront_archive_holes_total.
 */
export const installMetrics = (app: FastifyInstance, lf: Logfront) => {
  const registry = new Registry();
  installActivityMetrics(app, lf, registry);
  const requests = new Counter({
    name: 'logfront_http_requests_total',
    help: 'HTTP requests answered, by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'logfront_http_request_duration_seconds',
    help: 'HTTP request latency, by method and route',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const gauge = (name: string, help: string) =>
    new Gauge({ name, help, labelNames: ['projection'] as const, registers: [registry] });
  const lag = gauge('logfront_projection_lag_events', 'records in the log the projection has not applied');
  const staleness = gauge(
    'logfront_projection_staleness_seconds',
    'upper bound of the age of the oldest unapplied event',
  );
  const deadLetters = gauge(
    'logfront_projection_dead_letters',
    'events the projection sent to its dead-letter topic',
  );
  const letters = new Gauge({
    name: 'logfront_dead_letters',
    help: 'dead letters by projection, kind (handler, column, rows, decode, upcast) and state (pending, retried, skipped)',
    labelNames: ['projection', 'kind', 'state'] as const,
    registers: [registry],
  });
  const running = gauge('logfront_projection_running', '1 when a runner applies the projection, 0 otherwise');

  const indexLag = new Gauge({
    name: 'logfront_stream_index_lag_events',
    help: 'offsets of the log the stream index has not covered yet, by topic and partition (a takeover reads them)',
    labelNames: ['topic', 'partition'] as const,
    registers: [registry],
  });

  new Gauge({
    name: 'logfront_kafka_fast_path',
    help: "1 when logfront's kafkajs fast path runs in this process (produce_encoder, record_decoder), 0 when kafkajs's own code does",
    labelNames: ['path'] as const,
    registers: [registry],
    collect() {
      // embedded: no kafkajs in the process, so none of its fast paths
      const paths = lf.kafkaFastPaths?.();
      this.set({ path: 'produce_encoder' }, paths?.produceEncoder ? 1 : 0);
      this.set({ path: 'record_decoder' }, paths?.recordDecoder ? 1 : 0);
    },
  });

  const counts = lf.cacheCounts;
  const total = (
    name: string,
    help: string,
    labelNames: string[],
    read: () => [Record<string, string>, number][],
  ) =>
    new Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        for (const [labels, value] of read()) this.inc(labels, value);
      },
    });
  total(
    'logfront_cache_hits_total',
    'reads answered from the cache, by tier (memory: the process LRU; shared: Redis)',
    ['tier'],
    () => Object.entries(counts.hits).map(([tier, n]) => [{ tier }, n]),
  );
  total('logfront_cache_misses_total', 'reads the cache could not answer', [], () => [[{}, counts.misses]]);
  total(
    'logfront_cache_errors_total',
    'cache operations that failed (the read went to the store)',
    ['operation'],
    () => Object.entries(counts.errors).map(([operation, n]) => [{ operation }, n]),
  );
  total(
    'logfront_cache_probe_mismatches_total',
    'strong reads that found a cached row different from the store (repaired, never returned)',
    [],
    () => [[{}, counts.mismatches]],
  );

  total(
    'logfront_blob_checksum_mismatches_total',
    'blob reads whose stored bytes did not match their SHA-256 (never served as good data)',
    [],
    () => [[{}, lf.blobCounts.checksumMismatches]],
  );

  total(
    'logfront_archive_holes_total',
    'ranges of the log neither Kafka nor the archive holds, found (each once)',
    [],
    () => [[{}, lf.archiveHoles.count()]],
  );
  total(
    'logfront_audit_dropped_total',
    'audit records the best-effort queue dropped (full, or the process stopped before the audit log took them), by action',
    ['action'],
    () => Object.entries(lf.audit.counts.dropped).map(([action, n]) => [{ action }, n]),
  );
  new Gauge({
    name: 'logfront_audit_queued_records',
    help: 'audit records waiting in the best-effort queue for the audit log',
    registers: [registry],
    collect() {
      this.set(lf.audit.counts.queued());
    },
  });

  // the resilience layer (docs/resilience.md): breakers by dependency, their transitions, retries
  new Gauge({
    name: 'logfront_breaker_state',
    help: "the dependency's circuit breaker: 0 closed, 1 half-open, 2 open (calls refused at once with 503)",
    labelNames: ['dependency'] as const,
    registers: [registry],
    collect() {
      for (const { dependency, state } of lf.resilience.states()) {
        this.set({ dependency }, BREAKER_LEVEL[state]);
      }
    },
  });
  total(
    'logfront_breaker_transitions_total',
    'changes of state of a circuit breaker, by dependency, from and to (closed, open, half_open)',
    ['dependency', 'from', 'to'],
    () => lf.resilience.transitions().map(({ count, ...labels }) => [labels, count]),
  );
  total(
    'logfront_retries_total',
    'attempts made again after a dependency failed, by dependency and operation',
    ['dependency', 'operation'],
    () => lf.resilience.retries().map(({ count, ...labels }) => [labels, count]),
  );

  // a client that went away before its answer (a waiting read it gave up on): counted as 499
  app.addHook('onRequestAbort', async (request) => {
    requests.inc({ method: request.method, route: request.routeOptions.url ?? 'unmatched', status: '499' });
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    requests.inc({ method: request.method, route, status: String(reply.statusCode) });
    latency.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });

  // what the store and the log say: gauges of projections, dead letters and the index's lag
  const fromStore = async () => {
    for (const p of await projectionSummaries(
      lf.store,
      lf.log,
      lf.domain.projections,
      undefined,
      lf.archiveHoles,
    )) {
      lag.set({ projection: p.name }, p.lagEvents);
      staleness.set({ projection: p.name }, p.stalenessMs / 1000);
      deadLetters.set({ projection: p.name }, p.deadLettered);
      running.set({ projection: p.name }, p.state === 'running' ? 1 : 0);
    }
    letters.reset();
    // every projection's every kind and state, 0 when it has none: an alert on `state="pending"`
    // then reads 0, not an absent series
    for (const { name: projection } of lf.domain.projections) {
      for (const kind of LETTER_KINDS) {
        for (const state of LETTER_STATES) letters.set({ projection, kind, state }, 0);
      }
    }
    for (const c of await lf.store.deadLetterCounts()) {
      letters.set({ projection: c.projection, kind: c.kind, state: c.state }, c.count);
    }
    if (lf.streamIndex) {
      for (const p of (await lf.streamIndex.indexer.lag()).partitions) {
        indexLag.set({ topic: p.topic, partition: String(p.partition) }, p.events);
      }
    }
  };

  serve(app, routes.metrics, async (_request, reply) => {
    // a dependency that is down leaves those gauges out (none is better than a stale one); the rest,
    // the breakers first, is what an operator needs most just then
    await fromStore().catch((err: unknown) => {
      for (const g of [lag, staleness, deadLetters, running, letters, indexLag]) g.reset();
      lf.logger.warn(
        { err },
        '/metrics: projection and stream index gauges left out, their store did not answer',
      );
    });
    return reply.header('content-type', registry.contentType).send(await registry.metrics());
  });
  return registry;
};
