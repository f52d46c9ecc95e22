// The only module that reads the environment. Everything else receives a Config.
import { z } from 'zod';
import { ConfigError } from '../core/errors.ts';
import { type KafkaSasl, type TlsSettings, TRANSPORT_ENV, transportSettings } from './config-transport.ts';

const int = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^-?\d+$/, 'expected a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));
const url = (protocol: RegExp, example: string) =>
  z.url({ protocol, error: `expected a URL like ${example}` });
const HTTP = /^https?$/;
const list = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean),
  )
  .pipe(
    z
      .array(z.string().regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port'))
      .min(1, 'expected host:port[,host:port…]'),
  );

/** 32 random bytes in base64 (a key) */
const key32 = z
  .string()
  .trim()
  .refine(
    (s) => Buffer.from(s, 'base64').length === 32 && Buffer.from(s, 'base64').toString('base64') === s,
    {
      message: '32 bytes, base64 (openssl rand -base64 32)',
    },
  );

/** Every variable logfront reads, with its default. docs/configuration.md documents each. */
export const ENV_SCHEMA = z.object({
  LOGFRONT_MODE: z.enum(['embedded', 'services']).optional(),
  LOGFRONT_KAFKA_BROKERS: list.optional(),
  LOGFRONT_KAFKA_CLIENT_ID: z.string().min(1).default('logfront'),
  LOGFRONT_TOPIC_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,100}$/, 'letters, digits, . _ - (at most 101)')
    .default('logfront'),
  LOGFRONT_TOPIC_PARTITIONS: int(1, 1000).default(3),
  LOGFRONT_TOPIC_REPLICATION: int(1, 10).default(1),
  LOGFRONT_TOPIC_MIN_INSYNC_REPLICAS: int(1, 10).optional(),
  LOGFRONT_KAFKA_SESSION_TIMEOUT_MS: int(6000, 300_000).default(30_000),
  LOGFRONT_TOPIC_RETENTION_MS: int(-1, 2 ** 53 - 1)
    .refine((v) => v === -1 || v >= 60_000, {
      message: '-1 (keep for ever) or at least 60000',
    })
    .default(-1),
  LOGFRONT_KAFKA_READ_TIMEOUT_MS: int(100, 3_600_000).default(60_000),
  LOGFRONT_SEQUENCER_WINDOW_IDS: int(1000, 100_000_000).default(200_000),
  LOGFRONT_SCHEMA_REGISTRY_URL: url(HTTP, 'http://host:8081').optional(),
  LOGFRONT_DATABASE_URL: url(/^postgres(ql)?$/, 'postgres://user:password@host:5432/db').optional(),
  LOGFRONT_DATABASE_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a lower-case SQL identifier')
    .default('logfront'),
  LOGFRONT_PG_CONNECT_TIMEOUT_MS: int(0, 600_000).default(5000),
  LOGFRONT_PG_STATEMENT_TIMEOUT_MS: int(0, 86_400_000).default(30_000),
  LOGFRONT_PG_IDLE_IN_TRANSACTION_TIMEOUT_MS: int(0, 86_400_000).default(60_000),
  LOGFRONT_BREAKER_FAILURES: int(1, 1000).default(5),
  LOGFRONT_BREAKER_OPEN_MS: int(10, 600_000).default(5000),
  LOGFRONT_REDIS_URL: url(/^rediss?$/, 'redis://host:6379').optional(),
  LOGFRONT_REDIS_PREFIX: z.string().default('logfront:'),
  LOGFRONT_MAX_BLOB_BYTES: int(1, 1024 * 1024 * 1024 * 1024).default(1024 * 1024 * 1024),
  LOGFRONT_BLOB_PART_BYTES: int(5 * 1024 * 1024, 5 * 1024 * 1024 * 1024).default(8 * 1024 * 1024),
  LOGFRONT_SINKS: z.enum(['on', 'off']).default('on'),
  LOGFRONT_ARCHIVE: z.enum(['on', 'off']).default('on'),
  LOGFRONT_ARCHIVE_MAX_RECORDS: int(1, 10_000_000).default(10_000),
  LOGFRONT_ARCHIVE_MAX_BYTES: int(1024, 5 * 1024 * 1024 * 1024).default(8 * 1024 * 1024),
  LOGFRONT_ARCHIVE_MAX_AGE_MS: int(10, 86_400_000).default(60_000),
  LOGFRONT_CACHE: z.enum(['on', 'off']).default('on'),
  LOGFRONT_CACHE_TTL_MS: int(100, 86_400_000).default(60_000),
  LOGFRONT_CACHE_MARK_TTL_MS: int(1000, 86_400_000).default(600_000),
  LOGFRONT_CACHE_LRU_ENTRIES: int(0, 10_000_000).default(10_000),
  LOGFRONT_CACHE_LRU_TTL_MS: int(1, 3_600_000).default(5_000),
  LOGFRONT_S3_ENDPOINT: url(HTTP, 'http://host:9000').optional(),
  LOGFRONT_S3_BUCKET: z.string().min(3).max(63).optional(),
  LOGFRONT_S3_REGION: z.string().min(1).default('us-east-1'),
  AWS_ACCESS_KEY_ID: z.string().optional(),
  AWS_SECRET_ACCESS_KEY: z.string().optional(),
  LOGFRONT_HOST: z.string().min(1).default('127.0.0.1'),
  LOGFRONT_PORT: int(0, 65535).default(7070),
  LOGFRONT_URL: url(HTTP, 'http://127.0.0.1:7070').optional(),
  LOGFRONT_DATA_DIR: z.string().min(1).default('./.logfront'),
  LOGFRONT_AUTH: z.enum(['none', 'tokens']).optional(),
  LOGFRONT_API_KEYS_FILE: z.string().min(1).optional(),
  LOGFRONT_JWT_SECRET: z.string().min(32, 'at least 32 characters (openssl rand -base64 32)').optional(),
  LOGFRONT_JWT_JWKS_FILE: z.string().min(1).optional(),
  LOGFRONT_ALLOWED_HOSTS: z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((h) => h.trim().toLowerCase())
        .filter(Boolean),
    )
    .optional(),
  LOGFRONT_TOKEN: z.string().min(1).optional(),
  LOGFRONT_RATE_LIMIT_PER_MINUTE: int(0, 100_000_000).default(60_000),
  LOGFRONT_HTTP_HEADERS_TIMEOUT_MS: int(100, 600_000).default(10_000),
  LOGFRONT_HTTP_REQUEST_TIMEOUT_MS: int(0, 3_600_000).default(300_000),
  LOGFRONT_HTTP_IDLE_TIMEOUT_MS: int(0, 3_600_000).default(120_000),
  LOGFRONT_HTTP_KEEP_ALIVE_TIMEOUT_MS: int(100, 3_600_000).default(72_000),
  LOGFRONT_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOGFRONT_MAX_APPEND_BYTES: int(1024, 64 * 1024 * 1024).default(1024 * 1024),
  LOGFRONT_MAX_APPEND_EVENTS: int(1, 100_000).default(1000),
  LOGFRONT_APPEND_DEADLINE_MS: int(100, 600_000).default(10_000),
  LOGFRONT_APPEND_QUEUE_EVENTS: int(1, 10_000_000).default(20_000),
  LOGFRONT_APPEND_QUEUE_BYTES: int(1024, 4 * 1024 * 1024 * 1024).default(64 * 1024 * 1024),
  LOGFRONT_READ_WAIT_MS: int(0, 600_000).default(5000),
  LOGFRONT_MAX_WAIT_MS: int(0, 600_000).default(30_000),
  LOGFRONT_READ_TIMEOUT_MS: int(0, 600_000).default(5000),
  LOGFRONT_RUNNERS: z.enum(['on', 'off']).default('on'),
  LOGFRONT_STREAM_INDEX: z.enum(['on', 'off']).default('on'),
  LOGFRONT_BATCH_EVENTS: int(1, 100_000).default(500),
  LOGFRONT_CONFIG: z.string().min(1).optional(),
  LOGFRONT_KEK: key32.optional(),
  LOGFRONT_KEK_PREVIOUS: key32.optional(),
  LOGFRONT_ENCRYPTION: z.enum(['on', 'off']).optional(),
  LOGFRONT_AUDIT_SECRET: key32.optional(),
  ...TRANSPORT_ENV,
});

