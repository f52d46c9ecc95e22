// TLS and SASL of the connections to the services (docs/security.md "Transport"): the variables and the
// settings they give. Part of the config loader (app/config.ts); the files named here are read once, at
// start, so a missing or wrong file stops the process with the variable's name.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError, type Issue } from '../core/errors.ts';

const onOff = z.enum(['on', 'off']);
const path = z.string().min(1);
const MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;

/** the transport variables, part of ENV_SCHEMA; docs/configuration.md documents each */
export const TRANSPORT_ENV = {
  LOGFRONT_KAFKA_TLS: onOff.optional(),
  LOGFRONT_KAFKA_TLS_CA_FILE: path.optional(),
  LOGFRONT_KAFKA_TLS_CERT_FILE: path.optional(),
  LOGFRONT_KAFKA_TLS_KEY_FILE: path.optional(),
  LOGFRONT_KAFKA_TLS_VERIFY: onOff.optional(),
  LOGFRONT_KAFKA_SASL_MECHANISM: z
    .string()
    .transform((s) => s.trim().toLowerCase())
    .pipe(z.enum(MECHANISMS, { error: 'expected plain, scram-sha-256 or scram-sha-512' }))
    .optional(),
  LOGFRONT_KAFKA_SASL_USERNAME: z.string().min(1).optional(),
  LOGFRONT_KAFKA_SASL_PASSWORD: z.string().min(1).optional(),
  LOGFRONT_KAFKA_SASL_PASSWORD_FILE: path.optional(),
  LOGFRONT_DATABASE_TLS: onOff.optional(),
  LOGFRONT_DATABASE_TLS_CA_FILE: path.optional(),
  LOGFRONT_DATABASE_TLS_CERT_FILE: path.optional(),
  LOGFRONT_DATABASE_TLS_KEY_FILE: path.optional(),
  LOGFRONT_DATABASE_TLS_VERIFY: onOff.optional(),
  LOGFRONT_REDIS_TLS_CA_FILE: path.optional(),
  LOGFRONT_REDIS_TLS_CERT_FILE: path.optional(),
  LOGFRONT_REDIS_TLS_KEY_FILE: path.optional(),
  LOGFRONT_REDIS_TLS_VERIFY: onOff.optional(),
  LOGFRONT_S3_TLS_CA_FILE: path.optional(),
  LOGFRONT_S3_TLS_VERIFY: onOff.optional(),
  LOGFRONT_SCHEMA_REGISTRY_TLS_CA_FILE: path.optional(),
  LOGFRONT_SCHEMA_REGISTRY_TLS_VERIFY: onOff.optional(),
};

type TransportEnv = z.output<z.ZodObject<typeof TRANSPORT_ENV>>;

/** TLS of the connection to one service; absent: plain TCP */
export interface TlsSettings {
  /** PEM of the CAs trusted for the server's certificate, instead of Node's bundled ones */
  ca?: string;
  /** PEM of the client certificate and its private key, for a server that asks for one */
  cert?: string;
  key?: string;
  /** false: any certificate is accepted, its name unchecked (LOGFRONT_*_TLS_VERIFY=off; testing only) */
  rejectUnauthorized: boolean;
}

export type SaslMechanism = (typeof MECHANISMS)[number];

export interface KafkaSasl {
  mechanism: SaslMechanism;
  username: string;
  password: string;
}

export interface TransportSettings {
  kafka: { tls: TlsSettings | undefined; sasl: KafkaSasl | undefined };
  database: TlsSettings | undefined;
  redis: TlsSettings | undefined;
  s3: TlsSettings | undefined;
  schemaRegistry: TlsSettings | undefined;
}

/** the service URLs, whose scheme says whether TLS is on (rediss://, https://) */
export interface ServiceUrls {
  database: string | undefined;
  redis: string | undefined;
  s3: string | undefined;
  schemaRegistry: string | undefined;
}

/** what a PEM file of each kind must hold */
const PEM: Record<'ca' | 'cert' | 'key', { pattern: RegExp; what: string }> = {
  ca: { pattern: /-----BEGIN CERTIFICATE-----/, what: 'a PEM certificate (-----BEGIN CERTIFICATE-----)' },
  cert: { pattern: /-----BEGIN CERTIFICATE-----/, what: 'a PEM certificate (-----BEGIN CERTIFICATE-----)' },
  key: {
    pattern: /-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/,
    what: 'a PEM private key (-----BEGIN PRIVATE KEY-----), not encrypted',
  },
};

