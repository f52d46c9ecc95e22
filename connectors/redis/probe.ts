import { Redis } from 'ioredis';
import type { Probe } from '../../core/ports.ts';

/** Readiness of the Redis cache: a PING on a short-lived connection. */
export const createRedisProbe = (url: string): Probe => ({
  name: 'redis',
  // reads fall back to Postgres without Redis: not a reason to take a process out of service
  optional: true,
  ping: async () => {
    const client = new Redis(url, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      connectTimeout: 2000,
      retryStrategy: () => null,
    });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.ping();
    } finally {
      client.disconnect();
    }
  },
});
