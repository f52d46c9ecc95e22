import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { classified, DependencyUnavailable, isLogfrontError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import {
  type CacheEntry,
  decodeEntry,
  encodeEntry,
  type InvalidationListener,
  type KeyTouch,
  newestTouches,
  type SharedCache,
} from '../../core/read/cache.ts';
import { partitionKey } from '../../core/read/positions.ts';
import type { Breaker } from '../../core/resilience/breaker.ts';
import type { Position } from '../../core/types.ts';
import { type RedisTls, redisTls } from './tls.ts';

// Keys. Every key a script is given carries the projection's hash tag, so in a Redis Cluster they
// share one slot (a script's keys must: CROSSSLOT otherwise):
//   <prefix>{<projection>}:c:<key>   hash: v (entry JSON), g (generation), e (epoch), p:<topic/partition> (next offset)
//   <prefix>{<projection>}:m:<key>   hash: <topic/partition> → offset of the newest event that touched the row
//   <prefix>{<projection>}:epoch     a token, made anew when marks may have been lost; older entries are not served
//   <prefix>{<projection>}:progress  hash: <topic/partition> → next offset the invalidation consumer reads
//   channel <prefix>invalidations    {"p": projection, "k": [keys]}
export const cacheKeys = (prefix: string) => {
  const tag = (projection: string) => `${prefix}{${projection}}`;
  return {
    entry: (projection: string, key: string) => `${tag(projection)}:c:${key}`,
    mark: (projection: string, key: string) => `${tag(projection)}:m:${key}`,
    epoch: (projection: string) => `${tag(projection)}:epoch`,
    progress: (projection: string) => `${tag(projection)}:progress`,
    channel: `${prefix}invalidations`,
  };
};

/** the keys each script is given, in order: [entry, mark, epoch] for GET and PUT, [entry, mark] for MARK */
export const scriptKeys = (prefix: string) => {
  const keys = cacheKeys(prefix);
  return {
    get: (projection: string, key: string) =>
      [keys.entry(projection, key), keys.mark(projection, key), keys.epoch(projection)] as const,
    put: (projection: string, key: string) =>
      [keys.entry(projection, key), keys.mark(projection, key), keys.epoch(projection)] as const,
    mark: (projection: string, key: string) =>
      [keys.entry(projection, key), keys.mark(projection, key)] as const,
  };
};

/**
 * returns the entry's JSON unless a mark is at or past its position, the generation differs or the epoch
 * moved; no epoch at all (Redis lost its state) serves nothing
 */
const GET = `
local v = redis.call('HMGET', KEYS[1], 'v', 'g', 'e')
if not v[1] then return false end
local epoch = redis.call('GET', KEYS[3])
if (not epoch) or v[2] ~= ARGV[1] or v[3] ~= epoch then return false end
local marks = redis.call('HGETALL', KEYS[2])
for i = 1, #marks, 2 do
  local n = redis.call('HGET', KEYS[1], 'p:' .. marks[i])
  if (not n) or tonumber(n) <= tonumber(marks[i + 1]) then
    redis.call('DEL', KEYS[1])
    return false
  end
end
return v[1]`;

/**
 * stores the entry unless a mark is at or past its position, or the stored entry is newer; 1 when stored,
 * -1 when there is no epoch (Redis lost its state, marks with it: the entry may be superseded)
 */
const PUT = `
local epoch = redis.call('GET', KEYS[3])
if not epoch then return -1 end
local applied = {}
for i = 4, #ARGV, 2 do applied[ARGV[i]] = tonumber(ARGV[i + 1]) end
local marks = redis.call('HGETALL', KEYS[2])
for i = 1, #marks, 2 do
  local n = applied[marks[i]]
  if (not n) or n <= tonumber(marks[i + 1]) then return 0 end
end
local current = redis.call('HMGET', KEYS[1], 'g', 'e')
if current[1] == ARGV[2] and current[2] == epoch then
  local newer = false
  local older = false
  for i = 4, #ARGV, 2 do
    local n = tonumber(redis.call('HGET', KEYS[1], 'p:' .. ARGV[i]) or '-1')
    if n > applied[ARGV[i]] then newer = true elseif n < applied[ARGV[i]] then older = true end
  end
  if newer and not older then return 0 end
end
redis.call('DEL', KEYS[1])
local fields = {'v', ARGV[1], 'g', ARGV[2], 'e', epoch}
for i = 4, #ARGV, 2 do
  fields[#fields + 1] = 'p:' .. ARGV[i]
  fields[#fields + 1] = ARGV[i + 1]
end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`;

/** raises the row's marks (never lowers them) and drops the entry when a mark supersedes it */
const MARK = `
for i = 2, #ARGV, 2 do
  local cur = redis.call('HGET', KEYS[2], ARGV[i])
  if (not cur) or tonumber(cur) < tonumber(ARGV[i + 1]) then redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
end
redis.call('PEXPIRE', KEYS[2], ARGV[1])
for i = 2, #ARGV, 2 do
  local n = redis.call('HGET', KEYS[1], 'p:' .. ARGV[i])
  if (not n) or tonumber(n) <= tonumber(ARGV[i + 1]) then
    redis.call('DEL', KEYS[1])
    return 1
  end
end
return 0`;

interface ScriptedRedis extends Redis {
  lfGet(entry: string, mark: string, epoch: string, generation: string): Promise<string | null>;
  lfPut(entry: string, mark: string, epoch: string, ...args: string[]): Promise<number>;
  lfMark(entry: string, mark: string, ...args: string[]): Promise<number>;
}

/** errors Redis answers with while it cannot serve (loading, busy with a script, no master, cluster down) */
const NOT_SERVING = /^(LOADING|BUSY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN)\b/;

/**
 * A Redis that did not answer (no connection, a command timed out) or cannot serve now, as
 * DependencyUnavailable; an error Redis answered (a script's, a command's) as it is.
 */
export const redisFailure = (error: unknown): unknown => {
  if (isLogfrontError(error)) return error;
  const { name, message } = error as { name?: unknown; message?: unknown };
  const text = typeof message === 'string' ? message : String(error);
  if (name === 'ReplyError' && !NOT_SERVING.test(text)) return error;
  return new DependencyUnavailable('redis', text, { cause: error });
};

export interface RedisCacheOptions {
  url: string;
  /** TLS settings with a rediss:// URL */
  tls?: RedisTls | undefined;
  prefix: string;
  /** time to live of a cached row */
  ttlMs: number;
  /** how long a mark outlives the event that set it */
  markTtlMs: number;
  /** a command not answered within this counts as failed (the read goes to the store) */
  commandTimeoutMs?: number;
  logger: Logger;
  /**
   * the redis circuit breaker of the process: while Redis keeps failing, cache calls fail at once
   * (the read goes to the store) instead of each waiting for its timeout; the health probe bypasses it
   */
  breaker?: Pick<Breaker, 'call'> | undefined;
}

export const createRedisCache = async (options: RedisCacheOptions): Promise<SharedCache> => {
  const { prefix, logger } = options;
  const connection = {
    // no queue while disconnected: a read must not wait for Redis, it goes to the store
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 2000,
    commandTimeout: options.commandTimeoutMs ?? 1000,
    retryStrategy: (attempt: number) => Math.min(100 * attempt, 1000),
    ...redisTls(options.tls),
  };
  const redis = new Redis(options.url, connection) as ScriptedRedis;
  redis.defineCommand('lfGet', { numberOfKeys: 3, lua: GET });
  redis.defineCommand('lfPut', { numberOfKeys: 3, lua: PUT });
  redis.defineCommand('lfMark', { numberOfKeys: 2, lua: MARK });
  let lastError = '';
  redis.on('error', (error: Error) => {
    if (error.message !== lastError) logger.warn({ err: error }, 'redis cache: connection error');
    lastError = error.message;
  });
  redis.on('ready', () => {
    lastError = '';
  });
  // the cache works without Redis (reads go to the store); give it a moment to connect first
  await new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      redis.off('ready', done);
      resolve();
    };
    const timer = setTimeout(done, 2000);
    redis.once('ready', done);
  });

  const keys = cacheKeys(prefix);
  const scripts = scriptKeys(prefix);
  const channel = keys.channel;
  const subscribers = new Set<Redis>();

  // Redis may lose its state (a restart without persistence, a failover to a replica that lagged), and
  // the marks with it: an entry they superseded could then be served, or stored again. So every
  // projection this process uses has an epoch token (made when there is none); on each (re)connection,
  // a token that is gone or a server that is not the one before (another run_id) retires every entry
  // stored before: a new token. Until that check has run on a connection, nothing is read or stored.
  const epochs = new Map<string, Promise<unknown>>(); // projection → its token, made sure of
  const ensureEpoch = (projection: string) => {
    let made = epochs.get(projection);
    if (!made) {
      made = redis.set(keys.epoch(projection), randomUUID(), 'NX');
      made.catch(() => epochs.delete(projection));
      epochs.set(projection, made);
    }
    return made;
  };
  let serverId: string | undefined;
  const checkState = async () => {
    const info = await redis.info('server');
    const at = info.indexOf('run_id:');
    const id = info.slice(at, at + 47); // run_id: and 40 hex digits, new at every start of the server
    const otherServer = serverId !== undefined && id !== serverId;
    serverId = id;
    const lost: string[] = [];
    for (const projection of epochs.keys()) {
      if (otherServer || !(await redis.exists(keys.epoch(projection)))) lost.push(projection);
    }
    for (const projection of lost) await redis.set(keys.epoch(projection), randomUUID());
    if (lost.length) {
      logger.warn(
        { projections: lost, otherServer },
        'redis cache: Redis lost its state or is another server; entries stored before are retired',
      );
    }
  };
  let checked: Promise<void> | undefined;
  const checkedState = () => {
    checked ??= checkState().catch((error: unknown) => {
      checked = undefined; // tried again by the next command
      throw error;
    });
    return checked;
  };
  redis.on('ready', () => {
    checked = undefined;
    checkedState().catch((error: unknown) =>
      logger.warn({ err: error }, 'redis cache: could not check whether Redis kept its state'),
    );
  });
  const ready = async (projection: string) => {
    await checkedState();
    await ensureEpoch(projection);
  };

  const cache: SharedCache = {
    get: async (projection, key, generation) => {
      await ready(projection);
      const text = await redis.lfGet(...scripts.get(projection, key), String(generation));
      return text ? decodeEntry(text) : null;
    },
    put: async (projection, key, entry: CacheEntry) => {
      await ready(projection);
      const applied = entry.checkpoints.flatMap((c) => [
        partitionKey(c.topic, c.partition),
        c.nextOffset.toString(),
      ]);
      const stored = await redis.lfPut(
        ...scripts.put(projection, key),
        encodeEntry(entry),
        String(entry.generation),
        String(options.ttlMs),
        ...applied,
      );
      if (stored === -1) {
        // the epoch is gone (state lost since the last check, an eviction): a new one; this entry may
        // have been read before the loss, so it is not stored
        epochs.delete(projection);
        await ensureEpoch(projection);
      }
      return stored === 1;
    },
    drop: async (projection, key) => {
      await redis.del(keys.entry(projection, key));
    },
    invalidate: async (projection, touches: readonly KeyTouch[], progress: readonly Position[]) => {
      // per row, the newest touching offset per partition
      const byKey = newestTouches(touches);
      const pipeline = redis.pipeline() as unknown as ScriptedRedis & { exec(): Promise<unknown> };
      for (const [key, marks] of byKey) {
        const args = [...marks].flatMap(([p, offset]) => [p, offset.toString()]);
        pipeline.lfMark(...scripts.mark(projection, key), String(options.markTtlMs), ...args);
      }
      if (progress.length) {
        pipeline.hset(
          keys.progress(projection),
          ...progress.flatMap((p) => [partitionKey(p.topic, p.partition), p.offset.toString()]),
        );
      }
      if (byKey.size) pipeline.publish(channel, JSON.stringify({ p: projection, k: [...byKey.keys()] }));
      const results = (await pipeline.exec()) as [Error | null, unknown][] | null;
      const failed = results?.find(([error]) => error);
      if (failed) throw failed[0];
    },
    bumpEpoch: async (projection) => {
      await redis.set(keys.epoch(projection), randomUUID());
      epochs.set(projection, Promise.resolve());
    },
    progress: async (projection) => {
      const all = await redis.hgetall(keys.progress(projection));
      return Object.entries(all).map(([p, offset]) => {
        const slash = p.lastIndexOf('/');
        return { topic: p.slice(0, slash), partition: Number(p.slice(slash + 1)), offset: BigInt(offset) };
      });
    },
    subscribe: async (listener: InvalidationListener) => {
      const sub = new Redis(options.url, {
        ...connection,
        enableOfflineQueue: true,
        commandTimeout: undefined,
      });
      subscribers.add(sub);
      sub.on('error', () => {}); // reported by the command connection
      const down = () => listener.live(false);
      sub.on('close', down);
      sub.on('ready', () => {
        sub.subscribe(channel).then(
          () => listener.live(true),
          () => listener.live(false),
        );
      });
      sub.on('message', (_channel: string, message: string) => {
        try {
          const { p, k } = JSON.parse(message) as { p: string; k: string[] };
          listener.invalidated(p, k);
        } catch {
          listener.live(false);
          listener.live(true);
        }
      });
      return async () => {
        subscribers.delete(sub);
        sub.off('close', down);
        sub.disconnect();
      };
    },
    ping: async () => {
      await redis.ping();
    },
    close: async () => {
      for (const sub of subscribers) sub.disconnect();
      subscribers.clear();
      redis.disconnect();
    },
  };
  // a Redis that is down fails a call as DependencyUnavailable (redis): the row cache then reads the store
  const { breaker } = options;
  const guarded = <A extends unknown[], R>(call: (...args: A) => Promise<R>) => {
    const plain = classified(redisFailure, call);
    return breaker ? (...args: A) => breaker.call(() => plain(...args)) : plain;
  };
  return {
    ...cache,
    get: guarded(cache.get),
    put: guarded(cache.put),
    drop: guarded(cache.drop),
    invalidate: guarded(cache.invalidate),
    bumpEpoch: guarded(cache.bumpEpoch),
    progress: guarded(cache.progress),
    ping: classified(redisFailure, cache.ping),
  };
};