/** reads the file a variable names; a failure is an issue naming the variable */
const readNamed = (issues: Issue[], variable: string, file: string): string | undefined => {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    const { code, message } = error as { code?: string; message: string };
    issues.push({ path: variable, message: `cannot read ${file}: ${code ?? message}` });
    return undefined;
  }
};

/** reads a PEM file and checks that it holds what its variable promises */
const readPem = (issues: Issue[], variable: string, file: string, kind: keyof typeof PEM) => {
  const text = readNamed(issues, variable, file);
  if (text === undefined) return undefined;
  if (!PEM[kind].pattern.test(text)) {
    issues.push({ path: variable, message: `${file} is not ${PEM[kind].what}` });
    return undefined;
  }
  return text;
};

type Service = 'KAFKA' | 'DATABASE' | 'REDIS' | 'S3' | 'SCHEMA_REGISTRY';
type Named = readonly [name: string, value: string | undefined];

/** LOGFRONT_<service>_TLS_CA_FILE, _CERT_FILE, _KEY_FILE, _VERIFY with their values (S3 and the registry have no client certificate: never set) */
const tlsVariables = (e: TransportEnv, service: Service) => {
  const named = (suffix: string): Named => {
    const name = `LOGFRONT_${service}_TLS_${suffix}`;
    return [name, (e as Record<string, string | undefined>)[name]];
  };
  return { ca: named('CA_FILE'), cert: named('CERT_FILE'), key: named('KEY_FILE'), verify: named('VERIFY') };
};

/** whether any of a service's TLS files is given */
const filesGiven = (v: ReturnType<typeof tlsVariables>) =>
  [v.ca, v.cert, v.key].some(([, f]) => f !== undefined);

/**
 * The TLS settings of one service, or undefined when its TLS is off (`hint` says how to turn it on);
 * mistakes go to `issues`.
 */
const tlsSettings = (
  issues: Issue[],
  v: ReturnType<typeof tlsVariables>,
  on: boolean,
  hint: string,
): TlsSettings | undefined => {
  if (!on) {
    for (const [name, value] of [v.ca, v.cert, v.key, v.verify]) {
      if (value !== undefined) issues.push({ path: name, message: `set, but TLS is off: ${hint}` });
    }
    return undefined;
  }
  const [certName, certFile] = v.cert;
  const [keyName, keyFile] = v.key;
  if (certFile !== undefined && keyFile === undefined) {
    issues.push({ path: keyName, message: `needed with ${certName} (the client certificate's key)` });
  }
  if (keyFile !== undefined && certFile === undefined) {
    issues.push({ path: certName, message: `needed with ${keyName} (the certificate of that key)` });
  }
  const settings: TlsSettings = { rejectUnauthorized: v.verify[1] !== 'off' };
  for (const kind of ['ca', 'cert', 'key'] as const) {
    const [name, file] = v[kind];
    const pem = file === undefined ? undefined : readPem(issues, name, file, kind);
    if (pem !== undefined) settings[kind] = pem;
  }
  return settings;
};

