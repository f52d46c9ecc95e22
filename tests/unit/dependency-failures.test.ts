// Each adapter tells a service that is down (DependencyUnavailable, naming it: HTTP 503 with Retry-After)
// from a failure that is not the service's (kept as it is: a caller's 4xx or logfront's own 500).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { kafkaFailure, kafkaUnavailable } from '../../connectors/kafka/client.ts';
import { postgresFailure } from '../../connectors/postgres/pg-sql.ts';
import { redisFailure } from '../../connectors/redis/cache.ts';
import { createConfluentRegistry } from '../../connectors/registry/confluent.ts';
import { s3Failure } from '../../connectors/s3/blob-store.ts';
import { DependencyUnavailable, NotFound } from '../../core/errors.ts';

const named = (name: string, message: string, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(message), { name, ...extra });

const expectDown = (error: unknown, dependency: string) => {
  expect(error).toBeInstanceOf(DependencyUnavailable);
  expect((error as DependencyUnavailable).dependency).toBe(dependency);
};

describe('Postgres', () => {
  it('a refused or lost connection, a server shutting down or full is down', () => {
    for (const e of [
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
      new Error('Connection terminated unexpectedly'),
      new Error('timeout exceeded when trying to connect'),
      Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }),
      Object.assign(new Error('the database system is starting up'), { code: '57P03' }),
      Object.assign(new Error('sorry, too many clients already'), { code: '53300' }),
      Object.assign(new Error('connection failure'), { code: '08006' }),
    ]) {
      expectDown(postgresFailure(e), 'postgres');
    }
  });

  it('a statement Postgres refuses, logfront’s own error and a non-error are kept', () => {
    const refused = Object.assign(new Error('duplicate key'), { code: '23505' });
    expect(postgresFailure(refused)).toBe(refused);
    const own = new NotFound('no row');
    expect(postgresFailure(own)).toBe(own);
    expect(postgresFailure('text')).toBe('text');
  });
});

describe('Kafka', () => {
  it('a connection error, retries run out, a timeout or a retriable protocol error, however deep, is down', () => {
    const refused = named('KafkaJSConnectionError', 'Connection error: connect ECONNREFUSED');
    for (const e of [
      refused,
      named('KafkaJSNumberOfRetriesExceeded', 'retries', { cause: refused }),
      named('KafkaJSNonRetriableError', 'wrapped', { originalError: refused }),
      named('KafkaJSRequestTimeoutError', 'Request timed out'),
      named('KafkaJSProtocolError', 'There is no leader for this topic-partition', { retriable: true }),
      { message: 'a wrapper of no name', cause: refused },
    ]) {
      expect(kafkaUnavailable(e)).toBe(true);
      expectDown(kafkaFailure(e), 'kafka');
    }
  });

  it('a request Kafka refuses, logfront’s own error and a plain error are kept', () => {
    const refused = named('KafkaJSProtocolError', 'Topic authorization failed', { retriable: false });
    expect(kafkaFailure(refused)).toBe(refused);
    const own = new DependencyUnavailable('postgres', 'down');
    expect(kafkaFailure(own)).toBe(own);
    const plain = new TypeError('x is undefined');
    expect(kafkaFailure(plain)).toBe(plain);
    expect(kafkaUnavailable(undefined)).toBe(false);
    expect(kafkaUnavailable({ message: 'an error of no name' })).toBe(false);
  });
});

describe('Redis', () => {
  it('no connection, a command timed out or a server that cannot serve now is down', () => {
    for (const e of [
      new Error("Stream isn't writeable and enableOfflineQueue options is false"),
      new Error('Command timed out'),
      named('MaxRetriesPerRequestError', 'Reached the max retries per request limit'),
      named('ReplyError', 'LOADING Redis is loading the dataset in memory'),
      named('ReplyError', 'BUSY Redis is busy running a script'),
    ]) {
      expectDown(redisFailure(e), 'redis');
    }
  });

  it('an error Redis answered and logfront’s own error are kept', () => {
    const reply = named('ReplyError', 'ERR Error running script');
    expect(redisFailure(reply)).toBe(reply);
    const own = new NotFound('x');
    expect(redisFailure(own)).toBe(own);
  });
});

describe('S3', () => {
  it('no answer, a 5xx, SlowDown (429 or 503) or a 408 after the SDK’s retries is down', () => {
    for (const e of [
      Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED', $metadata: { attempts: 3 } }),
      Object.assign(new Error('We encountered an internal error'), { $metadata: { httpStatusCode: 500 } }),
      Object.assign(new Error('Please reduce your request rate'), { $metadata: { httpStatusCode: 503 } }),
      Object.assign(new Error('Too many requests'), { $metadata: { httpStatusCode: 429 } }),
      Object.assign(new Error('Request timeout'), { $metadata: { httpStatusCode: 408 } }),
    ]) {
      expectDown(s3Failure(e), 's3');
    }
  });

  it('an answer that is not the service failing, and errors not from the SDK, are kept', () => {
    const denied = Object.assign(new Error('Access Denied'), { $metadata: { httpStatusCode: 403 } });
    expect(s3Failure(denied)).toBe(denied);
    const plain = new TypeError('x');
    expect(s3Failure(plain)).toBe(plain);
    expect(s3Failure(null)).toBe(null);
    const own = new NotFound('x');
    expect(s3Failure(own)).toBe(own);
  });
});

describe('the Schema Registry', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    server = undefined;
  });
  /** a registry that answers every request with `status` and `body` */
  const answering = async (status: number, body: object) => {
    server = createServer((_request, response) => {
      response.writeHead(status, { 'content-type': 'application/vnd.schemaregistry.v1+json' });
      response.end(JSON.stringify(body));
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  const failure = (p: Promise<unknown>) =>
    p.then(
      () => undefined,
      (error: unknown) => error,
    );

  it('a registry that does not answer is down, for a registration and a check', async () => {
    const registry = createConfluentRegistry('http://127.0.0.1:9/apis/ccompat/v7');
    expectDown(await failure(registry.register('t.OrderPlaced', { type: 'object' })), 'schema-registry');
    expectDown(await failure(registry.check('t.OrderPlaced', { type: 'object' })), 'schema-registry');
  });

  it('a registry answering 5xx is down, for a registration and a check', async () => {
    const registry = createConfluentRegistry(
      await answering(500, { error_code: 50001, message: 'store error' }),
    );
    expectDown(await failure(registry.register('t.OrderPlaced', { type: 'object' })), 'schema-registry');
    expectDown(await failure(registry.check('t.OrderPlaced', { type: 'object' })), 'schema-registry');
  }, 30_000);

  it('a registry that answers 400 or 422 (a request it refuses) is not down', async () => {
    for (const status of [400, 422]) {
      const registry = createConfluentRegistry(await answering(status, { error_code: 42201, message: 'no' }));
      const error = await failure(registry.register('t.OrderPlaced', { type: 'object' }));
      expect(error, String(status)).toBeInstanceOf(Error);
      expect(error, String(status)).not.toBeInstanceOf(DependencyUnavailable);
      await new Promise((resolve) => server!.close(resolve));
      server = undefined;
    }
  });
});
