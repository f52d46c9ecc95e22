import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogfront, type Logfront } from '../../app/compose.ts';
import type { Config } from '../../app/config.ts';
import { createLogger } from '../../app/logger.ts';
import { createKafkaEventLog } from '../../connectors/kafka/event-log.ts';
import { createConfluentRegistry } from '../../connectors/registry/confluent.ts';
import { createCodec } from '../../core/log/codec.ts';
import { createCatalog } from '../../core/log/event-types.ts';
import { orderEventTypes } from '../../sample/order-events.ts';
import { type Api, startApi } from '../support/api.ts';
import { readAll } from '../support/log-reader.ts';
import { orderPlacedBy } from '../support/orders.ts';
import { servicesConfig, uniqueId } from '../support/services.ts';

/** the records of the order topic as Kafka holds them, without decryption */
const rawOrders = async (config: Config) => {
  const raw = createKafkaEventLog({
    brokers: config.kafka.brokers,
    clientId: 'raw-reader',
    topicPrefix: config.topicPrefix,
    partitions: config.kafka.partitions,
    replication: config.kafka.replication,
    sessionTimeoutMs: 6000,
    codec: createCodec(
      createConfluentRegistry(config.schemaRegistryUrl!),
      createCatalog(orderEventTypes, config.topicPrefix),
    ),
    logger: createLogger('silent'),
  });
  try {
    return await readAll(raw, [raw.topicFor('order')]);
  } finally {
    await raw.close();
  }
};

describe('erasure on Kafka and Postgres, with LOGFRONT_KEK', () => {
  let api: Api;
  beforeAll(async () => {
    api = await startApi(servicesConfig({ LOGFRONT_KEK: randomBytes(32).toString('base64') }));
  });
  afterAll(async () => api?.close());

  it('Kafka holds ciphertext only; erasing the subject shreds it there and deletes its row', async () => {
    const customer = `c-${uniqueId()}`;
    const o = uniqueId();
    const r = await api.request('POST', `/v1/streams/order-${o}/events`, {
      events: [orderPlacedBy(o, customer)],
    });
    expect(r.status).toBe(201);
    const row = await api.request(
      'GET',
      `/v1/projections/orders/rows/${o}?after=${r.body.position}&maxStalenessMs=15000`,
    );
    expect(row.status).toBe(200);

    const records = await rawOrders(api.lf.config);
    const record = records.find((e) => (e.data as { orderId: string }).orderId === o)!;
    const email = (record.data as { customerEmail: string }).customerEmail;
    expect(email).toMatch(/^lf:v1:[A-Za-z0-9_-]+:[A-Za-z0-9_-]+$/);
    expect(JSON.stringify(records.map((e) => e.data))).not.toContain(`${customer}@example.com`);
    const read = await api.request('GET', `/v1/streams/order-${o}/events`);
    expect((read.body.events as { data: { customerEmail: string } }[])[0]!.data.customerEmail).toBe(
      `${customer}@example.com`,
    );

    const erased = await api.request('DELETE', `/v1/subjects/${customer}`);
    expect(erased).toMatchObject({
      status: 202,
      body: { erased: true, keysDestroyed: 1, rowsDeleted: { orders: 1 } },
    });
    const after = await api.request('GET', `/v1/streams/order-${o}/events`);
    expect((after.body.events as { data: unknown; metadata: unknown }[])[0]).toMatchObject({
      data: { orderId: o, customerEmail: null },
      metadata: { erased: ['data.customerEmail'] },
    });
    expect((await api.request('GET', `/v1/projections/orders/rows/${o}`)).status).toBe(404);
  });
});

describe('erasure with real services and LOGFRONT_ENCRYPTION=off', () => {
  let lf: Logfront;
  const logged: Record<string, unknown>[] = [];
  beforeAll(async () => {
    const sink = new Writable({
      write(chunk, _enc, done) {
        for (const line of chunk.toString().split('\n')) if (line) logged.push(JSON.parse(line));
        done();
      },
    });
    lf = await createLogfront(servicesConfig({ LOGFRONT_KEK: '', LOGFRONT_ENCRYPTION: 'off' }), {
      logger: createLogger('warn', sink),
    });
  });
  afterAll(async () => lf?.close());

  it('warns at start, stores sensitive fields in clear and answers 409 erasure_unavailable, naming the missing key', async () => {
    expect(logged).toContainEqual(
      expect.objectContaining({
        level: 40,
        msg: 'LOGFRONT_ENCRYPTION=off: sensitive fields are stored unencrypted and erasure is unavailable',
      }),
    );
    const o = uniqueId();
    await lf.append.appendToStream(`order-${o}`, { events: [orderPlacedBy(o, 'c-clear')] });
    const records = await rawOrders(lf.config);
    const record = records.find((e) => (e.data as { orderId: string }).orderId === o)!;
    expect(record.data).toMatchObject({ customerEmail: 'c-clear@example.com' });
    await expect(lf.erasure.erase('c-1', { actor: 'test' })).rejects.toMatchObject({
      code: 'erasure_unavailable',
      status: 409,
      message: expect.stringMatching(/LOGFRONT_KEK/),
    });
  });
});
