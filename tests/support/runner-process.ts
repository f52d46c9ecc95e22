// A projection runner in its own process, for tests that SIGKILL it. Config from the environment.
// LOGFRONT_TEST_BATCH_DELAY_MS slows each batch down (so a test can act while it works), and every
// applied batch is reported on stdout as `applied <topic>/<partition>`.
import { createLogfront } from '../../app/compose.ts';
import { loadConfig } from '../../app/config.ts';
import type { ProjectionStore } from '../../core/ports.ts';
import { testDomain } from './domain.ts';

const lf = await createLogfront(loadConfig(), { domain: testDomain });
const delay = Number(process.env.LOGFRONT_TEST_BATCH_DELAY_MS ?? 0);
const store = lf.store as { applyBatch: ProjectionStore['applyBatch'] };
const applyBatch = store.applyBatch;
store.applyBatch = async (spec, generation, changes, advance) => {
  if (delay) await new Promise((r) => setTimeout(r, delay));
  await applyBatch(spec, generation, changes, advance);
  process.stdout.write(`applied ${advance.topic}/${advance.partition}\n`);
};
// LOGFRONT_TEST_PART_DELAY_MS slows the blob sink's multipart parts (so a test can kill it mid-upload)
const partDelay = Number(process.env.LOGFRONT_TEST_PART_DELAY_MS ?? 0);
const blobStore = lf.blobStore as { uploadPart: NonNullable<typeof lf.blobStore>['uploadPart'] } | undefined;
if (blobStore && partDelay) {
  const uploadPart = blobStore.uploadPart;
  blobStore.uploadPart = async (...args) => {
    await new Promise((r) => setTimeout(r, partDelay));
    return uploadPart(...args);
  };
}
await lf.startRunners();
process.stdout.write('runner ready\n');
const stop = async () => {
  await lf.close();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
