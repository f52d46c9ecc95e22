// What one logfront of a test left on the services, removed when the test ends: its topics, database
// schema, Redis keys and registry subjects (all under the config's own prefixes). Reaches each service
// the way that logfront did: through its TLS and SASL settings.

import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import type { Config } from '../../app/config.ts';
import { kafkaSecurity } from '../../connectors/kafka/client.ts';
import { pgSsl } from '../../connectors/postgres/pg-sql.ts';
import { redisTls } from '../../connectors/redis/tls.ts';

export const removeOwnData = async (config: Config, registryUrl: string) => {
  const kafka = new Kafka({
    brokers: config.kafka.brokers,
    logLevel: logLevel.NOTHING,
    ...kafkaSecurity(config.kafka),
  });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(`${config.topicPrefix}.`));
    if (topics.length) await admin.deleteTopics({ topics, timeout: 30_000 });
  } finally {
    await admin.disconnect();
  }
  const db = new pg.Client({ connectionString: config.database.url, ...pgSsl(config.database.tls) });
  await db.connect();
  await db.query(`DROP SCHEMA IF EXISTS "${config.database.schema}" CASCADE`).finally(() => db.end());
  if (config.redis.url) {
    const redis = new Redis(config.redis.url, { ...redisTls(config.redis.tls), maxRetriesPerRequest: 1 });
    const keys = await redis.keys(`${config.redis.prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  }
  // subjects through the plain registry URL given (the config's may be a TLS front that is gone by now)
  const subjects = (await (await fetch(`${registryUrl}/subjects`)).json()) as string[];
  for (const subject of subjects.filter((s) => s.startsWith(`${config.topicPrefix}.`))) {
    const at = `${registryUrl}/subjects/${encodeURIComponent(subject)}`;
    await fetch(at, { method: 'DELETE' });
    await fetch(`${at}?permanent=true`, { method: 'DELETE' });
  }
};
