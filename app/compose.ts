// The composition root: config → adapters → services. The CLI, the HTTP server, the demo,
// the benchmarks and the tests all build logfront here.
import type { KafkaFastPaths } from '../connectors/kafka/fast-paths.ts';
import { createPostgresBlobIndex } from '../connectors/postgres/blob-index.ts';
import { createPostgresDataKeyStore, createPostgresRowEraser } from '../connectors/postgres/erasure.ts';
import type { Sql } from '../connectors/sql/sql.ts';
import {
  type ArchiveHoles,
  createArchiveHoles,
  createArchiveSink,
  withArchive,
} from '../core/blobs/archive.ts';
import { type BlobService, createBlobService, createSubjectBlobs } from '../core/blobs/blob-service.ts';
import { createBlobSink } from '../core/blobs/blob-sink.ts';
import { BLOB_CATEGORY, type BlobStore } from '../core/blobs/blobs.ts';
import { type Dependency, DependencyUnavailable, NotFound } from '../core/errors.ts';
import { type AppendService, createAppendService, traceAppends } from '../core/log/append.ts';
import type { CodecOptions } from '../core/log/codec.ts';
import { createCatalog, type EventCatalog } from '../core/log/event-types.ts';
import type { Logger } from '../core/logger.ts';
import type { EventLog, Probe, ProjectionStore, SchemaRegistry, StreamIndex } from '../core/ports.ts';
import { type CacheTier, createRowCache, type SharedCache } from '../core/read/cache.ts';
import { createFacade, type Facade } from '../core/read/facade.ts';
import { createResilience, type Resilience } from '../core/resilience/resilience.ts';
import { type AuditActor, type AuditLog, type AuditTrail, SYSTEM } from '../core/security/audit.ts';
import { createFieldCipher, type FieldCipher, withFieldEncryption } from '../core/security/crypto.ts';
import { createErasure, type ErasedRows, type Erasure } from '../core/security/erasure.ts';
import { errorMessage } from '../core/security/redaction.ts';
import { type RotationResult, withPreviousKek } from '../core/security/rotation.ts';
import { rowId, TENANT_COLUMN } from '../core/security/tenancy.ts';
import { createTelemetry, type Telemetry } from '../core/telemetry.ts';
import { createDeadLetters, type DeadLetters } from '../projections/dead-letters.ts';
import { createInvalidator, type Invalidator } from '../projections/invalidator.ts';
import { type Rebuild, startRebuild } from '../projections/rebuild.ts';
import { createProjectionRunner, type ProjectionRunner } from '../projections/runner.ts';
import { createStreamIndexer, type StreamIndexer } from '../projections/stream-indexer.ts';
import { blobEventTypes } from '../schemas/blobs.ts';
import { createAuditTrailFor } from './audit.ts';
import type { Config } from './config.ts';
import { type Domain, sampleDomain } from './domain.ts';
import { createErasureRecord } from './erased.ts';
import { requireKek, resolveKek, resolvePreviousKek } from './kek.ts';
import { rotateKeys } from './keys.ts';
import type { PinoLogger } from './logger.ts';

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
  /** the breakers of the dependencies and the retry policy of this process, counted for /metrics */
  readonly resilience: Resilience;
  /** the shared read cache (Redis, or memory when embedded); undefined when the cache is off */
  readonly cache: SharedCache | undefined;
  /** counts of cache hits, misses, errors and strong-read mismatches since start */
  readonly cacheCounts: CacheCounts;
  /** blob uploads and verified reads; undefined without a blob store (services mode without S3) */
  readonly blobs: BlobService | undefined;
  readonly blobStore: BlobStore | undefined;
  /** which of logfront's kafkajs fast paths run; undefined when embedded (no kafkajs loaded) */
  readonly kafkaFastPaths: (() => KafkaFastPaths) | undefined;
  /** blobs whose stored bytes did not match their SHA-256 when read */
  readonly blobCounts: { checksumMismatches: number; stored: number; parts: Record<string, number> };
  /** what runners and sequencers report as it happens (app/metrics.ts listens) */
  readonly telemetry: Telemetry;
  /** ranges of the log neither Kafka nor the archive holds, found by this process (docs/blobs.md) */
  readonly archiveHoles: ArchiveHoles;
  /** GDPR erasure of a data subject (crypto-shredding); see docs/erasure.md */
  readonly erasure: Erasure;
  /** the audit trail: records of access decisions, deletions, erasures and operator actions */
  readonly audit: AuditTrail;
  /**
   * starts a blue/green rebuild of a projection (recorded as projection.rebuilt, `by` whom); 404 for an
   * unknown one, 409 when one is running
   */
  rebuild(name: string, by?: AuditActor): Promise<Rebuild>;
  /** the projections' dead letters: list, retry, skip, and resume a halted projection */
  readonly deadLetters: DeadLetters;
  /**
   * the stream index (services mode; the embedded log's table is its own index) and its builder, which
   * runs with the runners (LOGFRONT_STREAM_INDEX=on); undefined when embedded
   */
  readonly streamIndex: { index: StreamIndex; indexer: StreamIndexer } | undefined;
  /**
   * re-wraps every data key with the KEK from the one before (docs/security.md#rotating-the-kek), recorded
   * as keys.rotated; idempotent and resumable
   */
  rotateKeys(by?: AuditActor): Promise<RotationResult>;
  /** starts the stream index's builder alone (it also starts with the runners); idempotent */
  startStreamIndex(): Promise<void>;
  /** events of the log the stream index has not covered yet (0 when embedded) */
  streamIndexLag(): Promise<number>;
  /** start a runner for every projection of the domain (idempotent) */
  startRunners(): Promise<void>;
  stopRunners(): Promise<void>;
  close(): Promise<void>;
}

