import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../app/config.ts';
import { ConfigError } from '../../core/errors.ts';

const REQUIRED = {
  LOGFRONT_KAFKA_BROKERS: 'kafka-1:9092,kafka-2:9092',
  LOGFRONT_SCHEMA_REGISTRY_URL: 'http://registry:8081',
  LOGFRONT_DATABASE_URL: 'postgres://u:p@db:5432/logfront',
};
const KEK = Buffer.alloc(32, 7).toString('base64');
const SERVICES = { ...REQUIRED, LOGFRONT_KEK: KEK };

const configError = (env: Record<string, string | undefined>): ConfigError => {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`configuration ${JSON.stringify(env)} was accepted`);
};
const pathsOf = (error: ConfigError) => error.issues.map((i) => i.path);

describe('loadConfig', () => {
  describe('with an empty environment', () => {
    const config = loadConfig({});

    it('runs embedded', () => {
      expect(config.mode).toBe('embedded');
      expect(config.kafka.brokers).toEqual([]);
    });

    it('uses the documented defaults', () => {
      expect(config).toEqual({
        mode: 'embedded',
        kafka: {
          brokers: [],
          clientId: 'logfront',
          partitions: 3,
          replication: 1,
          sessionTimeoutMs: 30_000,
          retentionMs: -1,
          readTimeoutMs: 60_000,
          windowIds: 200_000,
        },
        topicPrefix: 'logfront',
        schemaRegistryUrl: undefined,
        database: {
          url: undefined,
          schema: 'logfront',
          timeouts: { connectMs: 5000, statementMs: 30_000, idleInTransactionMs: 60_000 },
        },
        breakers: { failureThreshold: 5, openMs: 5000 },
        redis: { url: undefined, prefix: 'logfront:' },
        cache: { enabled: true, ttlMs: 60_000, markTtlMs: 600_000, lruEntries: 10_000, lruTtlMs: 5000 },
        blobs: { maxBytes: 1024 ** 3, partBytes: 8 * 1024 * 1024, sinks: true },
        archive: { enabled: true, maxRecords: 10_000, maxBytes: 8 * 1024 * 1024, maxAgeMs: 60_000 },
        s3: {
          endpoint: undefined,
          bucket: undefined,
          region: 'us-east-1',
          accessKeyId: undefined,
          secretAccessKey: undefined,
        },
        http: {
          host: '127.0.0.1',
          port: 7070,
          url: 'http://127.0.0.1:7070',
          allowedHosts: [],
          token: undefined,
          rateLimitPerMinute: 60_000,
          timeouts: { headersMs: 10_000, requestMs: 300_000, idleMs: 120_000, keepAliveMs: 72_000 },
        },
        auth: { mode: 'unset', apiKeysFile: undefined, jwtSecret: undefined, jwksFile: undefined },
        dataDir: './.logfront',
        logLevel: 'info',
        limits: {
          maxAppendBytes: 1024 * 1024,
          maxAppendEvents: 1000,
          appendDeadlineMs: 10_000,
          appendQueueEvents: 20_000,
          appendQueueBytes: 64 * 1024 * 1024,
          readWaitMs: 5000,
          maxWaitMs: 30_000,
          readTimeoutMs: 5000,
          batchEvents: 500,
        },
        runners: true,
        streamIndex: true,
        encryption: true,
      });
    });
  });

  it('reads process.env when given no environment', () => {
    expect(loadConfig().topicPrefix).toBe(process.env.LOGFRONT_TOPIC_PREFIX || 'logfront');
  });

  it('given brokers and no mode, runs against the services', () => {
    const config = loadConfig(SERVICES);

    expect(config.mode).toBe('services');
    expect(config.kafka.brokers).toEqual(['kafka-1:9092', 'kafka-2:9092']);
    expect(config.schemaRegistryUrl).toBe('http://registry:8081');
    expect(config.database.url).toBe('postgres://u:p@db:5432/logfront');
  });

  it('an explicit embedded mode wins over brokers being set', () => {
    expect(loadConfig({ ...SERVICES, LOGFRONT_MODE: 'embedded' }).mode).toBe('embedded');
  });

  it('an explicit services mode without the services names each missing variable', () => {
    const error = configError({ LOGFRONT_MODE: 'services' });

    expect(error.issues).toEqual([
      { path: 'LOGFRONT_KAFKA_BROKERS', message: 'required when LOGFRONT_MODE=services' },
      { path: 'LOGFRONT_SCHEMA_REGISTRY_URL', message: 'required when LOGFRONT_MODE=services' },
      { path: 'LOGFRONT_DATABASE_URL', message: 'required when LOGFRONT_MODE=services' },
    ]);
    expect(error.code).toBe('config_invalid');
    expect(error.status).toBe(500);
  });

  for (const missing of Object.keys(REQUIRED)) {
    it(`services mode without ${missing} is refused, naming only it`, () => {
      const env: Record<string, string | undefined> = { ...SERVICES, LOGFRONT_MODE: 'services' };
      delete env[missing];

      const error = configError(env);

      expect(pathsOf(error)).toEqual([missing]);
      expect(error.message).toBe(`invalid configuration: ${missing}: required when LOGFRONT_MODE=services`);
    });
  }

  describe('encryption of sensitive fields', () => {
    it('services mode loads without LOGFRONT_KEK: a client command needs none (logfront itself refuses, app/kek.ts)', () => {
      expect(loadConfig({ ...REQUIRED })).toMatchObject({
        mode: 'services',
        kek: undefined,
        encryption: true,
      });
    });

    it('LOGFRONT_ENCRYPTION=off runs services mode without a key, unencrypted; on (the default) with one', () => {
      expect(loadConfig({ ...REQUIRED, LOGFRONT_ENCRYPTION: 'off' }).encryption).toBe(false);
      const on = loadConfig({ ...SERVICES, LOGFRONT_ENCRYPTION: 'on' });
      expect(on).toMatchObject({ encryption: true, kek: KEK, kekPrevious: undefined });
      expect(loadConfig({}).encryption).toBe(true);
    });

    it('off with a key set is a contradiction, refused naming both; another value is refused', () => {
      const error = configError({ ...SERVICES, LOGFRONT_ENCRYPTION: 'off', LOGFRONT_KEK_PREVIOUS: KEK });
      expect(error.issues).toEqual([
        {
          path: 'LOGFRONT_ENCRYPTION',
          message: 'off, but LOGFRONT_KEK and LOGFRONT_KEK_PREVIOUS are set too: choose one',
        },
      ]);
      expect(configError({ LOGFRONT_ENCRYPTION: 'off', LOGFRONT_KEK: KEK }).issues[0]!.message).toBe(
        'off, but LOGFRONT_KEK is set too: choose one',
      );
      expect(pathsOf(configError({ LOGFRONT_ENCRYPTION: 'no' }))).toEqual(['LOGFRONT_ENCRYPTION']);
    });

    it('the previous KEK of a rotation is read from LOGFRONT_KEK_PREVIOUS and checked like the KEK', () => {
      const previous = Buffer.alloc(32, 9).toString('base64');
      expect(loadConfig({ ...SERVICES, LOGFRONT_KEK_PREVIOUS: previous }).kekPrevious).toBe(previous);
      expect(pathsOf(configError({ ...SERVICES, LOGFRONT_KEK_PREVIOUS: 'c2hvcnQ=' }))).toEqual([
        'LOGFRONT_KEK_PREVIOUS',
      ]);
    });
  });

  it('brokers alone switch to services mode, which then asks for the registry and the database', () => {
    const error = configError({ LOGFRONT_KAFKA_BROKERS: 'k:9092' });

    expect(pathsOf(error)).toEqual(['LOGFRONT_SCHEMA_REGISTRY_URL', 'LOGFRONT_DATABASE_URL']);
  });

  it('an empty string counts as unset: the default applies', () => {
    const config = loadConfig({
      LOGFRONT_PORT: '',
      LOGFRONT_TOPIC_PREFIX: '',
      LOGFRONT_LOG_LEVEL: '',
      LOGFRONT_KAFKA_BROKERS: '',
      LOGFRONT_MODE: '',
    });

    expect(config.http.port).toBe(7070);
    expect(config.topicPrefix).toBe('logfront');
    expect(config.logLevel).toBe('info');
    expect(config.mode).toBe('embedded');
  });

  it('an empty service variable in services mode is reported as missing', () => {
    const error = configError({ ...SERVICES, LOGFRONT_MODE: 'services', LOGFRONT_DATABASE_URL: '' });

    expect(pathsOf(error)).toEqual(['LOGFRONT_DATABASE_URL']);
  });

  it('topic retention is -1 (for ever) or at least a minute', () => {
    expect(loadConfig({ LOGFRONT_TOPIC_RETENTION_MS: '-1' }).kafka.retentionMs).toBe(-1);
    expect(loadConfig({ LOGFRONT_TOPIC_RETENTION_MS: '60000' }).kafka.retentionMs).toBe(60_000);
    for (const bad of ['0', '59999', '-2']) {
      const error = configError({ LOGFRONT_TOPIC_RETENTION_MS: bad });
      expect(new Set(pathsOf(error))).toEqual(new Set(['LOGFRONT_TOPIC_RETENTION_MS']));
    }
  });

  it('min.insync.replicas is left to the replication unless given, and never above it', () => {
    expect(loadConfig({ LOGFRONT_TOPIC_REPLICATION: '3' }).kafka.minInsyncReplicas).toBeUndefined();
    expect(
      loadConfig({ LOGFRONT_TOPIC_REPLICATION: '3', LOGFRONT_TOPIC_MIN_INSYNC_REPLICAS: '1' }).kafka
        .minInsyncReplicas,
    ).toBe(1);
    const error = configError({ LOGFRONT_TOPIC_REPLICATION: '2', LOGFRONT_TOPIC_MIN_INSYNC_REPLICAS: '3' });
    expect(pathsOf(error)).toEqual(['LOGFRONT_TOPIC_MIN_INSYNC_REPLICAS']);
    expect(error.message).toContain('3 is more than LOGFRONT_TOPIC_REPLICATION (2)');
    expect(pathsOf(configError({ LOGFRONT_TOPIC_MIN_INSYNC_REPLICAS: '0' }))).toEqual([
      'LOGFRONT_TOPIC_MIN_INSYNC_REPLICAS',
    ]);
  });

  it('variables logfront does not know are ignored', () => {
    expect(() => loadConfig({ PATH: '/usr/bin', LOGFRONT_UNKNOWN: '!!!' })).not.toThrow();
  });

  it('every value is read from its variable', () => {
    const config = loadConfig({
      ...SERVICES,
      LOGFRONT_KAFKA_CLIENT_ID: 'api-7',
      LOGFRONT_TOPIC_PREFIX: 'shop_v2.eu-1',
      LOGFRONT_TOPIC_PARTITIONS: '12',
      LOGFRONT_TOPIC_REPLICATION: '3',
      LOGFRONT_TOPIC_MIN_INSYNC_REPLICAS: '3',
      LOGFRONT_KAFKA_SESSION_TIMEOUT_MS: '6000',
      LOGFRONT_TOPIC_RETENTION_MS: '604800000',
      LOGFRONT_KAFKA_READ_TIMEOUT_MS: '5000',
      LOGFRONT_SEQUENCER_WINDOW_IDS: '5000',
      LOGFRONT_DATABASE_SCHEMA: 'shop_1',
      LOGFRONT_PG_CONNECT_TIMEOUT_MS: '1500',
      LOGFRONT_PG_STATEMENT_TIMEOUT_MS: '0',
      LOGFRONT_PG_IDLE_IN_TRANSACTION_TIMEOUT_MS: '7000',
      LOGFRONT_BREAKER_FAILURES: '2',
      LOGFRONT_BREAKER_OPEN_MS: '250',
      LOGFRONT_REDIS_URL: 'redis://cache:6379',
      LOGFRONT_REDIS_PREFIX: 'shop:',
      LOGFRONT_CACHE: 'off',
      LOGFRONT_MAX_BLOB_BYTES: '1000',
      LOGFRONT_BLOB_PART_BYTES: String(6 * 1024 * 1024),
      LOGFRONT_SINKS: 'off',
      LOGFRONT_ARCHIVE: 'off',
      LOGFRONT_ARCHIVE_MAX_RECORDS: '5',
      LOGFRONT_ARCHIVE_MAX_BYTES: '2048',
      LOGFRONT_ARCHIVE_MAX_AGE_MS: '100',
      LOGFRONT_CACHE_TTL_MS: '1000',
      LOGFRONT_CACHE_MARK_TTL_MS: '2000',
      LOGFRONT_CACHE_LRU_ENTRIES: '0',
      LOGFRONT_CACHE_LRU_TTL_MS: '300',
      LOGFRONT_S3_ENDPOINT: 'http://minio:9000',
      LOGFRONT_S3_BUCKET: 'blobs',
      LOGFRONT_S3_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'key',
      AWS_SECRET_ACCESS_KEY: 'secret',
      LOGFRONT_HOST: '0.0.0.0',
      LOGFRONT_PORT: '8080',
      LOGFRONT_URL: 'https://api.example.com',
      LOGFRONT_DATA_DIR: '/var/lib/logfront',
      LOGFRONT_LOG_LEVEL: 'debug',
      LOGFRONT_MAX_APPEND_BYTES: '2048',
      LOGFRONT_MAX_APPEND_EVENTS: '10',
      LOGFRONT_APPEND_DEADLINE_MS: '2500',
      LOGFRONT_APPEND_QUEUE_EVENTS: '100',
      LOGFRONT_APPEND_QUEUE_BYTES: '65536',
      LOGFRONT_READ_WAIT_MS: '0',
      LOGFRONT_MAX_WAIT_MS: '1000',
      LOGFRONT_READ_TIMEOUT_MS: '2500',
      LOGFRONT_RUNNERS: 'off',
      LOGFRONT_STREAM_INDEX: 'off',
      LOGFRONT_BATCH_EVENTS: '50',
      LOGFRONT_API_KEYS_FILE: '/etc/logfront/keys.json',
      LOGFRONT_JWT_JWKS_FILE: '/etc/logfront/jwks.json',
      LOGFRONT_ALLOWED_HOSTS: 'API.example.com, logfront.internal',
      LOGFRONT_TOKEN: 'tok',
      LOGFRONT_RATE_LIMIT_PER_MINUTE: '0',
      LOGFRONT_HTTP_HEADERS_TIMEOUT_MS: '2000',
      LOGFRONT_HTTP_REQUEST_TIMEOUT_MS: '0',
      LOGFRONT_HTTP_IDLE_TIMEOUT_MS: '1001',
      LOGFRONT_HTTP_KEEP_ALIVE_TIMEOUT_MS: '500',
      LOGFRONT_KEK_PREVIOUS: Buffer.alloc(32, 1).toString('base64'),
    });

    expect(config).toEqual({
      mode: 'services',
      kafka: {
        brokers: ['kafka-1:9092', 'kafka-2:9092'],
        clientId: 'api-7',
        partitions: 12,
        replication: 3,
        minInsyncReplicas: 3,
        sessionTimeoutMs: 6000,
        retentionMs: 604_800_000,
        readTimeoutMs: 5000,
        windowIds: 5000,
      },
      topicPrefix: 'shop_v2.eu-1',
      schemaRegistryUrl: 'http://registry:8081',
      database: {
        url: 'postgres://u:p@db:5432/logfront',
        schema: 'shop_1',
        timeouts: { connectMs: 1500, statementMs: 0, idleInTransactionMs: 7000 },
      },
      breakers: { failureThreshold: 2, openMs: 250 },
      redis: { url: 'redis://cache:6379', prefix: 'shop:' },
      cache: { enabled: false, ttlMs: 1000, markTtlMs: 2000, lruEntries: 0, lruTtlMs: 300 },
      blobs: { maxBytes: 1000, partBytes: 6 * 1024 * 1024, sinks: false },
      archive: { enabled: false, maxRecords: 5, maxBytes: 2048, maxAgeMs: 100 },
      s3: {
        endpoint: 'http://minio:9000',
        bucket: 'blobs',
        region: 'eu-west-1',
        accessKeyId: 'key',
        secretAccessKey: 'secret',
      },
      http: {
        host: '0.0.0.0',
        port: 8080,
        url: 'https://api.example.com',
        allowedHosts: ['api.example.com', 'logfront.internal'],
        token: 'tok',
        rateLimitPerMinute: 0,
        timeouts: { headersMs: 2000, requestMs: 0, idleMs: 1001, keepAliveMs: 500 },
      },
      auth: {
        mode: 'tokens',
        apiKeysFile: '/etc/logfront/keys.json',
        jwtSecret: undefined,
        jwksFile: '/etc/logfront/jwks.json',
      },
      dataDir: '/var/lib/logfront',
      logLevel: 'debug',
      limits: {
        maxAppendBytes: 2048,
        maxAppendEvents: 10,
        appendDeadlineMs: 2500,
        appendQueueEvents: 100,
        appendQueueBytes: 65_536,
        readWaitMs: 0,
        maxWaitMs: 1000,
        readTimeoutMs: 2500,
        batchEvents: 50,
      },
      runners: false,
      streamIndex: false,
      kek: KEK,
      kekPrevious: Buffer.alloc(32, 1).toString('base64'),
      encryption: true,
    });
  });

  it('authentication: none and tokens exclude each other; tokens need keys; one JWT key kind', () => {
    expect(loadConfig({ LOGFRONT_AUTH: 'none' }).auth.mode).toBe('none');
    expect(loadConfig({ LOGFRONT_JWT_SECRET: 'x'.repeat(32) }).auth.mode).toBe('tokens');
    expect(() => loadConfig({ LOGFRONT_AUTH: 'none', LOGFRONT_API_KEYS_FILE: 'k.json' })).toThrow(
      /LOGFRONT_AUTH/,
    );
    expect(() => loadConfig({ LOGFRONT_AUTH: 'tokens' })).toThrow(/LOGFRONT_AUTH.*LOGFRONT_API_KEYS_FILE/);
    expect(() =>
      loadConfig({ LOGFRONT_JWT_SECRET: 'x'.repeat(32), LOGFRONT_JWT_JWKS_FILE: 'j.json' }),
    ).toThrow(/not both/);
    expect(() => loadConfig({ LOGFRONT_JWT_SECRET: 'short' })).toThrow(/LOGFRONT_JWT_SECRET/);
  });

  it('without LOGFRONT_URL the url is built from host and port', () => {
    expect(loadConfig({ LOGFRONT_HOST: 'localhost', LOGFRONT_PORT: '9000' }).http.url).toBe(
      'http://localhost:9000',
    );
  });

  describe('the broker list', () => {
    it('is split on commas and trimmed, dropping empty entries', () => {
      expect(
        loadConfig({ ...SERVICES, LOGFRONT_KAFKA_BROKERS: ' a:1 ,, b.example.com:29092 , ' }).kafka.brokers,
      ).toEqual(['a:1', 'b.example.com:29092']);
    });

    it('a single broker is a list of one', () => {
      expect(loadConfig({ ...SERVICES, LOGFRONT_KAFKA_BROKERS: '10.0.0.1:9092' }).kafka.brokers).toEqual([
        '10.0.0.1:9092',
      ]);
    });

    it('a broker without a port is refused as not host:port', () => {
      const error = configError({ ...SERVICES, LOGFRONT_KAFKA_BROKERS: 'a:1,kafka' });

      expect(error.issues).toEqual([{ path: 'LOGFRONT_KAFKA_BROKERS.1', message: 'expected host:port' }]);
    });

    it('a port of more than five digits is refused', () => {
      expect(pathsOf(configError({ ...SERVICES, LOGFRONT_KAFKA_BROKERS: 'k:123456' }))).toEqual([
        'LOGFRONT_KAFKA_BROKERS.0',
      ]);
    });

    it('only commas and spaces is refused as an empty list', () => {
      const error = configError({ ...SERVICES, LOGFRONT_KAFKA_BROKERS: ' , ,' });

      expect(error.issues).toEqual([
        { path: 'LOGFRONT_KAFKA_BROKERS', message: 'expected host:port[,host:port…]' },
      ]);
    });
  });

  describe('a wrong value is a ConfigError naming the variable', () => {
    const wrong: [string, string][] = [
      ['LOGFRONT_MODE', 'cloud'],
      ['LOGFRONT_TOPIC_PREFIX', '.hidden'],
      ['LOGFRONT_TOPIC_PREFIX', 'has space'],
      ['LOGFRONT_TOPIC_PREFIX', 'p'.repeat(102)],
      ['LOGFRONT_TOPIC_PARTITIONS', '0'],
      ['LOGFRONT_TOPIC_PARTITIONS', '1001'],
      ['LOGFRONT_TOPIC_PARTITIONS', '2.5'],
      ['LOGFRONT_TOPIC_PARTITIONS', 'three'],
      ['LOGFRONT_TOPIC_REPLICATION', '11'],
      ['LOGFRONT_KAFKA_SESSION_TIMEOUT_MS', '5999'],
      ['LOGFRONT_KAFKA_SESSION_TIMEOUT_MS', '300001'],
      ['LOGFRONT_SCHEMA_REGISTRY_URL', 'registry'],
      ['LOGFRONT_SCHEMA_REGISTRY_URL', 'registry:8081'],
      ['LOGFRONT_DATABASE_URL', 'localhost:5432'],
      ['LOGFRONT_DATABASE_URL', 'http://db:5432/x'],
      ['LOGFRONT_REDIS_URL', 'http://cache:6379'],
      ['LOGFRONT_PORT', '  7x'],
      ['LOGFRONT_DATABASE_URL', 'not a url'],
      ['LOGFRONT_DATABASE_SCHEMA', 'Logfront'],
      ['LOGFRONT_DATABASE_SCHEMA', '1st'],
      ['LOGFRONT_REDIS_URL', 'localhost'],
      ['LOGFRONT_S3_ENDPOINT', 'minio'],
      ['LOGFRONT_S3_BUCKET', 'ab'],
      ['LOGFRONT_S3_BUCKET', 'b'.repeat(64)],
      ['LOGFRONT_PORT', '-1'],
      ['LOGFRONT_PORT', '65536'],
      ['LOGFRONT_URL', 'example.com'],
      ['LOGFRONT_LOG_LEVEL', 'verbose'],
      ['LOGFRONT_MAX_APPEND_BYTES', '1023'],
      ['LOGFRONT_MAX_APPEND_BYTES', String(64 * 1024 * 1024 + 1)],
      ['LOGFRONT_MAX_APPEND_EVENTS', '0'],
      ['LOGFRONT_MAX_APPEND_EVENTS', '100001'],
      ['LOGFRONT_APPEND_DEADLINE_MS', '99'],
      ['LOGFRONT_APPEND_QUEUE_EVENTS', '0'],
      ['LOGFRONT_APPEND_QUEUE_BYTES', '1023'],
      ['LOGFRONT_READ_WAIT_MS', '600001'],
      ['LOGFRONT_RUNNERS', 'yes'],
      ['LOGFRONT_BATCH_EVENTS', '0'],
    ];
    for (const [variable, value] of wrong) {
      it(`${variable}=${value.length > 20 ? `${value.slice(0, 12)}…` : value}`, () => {
        const error = configError({ [variable]: value });

        expect(pathsOf(error)).toEqual([variable]);
        expect(error.issues[0]?.message).not.toBe('');
        expect(error.message).toContain(`invalid configuration: ${variable}: `);
      });
    }
  });

  it('every wrong variable is reported at once', () => {
    const error = configError({ LOGFRONT_PORT: 'http', LOGFRONT_LOG_LEVEL: 'loud', LOGFRONT_RUNNERS: '1' });

    expect(pathsOf(error).sort()).toEqual(['LOGFRONT_LOG_LEVEL', 'LOGFRONT_PORT', 'LOGFRONT_RUNNERS']);
  });

  it('the bounds of the numeric ranges are accepted', () => {
    const low = loadConfig({
      LOGFRONT_TOPIC_PARTITIONS: '1',
      LOGFRONT_PORT: '0',
      LOGFRONT_KAFKA_SESSION_TIMEOUT_MS: '6000',
      LOGFRONT_MAX_APPEND_BYTES: '1024',
    });
    const high = loadConfig({
      LOGFRONT_TOPIC_PARTITIONS: '1000',
      LOGFRONT_PORT: '65535',
      LOGFRONT_KAFKA_SESSION_TIMEOUT_MS: '300000',
      LOGFRONT_MAX_APPEND_BYTES: String(64 * 1024 * 1024),
    });

    expect([
      low.kafka.partitions,
      low.http.port,
      low.kafka.sessionTimeoutMs,
      low.limits.maxAppendBytes,
    ]).toEqual([1, 0, 6000, 1024]);
    expect([
      high.kafka.partitions,
      high.http.port,
      high.kafka.sessionTimeoutMs,
      high.limits.maxAppendBytes,
    ]).toEqual([1000, 65535, 300_000, 64 * 1024 * 1024]);
  });
});
