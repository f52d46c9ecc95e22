import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { type Config, loadConfig } from '../../app/config.ts';

export const services = () => inject('services');

/** a short random id for topic prefixes, schemas, buckets and key prefixes */
export const uniqueId = () => randomBytes(5).toString('hex');

/** config for the real services, isolated by a unique topic prefix, database schema and key prefix */
export const servicesConfig = (overrides: Record<string, string> = {}): Config => {
  const id = uniqueId();
  return loadConfig({
    ...services(),
    LOGFRONT_MODE: 'services',
    LOGFRONT_TOPIC_PREFIX: `t${id}`,
    LOGFRONT_DATABASE_SCHEMA: `t_${id}`,
    LOGFRONT_REDIS_PREFIX: `t${id}:`,
    LOGFRONT_LOG_LEVEL: 'warn',
    LOGFRONT_READ_WAIT_MS: '15000',
    // the HTTP API open to the tests; authentication has tests of its own
    LOGFRONT_AUTH: 'none',
    ...overrides,
  });
};

/** config for the embedded default in memory */
export const embeddedConfig = (overrides: Record<string, string> = {}): Config =>
  loadConfig({
    LOGFRONT_MODE: 'embedded',
    LOGFRONT_DATA_DIR: ':memory:',
    LOGFRONT_LOG_LEVEL: 'warn',
    LOGFRONT_READ_WAIT_MS: '5000',
    LOGFRONT_AUTH: 'none',
    ...overrides,
  });

export const waitFor = async <T>(
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 20_000,
  stepMs = 50,
) => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
};
