// The TLS and SASL settings reach each client's options (the pure mappings of the connectors), and the
// HTTP timeouts reach the server's options. The wire itself is tested in tests/integration/kafka-sasl and
// service-tls.
import type { Agent } from 'node:https';
import { Redis } from 'ioredis';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { serverTimeouts } from '../../app/http-timeouts.ts';
import { kafkaSecurity } from '../../connectors/kafka/client.ts';
import { pgSsl } from '../../connectors/postgres/pg-sql.ts';
import { redisTls } from '../../connectors/redis/tls.ts';
import { registryAgent } from '../../connectors/registry/confluent.ts';
import { createS3Client, s3RequestHandler } from '../../connectors/s3/client.ts';

const TLS = {
  ca: '-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n',
  cert: '-----BEGIN CERTIFICATE-----\nclient\n-----END CERTIFICATE-----\n',
  key: '-----BEGIN PRIVATE KEY-----\nkey\n-----END PRIVATE KEY-----\n',
  rejectUnauthorized: true,
};

describe('Kafka', () => {
  it('no settings: neither ssl nor sasl (plaintext, unauthenticated)', () => {
    expect(kafkaSecurity({})).toEqual({});
  });

  it('TLS becomes kafkajs’s ssl options, SASL its sasl options', () => {
    const sasl = { mechanism: 'scram-sha-256', username: 'svc', password: 'p' } as const;
    const options = kafkaSecurity({ tls: TLS, sasl });
    expect(options).toEqual({ ssl: TLS, sasl });
    expect(options.ssl).not.toBe(TLS);
    expect(kafkaSecurity({ sasl: { ...sasl, mechanism: 'plain' } })).toEqual({
      sasl: { ...sasl, mechanism: 'plain' },
    });
  });
});

describe('Postgres', () => {
  it('TLS becomes pg’s ssl option, which a connection string without ssl parameters keeps', () => {
    expect(pgSsl(undefined)).toEqual({});
    const client = new pg.Client({ connectionString: 'postgres://u:p@db:5432/x', ...pgSsl(TLS) });
    const ssl = (client as unknown as { connectionParameters: { ssl: typeof TLS } }).connectionParameters.ssl;
    // (pg keeps the key as a property that is not enumerable, so that it is not logged)
    expect({ ...ssl, key: ssl.key }).toEqual(TLS);
    // …and one with them overrides (why the config refuses both)
    const overridden = new pg.Client({
      connectionString: 'postgres://u:p@db:5432/x?sslmode=no-verify',
      ...pgSsl(TLS),
    });
    expect(
      (overridden as unknown as { connectionParameters: { ssl: unknown } }).connectionParameters.ssl,
    ).not.toEqual(TLS);
  });
});

describe('Redis', () => {
  it('TLS becomes ioredis’s tls option; a rediss:// URL alone is TLS with Node’s CAs', () => {
    expect(redisTls(undefined)).toEqual({});
    const withCa = new Redis('rediss://cache:6380', { lazyConnect: true, ...redisTls(TLS) });
    expect(withCa.options.tls).toEqual(TLS);
    const bare = new Redis('rediss://cache:6380', { lazyConnect: true, ...redisTls(undefined) });
    expect(bare.options.tls).toBe(true);
    withCa.disconnect();
    bare.disconnect();
  });
});

describe('S3', () => {
  it('TLS becomes the https agent of the SDK’s request handler', async () => {
    expect(s3RequestHandler(undefined)).toEqual({});
    const tls = { ca: TLS.ca, rejectUnauthorized: false };
    expect(s3RequestHandler(tls)).toEqual({ requestHandler: { httpsAgent: tls } });
    const client = createS3Client({ endpoint: 'https://s3.internal', bucket: 'b', region: 'us-east-1', tls });
    const handler = client.config.requestHandler as unknown as {
      configProvider: Promise<{ httpsAgent: Agent & { options: Record<string, unknown> } }>;
    };
    const { httpsAgent } = await handler.configProvider;
    expect(httpsAgent.options).toMatchObject({ ca: TLS.ca, rejectUnauthorized: false, keepAlive: true });
    client.destroy();
  });
});

describe('the schema registry', () => {
  it('TLS becomes the https agent of every request; none: Node’s default agent', () => {
    expect(registryAgent(undefined)).toBeUndefined();
    const agent = registryAgent({ ca: TLS.ca, rejectUnauthorized: true }) as Agent & {
      options: Record<string, unknown>;
    };
    expect(agent.options).toMatchObject({ ca: TLS.ca, rejectUnauthorized: true, keepAlive: true });
    agent.destroy();
  });
});

describe('the HTTP server', () => {
  it('the timeouts become Fastify’s and Node’s options; connections are checked often enough', () => {
    expect(
      serverTimeouts({ headersMs: 10_000, requestMs: 300_000, idleMs: 120_000, keepAliveMs: 72_000 }),
    ).toEqual({
      requestTimeout: 300_000,
      connectionTimeout: 120_000,
      keepAliveTimeout: 72_000,
      http: { headersTimeout: 10_000, requestTimeout: 300_000, connectionsCheckingInterval: 1000 },
    });
    const interval = (headersMs: number) =>
      serverTimeouts({ headersMs, requestMs: 0, idleMs: 0, keepAliveMs: 100 }).http
        .connectionsCheckingInterval;
    expect(interval(500)).toBe(250);
    expect(interval(100)).toBe(50);
    expect(interval(60_000)).toBe(1000);
  });
});
