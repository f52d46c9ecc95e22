import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogfront, type Logfront } from '../../app/compose.ts';
import { createLogger } from '../../app/logger.ts';
import { createKafkaEventLog } from '../../connectors/kafka/event-log.ts';
import { createPartitionSequencer } from '../../connectors/kafka/sequencer.ts';
import { createConfluentRegistry } from '../../connectors/registry/confluent.ts';
import { Unavailable } from '../../core/errors.ts';
import { createCodec } from '../../core/log/codec.ts';
import { createCatalog } from '../../core/log/event-types.ts';
import { uuidv7 } from '../../core/log/ids.ts';
import type { StreamId } from '../../core/types.ts';
import { orderEventTypes } from '../../sample/order-events.ts';
import { services, servicesConfig, uniqueId } from '../support/services.ts';

const shipped = () => ({
  id: uuidv7(),
  type: 'OrderShipped',
  data: { orderId: '1', carrier: 'DHL' },
  metadata: {},
});

describe('partition sequencer (Kafka)', () => {
  let lf: Logfront;
  beforeAll(async () => {
    lf = await createLogfront(servicesConfig());
    await lf.log.ensureTopics(['order']);
  });
  afterAll(async () => lf?.close());

  it('group commit: appends queued behind a transaction are checked together; a repeat of the same ids is answered once', async () => {
    const stream = `order-${uniqueId()}` as StreamId;
    const batch = [shipped(), shipped()];
    const others = Array.from({ length: 10 }, (_, i) =>
      lf.log.append(`order-${uniqueId()}${i}` as StreamId, [shipped()], 'any'),
    );
    const [first, second] = await Promise.all([
      lf.log.append(stream, batch, 'no_stream'),
      lf.log.append(stream, batch, 'no_stream'),
    ]);
    await Promise.all(others);
    expect(second).toEqual(first);
    expect((await lf.log.readStream(stream, 1, 10)).map((e) => e.version)).toEqual([1, 2]);
  });

  it('a partition that cannot be taken fails its appends as unavailable after its attempts', async () => {
    const stream = `order-${uniqueId()}` as StreamId;
    await lf.log.append(stream, [shipped()], 'no_stream');
    const prefix = lf.config.topicPrefix;
    const slow = createKafkaEventLog({
      brokers: [services().LOGFRONT_KAFKA_BROKERS],
      clientId: 'slow',
      topicPrefix: prefix,
      partitions: 3,
      replication: 1,
      sessionTimeoutMs: 6000,
      // the stream index does not answer: the partition cannot be taken (its heads are unknown)
      index: {
        ...lf.streamIndex!.index,
        checkpoint: () => Promise.reject(new Error('the stream index is down')),
      },
      codec: createCodec(
        createConfluentRegistry(services().LOGFRONT_SCHEMA_REGISTRY_URL),
        createCatalog(orderEventTypes, prefix),
      ),
      logger: createLogger('silent'),
    });
    try {
      const error = await slow.append(stream, [shipped()], 1).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Unavailable);
      expect(String((error as Error).message)).toMatch(
        /appending to .*\/\d+ failed: the stream index is down/,
      );
    } finally {
      await slow.close();
    }
    // the healthy writer takes the partition back and goes on
    await expect(lf.log.append(stream, [shipped()], 1)).resolves.toMatchObject({ fromVersion: 2 });
  });

  it('a closed sequencer refuses appends', async () => {
    const sequencer = createPartitionSequencer({
      kafka: new Kafka({ brokers: [services().LOGFRONT_KAFKA_BROKERS], logLevel: logLevel.NOTHING }),
      topic: lf.log.topicFor('order'),
      partition: 0,
      transactionalId: `${lf.config.topicPrefix}.closed-test`,
      index: lf.streamIndex!.index,
      readTail: async () => 0n,
      logger: createLogger('silent'),
    });
    await sequencer.close();
    const error = await sequencer
      .append({
        stream: 'order-1' as StreamId,
        events: [shipped()],
        values: [Buffer.from('{}')],
        expected: 'any',
        headers: () => ({}),
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Unavailable);
  });
});
