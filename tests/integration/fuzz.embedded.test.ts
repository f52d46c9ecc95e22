// The HTTP fuzzer (issue 13) against the embedded default: thousands of generated requests over
// every route, then the log and the projections held against them. Settings: LOGFRONT_FUZZ_RUNS
// (requests, default 5000), LOGFRONT_FUZZ_SEED (printed every run; set it to replay one),
// LOGFRONT_FUZZ_CONCURRENCY (requests in flight, default 12). Known open findings: tests/support/fuzz/known-open.ts.
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogfront, type Logfront } from '../../app/compose.ts';
import { createHttpServer } from '../../app/http.ts';
import { createLogger } from '../../app/logger.ts';
import { formatFinding, formatReport } from '../support/fuzz/findings.ts';
import { KNOWN_OPEN } from '../support/fuzz/known-open.ts';
import { fuzzOptions, runFuzz } from '../support/fuzz/run.ts';
import { embeddedConfig, uniqueId } from '../support/services.ts';

const LIMITS = { maxAppendBytes: 16_384, maxAppendEvents: 10, maxBlobBytes: 65_536 };

describe('HTTP fuzzer on the embedded default', () => {
  let lf: Logfront;
  let app: FastifyInstance;
  let url: string;
  const serverErrors: string[] = [];
  beforeAll(async () => {
    const config = embeddedConfig({
      LOGFRONT_MAX_APPEND_BYTES: String(LIMITS.maxAppendBytes),
      LOGFRONT_MAX_APPEND_EVENTS: String(LIMITS.maxAppendEvents),
      LOGFRONT_MAX_BLOB_BYTES: String(LIMITS.maxBlobBytes),
      LOGFRONT_READ_WAIT_MS: '1000',
    });
    // the server's error lines are kept, to print next to a 5xx
    const logger = createLogger('error', { write: (line: string) => void serverErrors.push(line) });
    lf = await createLogfront(config, { logger });
    await lf.startRunners();
    app = createHttpServer(lf);
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await app?.close();
    await lf?.close();
  });

  it('no request gets a 5xx or an error out of shape; refused appends leave nothing; the projections equal a fold of the log', async () => {
    const options = fuzzOptions(5000, uniqueId());
    console.log(
      `[fuzz embedded] seed=${options.seed} runs=${options.runs} concurrency=${options.concurrency}`,
    );
    const report = await runFuzz(
      {
        name: 'embedded',
        url,
        log: lf.log,
        store: lf.store,
        projections: lf.domain.projections,
        limits: { ...LIMITS, bodyLimit: app.initialConfig.bodyLimit ?? 0 },
        serverErrors: () => serverErrors,
      },
      options,
      KNOWN_OPEN,
    );
    console.log(formatReport('embedded', report));
    expect(report.requests).toBeGreaterThanOrEqual(options.runs);
    expect(
      report.findings.map((f) => formatFinding(f)),
      `fuzz embedded, seed ${options.seed}: replay with LOGFRONT_FUZZ_SEED=${options.seed}`,
    ).toEqual([]);
  }, 900_000);
});