/**
 * the mark an erasure (or a dead letter's retry) leaves on a row: a position no cached entry has
 * applied, so the row is read from the store until the mark expires
 */
const ERASED = { topic: '\u0000erased', partition: 0, offset: 0n } as const;

export interface CacheCounts {
  hits: Record<CacheTier, number>;
  misses: number;
  errors: Record<string, number>;
  mismatches: number;
}

export interface ComposeOptions {
  domain?: Domain;
  /** a pino logger (the redaction of sensitive fields is added as its child) */
  logger?: PinoLogger;
}

/** what a mode builds from the config: compose-embedded.ts and compose-services.ts */
export interface ModeAdapters {
  readonly sql: Sql;
  readonly log: EventLog;
  readonly store: ProjectionStore;
  readonly registry: SchemaRegistry;
  /** services mode; the embedded log's table is its own index */
  readonly streamIndex: StreamIndex | undefined;
  readonly probes: Probe[];
  /** the shared read cache, when the config turns it on (and, in services mode, names Redis) */
  readonly cache: SharedCache | undefined;
  readonly blobStore: BlobStore | undefined;
  readonly kafkaFastPaths: (() => KafkaFastPaths) | undefined;
  /** where the audit trail is kept: a topic of its own, or a table of the embedded log */
  readonly auditLog: AuditLog;
  /**
   * makes what an erasure or a key rotation deleted physically gone from the files (the embedded data
   * directory: connectors/embedded/purge.ts); a Postgres server's files, WAL and backups are its own
   */
  readonly purge?: (projections: readonly string[]) => Promise<void>;
}

export interface ModeContext {
  readonly config: Config;
  readonly catalog: EventCatalog;
  readonly logger: Logger;
  /** the codec's registrations of schemas, for the audit trail */
  readonly onRegistration: NonNullable<CodecOptions['onRegistration']>;
  /** the process's breakers and retries: every adapter that talks to a real system goes through it */
  readonly resilience: Resilience;
  /** what sequencers report as it happens (app/metrics.ts listens) */
  readonly telemetry: Telemetry;
  readonly archiveHoles: ArchiveHoles;
}

/** what a mode's module offers: its adapters, and how its drivers say a dependency failed */
interface Mode {
  createAdapters(context: ModeContext): Promise<ModeAdapters>;
  /** a driver's own error that says the dependency is down, unreachable or too slow (services mode) */
  dependencyFailed?: (dependency: Dependency, error: unknown) => boolean;
}

/**
 * What a breaker counts as its dependency failing: an adapter's DependencyUnavailable naming it, or what
 * the mode's drivers throw when it is down, unreachable or timed out; never an answer it gave (a 4xx, a
 * conflict, a validation error).
 */
export const dependencyFailure =
  (mode: Pick<Mode, 'dependencyFailed'>) =>
  (dependency: Dependency, error: unknown): boolean =>
    error instanceof DependencyUnavailable
      ? error.dependency === dependency
      : (mode.dependencyFailed?.(dependency, error) ?? false);

