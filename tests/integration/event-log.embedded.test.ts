import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventLogContract } from '../contract/event-log.features.ts';
import { logfrontFixture } from '../support/log-fixture.ts';
import { embeddedConfig } from '../support/services.ts';

eventLogContract('embedded table log on PGlite', () => {
  // on disk, so that a restart opens the same data
  const dir = mkdtempSync(join(tmpdir(), 'logfront-log-'));
  return logfrontFixture(embeddedConfig({ LOGFRONT_DATA_DIR: dir }), () =>
    rmSync(dir, { recursive: true, force: true }),
  );
});
