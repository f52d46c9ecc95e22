import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogfront, type Logfront } from '../../app/compose.ts';
import { eventLogContract } from '../contract/event-log.features.ts';
import { embeddedConfig } from '../support/services.ts';

eventLogContract('embedded table log on PGlite', async () => {
  // on disk, so that a restart opens the same data
  const dir = mkdtempSync(join(tmpdir(), 'logfront-log-'));
  const config = embeddedConfig({ LOGFRONT_DATA_DIR: dir });
  let lf: Logfront = await createLogfront(config);
  return {
    log: lf.log,
    restart: async () => {
      await lf.close();
      lf = await createLogfront(config);
      return lf.log;
    },
    close: async () => {
      await lf.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