// A mode's adapters are imported when the config picks that mode, never before: an embedded process
// loads none of kafkajs, pg, ioredis, the AWS SDK (tests/integration/loaded-modules.test.ts).
const modes: Record<Config['mode'], () => Promise<Mode>> = {
  embedded: () => import('./compose-embedded.ts'),
  services: () => import('./compose-services.ts'),
};

export const createLogfront = async (config: Config, options: ComposeOptions = {}): Promise<Logfront> => {
  // pino is loaded when logfront is made without a logger, never by importing the SDK
  const { createLogger, withRedaction } = await import('./logger.ts');
  // a deployment that cannot encrypt personal data stops here, before it connects to anything
  requireKek(config);
  const domain = options.domain ?? sampleDomain;
  // every deployment carries blobs on its log, next to its own event types
  const catalog = createCatalog([...domain.eventTypes, ...blobEventTypes], config.topicPrefix);
  // what the event types mark sensitive never reaches a log line, at any depth (docs/security.md#logs)
  const logger = withRedaction(options.logger ?? createLogger(config.logLevel), catalog.types.values());
  const schema = config.database.schema;

  // registrations of this process (on first use of each type) go to the audit trail, made just below
  const registrations: { trail?: AuditTrail } = {};
  const onRegistration: ModeContext['onRegistration'] = (subject, result) =>
    registrations.trail?.offer({
      ...SYSTEM,
      action: 'schema.registered',
      resource: `schema/${subject}`,
      ...('schemaId' in result
        ? { outcome: 'success', details: { schemaId: result.schemaId } }
        : { outcome: 'failure', reason: errorMessage(result.error) }),
    });
  const archiveHoles = createArchiveHoles();
  const telemetry = createTelemetry();
  const mode = await modes[config.mode]();
  const resilience = createResilience({
    logger,
    isFailure: dependencyFailure(mode),
    failureThreshold: config.breakers.failureThreshold,
    openMs: config.breakers.openMs,
  });
  const adapters = await mode.createAdapters({
    config,
    catalog,
    logger,
    onRegistration,
    resilience,
    archiveHoles,
    telemetry,
  });
  const { sql, store, registry, streamIndex, probes, cache: shared, blobStore, kafkaFastPaths } = adapters;
  let log = adapters.log;
  const audit = createAuditTrailFor(config, { log: adapters.auditLog, logger, resilience });
  registrations.trail = audit;
  const cacheCounts: CacheCounts = { hits: { memory: 0, shared: 0 }, misses: 0, errors: {}, mismatches: 0 };
  const rowCache = shared
    ? await createRowCache({
        shared,
        lruEntries: config.cache.lruEntries,
        // a process copy never outlives the shared entry it mirrors
        lruTtlMs: Math.min(config.cache.lruTtlMs, config.cache.ttlMs),
        stats: {
          hit: (tier) => {
            cacheCounts.hits[tier] += 1;
          },
          miss: () => {
            cacheCounts.misses += 1;
          },
          error: (operation) => {
            cacheCounts.errors[operation] = (cacheCounts.errors[operation] ?? 0) + 1;
          },
        },
      })
    : undefined;
  // the log as stored (ciphertext): what the archive sink writes and the stream index reads
  const storedLog = log;
  let indexedLog = log;
  if (blobStore && config.archive.enabled) {
    log = withArchive(log, { store: blobStore, keyPrefix: config.topicPrefix, logger, holes: archiveHoles });
    indexedLog = log;
  }
  const indexer = streamIndex
    ? createStreamIndexer({
        log: indexedLog,
        index: streamIndex,
        groupPrefix: config.topicPrefix,
        batchEvents: config.limits.batchEvents,
        logger,
      })
    : undefined;
  let indexing = false;
  const startStreamIndex = async () => {
    if (!indexer || indexing) return;
    indexing = true;
    try {
      await indexer.start();
    } catch (error) {
      indexing = false; // a start that failed may be tried again
      throw error;
    }
  };
  // sensitive fields are encrypted under per-subject data keys; the log below sees ciphertext only
  const kek = resolveKek(config);
  let cipher: FieldCipher | null = null;
  const dataKeys = createPostgresDataKeyStore(sql, schema);
  const previousKek = resolvePreviousKek(config);
  // erased rows leave the read cache too: a mark no entry can pass refuses them, every LRU hears of it
  const uncache = async (projection: string, rows: readonly Record<string, unknown>[]) => {
    const spec = domain.projections.find((p) => p.name === projection);
    if (!shared || !spec) return;
    const touches = rows.map((row) => ({
      key: rowId(row[TENANT_COLUMN] as string, String(row[spec.key])),
      ...ERASED,
    }));
    await shared.invalidate(projection, touches, []);
  };
  let erasedRows: ErasedRows | undefined;
  let remember: ((tenant: string, subject: string) => Promise<void>) | undefined;
  if (kek) {
    // while a KEK rotation is under way, keys still wrapped with the previous KEK are read too
    const keys = previousKek ? withPreviousKek(dataKeys, kek, previousKek) : dataKeys;
    cipher = createFieldCipher({ kek, keys, catalog });
    log = withFieldEncryption(log, cipher);
    // what an erasure leaves so that no rebuild writes the subject's rows again (docs/erasure.md)
    ({ remember, erasedRows } = createErasureRecord({ sql, schema, keys, kek, log, domain, uncache }));
  } else {
    logger.warn(
      'LOGFRONT_ENCRYPTION=off: sensitive fields are stored unencrypted and erasure is unavailable',
    );
  }
  const blobIndex = createPostgresBlobIndex(sql, schema);
  const erasure = createErasure({
    cipher,
    // a subject's blobs are deleted with it (their bytes, sealed under its key, are unreadable already)
    blobs: blobStore ? createSubjectBlobs(blobIndex, blobStore) : undefined,
    projections: domain.projections,
    deleteRows: createPostgresRowEraser(sql, schema, uncache),
    audit,
    ...(remember ? { remember } : {}),
    ...(adapters.purge ? { purge: adapters.purge } : {}),
  });

  const append = traceAppends(
    createAppendService({
      log,
      catalog,
      limits: config.limits,
      system: config.mode === 'embedded' ? 'postgresql' : 'kafka',
      // a blob's chunks and commit come from the blob service only (PUT /v1/blobs/{id}), never from an append
      reserved: {
        categories: new Set([BLOB_CATEGORY]),
        types: new Set(blobEventTypes.map((t) => t.name)),
        use: 'upload blobs with PUT /v1/blobs/{id}',
      },
    }),
  );

  const blobCounts = { checksumMismatches: 0, stored: 0, parts: {} as Record<string, number> };
  const blobs = blobStore
    ? createBlobService({
        log,
        catalog,
        index: blobIndex,
        store: blobStore,
        maxBytes: config.blobs.maxBytes,
        defaultWaitMs: config.limits.readWaitMs,
        maxWaitMs: config.limits.maxWaitMs,
        verifyFirstBytes: config.blobs.partBytes,
        onMismatch: (blobId) => {
          blobCounts.checksumMismatches += 1;
          logger.error({ blobId }, 'blob: stored bytes do not match their SHA-256; not served');
        },
        // a subject's blob is sealed under its data key (docs/blobs.md#encryption-at-rest)
        keys: cipher ?? undefined,
      })
    : undefined;
  let sinks: { start(): Promise<void>; stop(): Promise<void> }[] = [];
  const facade = createFacade({
    store,
    log,
    projections: domain.projections,
    defaultWaitMs: config.limits.readWaitMs,
    maxWaitMs: config.limits.maxWaitMs,
    ...(config.limits.readTimeoutMs > 0 ? { readTimeoutMs: config.limits.readTimeoutMs } : {}),
    // the embedded log is a table in the embedded Postgres
    ...(config.mode === 'embedded'
      ? { dependencies: { log: 'postgres', store: 'postgres', cache: 'redis' } as const }
      : {}),
    cache: rowCache,
    logger,
    events: {
      cacheMismatch: () => {
        cacheCounts.mismatches += 1;
      },
    },
  });
  const deadLetters = createDeadLetters({
    log,
    store,
    projections: domain.projections,
    audit,
    ...(erasedRows ? { erased: erasedRows } : {}),
    beforeRowsChange: async (projection, keys) => {
      await shared?.invalidate(
        projection,
        keys.map((key) => ({ key, ...ERASED })),
        [],
      );
    },
  });
  let runners: ProjectionRunner[] = [];
  let invalidators: Invalidator[] = [];
  const runnerDeps = {
    log,
    store,
    telemetry,
    groupPrefix: config.topicPrefix,
    batchEvents: config.limits.batchEvents,
    logger,
    catalog,
    holes: archiveHoles,
    ...(erasedRows ? { erased: erasedRows } : {}),
  };
  const rebuilds = new Set<Rebuild>();

  const stopRunners = async () => {
    const running = runners;
    const invalidating = invalidators;
    const sinking = sinks;
    const stopIndex = indexing && indexer ? indexer.stop() : Promise.resolve();
    indexing = false;
    runners = [];
    invalidators = [];
    sinks = [];
    await Promise.all([
      ...running.map((r) => r.stop()),
      ...invalidating.map((i) => i.stop()),
      ...sinking.map((k) => k.stop()),
      stopIndex,
    ]);
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
    resilience,
    cache: shared,
    cacheCounts,
    erasure,
    audit,
    deadLetters,
    blobs,
    blobStore,
    kafkaFastPaths,
    blobCounts,
    telemetry,
    archiveHoles,
    streamIndex: streamIndex && indexer ? { index: streamIndex, indexer } : undefined,
    startStreamIndex,
    streamIndexLag: async () => (indexer ? (await indexer.lag()).events : 0),
    startRunners: async () => {
      if (runners.length) return;
      if (config.streamIndex) await startStreamIndex();
      if (blobStore && config.blobs.sinks) {
        sinks = [
          createBlobSink({
            log,
            store: blobStore,
            index: blobIndex,
            groupPrefix: config.topicPrefix,
            keyPrefix: config.topicPrefix,
            partBytes: config.blobs.partBytes,
            logger,
            onStored: (blobId, _size, parts) => {
              blobCounts.stored += 1;
              blobCounts.parts[blobId] = parts;
            },
            audit,
            keyDestroyed: cipher ? async (keyId) => !(await dataKeys.byIds([keyId])).has(keyId) : undefined,
          }),
        ];
        if (config.archive.enabled && storedLog.startOffsets) {
          const categories = new Set([...domain.projections.flatMap((p) => p.categories), BLOB_CATEGORY]);
          sinks.push(
            createArchiveSink({
              log: storedLog,
              store: blobStore,
              categories: [...categories],
              keyPrefix: config.topicPrefix,
              groupPrefix: config.topicPrefix,
              maxRecords: config.archive.maxRecords,
              maxBytes: config.archive.maxBytes,
              maxAgeMs: config.archive.maxAgeMs,
              logger,
              holes: archiveHoles,
            }),
          );
        }
      }
      runners = domain.projections.map((definition) => createProjectionRunner({ ...runnerDeps, definition }));
      // the cache's invalidation consumers run where the runners run (a consumer group per projection)
      if (shared) {
        const cache = shared;
        invalidators = domain.projections.map((definition) =>
          createInvalidator({ ...runnerDeps, cache, definition }),
        );
      }
      await Promise.all([
        ...runners.map((r) => r.start()),
        ...invalidators.map((i) => i.start()),
        ...sinks.map((k) => k.start()),
      ]);
    },
    rebuild: async (name, by = SYSTEM) => {
      const rebuilt = (outcome: 'started' | 'success' | 'failure', more: object) =>
        audit.offer({
          ...by,
          action: 'projection.rebuilt',
          resource: `projection/${name}`,
          outcome,
          ...more,
        });
      let r: Rebuild;
      try {
        const definition = domain.projections.find((p) => p.name === name);
        if (!definition) throw new NotFound(`no projection named "${name.slice(0, 100)}"`);
        r = await startRebuild({ ...runnerDeps, definition });
      } catch (error) {
        rebuilt('failure', { reason: (error as Error).message });
        throw error;
      }
      const generation = r.generation;
      rebuilt('started', { details: { generation } });
      rebuilds.add(r);
      r.done
        .then(
          () => rebuilt('success', { details: { generation } }),
          (err: unknown) => {
            rebuilt('failure', { reason: (err as Error).message, details: { generation } });
            logger.error({ err, projection: name }, 'rebuild failed');
          },
        )
        .finally(() => rebuilds.delete(r));
      return r;
    },
    rotateKeys: (by = SYSTEM) =>
      rotateKeys({ kek, previous: previousKek, keys: dataKeys, audit, by, schema, purge: adapters.purge }),
    stopRunners,
    close: async () => {
      await Promise.all([...rebuilds].map((r) => r.cancel()));
      await stopRunners();
      await facade.close();
      await rowCache?.close();
      await shared?.close();
      await blobStore?.close();
      // what is queued for the audit log is written before its store closes
      await audit.close();
      await log.close();
      await store.close();
    },
  };
};
