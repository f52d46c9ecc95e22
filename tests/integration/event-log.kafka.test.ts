import { createLogfront } from '../../app/compose.ts';
import { eventLogContract } from '../contract/event-log.features.ts';
import { servicesConfig } from '../support/services.ts';

eventLogContract('Kafka with the schema registry', async () => {
  const lf = await createLogfront(servicesConfig());
  return { log: lf.log, close: () => lf.close() };
});
