// The services mode's adapters: Kafka for the log, Postgres (pg) for the projections and the stream
// index, a Confluent-API schema registry, and Redis and S3 when configured. Imported by compose.ts only
// when the config says services, so an embedded process never loads their client libraries.

import { kafkaUnavailable } from '../connectors/kafka/client.ts';
import { createKafkaEventLog } from '../connectors/kafka/event-log.ts';
import { kafkaFastPaths } from '../connectors/kafka/fast-paths.ts';
import { createPgSql, postgresDown } from '../connectors/postgres/pg-sql.ts';
import { createPostgresProjectionStore } from '../connectors/postgres/projection-store.ts';
import { createPostgresStreamIndex } from '../connectors/postgres/stream-index.ts';
import { createRedisCache } from '../connectors/redis/cache.ts';
import { createRedisProbe } from '../connectors/redis/probe.ts';
import { createConfluentRegistry } from '../connectors/registry/confluent.ts';
import { createS3BlobStore, s3Down } from '../connectors/s3/blob-store.ts';
import { createS3Probe } from '../connectors/s3/client.ts';
import { ArchiveGap, readArchive } from '../core/blobs/archive.ts';
import type { Dependency } from '../core/errors.ts';
import { createCodec } from '../core/log/codec.ts';
import type { Probe } from '../core/ports.ts';
import { createKafkaAuditLogFor } from './audit.ts';
import type { ModeAdapters, ModeContext } from './compose.ts';

/**
 * a driver's own error that says its service is down, unreachable or too slow: what the breakers count
 * besides a DependencyUnavailable naming it (the registry and Redis adapters turn every such error into
 * one before a breaker sees it)
 */
const driverFailures: Record<Dependency, (error: unknown) => boolean> = {
  kafka: kafkaUnavailable,
  postgres: postgresDown,
  'schema-registry': () => false,
  redis: () => false,
  s3: s3Down,
};

export const dependencyFailed = (dependency: Dependency, error: unknown): boolean =>
  driverFailures[dependency](error);

export const createAdapters = async ({
  config,
  catalog,
  logger,
  onRegistration,
  resilience,
  archiveHoles,
  telemetry,
}: ModeContext): Promise<ModeAdapters> => {
  const schema = config.database.schema;
  const s3 =
    config.s3.endpoint && config.s3.bucket
      ? { ...config.s3, endpoint: config.s3.endpoint, bucket: config.s3.bucket, resilience }
      : undefined;
  const blobStore = s3 ? createS3BlobStore(s3) : undefined;
  // the Kafka log reads below its log start from the archive the archive sink writes to the blob store
  const archiveStore = blobStore && config.archive.enabled ? blobStore : undefined;
  const registry = createConfluentRegistry(config.schemaRegistryUrl!, {
    tls: config.schemaRegistryTls,
    resilience,
  });
  const codec = createCodec(registry, catalog, { onRegistration });
  const { timeouts } = config.database;
  const sql = createPgSql(config.database.url!, {
    tls: config.database.tls,
    resilience,
    connectTimeoutMs: timeouts.connectMs,
    statementTimeoutMs: timeouts.statementMs,
    idleInTransactionTimeoutMs: timeouts.idleInTransactionMs,
  });
  const streamIndex = createPostgresStreamIndex(sql, schema);
  const log = createKafkaEventLog({
    brokers: config.kafka.brokers,
    clientId: config.kafka.clientId,
    topicPrefix: config.topicPrefix,
    partitions: config.kafka.partitions,
    replication: config.kafka.replication,
    minInsyncReplicas: config.kafka.minInsyncReplicas,
    sessionTimeoutMs: config.kafka.sessionTimeoutMs,
    retentionMs: config.kafka.retentionMs,
    readTimeoutMs: config.kafka.readTimeoutMs,
    windowIds: config.kafka.windowIds,
    appendDeadlineMs: config.limits.appendDeadlineMs,
    appendQueue: { events: config.limits.appendQueueEvents, bytes: config.limits.appendQueueBytes },
    tls: config.kafka.tls,
    sasl: config.kafka.sasl,
    codec,
    logger,
    resilience,
    telemetry,
    index: streamIndex,
    archived: async (topic, partition, from, to) =>
      archiveStore
        ? readArchive(archiveStore, config.topicPrefix, topic, partition, from, to).catch((error) => {
            if (error instanceof ArchiveGap) archiveHoles.report(error, 'read');
            throw error;
          })
        : [],
  });
  const store = createPostgresProjectionStore(sql, schema);
  const probes: Probe[] = [
    { name: 'kafka', ping: () => log.ping() },
    { name: 'postgres', ping: () => store.ping() },
    { name: 'schema-registry', ping: () => registry.ping() },
  ];
  if (config.redis.url) probes.push(createRedisProbe(config.redis.url, config.redis.tls));
  if (s3) probes.push(createS3Probe(s3));
  const cache =
    config.cache.enabled && config.redis.url
      ? await createRedisCache({
          url: config.redis.url,
          tls: config.redis.tls,
          prefix: config.redis.prefix,
          ttlMs: config.cache.ttlMs,
          markTtlMs: config.cache.markTtlMs,
          logger,
          breaker: resilience.breaker('redis'),
        })
      : undefined;
  const auditLog = await createKafkaAuditLogFor(config, logger);
  return { sql, log, store, registry, streamIndex, probes, cache, blobStore, kafkaFastPaths, auditLog };
};
