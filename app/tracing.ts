// Tracing: OpenTelemetry's Node SDK with the OTLP/HTTP exporter and the official instrumentations of
// the HTTP server, pg, ioredis and the AWS SDK, started only when the standard OTEL_* variables ask for
// it. logfront's own spans (core/tracing.ts) use @opentelemetry/api alone; without this they are
// no-ops. bin/logfront.js starts it before anything else is loaded, so the instrumentations see the
// modules they patch being loaded. See docs/observability.md ("Traces").

type Env = Record<string, string | undefined>;

/** whether the environment asks for traces: an OTLP endpoint, or OTEL_TRACES_EXPORTER=otlp */
export const wantsTracing = (env: Env): boolean => {
  if (env.OTEL_SDK_DISABLED?.toLowerCase() === 'true') return false;
  const exporter = env.OTEL_TRACES_EXPORTER?.trim().toLowerCase();
  if (exporter) return exporter !== 'none';
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
};

/** routes whose requests are not worth a trace: probes and scrapes, many a minute */
const QUIET = new Set(['/healthz', '/readyz', '/metrics']);

/** a request to a probe or the metrics, which gets no trace */
export const quietRequest = (url: string | undefined) => QUIET.has((url ?? '').split('?')[0]!);

let shutdown: (() => Promise<void>) | undefined;

/** starts the SDK when the environment asks for traces; returns whether it did */
export const startTracing = async (env: Env): Promise<boolean> => {
  if (shutdown || !wantsTracing(env)) return Boolean(shutdown);
  const [{ NodeSDK }, { OTLPTraceExporter }, http, pg, ioredis, aws] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/instrumentation-http'),
    import('@opentelemetry/instrumentation-pg'),
    import('@opentelemetry/instrumentation-ioredis'),
    import('@opentelemetry/instrumentation-aws-sdk'),
  ]);
  const sdk = new NodeSDK({
    serviceName: env.OTEL_SERVICE_NAME ?? 'logfront',
    traceExporter: new OTLPTraceExporter(),
    instrumentations: [
      new http.HttpInstrumentation({ ignoreIncomingRequestHook: (request) => quietRequest(request.url) }),
      new pg.PgInstrumentation({ requireParentSpan: true }),
      new ioredis.IORedisInstrumentation({ requireParentSpan: true }),
      new aws.AwsInstrumentation({ suppressInternalInstrumentation: true }),
    ],
  });
  sdk.start();
  const { resetTracingProbe } = await import('../core/tracing.ts');
  resetTracingProbe();
  shutdown = () => sdk.shutdown();
  return true;
};

/** flushes and stops the SDK, when it was started (the spans of the last moments are exported) */
export const stopTracing = async () => {
  const stop = shutdown;
  shutdown = undefined;
  await stop?.().catch(() => {});
};