export type Env = z.input<typeof ENV_SCHEMA>;

export interface Config {
  mode: 'embedded' | 'services';
  kafka: {
    brokers: string[];
    clientId: string;
    partitions: number;
    replication: number;
    /**
     * min.insync.replicas of the topics logfront creates (LOGFRONT_TOPIC_MIN_INSYNC_REPLICAS); undefined:
     * 2 from replication 3 on, else 1 (connectors/kafka/topics.ts)
     */
    minInsyncReplicas: number | undefined;
    sessionTimeoutMs: number;
    /** retention.ms of the topics logfront creates; -1: for ever */
    retentionMs: number;
    /** bound on one positional read of a partition range (a takeover's tail, a stream's unindexed tail) */
    readTimeoutMs: number;
    /** event ids a partition's sequencer keeps in memory before it drops what the stream index covers */
    windowIds: number;
    /** TLS to the brokers (LOGFRONT_KAFKA_TLS…); undefined: plaintext */
    tls: TlsSettings | undefined;
    /** SASL authentication (LOGFRONT_KAFKA_SASL_…); undefined: none */
    sasl: KafkaSasl | undefined;
  };
  topicPrefix: string;
  schemaRegistryUrl: string | undefined;
  /** TLS to the registry: set when its URL is https:// */
  schemaRegistryTls: TlsSettings | undefined;
  /** tls: set by LOGFRONT_DATABASE_TLS…; undefined leaves TLS to the URL's own sslmode */
  database: { url: string | undefined; schema: string; tls: TlsSettings | undefined; timeouts: PgTimeouts };
  /** the circuit breakers of the dependencies (core/resilience, docs/resilience.md) */
  breakers: { failureThreshold: number; openMs: number };
  /** tls: set when the URL is rediss:// */
  redis: { url: string | undefined; prefix: string; tls: TlsSettings | undefined };
  /** blobs: the largest upload, the multipart part size, whether the blob and archive sinks run with the runners */
  blobs: { maxBytes: number; partBytes: number; sinks: boolean };
  /** the archive of the log in the blob store: on/off, and when an object is cut */
  archive: { enabled: boolean; maxRecords: number; maxBytes: number; maxAgeMs: number };
  /** the read cache: Redis (services) or memory (embedded) plus a per-process LRU */
  cache: { enabled: boolean; ttlMs: number; markTtlMs: number; lruEntries: number; lruTtlMs: number };
  s3: {
    endpoint: string | undefined;
    bucket: string | undefined;
    region: string;
    accessKeyId: string | undefined;
    secretAccessKey: string | undefined;
    /** set when the endpoint is https:// */
    tls: TlsSettings | undefined;
  };
  http: {
    host: string;
    port: number;
    url: string;
    /** names the server answers to (the Host header); another is 421. Empty: loopback names only when it listens on loopback, any otherwise */
    allowedHosts: string[];
    /** the bearer token the CLI sends (LOGFRONT_TOKEN; else the dev key of the data directory) */
    token: string | undefined;
    /** requests a principal may make per minute (0: no limit); applies when tokens are checked */
    rateLimitPerMinute: number;
    /** how long a client may take to send a request, and keep a connection open (app/http-timeouts.ts) */
    timeouts: HttpTimeouts;
  };
  /**
   * who may call the HTTP API: `tokens` (API keys from a file, JWTs), `none` (anyone: LOGFRONT_AUTH=none,
   * explicitly), or `unset` (nothing configured: `serve` refuses to start, `dev` makes a dev key)
   */
  auth: {
    mode: 'none' | 'tokens' | 'unset';
    apiKeysFile: string | undefined;
    jwtSecret: string | undefined;
    jwksFile: string | undefined;
  };
  dataDir: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  limits: {
    maxAppendBytes: number;
    maxAppendEvents: number;
    /** an append not committed this long after its receipt fails with 503 append_timeout */
    appendDeadlineMs: number;
    /** the appends a partition's sequencer holds waiting, in events and bytes; more are refused with 429 */
    appendQueueEvents: number;
    appendQueueBytes: number;
    readWaitMs: number;
    /** the longest any read waits (after=, consistency=strong, a budget), whatever it asks */
    maxWaitMs: number;
    /** what a read may wait on its dependencies beyond its wait; then 503 dependency_unavailable (0: no limit) */
    readTimeoutMs: number;
    batchEvents: number;
  };
  runners: boolean;
  /** whether `serve` builds the stream index (also with the runners off) */
  streamIndex: boolean;
  /** the user's logfront.config.ts (default: looked for in the working directory) */
  configFile: string | undefined;
  /** base64 key-encryption key of the data keys; embedded mode keeps one in the data dir when unset */
  kek: string | undefined;
  /**
   * base64 key-encryption key the data keys were wrapped with before a rotation to `kek`: read beside it
   * until `logfront keys rotate` has re-wrapped every key (docs/security.md#rotating-the-kek)
   */
  kekPrevious: string | undefined;
  /**
   * whether sensitive fields are encrypted (LOGFRONT_ENCRYPTION, on unless `off`); off: stored in clear,
   * erasure unavailable, a warning at every start
   */
  encryption: boolean;
  /**
   * base64 key of the HMAC of data subject ids in the audit log; embedded mode keeps one in the data dir
   * when unset, services mode derives one from the KEK (see app/kek.ts)
   */
  auditSecret: string | undefined;
}

