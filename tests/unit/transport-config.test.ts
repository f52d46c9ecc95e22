// The TLS and SASL variables (app/config-transport.ts) and the HTTP timeouts: what each gives, and each
// mistake named by its variable.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../app/config.ts';
import { ConfigError } from '../../core/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'lf-transport-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
// not real keys: the loader checks the PEM headers, the TLS stack the rest
const CA = '-----BEGIN CERTIFICATE-----\nMIIB-ca\n-----END CERTIFICATE-----\n';
const CERT = '-----BEGIN CERTIFICATE-----\nMIIB-client\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nMIGH-key\n-----END PRIVATE KEY-----\n';
const caFile = file('ca.pem', CA);
const certFile = file('client.pem', CERT);
const keyFile = file('client.key', KEY);
const ecKeyFile = file('client-ec.key', KEY.replaceAll('PRIVATE KEY', 'EC PRIVATE KEY'));

const SERVICES = {
  LOGFRONT_KAFKA_BROKERS: 'kafka-1:9093',
  LOGFRONT_SCHEMA_REGISTRY_URL: 'https://registry:8081',
  LOGFRONT_DATABASE_URL: 'postgres://u:p@db:5432/logfront',
};

const issuesOf = (env: Record<string, string | undefined>) => {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).issues;
  }
  throw new Error(`configuration ${JSON.stringify(env)} was accepted`);
};

