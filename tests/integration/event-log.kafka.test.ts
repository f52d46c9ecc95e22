import { createLogfront, type Logfront } from '../../app/compose.ts';
import { eventLogContract } from '../contract/event-log.features.ts';
import { servicesConfig } from '../support/services.ts';

eventLogContract('Kafka with the schema registry', async () => {
  const config = servicesConfig();
  let lf: Logfront = await createLogfront(config);
  return {
    log: lf.log,
    restart: async () => {
      await lf.close();
      lf = await createLogfront(config);
      return lf.log;
    },
    close: () => lf.close(),
  };
});