/** in ms; 0: none (the server's own setting) */
export interface PgTimeouts {
  /** a connection not made within this fails, and is tried again by the retry policy */
  connectMs: number;
  /** the server cancels a statement running longer (statement_timeout) */
  statementMs: number;
  /** the server ends a session left idle inside a transaction this long */
  idleInTransactionMs: number;
}

/** in ms; 0: none (request, idle) */
export interface HttpTimeouts {
  /** the request line and headers must have arrived within this of the request's start (slowloris) */
  headersMs: number;
  /** the whole request, body included, must have arrived within this (a slow upload) */
  requestMs: number;
  /** a connection that sends and receives nothing for this long is closed */
  idleMs: number;
  /** an idle keep-alive connection between two requests is closed after this */
  keepAliveMs: number;
}

const REQUIRED_FOR_SERVICES = [
  'LOGFRONT_KAFKA_BROKERS',
  'LOGFRONT_SCHEMA_REGISTRY_URL',
  'LOGFRONT_DATABASE_URL',
] as const;

/**
 * The HTTP server's timeouts. The headers are part of the request, so they cannot be given longer; a read
 * that waits (after=, consistency=strong, a budget) sends nothing until it answers, so an idle timeout
 * must outlast the longest wait or it would cut such reads off.
 */
const httpTimeouts = (e: z.output<typeof ENV_SCHEMA>): HttpTimeouts => {
  const t = {
    headersMs: e.LOGFRONT_HTTP_HEADERS_TIMEOUT_MS,
    requestMs: e.LOGFRONT_HTTP_REQUEST_TIMEOUT_MS,
    idleMs: e.LOGFRONT_HTTP_IDLE_TIMEOUT_MS,
    keepAliveMs: e.LOGFRONT_HTTP_KEEP_ALIVE_TIMEOUT_MS,
  };
  const issues = [];
  if (t.requestMs > 0 && t.headersMs > t.requestMs) {
    issues.push({
      path: 'LOGFRONT_HTTP_HEADERS_TIMEOUT_MS',
      message: `${t.headersMs} is longer than LOGFRONT_HTTP_REQUEST_TIMEOUT_MS (${t.requestMs}), which includes the headers`,
    });
  }
  if (t.idleMs > 0 && t.idleMs <= e.LOGFRONT_MAX_WAIT_MS) {
    issues.push({
      path: 'LOGFRONT_HTTP_IDLE_TIMEOUT_MS',
      message: `${t.idleMs} is not longer than LOGFRONT_MAX_WAIT_MS (${e.LOGFRONT_MAX_WAIT_MS}): a read waiting that long sends nothing meanwhile and would be cut off; raise it, or 0 for none`,
    });
  }
  if (issues.length) throw new ConfigError(issues);
  return t;
};

