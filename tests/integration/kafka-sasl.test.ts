// TLS and SASL to Kafka (docs/security.md "Transport"): logfront in services mode against a broker of the
// test's own that serves only authenticated clients (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512; plaintext and
// TLS listeners), with Postgres, Redis, the registry and S3 from the shared services. The shared broker
// is not touched.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogfront } from '../../app/compose.ts';
import type { Config } from '../../app/config.ts';
import { type Api, startApi } from '../support/api.ts';
import { run } from '../support/cli.ts';
import { KAFKA_USERS, type KafkaUser, type OwnKafka, startOwnKafka } from '../support/kafka-server.ts';
import { orderPlaced, orderShipped } from '../support/orders.ts';
import { removeOwnData } from '../support/own-data.ts';
import { services, servicesConfig, uniqueId } from '../support/services.ts';
import { type Certificates, makeCertificates } from '../support/tls.ts';

describe('Kafka through SASL and TLS', () => {
  let kafka: OwnKafka;
  let certs: Certificates;
  beforeAll(async () => {
    certs = await makeCertificates();
    kafka = await startOwnKafka({ tls: { keystore: certs.serverBundleFile, truststore: certs.caFile } });
  }, 240_000);
  afterAll(async () => {
    await kafka?.stop();
    certs?.remove();
  }, 60_000);

  /** the services config of a logfront that reaches the test's broker as `user` */
  const configFor = (user: KafkaUser, env: Record<string, string> = {}) =>
    servicesConfig({
      LOGFRONT_KAFKA_BROKERS: kafka.brokers,
      LOGFRONT_KAFKA_SASL_MECHANISM: user.mechanism,
      LOGFRONT_KAFKA_SASL_USERNAME: user.username,
      LOGFRONT_KAFKA_SASL_PASSWORD: user.password,
      LOGFRONT_TOPIC_PARTITIONS: '1',
      // nothing for the blob and archive sinks to do here: they stay off
      LOGFRONT_SINKS: 'off',
      ...env,
    });

  /** removes what `config`'s logfront left, reaching the test's broker as a user it takes (PLAIN) */
  const removeData = (config: Config) =>
    removeOwnData(
      {
        ...config,
        kafka: { ...config.kafka, brokers: [kafka.brokers], tls: undefined, sasl: KAFKA_USERS.plain },
      },
      services().LOGFRONT_SCHEMA_REGISTRY_URL,
    );

  /** appends twice (two transactions), reads the stream, reads the row after the second append */
  const appendAndRead = async (api: Api) => {
    const id = uniqueId();
    const placed = await api.request('POST', `/v1/streams/order-${id}/events`, {
      expectedVersion: 'no_stream',
      events: [orderPlaced(id, 2, 300)],
    });
    expect(placed.status, JSON.stringify(placed.body)).toBe(201);
    const shipped = await api.request('POST', `/v1/streams/order-${id}/events`, {
      expectedVersion: 1,
      events: [orderShipped(id)],
    });
    expect(shipped.status, JSON.stringify(shipped.body)).toBe(201);
    expect(shipped.body).toMatchObject({ fromVersion: 2, toVersion: 2 });

    const stream = await api.request('GET', `/v1/streams/order-${id}/events`);
    expect(stream.status).toBe(200);
    expect(
      (stream.body.events as { type: string; version: number }[]).map((e) => [e.type, e.version]),
    ).toEqual([
      ['OrderPlaced', 1],
      ['OrderShipped', 2],
    ]);

    const row = await api.request(
      'GET',
      `/v1/projections/orders/rows/${id}?after=${shipped.body.position}&maxStalenessMs=20000`,
    );
    expect(row.status, JSON.stringify(row.body)).toBe(200);
    expect(row.body.data).toMatchObject({
      orderId: id,
      status: 'shipped',
      itemCount: 2,
      totalCents: 600,
      version: 2,
    });

    const ready = await api.request('GET', '/readyz');
    expect(ready.status, JSON.stringify(ready.body)).toBe(200);
  };

  const through = async (config: Config) => {
    const api = await startApi(config);
    try {
      await appendAndRead(api);
    } finally {
      await api.close();
      await removeData(config);
    }
  };

  it('SASL/PLAIN: appends, a stream read and a projection row', async () => {
    await through(configFor(KAFKA_USERS.plain));
  }, 120_000);

  it('SCRAM-SHA-256, the password from a file: appends, a stream read and a projection row', async () => {
    const file = join(certs.dir, 'kafka-password');
    writeFileSync(file, `${KAFKA_USERS.scram256.password}\n`);
    const config = configFor(KAFKA_USERS.scram256, {
      // Kafka's own spelling of the mechanism is taken too
      LOGFRONT_KAFKA_SASL_MECHANISM: 'SCRAM-SHA-256',
      LOGFRONT_KAFKA_SASL_PASSWORD: '',
      LOGFRONT_KAFKA_SASL_PASSWORD_FILE: file,
    });
    expect(config.kafka.sasl).toEqual(KAFKA_USERS.scram256);
    await through(config);
  }, 120_000);

  it('SCRAM-SHA-512 over TLS (the broker certificate checked against the CA file)', async () => {
    await through(
      configFor(KAFKA_USERS.scram512, {
        LOGFRONT_KAFKA_BROKERS: kafka.tlsBrokers!,
        LOGFRONT_KAFKA_TLS_CA_FILE: certs.caFile,
      }),
    );
  }, 120_000);

  it('a wrong password fails at once and says so: `serve` exits, an append and /readyz answer 503', async () => {
    const wrong = { ...KAFKA_USERS.plain, password: 'not-the-password' };
    const id = uniqueId();
    const started = Date.now();
    const served = await run(['serve'], {
      ...services(),
      LOGFRONT_AUTH: 'none',
      LOGFRONT_PORT: '0',
      LOGFRONT_LOG_LEVEL: 'silent',
      LOGFRONT_TOPIC_PREFIX: `t${id}`,
      LOGFRONT_DATABASE_SCHEMA: `t_${id}`,
      LOGFRONT_KAFKA_BROKERS: kafka.brokers,
      LOGFRONT_KAFKA_SASL_MECHANISM: wrong.mechanism,
      LOGFRONT_KAFKA_SASL_USERNAME: wrong.username,
      LOGFRONT_KAFKA_SASL_PASSWORD: wrong.password,
    });
    expect(served.code).toBe(1);
    expect(served.err).toMatch(
      /kafka is unavailable: SASL PLAIN authentication failed: .*Invalid username or password/,
    );
    expect(served.err).not.toContain(wrong.password);
    expect(Date.now() - started).toBeLessThan(15_000);

    // a process without the runners serves, and tells each caller why Kafka cannot be used
    const config = configFor(wrong);
    const api = await startApi(config, { runners: false });
    try {
      const append = await api.request('POST', `/v1/streams/order-${id}/events`, {
        events: [orderPlaced(id)],
      });
      expect(append.status).toBe(503);
      expect(append.body).toMatchObject({ error: 'dependency_unavailable', dependency: 'kafka' });
      expect(append.body.message).toMatch(/SASL PLAIN authentication failed/);
      const ready = await api.request('GET', '/readyz');
      expect(ready.status).toBe(503);
      expect(ready.body.dependencies).toContainEqual({
        name: 'kafka',
        ok: false,
        error: expect.stringMatching(/SASL PLAIN authentication failed/),
      });
    } finally {
      await api.close();
      await removeData(config);
    }
  }, 120_000);

  it('a wrong SCRAM password, and a broker certificate the CA file did not sign, stop the start with the reason', async () => {
    const failures: [Config, RegExp][] = [
      [
        configFor({ ...KAFKA_USERS.scram512, password: 'not-the-password' }),
        /kafka is unavailable: SASL SCRAM SHA512 authentication failed/,
      ],
      [
        configFor(KAFKA_USERS.scram256, {
          LOGFRONT_KAFKA_BROKERS: kafka.tlsBrokers!,
          LOGFRONT_KAFKA_TLS_CA_FILE: certs.otherCaFile,
        }),
        /kafka is unavailable: .*unable to verify the first certificate/,
      ],
    ];
    for (const [config, reason] of failures) {
      const lf = await createLogfront(config);
      try {
        await expect(lf.startRunners()).rejects.toThrow(reason);
      } finally {
        await lf.close();
        await removeData(config);
      }
    }
  }, 120_000);
});
