import type { ConnectionOptions } from 'node:tls';
import type { RedisOptions } from 'ioredis';

/** TLS to Redis (with a rediss:// URL): trusted CAs, a client certificate, whether the server's is checked */
export type RedisTls = Pick<ConnectionOptions, 'ca' | 'cert' | 'key' | 'rejectUnauthorized'>;

/** ioredis's `tls` option of the settings; none: what the URL says (rediss:// is TLS with Node's CAs) */
export const redisTls = (tls: RedisTls | undefined): Pick<RedisOptions, 'tls'> =>
  tls ? { tls: { ...tls } } : {};
