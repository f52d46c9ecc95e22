// TLS to Redis, S3, the schema registry and Postgres (docs/security.md "Transport"), from the variables
// to the wire: a Redis of the test's own that takes TLS clients with a certificate only; S3 and the
// registry (the shared ones) behind a TLS front with a certificate of the test's CA; the shared Postgres,
// which has no TLS, refusing a client that insists on it.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, loadConfig } from '../../app/config.ts';
import { createPgSql } from '../../connectors/postgres/pg-sql.ts';
import { createRedisCache } from '../../connectors/redis/cache.ts';
import { createRedisProbe } from '../../connectors/redis/probe.ts';
import { createConfluentRegistry } from '../../connectors/registry/confluent.ts';
import { createS3Probe } from '../../connectors/s3/client.ts';
import { DependencyUnavailable } from '../../core/errors.ts';
import { type Api, startApi } from '../support/api.ts';
import { orderPlaced } from '../support/orders.ts';
import { removeOwnData } from '../support/own-data.ts';
import { startOwnRedis } from '../support/redis-server.ts';
import { services, servicesConfig, uniqueId } from '../support/services.ts';
import { type Certificates, makeCertificates, startTlsFront } from '../support/tls.ts';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

describe('TLS to Redis, S3, the registry and Postgres', () => {
  let certs: Certificates;
  let redis: Awaited<ReturnType<typeof startOwnRedis>>;
  let s3Front: Awaited<ReturnType<typeof startTlsFront>>;
  let registryFront: Awaited<ReturnType<typeof startTlsFront>>;
  /** the shared registry's URL with its host and port replaced by the TLS front's */
  let registryUrl = '';
  beforeAll(async () => {
    certs = await makeCertificates();
    redis = await startOwnRedis({
      tls: { certFile: certs.serverCertFile, keyFile: certs.serverKeyFile, caFile: certs.caFile },
    });
    const s3 = new URL(services().LOGFRONT_S3_ENDPOINT);
    s3Front = await startTlsFront({ host: s3.hostname, port: Number(s3.port) }, certs);
    const registry = new URL(services().LOGFRONT_SCHEMA_REGISTRY_URL);
    registryFront = await startTlsFront({ host: registry.hostname, port: Number(registry.port) }, certs);
    registryUrl = `https://127.0.0.1:${registryFront.port}${registry.pathname}`;
  }, 60_000);
  afterAll(async () => {
    await redis?.remove();
    await s3Front?.close();
    await registryFront?.close();
    certs?.remove();
  });

  const redisConfig = (env: Record<string, string>) =>
    loadConfig({ LOGFRONT_REDIS_URL: redis.url, LOGFRONT_REDIS_TLS_CA_FILE: certs.caFile, ...env });
  const pingRedis = (config: Config) => createRedisProbe(config.redis.url!, config.redis.tls).ping();

  it('Redis: with the CA and a client certificate, the cache works; without them, no connection', async () => {
    const config = redisConfig({
      LOGFRONT_REDIS_TLS_CERT_FILE: certs.clientCertFile,
      LOGFRONT_REDIS_TLS_KEY_FILE: certs.clientKeyFile,
    });
    await pingRedis(config);
    const cache = await createRedisCache({
      url: config.redis.url!,
      tls: config.redis.tls,
      prefix: `t${uniqueId()}:`,
      ttlMs: 60_000,
      markTtlMs: 60_000,
      logger: silent,
    });
    try {
      await cache.ping();
      await cache.invalidate('orders', [], [{ topic: 't', partition: 0, offset: 7n }]);
      expect(await cache.progress('orders')).toEqual([{ topic: 't', partition: 0, offset: 7n }]);
    } finally {
      await cache.close();
    }
    // the server asks for a client certificate: without one it refuses the handshake (TLS 1.3: after the
    // client has finished its side, so the client sees the alert or, when it was writing, a reset)
    await expect(pingRedis(redisConfig({}))).rejects.toThrow(/certificate required|ECONNRESET/);
    // a CA that did not sign the server's certificate
    await expect(
      pingRedis(
        redisConfig({
          LOGFRONT_REDIS_TLS_CA_FILE: certs.otherCaFile,
          LOGFRONT_REDIS_TLS_CERT_FILE: certs.clientCertFile,
          LOGFRONT_REDIS_TLS_KEY_FILE: certs.clientKeyFile,
        }),
      ),
    ).rejects.toThrow(/self-signed certificate in certificate chain|unable to verify/);
    // …unless the check is off
    await pingRedis(
      redisConfig({
        LOGFRONT_REDIS_TLS_CA_FILE: certs.otherCaFile,
        LOGFRONT_REDIS_TLS_CERT_FILE: certs.clientCertFile,
        LOGFRONT_REDIS_TLS_KEY_FILE: certs.clientKeyFile,
        LOGFRONT_REDIS_TLS_VERIFY: 'off',
      }),
    );
    // and a plain redis:// client of the same server gets nowhere
    const plain = new Redis(redis.url.replace('rediss:', 'redis:'), {
      lazyConnect: true,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
      connectTimeout: 1000,
      commandTimeout: 1000,
    });
    plain.on('error', () => {});
    await expect(plain.connect().then(() => plain.ping())).rejects.toThrow(/Connection is closed/);
    plain.disconnect();
  });

  const s3Config = (env: Record<string, string>) =>
    loadConfig({
      ...services(),
      LOGFRONT_S3_ENDPOINT: `https://127.0.0.1:${s3Front.port}`,
      LOGFRONT_S3_TLS_CA_FILE: certs.caFile,
      ...env,
    });
  const pingS3 = (config: Config) =>
    createS3Probe({ ...config.s3, endpoint: config.s3.endpoint!, bucket: config.s3.bucket! }).ping();

  it('S3 over https: the bucket answers through a CA file; another CA fails, as does an unchecked plain client', async () => {
    await pingS3(s3Config({}));
    await expect(pingS3(s3Config({ LOGFRONT_S3_TLS_CA_FILE: certs.otherCaFile }))).rejects.toThrow(
      /unable to verify|self-signed/,
    );
    await pingS3(s3Config({ LOGFRONT_S3_TLS_CA_FILE: certs.otherCaFile, LOGFRONT_S3_TLS_VERIFY: 'off' }));
    // without a CA file, Node's own CAs: the test CA is not one of them
    await expect(pingS3(s3Config({ LOGFRONT_S3_TLS_CA_FILE: '' }))).rejects.toThrow(
      /unable to verify|self-signed/,
    );
  });

  it('the registry over https: registrations (its client) and checks (ours) go through the CA file', async () => {
    const config = loadConfig({
      LOGFRONT_SCHEMA_REGISTRY_URL: registryUrl,
      LOGFRONT_SCHEMA_REGISTRY_TLS_CA_FILE: certs.caFile,
    });
    const registry = createConfluentRegistry(config.schemaRegistryUrl!, { tls: config.schemaRegistryTls });
    const subject = `t${uniqueId()}.TlsChecked`;
    try {
      await registry.ping();
      const schema = { type: 'object', properties: { a: { type: 'string' } } };
      const id = await registry.register(subject, schema);
      expect(id).toBeGreaterThan(0);
      expect(await registry.check(subject, schema)).toEqual({ compatible: true, messages: [] });
    } finally {
      const base = services().LOGFRONT_SCHEMA_REGISTRY_URL;
      await fetch(`${base}/subjects/${subject}`, { method: 'DELETE' });
      await fetch(`${base}/subjects/${subject}?permanent=true`, { method: 'DELETE' });
    }
    const wrong = loadConfig({
      LOGFRONT_SCHEMA_REGISTRY_URL: registryUrl,
      LOGFRONT_SCHEMA_REGISTRY_TLS_CA_FILE: certs.otherCaFile,
    });
    const refused = createConfluentRegistry(wrong.schemaRegistryUrl!, { tls: wrong.schemaRegistryTls });
    const error = await refused.ping().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DependencyUnavailable);
    expect((error as Error).message).toMatch(/unable to verify|self-signed/);
  });

  it('Postgres: a client that insists on TLS is refused by a server without it (the setting reaches pg)', async () => {
    const config = loadConfig({
      ...services(),
      LOGFRONT_DATABASE_TLS: 'on',
      LOGFRONT_DATABASE_TLS_CA_FILE: certs.caFile,
    });
    expect(config.database.tls).toMatchObject({ rejectUnauthorized: true, ca: certs.read(certs.caFile) });
    const sql = createPgSql(config.database.url!, { tls: config.database.tls });
    try {
      await expect(sql.query('SELECT 1')).rejects.toThrow(/does not support SSL/);
    } finally {
      await sql.close();
    }
    const plain = createPgSql(loadConfig(services()).database.url!);
    try {
      expect((await plain.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    } finally {
      await plain.close();
    }
  });

  describe('logfront in services mode', () => {
    let api: Api;
    let config: Config;
    beforeAll(async () => {
      config = servicesConfig({
        LOGFRONT_SCHEMA_REGISTRY_URL: registryUrl,
        LOGFRONT_SCHEMA_REGISTRY_TLS_CA_FILE: certs.caFile,
        LOGFRONT_S3_ENDPOINT: `https://127.0.0.1:${s3Front.port}`,
        LOGFRONT_S3_TLS_CA_FILE: certs.caFile,
        LOGFRONT_REDIS_URL: redis.url,
        LOGFRONT_REDIS_TLS_CA_FILE: certs.caFile,
        LOGFRONT_REDIS_TLS_CERT_FILE: certs.clientCertFile,
        LOGFRONT_REDIS_TLS_KEY_FILE: certs.clientKeyFile,
        LOGFRONT_SINKS: 'off',
        LOGFRONT_TOPIC_PARTITIONS: '1',
      });
      api = await startApi(config);
    }, 60_000);
    afterAll(async () => {
      await api?.close();
      if (config) await removeOwnData(config, services().LOGFRONT_SCHEMA_REGISTRY_URL);
    });

    it('is ready through TLS to the registry, S3 and Redis, and appends and reads', async () => {
      const ready = await api.request('GET', '/readyz');
      expect(ready.status, JSON.stringify(ready.body)).toBe(200);
      expect((ready.body.dependencies as { name: string; ok: boolean }[]).map((d) => [d.name, d.ok])).toEqual(
        [
          ['kafka', true],
          ['postgres', true],
          ['schema-registry', true],
          ['redis', true],
          ['s3', true],
        ],
      );
      const id = uniqueId();
      const appended = await api.request('POST', `/v1/streams/order-${id}/events`, {
        expectedVersion: 'no_stream',
        events: [orderPlaced(id)],
      });
      expect(appended.status, JSON.stringify(appended.body)).toBe(201);
      const row = await api.request(
        'GET',
        `/v1/projections/orders/rows/${id}?after=${appended.body.position}&maxStalenessMs=20000`,
      );
      expect(row.status, JSON.stringify(row.body)).toBe(200);
      expect(row.body.data).toMatchObject({ orderId: id, status: 'placed' });
    });
  });
});
