// A projection runner in its own process, for tests that SIGKILL it. Config from the environment.
import { createLogfront } from '../../app/compose.ts';
import { loadConfig } from '../../core/config.ts';
import { testDomain } from './domain.ts';

const lf = await createLogfront(loadConfig(), { domain: testDomain });
await lf.startRunners();
process.stdout.write('runner ready\n');
const stop = async () => {
  await lf.close();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
