// The embedded mode's adapters: PGlite for the log table and the projections, the in-process schema
// registry, the filesystem blob store and the in-memory cache. Imported by compose.ts only when the
// config says embedded: nothing here loads kafkajs, pg, ioredis or the AWS SDK.
import { chmodSync, mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTableAuditLog } from '../connectors/embedded/audit-log.ts';
import { createFsBlobStore } from '../connectors/embedded/fs-blob-store.ts';
import { createTableEventLog } from '../connectors/embedded/log.ts';
import { createMemoryCache } from '../connectors/embedded/memory-cache.ts';
import { createPgliteSql } from '../connectors/embedded/pglite-sql.ts';
import { createPglitePurge, keepWalUnrecycled } from '../connectors/embedded/purge.ts';
import { createInProcessRegistry } from '../connectors/embedded/registry.ts';
import { createPostgresProjectionStore } from '../connectors/postgres/projection-store.ts';
import type { ModeAdapters, ModeContext } from './compose.ts';

export const createAdapters = async ({ config }: ModeContext): Promise<ModeAdapters> => {
  const schema = config.database.schema;
  const inMemory = config.dataDir === ':memory:';
  if (!inMemory) secureDataDir(config.dataDir);
  const sql = await createPgliteSql(inMemory ? undefined : join(config.dataDir, 'pg'));
  // an erasure (and a key rotation) leaves no copy of what it deleted in the data directory's files
  if (!inMemory) await keepWalUnrecycled(sql);
  if (!inMemory) secureDataDir(config.dataDir);
  const store = createPostgresProjectionStore(sql, schema);
  return {
    ...(inMemory ? {} : { purge: createPglitePurge(sql, schema) }),
    sql,
    log: createTableEventLog(sql, {
      schema,
      topicPrefix: config.topicPrefix,
      appendDeadlineMs: config.limits.appendDeadlineMs,
    }),
    store,
    registry: createInProcessRegistry(),
    streamIndex: undefined,
    probes: [{ name: 'postgres', ping: () => store.ping() }],
    cache: config.cache.enabled
      ? createMemoryCache({ ttlMs: config.cache.ttlMs, markTtlMs: config.cache.markTtlMs })
      : undefined,
    blobStore: createFsBlobStore(
      inMemory ? mkdtempSync(join(tmpdir(), 'logfront-blobs-')) : join(config.dataDir, 'blobs'),
    ),
    kafkaFastPaths: undefined,
    auditLog: createTableAuditLog(sql, { schema }),
  };
};

/**
 * The embedded data directory holds the log, the projections, the wrapped data keys and the KEK: only
 * its owner may read it. The directory and every directory in it are 0700 and its files 0600; a file
 * made later is unreachable for others through its 0700 parents whatever its own mode.
 */
const secureDataDir = (dir: string) => {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const walk = (path: string) => {
    chmodSync(path, 0o700);
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      const child = join(path, entry.name);
      if (entry.isDirectory()) walk(child);
      else if (entry.isFile()) chmodSync(child, 0o600);
    }
  };
  walk(dir);
};
