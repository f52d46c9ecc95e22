import { Redis } from 'ioredis';
import type { Probe } from '../../core/ports.ts';
import { type RedisTls, redisTls } from './tls.ts';

/** Readiness of the Redis cache: a PING on a short-lived connection. */
export const createRedisProbe = (url: string, tls?: RedisTls): Probe => ({
  name: 'redis',
  // reads fall back to Postgres without Redis: not a reason to take a process out of service
  optional: true,
  ping: async () => {
    const client = new Redis(url, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      connectTimeout: 2000,
      retryStrategy: () => null,
      ...redisTls(tls),
    });
    // ioredis rejects a connection that failed with "Connection is closed."; the reason (refused, a
    // certificate not trusted, a handshake the server refused) is in the error event before it
    const reasons: unknown[] = [];
    client.on('error', (error: Error) => reasons.push(error));
    try {
      await client.connect();
      await client.ping();
    } catch (error) {
      throw [...reasons, error][0];
    } finally {
      client.disconnect();
    }
  },
});
