// The composition root: config → adapters → services. The CLI, the HTTP server, the demo,
// the benchmarks and the tests all build logfront here.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createTableEventLog } from '../connectors/embedded/log.ts';
import { createPgliteSql } from '../connectors/embedded/pglite-sql.ts';
import { createInProcessRegistry } from '../connectors/embedded/registry.ts';
import { createKafkaEventLog } from '../connectors/kafka/event-log.ts';
import { createPostgresDataKeyStore, createPostgresRowEraser } from '../connectors/postgres/erasure.ts';
import { createPostgresProjectionStore } from '../connectors/postgres/projection-store.ts';
import { createPgSql, type Sql } from '../connectors/postgres/sql.ts';
import { createRedisProbe } from '../connectors/redis/probe.ts';
import { createConfluentRegistry } from '../connectors/registry/confluent.ts';
import { createS3Probe } from '../connectors/s3/client.ts';
import { type AppendService, createAppendService } from '../core/append.ts';
import { createCodec } from '../core/codec.ts';
import type { Config } from '../core/config.ts';
import { createFieldCipher, type FieldCipher, withFieldEncryption } from '../core/crypto.ts';
import { createErasure, type Erasure } from '../core/erasure.ts';
import { NotFound } from '../core/errors.ts';
import { createCatalog, type EventCatalog } from '../core/event-types.ts';
import { createFacade, type Facade } from '../core/facade.ts';
import { createLogger, type Logger } from '../core/logger.ts';
import type { EventLog, Probe, ProjectionStore, SchemaRegistry } from '../core/ports.ts';
import { type Rebuild, startRebuild } from '../projections/rebuild.ts';
import { createProjectionRunner, type ProjectionRunner } from '../projections/runner.ts';
import { type Domain, sampleDomain } from './domain.ts';
import { resolveKek } from './kek.ts';

export interface Logfront {
  readonly config: Config;
  readonly logger: Logger;
  readonly domain: Domain;
  readonly catalog: EventCatalog;
  readonly log: EventLog;
  readonly store: ProjectionStore;
  readonly registry: SchemaRegistry;
  readonly append: AppendService;
  readonly facade: Facade;
  readonly probes: readonly Probe[];
  /** GDPR erasure of a data subject (crypto-shredding); see docs/erasure.md */
  readonly erasure: Erasure;
  /** starts a blue/green rebuild of a projection; 404 for an unknown one, 409 when one is running */
  rebuild(name: string): Promise<Rebuild>;
  /** start a runner for every projection of the domain (idempotent) */
  startRunners(): Promise<void>;
  stopRunners(): Promise<void>;
  close(): Promise<void>;
}

export interface ComposeOptions {
  domain?: Domain;
  logger?: Logger;
}

export const createLogfront = async (config: Config, options: ComposeOptions = {}): Promise<Logfront> => {
  const logger = options.logger ?? createLogger(config.logLevel);
  const domain = options.domain ?? sampleDomain;
  const catalog = createCatalog(domain.eventTypes, config.topicPrefix);
  const schema = config.database.schema;

  let log: EventLog;
  let store: ProjectionStore;
  let registry: SchemaRegistry;
  let sql: Sql;
  const probes: Probe[] = [];
  if (config.mode === 'embedded') {
    const inMemory = config.dataDir === ':memory:';
    if (!inMemory) mkdirSync(config.dataDir, { recursive: true });
    sql = await createPgliteSql(inMemory ? undefined : join(config.dataDir, 'pg'));
    registry = createInProcessRegistry();
    log = createTableEventLog(sql, { schema, topicPrefix: config.topicPrefix });
    store = createPostgresProjectionStore(sql, schema);
    probes.push({ name: 'postgres', ping: () => store.ping() });
  } else {
    registry = createConfluentRegistry(config.schemaRegistryUrl!);
    const codec = createCodec(registry, catalog);
    log = createKafkaEventLog({
      brokers: config.kafka.brokers,
      clientId: config.kafka.clientId,
      topicPrefix: config.topicPrefix,
      partitions: config.kafka.partitions,
      replication: config.kafka.replication,
      sessionTimeoutMs: config.kafka.sessionTimeoutMs,
      codec,
      logger,
    });
    sql = createPgSql(config.database.url!);
    store = createPostgresProjectionStore(sql, schema);
    probes.push(
      { name: 'kafka', ping: () => log.ping() },
      { name: 'postgres', ping: () => store.ping() },
      { name: 'schema-registry', ping: () => registry.ping() },
    );
    if (config.redis.url) probes.push(createRedisProbe(config.redis.url));
    if (config.s3.endpoint && config.s3.bucket) {
      probes.push(createS3Probe({ ...config.s3, endpoint: config.s3.endpoint, bucket: config.s3.bucket }));
    }
  }

  // sensitive fields are encrypted under per-subject data keys; the log below sees ciphertext only
  const kek = resolveKek(config);
  let cipher: FieldCipher | null = null;
  if (kek) {
    cipher = createFieldCipher({ kek, keys: createPostgresDataKeyStore(sql, schema), catalog });
    log = withFieldEncryption(log, cipher);
  } else if (domain.eventTypes.some((t) => t.sensitive.length > 0)) {
    logger.warn(
      'LOGFRONT_KEK is not set: sensitive fields are stored unencrypted and erasure is unavailable',
    );
  }
  const erasure = createErasure({
    cipher,
    projections: domain.projections,
    deleteRows: createPostgresRowEraser(sql, schema),
    logger,
  });

  const append = createAppendService({ log, catalog, limits: config.limits });
  const facade = createFacade({
    store,
    log,
    projections: domain.projections,
    defaultWaitMs: config.limits.readWaitMs,
  });
  let runners: ProjectionRunner[] = [];
  const runnerDeps = {
    log,
    store,
    groupPrefix: config.topicPrefix,
    batchEvents: config.limits.batchEvents,
    logger,
  };
  const rebuilds = new Set<Rebuild>();

  const stopRunners = async () => {
    const running = runners;
    runners = [];
    await Promise.all(running.map((r) => r.stop()));
  };

  return {
    config,
    logger,
    domain,
    catalog,
    log,
    store,
    registry,
    append,
    facade,
    probes,
    erasure,
    startRunners: async () => {
      if (runners.length) return;
      runners = domain.projections.map((definition) => createProjectionRunner({ ...runnerDeps, definition }));
      await Promise.all(runners.map((r) => r.start()));
    },
    rebuild: async (name) => {
      const definition = domain.projections.find((p) => p.name === name);
      if (!definition) throw new NotFound(`no projection named "${name.slice(0, 100)}"`);
      const r = await startRebuild({ ...runnerDeps, definition });
      rebuilds.add(r);
      r.done
        .catch((err) => logger.error({ err, projection: name }, 'rebuild failed'))
        .finally(() => rebuilds.delete(r));
      return r;
    },
    stopRunners,
    close: async () => {
      await Promise.all([...rebuilds].map((r) => r.cancel()));
      await stopRunners();
      await facade.close();
      await log.close();
      await store.close();
    },
  };
};
