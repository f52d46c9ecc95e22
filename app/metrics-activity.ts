// The metrics of what happens, as it happens: refusals by reason, blob bytes, projection apply time,
// the sequencers' transactions and takeovers, and Node's own process metrics. app/metrics.ts installs
// them next to the state it reads on each scrape.
import type { FastifyInstance } from 'fastify';
import { Counter, collectDefaultMetrics, Gauge, Histogram, type Registry } from 'prom-client';
import type { Logfront } from './compose.ts';

/** the error code of an answer's JSON body (`{"error":"conflict",…}`), or undefined */
export const errorCodeOf = (payload: unknown): string | undefined => {
  if (typeof payload !== 'string') return undefined;
  const m = /^\{"error":"([a-z_]{1,64})"/.exec(payload);
  return m?.[1];
};

const SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export const installActivityMetrics = (app: FastifyInstance, lf: Logfront, registry: Registry) => {
  // Node's process metrics (CPU, memory, event loop lag, GC, handles), under their usual names
  collectDefaultMetrics({ register: registry });

  const refusals = new Counter({
    name: 'logfront_http_errors_total',
    help: 'HTTP answers 4xx and 5xx by method, route, status and error code (version_conflict, dependency_unavailable, staleness_budget_exceeded, …)',
    labelNames: ['method', 'route', 'status', 'code'] as const,
    registers: [registry],
  });
  const blobBytes = new Counter({
    name: 'logfront_blob_bytes_total',
    help: 'blob bytes through the HTTP API, by direction (in: uploads, out: downloads)',
    labelNames: ['direction'] as const,
    registers: [registry],
  });
  app.addHook('onSend', async (request, reply, payload) => {
    if (reply.statusCode >= 400) {
      refusals.inc({
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status: String(reply.statusCode),
        code: errorCodeOf(payload) ?? 'none',
      });
    }
    return payload;
  });
  app.addHook('onResponse', async (request, reply) => {
    if (!request.routeOptions.url?.startsWith('/v1/blobs/') || reply.statusCode >= 300) return;
    if (request.method === 'PUT')
      blobBytes.inc({ direction: 'in' }, Number(request.headers['content-length'] ?? 0));
    if (request.method === 'GET')
      blobBytes.inc({ direction: 'out' }, Number(reply.getHeader('content-length') ?? 0));
  });

  const applySeconds = new Histogram({
    name: 'logfront_projection_apply_seconds',
    help: 'time to apply one batch of events to a projection (its Postgres transaction included), by projection',
    labelNames: ['projection'] as const,
    buckets: SECONDS_BUCKETS,
    registers: [registry],
  });
  const applied = new Counter({
    name: 'logfront_projection_applied_events_total',
    help: 'events a runner of this process applied, by projection',
    labelNames: ['projection'] as const,
    registers: [registry],
  });
  const ownership = new Counter({
    name: 'logfront_sequencer_ownership_changes_total',
    help: 'partitions this process took over as their one writer (a start, or after losing one), by topic',
    labelNames: ['topic'] as const,
    registers: [registry],
  });
  const transaction = new Histogram({
    name: 'logfront_sequencer_transaction_seconds',
    help: "one group-commit batch's Kafka transaction, from begin to commit",
    buckets: SECONDS_BUCKETS,
    registers: [registry],
  });
  const groupEvents = new Histogram({
    name: 'logfront_sequencer_group_commit_events',
    help: 'events in one group-commit transaction',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048],
    registers: [registry],
  });
  const groupBytes = new Histogram({
    name: 'logfront_sequencer_group_commit_bytes',
    help: 'record bytes in one group-commit transaction',
    buckets: [256, 1024, 4096, 16_384, 65_536, 262_144, 1_048_576],
    registers: [registry],
  });
  const queued = new Gauge({
    name: 'logfront_sequencer_queue_appends',
    help: 'appends waiting behind the last transaction, by topic and partition',
    labelNames: ['topic', 'partition'] as const,
    registers: [registry],
  });
  lf.telemetry.listen({
    applied: (b) => {
      applySeconds.observe({ projection: b.projection }, b.seconds);
      applied.inc({ projection: b.projection }, b.events);
    },
    sequencer: (r) => {
      if (r.kind === 'ownership') {
        ownership.inc({ topic: r.topic });
        return;
      }
      transaction.observe(r.seconds);
      groupEvents.observe(r.events);
      groupBytes.observe(r.bytes);
      queued.set({ topic: r.topic, partition: String(r.partition) }, r.queued);
    },
  });
};
