// Rewrites docs/metrics.md from the metrics registry of an embedded logfront (app/metrics-doc.ts):
//   node --import tsx dashboards/metrics-doc.ts
import { writeFileSync } from 'node:fs';
import { createLogfront } from '../app/compose.ts';
import { loadConfig } from '../app/config.ts';
import { createHttpServer } from '../app/http.ts';
import { METRICS_DOC, metricsDoc } from '../app/metrics-doc.ts';

const lf = await createLogfront(
  loadConfig({
    LOGFRONT_MODE: 'embedded',
    LOGFRONT_DATA_DIR: ':memory:',
    LOGFRONT_AUTH: 'none',
    LOGFRONT_LOG_LEVEL: 'error',
  }),
);
const app = createHttpServer(lf);
await app.ready();
writeFileSync(METRICS_DOC, metricsDoc(app.metricsRegistry));
await app.close();
await lf.close();
console.log(`wrote ${METRICS_DOC}`);
