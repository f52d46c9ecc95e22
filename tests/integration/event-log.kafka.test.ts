import { eventLogContract } from '../contract/event-log.features.ts';
import { logfrontFixture } from '../support/log-fixture.ts';
import { servicesConfig } from '../support/services.ts';

eventLogContract('Kafka with the schema registry', () => logfrontFixture(servicesConfig()));