/** the SASL settings of the Kafka clients, or undefined without LOGFRONT_KAFKA_SASL_MECHANISM */
const kafkaSasl = (issues: Issue[], e: TransportEnv): KafkaSasl | undefined => {
  const mechanism = e.LOGFRONT_KAFKA_SASL_MECHANISM;
  if (e.LOGFRONT_KAFKA_SASL_PASSWORD !== undefined && e.LOGFRONT_KAFKA_SASL_PASSWORD_FILE !== undefined) {
    issues.push({
      path: 'LOGFRONT_KAFKA_SASL_PASSWORD',
      message: 'give LOGFRONT_KAFKA_SASL_PASSWORD or LOGFRONT_KAFKA_SASL_PASSWORD_FILE, not both',
    });
    return undefined;
  }
  const passwordFile = e.LOGFRONT_KAFKA_SASL_PASSWORD_FILE;
  if (mechanism === undefined) {
    const orphan = (
      [
        ['LOGFRONT_KAFKA_SASL_USERNAME', e.LOGFRONT_KAFKA_SASL_USERNAME],
        ['LOGFRONT_KAFKA_SASL_PASSWORD', e.LOGFRONT_KAFKA_SASL_PASSWORD],
        ['LOGFRONT_KAFKA_SASL_PASSWORD_FILE', passwordFile],
      ] as const
    ).find(([, value]) => value !== undefined);
    if (orphan) {
      issues.push({
        path: 'LOGFRONT_KAFKA_SASL_MECHANISM',
        message: `needed with ${orphan[0]}: plain, scram-sha-256 or scram-sha-512`,
      });
    }
    return undefined;
  }
  const username = e.LOGFRONT_KAFKA_SASL_USERNAME;
  if (username === undefined) {
    issues.push({
      path: 'LOGFRONT_KAFKA_SASL_USERNAME',
      message: `needed with a SASL mechanism (${mechanism})`,
    });
  }
  let password = e.LOGFRONT_KAFKA_SASL_PASSWORD;
  if (passwordFile !== undefined) {
    // a file written by `echo` or an editor ends with a newline that is not part of the password
    password = readNamed(issues, 'LOGFRONT_KAFKA_SASL_PASSWORD_FILE', passwordFile)?.replace(/\r?\n$/, '');
    if (password === '') {
      issues.push({ path: 'LOGFRONT_KAFKA_SASL_PASSWORD_FILE', message: `${passwordFile} is empty` });
    }
  } else if (password === undefined) {
    issues.push({
      path: 'LOGFRONT_KAFKA_SASL_PASSWORD',
      message: `needed with a SASL mechanism (${mechanism}), or LOGFRONT_KAFKA_SASL_PASSWORD_FILE`,
    });
  }
  return username !== undefined && password ? { mechanism, username, password } : undefined;
};

/** URL parameters through which pg itself turns TLS on and reads its files */
const PG_SSL_PARAMS = ['ssl', 'sslmode', 'sslrootcert', 'sslcert', 'sslkey'];

const pgUrlSetsTls = (url: string | undefined) => {
  if (url === undefined) return false;
  const params = new URL(url).searchParams;
  return PG_SSL_PARAMS.some((p) => params.has(p));
};

/**
 * The TLS and SASL settings of the services from the environment (already parsed by ENV_SCHEMA); throws
 * ConfigError naming every variable that is wrong, missing or unreadable.
 */
export const transportSettings = (e: TransportEnv, urls: ServiceUrls): TransportSettings => {
  const issues: Issue[] = [];
  const kafka = tlsVariables(e, 'KAFKA');
  const kafkaOn = (e.LOGFRONT_KAFKA_TLS ?? (filesGiven(kafka) ? 'on' : 'off')) === 'on';
  const kafkaTls = tlsSettings(issues, kafka, kafkaOn, 'set LOGFRONT_KAFKA_TLS=on');
  const sasl = kafkaSasl(issues, e);

  const db = tlsVariables(e, 'DATABASE');
  const dbOn = (e.LOGFRONT_DATABASE_TLS ?? (filesGiven(db) ? 'on' : 'off')) === 'on';
  if (dbOn && pgUrlSetsTls(urls.database)) {
    // pg lets the URL's parameters win over its options: one of them would be silently ignored
    issues.push({
      path: 'LOGFRONT_DATABASE_TLS',
      message: `LOGFRONT_DATABASE_URL sets TLS itself (${PG_SSL_PARAMS.join(', ')}): give it there or in the LOGFRONT_DATABASE_TLS variables, not both`,
    });
  }
  const database = tlsSettings(issues, db, dbOn, 'set LOGFRONT_DATABASE_TLS=on');

  const redisOn = urls.redis?.startsWith('rediss:') === true;
  const redis = tlsSettings(
    issues,
    tlsVariables(e, 'REDIS'),
    redisOn,
    'LOGFRONT_REDIS_URL must be a rediss:// URL',
  );
  const s3On = urls.s3?.startsWith('https:') === true;
  const s3 = tlsSettings(issues, tlsVariables(e, 'S3'), s3On, 'LOGFRONT_S3_ENDPOINT must be an https:// URL');
  const registryOn = urls.schemaRegistry?.startsWith('https:') === true;
  const schemaRegistry = tlsSettings(
    issues,
    tlsVariables(e, 'SCHEMA_REGISTRY'),
    registryOn,
    'LOGFRONT_SCHEMA_REGISTRY_URL must be an https:// URL',
  );
  if (issues.length) throw new ConfigError(issues);
  return { kafka: { tls: kafkaTls, sasl }, database, redis, s3, schemaRegistry };
};
