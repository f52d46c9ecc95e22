import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../app/logger.ts';
import { createKafkaClient, topicOffsets } from '../../connectors/kafka/client.ts';
import { services } from '../support/services.ts';

/** a logger at debug that keeps each line's level (pino: 20 debug, 30 info, 40 warn) and message */
const capturing = () => {
  const lines: { level: number; msg: string }[] = [];
  const logger = createLogger('debug', {
    write: (line: string) => {
      lines.push(JSON.parse(line) as { level: number; msg: string });
    },
  });
  return { logger, lines };
};

describe('Kafka client', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it("KAFKAJS_LOG_LEVEL=debug does not turn kafkajs's info and debug lines into warnings", async () => {
    // kafkajs lets this variable override the level the client is given: every line then reaches the
    // log creator, which keeps only warnings and errors
    vi.stubEnv('KAFKAJS_LOG_LEVEL', 'debug');
    const { logger, lines } = capturing();
    const kafka = createKafkaClient({
      brokers: [services().LOGFRONT_KAFKA_BROKERS],
      clientId: 'test',
      logger,
    });
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.listTopics();
    } finally {
      await admin.disconnect();
    }
    expect(lines).toEqual([]);
  });

  it('offsets asked of an admin whose connection is gone fail at once, untried again', async () => {
    const { logger } = capturing();
    const kafka = createKafkaClient({
      brokers: [services().LOGFRONT_KAFKA_BROKERS],
      clientId: 'test',
      logger,
    });
    const admin = kafka.admin();
    await admin.connect();
    await admin.disconnect();
    const started = Date.now();
    const error = await topicOffsets(admin, 'any').catch((e: unknown) => e);
    expect((error as Error).name).toMatch(/^KafkaJSConnection(Closed)?Error$/);
    // the retries kept for kafkajs's passing errors wait 25 ms, 50 ms, … 700 ms in all
    expect(Date.now() - started).toBeLessThan(500);
  });
});
