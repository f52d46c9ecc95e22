import { createLogger } from '../../app/logger.ts';
import { createMemoryCache } from '../../connectors/embedded/memory-cache.ts';
import { createRedisCache } from '../../connectors/redis/cache.ts';
import { sharedCacheContract } from '../contract/cache.features.ts';
import { services, uniqueId } from '../support/services.ts';

sharedCacheContract('redis', async () => {
  const prefix = `t${uniqueId()}:`;
  return {
    open: (ttlMs) =>
      createRedisCache({
        url: services().LOGFRONT_REDIS_URL,
        prefix,
        ttlMs,
        markTtlMs: 60_000,
        logger: createLogger('silent'),
      }),
    close: async () => {},
  };
});

sharedCacheContract('memory (embedded)', async () => ({
  open: async (ttlMs) => createMemoryCache({ ttlMs, markTtlMs: 60_000 }),
  close: async () => {},
}));
