// The kafkajs client of a log, its logging, and small helpers for lazily made connections.
import type { ConnectionOptions } from 'node:tls';
import { type Admin, Kafka, type KafkaConfig, logLevel, type SASLOptions } from 'kafkajs';
import { DependencyUnavailable, isLogfrontError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import { type RetryEvent, type RetryPolicy, retry } from '../../core/resilience/retry.ts';

/** CONCURRENT_TRANSACTIONS: the next transaction began while the last one's markers were written */
const CONCURRENT_TRANSACTIONS = /another concurrent operation on the same transaction/;
/**
 * kafkajs warns for every idempotent producer whose retries are bounded (the sequencer's are: past them
 * it takes the partition again, fencing the old producer, and event ids keep a retried batch from being
 * written twice): expected, so not worth a warning at each takeover
 */
const BOUNDED_RETRIES = /Limiting retries for the idempotent producer/;

const kafkaLogLevel =
  (logger: Logger) => () => (entry: { level: number; log: { message: string; error?: string } }) => {
    // kafkajs logs at ERROR what it retries (a coordinator not ready yet); failures that matter are
    // thrown. A sequencer's next transaction meets CONCURRENT_TRANSACTIONS routinely and is retried
    // within milliseconds: not worth a warning.
    if (entry.level > logLevel.WARN) return;
    const text = entry.log.error ?? entry.log.message;
    if (CONCURRENT_TRANSACTIONS.test(text) || BOUNDED_RETRIES.test(entry.log.message)) {
      logger.debug({ kafka: entry.log }, entry.log.message);
    } else logger.warn({ kafka: entry.log }, entry.log.message);
  };

/** how a client reaches the brokers: TLS (absent: plaintext) and SASL (absent: no authentication) */
export interface KafkaSecurity {
  tls?: Pick<ConnectionOptions, 'ca' | 'cert' | 'key' | 'rejectUnauthorized'> | undefined;
  sasl?:
    | { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string }
    | undefined;
}

/** kafkajs's `ssl` and `sasl` options of the settings */
export const kafkaSecurity = ({ tls, sasl }: KafkaSecurity): Pick<KafkaConfig, 'ssl' | 'sasl'> => ({
  ...(tls ? { ssl: { ...tls } } : {}),
  ...(sasl
    ? { sasl: { mechanism: sasl.mechanism, username: sasl.username, password: sasl.password } as SASLOptions }
    : {}),
});

export const createKafkaClient = (
  options: { brokers: string[]; clientId: string; logger: Logger } & KafkaSecurity,
) =>
  new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    logLevel: logLevel.WARN,
    logCreator: kafkaLogLevel(options.logger),
    retry: { retries: 5, initialRetryTime: 100 },
    ...kafkaSecurity(options),
  });

/** a value made once on first use; a failed attempt is forgotten so the next call tries again */
export const lazily = <T>(make: () => Promise<T>) => {
  let value: Promise<T> | undefined;
  const get = () => {
    if (!value) {
      value = make();
      value.catch(() => {
        value = undefined;
      });
    }
    return value;
  };
  return Object.assign(get, { peek: () => value });
};

/** per-key memo of a promise; a rejected one is dropped so the key is tried again */
export const memo = <T>(cache: Map<string, Promise<T>>, key: string, make: () => Promise<T>) => {
  let p = cache.get(key);
  if (!p) {
    p = make();
    cache.set(key, p);
    p.catch(() => cache.delete(key));
  }
  return p;
};

/** the waits between asks for a topic's offsets: short, these failures pass within milliseconds */
const OFFSETS_POLICY: RetryPolicy = { baseMs: 25, maxDelayMs: 400, maxAttempts: 8, budgetMs: 10_000 };

/**
 * admin.fetchTopicOffsets, retried by the retry policy (each retry told to `retried`, as kafka
 * `topic_offsets`): kafkajs 2.2.4 fails now and then with a TypeError ("low.pop()") when offsets of a
 * topic are asked for concurrently while its metadata is refreshed.
 */
export const topicOffsets = (admin: Admin, topic: string, retried?: (event: RetryEvent) => void) =>
  retry(() => admin.fetchTopicOffsets(topic), {
    dependency: 'kafka',
    operation: 'topic_offsets',
    policy: OFFSETS_POLICY,
    retryable: offsetsWorthRetry,
    ...(retried ? { onRetry: retried } : {}),
  });

/**
 * The TypeError above, and a partition whose leader the metadata names but that does not lead it yet
 * (NOT_LEADER_FOR_PARTITION, LEADER_NOT_AVAILABLE: a KRaft broker answers so for a moment after a topic
 * is made), which fetchTopicOffsets does not retry itself.
 */
const offsetsWorthRetry = (error: unknown) =>
  error instanceof TypeError ||
  ['NOT_LEADER_FOR_PARTITION', 'LEADER_NOT_AVAILABLE', 'UNKNOWN_TOPIC_OR_PARTITION'].includes(
    (error as { type?: string }).type ?? '',
  );

/** kafkajs errors that say the cluster did not answer, or could not serve, within kafkajs's own retries */
const UNANSWERED = new Set([
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSRequestTimeoutError',
  'KafkaJSBrokerNotFound',
  'KafkaJSNumberOfRetriesExceeded',
  'KafkaJSLockTimeout',
  'KafkaJSMetadataNotLoaded',
  'KafkaJSTimeout',
  'KafkaJSGroupCoordinatorNotFound',
  'KafkaJSNoBrokerAvailableError',
  // the brokers refused the credentials (LOGFRONT_KAFKA_SASL_…): Kafka cannot be used until they are fixed
  'KafkaJSSASLAuthenticationError',
]);

/** whether kafkajs failed because the cluster is down or unreachable (or not serving: a retriable error) */
export const kafkaUnavailable = (error: unknown): boolean => {
  for (let e = error, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    const { name, retriable, cause, originalError } = e as {
      name?: string;
      retriable?: boolean;
      cause?: unknown;
      originalError?: unknown;
    };
    if (UNANSWERED.has(name ?? '')) return true;
    if (name === 'KafkaJSProtocolError' && retriable === true) return true;
    e = originalError ?? cause;
  }
  return false;
};

/** a failure of Kafka as DependencyUnavailable; any other (logfront's own error, a refused request) as it is */
export const kafkaFailure = (error: unknown): unknown =>
  !isLogfrontError(error) && kafkaUnavailable(error)
    ? new DependencyUnavailable('kafka', (error as Error).message, { cause: error })
    : error;