/**
 * Sensitive fields are encrypted unless LOGFRONT_ENCRYPTION=off says otherwise, explicitly; `off` with a
 * key set is a contradiction, refused like LOGFRONT_AUTH=none with tokens. (That a process running
 * logfront with real services has LOGFRONT_KEK is checked where logfront is made, app/kek.ts: a client
 * command or `schemas register` needs no key.)
 */
const checkEncryption = (e: z.output<typeof ENV_SCHEMA>) => {
  if (e.LOGFRONT_ENCRYPTION !== 'off') return;
  const keys = (['LOGFRONT_KEK', 'LOGFRONT_KEK_PREVIOUS'] as const).filter((k) => e[k] !== undefined);
  if (keys.length) {
    throw new ConfigError([
      {
        path: 'LOGFRONT_ENCRYPTION',
        message: `off, but ${keys.join(' and ')} ${keys.length > 1 ? 'are' : 'is'} set too: choose one`,
      },
    ]);
  }
};

/**
 * A topic whose min.insync.replicas exceeds its replication factor refuses every acks=all write (every
 * append), so such a pair is refused here, at start.
 */
const checkReplication = (e: z.output<typeof ENV_SCHEMA>) => {
  const min = e.LOGFRONT_TOPIC_MIN_INSYNC_REPLICAS;
  if (min !== undefined && min > e.LOGFRONT_TOPIC_REPLICATION) {
    throw new ConfigError([
      {
        path: 'LOGFRONT_TOPIC_MIN_INSYNC_REPLICAS',
        message: `${min} is more than LOGFRONT_TOPIC_REPLICATION (${e.LOGFRONT_TOPIC_REPLICATION}): no append could be acknowledged`,
      },
    ]);
  }
};

