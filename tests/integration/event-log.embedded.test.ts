import { createLogfront } from '../../app/compose.ts';
import { eventLogContract } from '../contract/event-log.features.ts';
import { embeddedConfig } from '../support/services.ts';

eventLogContract('embedded table log on PGlite', async () => {
  const lf = await createLogfront(embeddedConfig());
  return { log: lf.log, close: () => lf.close() };
});