describe('transport settings', () => {
  it('none by default: plaintext, no SASL, TLS to the database left to its URL', () => {
    const config = loadConfig({ ...SERVICES, LOGFRONT_SCHEMA_REGISTRY_URL: 'http://registry:8081' });
    expect(config.kafka.tls).toBeUndefined();
    expect(config.kafka.sasl).toBeUndefined();
    expect(config.database.tls).toBeUndefined();
    expect(config.redis.tls).toBeUndefined();
    expect(config.s3.tls).toBeUndefined();
    expect(config.schemaRegistryTls).toBeUndefined();
  });

  it('every variable is read into the settings of its service', () => {
    const config = loadConfig({
      ...SERVICES,
      LOGFRONT_KAFKA_TLS_CA_FILE: caFile,
      LOGFRONT_KAFKA_TLS_CERT_FILE: certFile,
      LOGFRONT_KAFKA_TLS_KEY_FILE: keyFile,
      LOGFRONT_KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
      LOGFRONT_KAFKA_SASL_USERNAME: 'logfront',
      LOGFRONT_KAFKA_SASL_PASSWORD: 'p4ss',
      LOGFRONT_DATABASE_TLS_CA_FILE: caFile,
      LOGFRONT_DATABASE_TLS_CERT_FILE: certFile,
      LOGFRONT_DATABASE_TLS_KEY_FILE: ecKeyFile,
      LOGFRONT_REDIS_URL: 'rediss://cache:6380',
      LOGFRONT_REDIS_TLS_VERIFY: 'off',
      LOGFRONT_S3_ENDPOINT: 'https://s3.internal',
      LOGFRONT_S3_TLS_CA_FILE: caFile,
      LOGFRONT_SCHEMA_REGISTRY_TLS_CA_FILE: caFile,
      LOGFRONT_SCHEMA_REGISTRY_TLS_VERIFY: 'on',
    });
    // TLS files turn Kafka's and the database's TLS on by themselves
    expect(config.kafka.tls).toEqual({ ca: CA, cert: CERT, key: KEY, rejectUnauthorized: true });
    expect(config.kafka.sasl).toEqual({ mechanism: 'scram-sha-512', username: 'logfront', password: 'p4ss' });
    expect(config.database.tls).toEqual({
      ca: CA,
      cert: CERT,
      key: KEY.replaceAll('PRIVATE KEY', 'EC PRIVATE KEY'),
      rejectUnauthorized: true,
    });
    // rediss:// and https:// turn it on for Redis, S3 and the registry
    expect(config.redis.tls).toEqual({ rejectUnauthorized: false });
    expect(config.s3.tls).toEqual({ ca: CA, rejectUnauthorized: true });
    expect(config.schemaRegistryTls).toEqual({ ca: CA, rejectUnauthorized: true });
  });

  it('LOGFRONT_KAFKA_TLS=on and LOGFRONT_DATABASE_TLS=on with no file: TLS with Node’s CAs', () => {
    const config = loadConfig({ ...SERVICES, LOGFRONT_KAFKA_TLS: 'on', LOGFRONT_DATABASE_TLS: 'on' });
    expect(config.kafka.tls).toEqual({ rejectUnauthorized: true });
    expect(config.database.tls).toEqual({ rejectUnauthorized: true });
  });

  it('a TLS variable of a service whose TLS is off is refused, saying how to turn it on', () => {
    expect(
      issuesOf({
        ...SERVICES,
        LOGFRONT_KAFKA_TLS: 'off',
        LOGFRONT_KAFKA_TLS_CA_FILE: caFile,
        LOGFRONT_DATABASE_TLS_VERIFY: 'off',
        LOGFRONT_REDIS_URL: 'redis://cache:6379',
        LOGFRONT_REDIS_TLS_CA_FILE: caFile,
        LOGFRONT_S3_ENDPOINT: 'http://s3:9000',
        LOGFRONT_S3_TLS_VERIFY: 'off',
        LOGFRONT_SCHEMA_REGISTRY_URL: 'http://registry:8081',
        LOGFRONT_SCHEMA_REGISTRY_TLS_CA_FILE: caFile,
      }),
    ).toEqual([
      { path: 'LOGFRONT_KAFKA_TLS_CA_FILE', message: 'set, but TLS is off: set LOGFRONT_KAFKA_TLS=on' },
      { path: 'LOGFRONT_DATABASE_TLS_VERIFY', message: 'set, but TLS is off: set LOGFRONT_DATABASE_TLS=on' },
      {
        path: 'LOGFRONT_REDIS_TLS_CA_FILE',
        message: 'set, but TLS is off: LOGFRONT_REDIS_URL must be a rediss:// URL',
      },
      {
        path: 'LOGFRONT_S3_TLS_VERIFY',
        message: 'set, but TLS is off: LOGFRONT_S3_ENDPOINT must be an https:// URL',
      },
      {
        path: 'LOGFRONT_SCHEMA_REGISTRY_TLS_CA_FILE',
        message: 'set, but TLS is off: LOGFRONT_SCHEMA_REGISTRY_URL must be an https:// URL',
      },
    ]);
  });

  it('a file that cannot be read, or does not hold what its variable promises, is named', () => {
    const missing = join(dir, 'nope.pem');
    expect(
      issuesOf({
        ...SERVICES,
        LOGFRONT_KAFKA_TLS_CA_FILE: missing,
        LOGFRONT_KAFKA_TLS_CERT_FILE: keyFile,
        LOGFRONT_KAFKA_TLS_KEY_FILE: certFile,
        LOGFRONT_DATABASE_TLS_CA_FILE: dir,
      }),
    ).toEqual([
      { path: 'LOGFRONT_KAFKA_TLS_CA_FILE', message: `cannot read ${missing}: ENOENT` },
      {
        path: 'LOGFRONT_KAFKA_TLS_CERT_FILE',
        message: `${keyFile} is not a PEM certificate (-----BEGIN CERTIFICATE-----)`,
      },
      {
        path: 'LOGFRONT_KAFKA_TLS_KEY_FILE',
        message: `${certFile} is not a PEM private key (-----BEGIN PRIVATE KEY-----), not encrypted`,
      },
      { path: 'LOGFRONT_DATABASE_TLS_CA_FILE', message: `cannot read ${dir}: EISDIR` },
    ]);
  });

  it('a client certificate needs its key, and a key its certificate', () => {
    expect(issuesOf({ ...SERVICES, LOGFRONT_KAFKA_TLS_CERT_FILE: certFile })).toEqual([
      {
        path: 'LOGFRONT_KAFKA_TLS_KEY_FILE',
        message: "needed with LOGFRONT_KAFKA_TLS_CERT_FILE (the client certificate's key)",
      },
    ]);
    expect(
      issuesOf({ ...SERVICES, LOGFRONT_REDIS_URL: 'rediss://c:6380', LOGFRONT_REDIS_TLS_KEY_FILE: keyFile }),
    ).toEqual([
      {
        path: 'LOGFRONT_REDIS_TLS_CERT_FILE',
        message: 'needed with LOGFRONT_REDIS_TLS_KEY_FILE (the certificate of that key)',
      },
    ]);
  });

  it('TLS of the database is given in its URL or in the variables, not both', () => {
    expect(
      issuesOf({
        ...SERVICES,
        LOGFRONT_DATABASE_URL: 'postgres://u:p@db/logfront?sslmode=verify-full',
        LOGFRONT_DATABASE_TLS: 'on',
      }),
    ).toEqual([
      {
        path: 'LOGFRONT_DATABASE_TLS',
        message:
          'LOGFRONT_DATABASE_URL sets TLS itself (ssl, sslmode, sslrootcert, sslcert, sslkey): give it there or in the LOGFRONT_DATABASE_TLS variables, not both',
      },
    ]);
    // the URL alone is pg's business
    const config = loadConfig({
      ...SERVICES,
      LOGFRONT_DATABASE_URL: 'postgres://u:p@db/logfront?sslmode=require',
    });
    expect(config.database.tls).toBeUndefined();
  });

  describe('SASL', () => {
    it('the mechanism in either case; the password from a file, without its final newline', () => {
      const passwordFile = file('password', 's3cr3t\n');
      const config = loadConfig({
        ...SERVICES,
        LOGFRONT_KAFKA_SASL_MECHANISM: 'PLAIN',
        LOGFRONT_KAFKA_SASL_USERNAME: 'svc',
        LOGFRONT_KAFKA_SASL_PASSWORD_FILE: passwordFile,
      });
      expect(config.kafka.sasl).toEqual({ mechanism: 'plain', username: 'svc', password: 's3cr3t' });
      expect(
        loadConfig({
          ...SERVICES,
          LOGFRONT_KAFKA_SASL_MECHANISM: 'scram-sha-256',
          LOGFRONT_KAFKA_SASL_USERNAME: 'svc',
          LOGFRONT_KAFKA_SASL_PASSWORD_FILE: file('password-crlf', 'two\r\nlines\r\n'),
        }).kafka.sasl?.password,
      ).toBe('two\r\nlines');
    });

    it('an unknown mechanism is refused with the ones there are', () => {
      expect(issuesOf({ ...SERVICES, LOGFRONT_KAFKA_SASL_MECHANISM: 'gssapi' })).toEqual([
        { path: 'LOGFRONT_KAFKA_SASL_MECHANISM', message: 'expected plain, scram-sha-256 or scram-sha-512' },
      ]);
    });

    it('a mechanism needs a username and a password', () => {
      expect(issuesOf({ ...SERVICES, LOGFRONT_KAFKA_SASL_MECHANISM: 'plain' })).toEqual([
        { path: 'LOGFRONT_KAFKA_SASL_USERNAME', message: 'needed with a SASL mechanism (plain)' },
        {
          path: 'LOGFRONT_KAFKA_SASL_PASSWORD',
          message: 'needed with a SASL mechanism (plain), or LOGFRONT_KAFKA_SASL_PASSWORD_FILE',
        },
      ]);
    });

    it('a username or a password without a mechanism is refused, naming the mechanism variable', () => {
      expect(issuesOf({ ...SERVICES, LOGFRONT_KAFKA_SASL_PASSWORD: 'p' })).toEqual([
        {
          path: 'LOGFRONT_KAFKA_SASL_MECHANISM',
          message: 'needed with LOGFRONT_KAFKA_SASL_PASSWORD: plain, scram-sha-256 or scram-sha-512',
        },
      ]);
    });

    it('the password in a variable and in a file is refused; an empty or missing file too', () => {
      const sasl = { LOGFRONT_KAFKA_SASL_MECHANISM: 'plain', LOGFRONT_KAFKA_SASL_USERNAME: 'svc' };
      expect(
        issuesOf({
          ...SERVICES,
          ...sasl,
          LOGFRONT_KAFKA_SASL_PASSWORD: 'p',
          LOGFRONT_KAFKA_SASL_PASSWORD_FILE: file('p2', 'p'),
        }),
      ).toEqual([
        {
          path: 'LOGFRONT_KAFKA_SASL_PASSWORD',
          message: 'give LOGFRONT_KAFKA_SASL_PASSWORD or LOGFRONT_KAFKA_SASL_PASSWORD_FILE, not both',
        },
      ]);
      const empty = file('empty', '\n');
      expect(issuesOf({ ...SERVICES, ...sasl, LOGFRONT_KAFKA_SASL_PASSWORD_FILE: empty })).toEqual([
        { path: 'LOGFRONT_KAFKA_SASL_PASSWORD_FILE', message: `${empty} is empty` },
      ]);
      const missing = join(dir, 'no-password');
      expect(issuesOf({ ...SERVICES, ...sasl, LOGFRONT_KAFKA_SASL_PASSWORD_FILE: missing })).toEqual([
        { path: 'LOGFRONT_KAFKA_SASL_PASSWORD_FILE', message: `cannot read ${missing}: ENOENT` },
      ]);
    });

    it('a ConfigError never quotes the password', () => {
      try {
        loadConfig({ ...SERVICES, LOGFRONT_KAFKA_SASL_PASSWORD: 'hunter2-secret' });
        throw new Error('accepted');
      } catch (error) {
        expect((error as Error).message).not.toContain('hunter2');
      }
    });
  });
});