/** Validates the environment; a wrong value throws ConfigError naming the variable and what is wrong. */
export const loadConfig = (env: Record<string, string | undefined> = process.env): Config => {
  const cleaned = Object.fromEntries(
    Object.entries(env).filter(([k, v]) => k in ENV_SCHEMA.shape && v !== ''),
  );
  const parsed = ENV_SCHEMA.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })));
  }
  const e = parsed.data;
  const mode = e.LOGFRONT_MODE ?? (e.LOGFRONT_KAFKA_BROKERS ? 'services' : 'embedded');
  const tokens = Boolean(e.LOGFRONT_API_KEYS_FILE || e.LOGFRONT_JWT_SECRET || e.LOGFRONT_JWT_JWKS_FILE);
  if (e.LOGFRONT_AUTH === 'none' && tokens) {
    throw new ConfigError([
      { path: 'LOGFRONT_AUTH', message: 'none, but API keys or a JWT key are configured too: choose one' },
    ]);
  }
  if (e.LOGFRONT_AUTH === 'tokens' && !tokens) {
    throw new ConfigError([
      {
        path: 'LOGFRONT_AUTH',
        message: 'tokens needs LOGFRONT_API_KEYS_FILE, LOGFRONT_JWT_SECRET or LOGFRONT_JWT_JWKS_FILE',
      },
    ]);
  }
  if (e.LOGFRONT_JWT_SECRET && e.LOGFRONT_JWT_JWKS_FILE) {
    throw new ConfigError([
      {
        path: 'LOGFRONT_JWT_SECRET',
        message: 'give LOGFRONT_JWT_SECRET or LOGFRONT_JWT_JWKS_FILE, not both',
      },
    ]);
  }
  const timeouts = httpTimeouts(e);
  const transport = transportSettings(e, {
    database: e.LOGFRONT_DATABASE_URL,
    redis: e.LOGFRONT_REDIS_URL,
    s3: e.LOGFRONT_S3_ENDPOINT,
    schemaRegistry: e.LOGFRONT_SCHEMA_REGISTRY_URL,
  });
  if (mode === 'services') {
    const missing = REQUIRED_FOR_SERVICES.filter((name) => e[name] === undefined);
    if (missing.length) {
      throw new ConfigError(
        missing.map((path) => ({ path, message: 'required when LOGFRONT_MODE=services' })),
      );
    }
  }
  checkEncryption(e);
  checkReplication(e);
  return {
    mode,
    kafka: {
      brokers: e.LOGFRONT_KAFKA_BROKERS ?? [],
      clientId: e.LOGFRONT_KAFKA_CLIENT_ID,
      partitions: e.LOGFRONT_TOPIC_PARTITIONS,
      replication: e.LOGFRONT_TOPIC_REPLICATION,
      minInsyncReplicas: e.LOGFRONT_TOPIC_MIN_INSYNC_REPLICAS,
      sessionTimeoutMs: e.LOGFRONT_KAFKA_SESSION_TIMEOUT_MS,
      retentionMs: e.LOGFRONT_TOPIC_RETENTION_MS,
      readTimeoutMs: e.LOGFRONT_KAFKA_READ_TIMEOUT_MS,
      windowIds: e.LOGFRONT_SEQUENCER_WINDOW_IDS,
      tls: transport.kafka.tls,
      sasl: transport.kafka.sasl,
    },
    topicPrefix: e.LOGFRONT_TOPIC_PREFIX,
    schemaRegistryUrl: e.LOGFRONT_SCHEMA_REGISTRY_URL,
    schemaRegistryTls: transport.schemaRegistry,
    database: {
      url: e.LOGFRONT_DATABASE_URL,
      schema: e.LOGFRONT_DATABASE_SCHEMA,
      tls: transport.database,
      timeouts: {
        connectMs: e.LOGFRONT_PG_CONNECT_TIMEOUT_MS,
        statementMs: e.LOGFRONT_PG_STATEMENT_TIMEOUT_MS,
        idleInTransactionMs: e.LOGFRONT_PG_IDLE_IN_TRANSACTION_TIMEOUT_MS,
      },
    },
    breakers: { failureThreshold: e.LOGFRONT_BREAKER_FAILURES, openMs: e.LOGFRONT_BREAKER_OPEN_MS },
    redis: { url: e.LOGFRONT_REDIS_URL, prefix: e.LOGFRONT_REDIS_PREFIX, tls: transport.redis },
    blobs: {
      maxBytes: e.LOGFRONT_MAX_BLOB_BYTES,
      partBytes: e.LOGFRONT_BLOB_PART_BYTES,
      sinks: e.LOGFRONT_SINKS === 'on',
    },
    archive: {
      enabled: e.LOGFRONT_ARCHIVE === 'on',
      maxRecords: e.LOGFRONT_ARCHIVE_MAX_RECORDS,
      maxBytes: e.LOGFRONT_ARCHIVE_MAX_BYTES,
      maxAgeMs: e.LOGFRONT_ARCHIVE_MAX_AGE_MS,
    },
    cache: {
      enabled: e.LOGFRONT_CACHE === 'on',
      ttlMs: e.LOGFRONT_CACHE_TTL_MS,
      markTtlMs: e.LOGFRONT_CACHE_MARK_TTL_MS,
      lruEntries: e.LOGFRONT_CACHE_LRU_ENTRIES,
      lruTtlMs: e.LOGFRONT_CACHE_LRU_TTL_MS,
    },
    s3: {
      endpoint: e.LOGFRONT_S3_ENDPOINT,
      bucket: e.LOGFRONT_S3_BUCKET,
      region: e.LOGFRONT_S3_REGION,
      accessKeyId: e.AWS_ACCESS_KEY_ID,
      secretAccessKey: e.AWS_SECRET_ACCESS_KEY,
      tls: transport.s3,
    },
    http: {
      host: e.LOGFRONT_HOST,
      port: e.LOGFRONT_PORT,
      url: e.LOGFRONT_URL ?? `http://${e.LOGFRONT_HOST}:${e.LOGFRONT_PORT}`,
      allowedHosts: e.LOGFRONT_ALLOWED_HOSTS ?? [],
      token: e.LOGFRONT_TOKEN,
      rateLimitPerMinute: e.LOGFRONT_RATE_LIMIT_PER_MINUTE,
      timeouts,
    },
    auth: {
      mode: e.LOGFRONT_AUTH ?? (tokens ? 'tokens' : 'unset'),
      apiKeysFile: e.LOGFRONT_API_KEYS_FILE,
      jwtSecret: e.LOGFRONT_JWT_SECRET,
      jwksFile: e.LOGFRONT_JWT_JWKS_FILE,
    },
    dataDir: e.LOGFRONT_DATA_DIR,
    logLevel: e.LOGFRONT_LOG_LEVEL,
    limits: {
      maxAppendBytes: e.LOGFRONT_MAX_APPEND_BYTES,
      maxAppendEvents: e.LOGFRONT_MAX_APPEND_EVENTS,
      appendDeadlineMs: e.LOGFRONT_APPEND_DEADLINE_MS,
      appendQueueEvents: e.LOGFRONT_APPEND_QUEUE_EVENTS,
      appendQueueBytes: e.LOGFRONT_APPEND_QUEUE_BYTES,
      readWaitMs: e.LOGFRONT_READ_WAIT_MS,
      maxWaitMs: e.LOGFRONT_MAX_WAIT_MS,
      readTimeoutMs: e.LOGFRONT_READ_TIMEOUT_MS,
      batchEvents: e.LOGFRONT_BATCH_EVENTS,
    },
    runners: e.LOGFRONT_RUNNERS === 'on',
    streamIndex: e.LOGFRONT_STREAM_INDEX === 'on',
    configFile: e.LOGFRONT_CONFIG,
    kek: e.LOGFRONT_KEK,
    kekPrevious: e.LOGFRONT_KEK_PREVIOUS,
    encryption: e.LOGFRONT_ENCRYPTION !== 'off',
    auditSecret: e.LOGFRONT_AUDIT_SECRET,
  };
};
