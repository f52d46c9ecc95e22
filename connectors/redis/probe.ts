import { Redis } from 'ioredis';
import type { Probe } from '../../core/ports.ts';

/** Readiness of the Redis cache: a PING on a short-lived connection. */
export const createRedisProbe = (url: string): Probe => ({
  name: 'redis',
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