describe('HTTP timeouts', () => {
  it('the headers timeout may not exceed the request timeout, which includes the headers', () => {
    expect(
      issuesOf({ LOGFRONT_HTTP_HEADERS_TIMEOUT_MS: '20000', LOGFRONT_HTTP_REQUEST_TIMEOUT_MS: '10000' }),
    ).toEqual([
      {
        path: 'LOGFRONT_HTTP_HEADERS_TIMEOUT_MS',
        message: '20000 is longer than LOGFRONT_HTTP_REQUEST_TIMEOUT_MS (10000), which includes the headers',
      },
    ]);
    // no request timeout: any headers timeout
    expect(
      loadConfig({ LOGFRONT_HTTP_HEADERS_TIMEOUT_MS: '20000', LOGFRONT_HTTP_REQUEST_TIMEOUT_MS: '0' }).http
        .timeouts,
    ).toMatchObject({ headersMs: 20_000, requestMs: 0 });
  });

  it('the idle timeout must outlast the longest wait of a read, or be 0', () => {
    expect(issuesOf({ LOGFRONT_HTTP_IDLE_TIMEOUT_MS: '30000' })).toEqual([
      {
        path: 'LOGFRONT_HTTP_IDLE_TIMEOUT_MS',
        message:
          '30000 is not longer than LOGFRONT_MAX_WAIT_MS (30000): a read waiting that long sends nothing meanwhile and would be cut off; raise it, or 0 for none',
      },
    ]);
    expect(
      loadConfig({ LOGFRONT_HTTP_IDLE_TIMEOUT_MS: '0', LOGFRONT_MAX_WAIT_MS: '600000' }).http.timeouts.idleMs,
    ).toBe(0);
  });

  it('a headers timeout below 100 ms is refused', () => {
    expect(issuesOf({ LOGFRONT_HTTP_HEADERS_TIMEOUT_MS: '10' }).map((i) => i.path)).toEqual([
      'LOGFRONT_HTTP_HEADERS_TIMEOUT_MS',
    ]);
  });
});
