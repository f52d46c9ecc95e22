// The audit log's adapters: the embedded table and the Kafka topic pass the AuditLog contract; on Kafka a
// page is read by position from its cursor (an offset) and `since` starts at the offset ListOffsets gives,
// never at the topic's start.
import { Kafka } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../app/logger.ts';
import { createTableAuditLog } from '../../connectors/embedded/audit-log.ts';
import { createPgliteSql } from '../../connectors/embedded/pglite-sql.ts';
import { auditTopicOf, createKafkaAuditLog } from '../../connectors/kafka/audit-log.ts';
import { createPartitionReader } from '../../connectors/kafka/reader.ts';
import { DependencyUnavailable } from '../../core/errors.ts';
import type { AuditEntry } from '../../core/security/audit.ts';
import { auditLogContract } from '../contract/audit-log.features.ts';
import { services, uniqueId } from '../support/services.ts';

const logger = createLogger('silent');
const brokers = () => services().LOGFRONT_KAFKA_BROKERS.split(',');

auditLogContract('embedded table (PGlite)', async () => {
  const sql = await createPgliteSql();
  return {
    open: async () => createTableAuditLog(sql, { schema: `t_${uniqueId()}` }),
    close: () => sql.close(),
  };
});

auditLogContract('Kafka topic', async () => ({
  open: async () =>
    createKafkaAuditLog({
      brokers: brokers(),
      clientId: 'audit-test',
      topicPrefix: `t${uniqueId()}`,
      replication: 1,
      logger,
    }),
  close: async () => {},
}));

const entry = (i: number, time = new Date().toISOString()): AuditEntry => ({
  time,
  action: i % 10 === 0 ? 'subject.erased' : 'acl.denied',
  actor: `a${i}`,
  tenant: 'default',
  resource: `stream/order-${i}`,
  outcome: 'failure',
  traceId: null,
});

describe('the audit log on Kafka reads by position', () => {
  const prefix = `t${uniqueId()}`;
  const reader = createPartitionReader({ brokers: brokers(), clientId: 'audit-test-reader', logger });
  const fetches: bigint[] = [];
  const log = createKafkaAuditLog({
    brokers: brokers(),
    clientId: 'audit-test',
    topicPrefix: prefix,
    replication: 1,
    logger,
    scanLimit: 25,
    reader: {
      fetch: (topic, partition, from, options) => {
        fetches.push(from);
        return reader.fetch(topic, partition, from, { ...options, maxBytes: 2048 });
      },
      close: () => reader.close(),
    },
  });
  // the same topic, `since` taken as the broker's time exactly
  const exact = createKafkaAuditLog({
    brokers: brokers(),
    clientId: 'audit-test',
    topicPrefix: prefix,
    replication: 1,
    logger,
    sinceMarginMs: 0,
    reader: {
      fetch: (topic, partition, from, options) => {
        fetches.push(from);
        return reader.fetch(topic, partition, from, options);
      },
      close: async () => {},
    },
  });
  const admin = new Kafka({ brokers: brokers(), clientId: 'audit-test-admin', logLevel: 0 }).admin();
  afterAll(async () => {
    await exact.close();
    await log.close();
    await admin.disconnect();
  });

  it('makes <prefix>.audit with one partition, kept for ever; a page is fetched from its cursor', async () => {
    // small record batches: a fetch of 2 KiB holds a few of them
    for (let i = 0; i < 200; i += 5) {
      await log.append(Array.from({ length: 5 }, (_, k) => entry(i + k)));
    }
    await admin.connect();
    const meta = await admin.fetchTopicMetadata({ topics: [auditTopicOf(prefix)] });
    expect(meta.topics[0]!.partitions).toHaveLength(1);
    const configs = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [
        { type: 2, name: auditTopicOf(prefix), configNames: ['retention.ms', 'message.timestamp.type'] },
      ],
    });
    const values = Object.fromEntries(
      configs.resources[0]!.configEntries.map((c) => [c.configName, c.configValue]),
    );
    expect(values).toEqual({ 'retention.ms': '-1', 'message.timestamp.type': 'LogAppendTime' });

    const first = await log.query({ limit: 10 });
    expect(first.items.map((r) => r.id)).toEqual(Array.from({ length: 10 }, (_, i) => String(i)));
    expect(first.next).toBe('10');
    fetches.length = 0;
    const second = await log.query({ limit: 10, cursor: first.next! });
    expect(second.items[0]).toMatchObject({ id: '10', actor: 'a10' });
    // the second page never read the topic from offset 0: its first fetch starts at the cursor
    expect(fetches[0]).toBe(10n);
    expect(fetches.every((o) => o >= 10n)).toBe(true);
  });

  it('a page reads a bounded number of records: a rare action may answer fewer, with a next', async () => {
    const page = await log.query({ limit: 100, action: 'subject.erased' });
    // 25 records or a little more (whole fetches) were read: offsets 0, 10 and 20 matched
    expect(page.items.map((r) => r.actor)).toEqual(['a0', 'a10', 'a20']);
    expect(Number(page.next)).toBeGreaterThanOrEqual(25);
    let cursor = page.next;
    const found = [...page.items];
    while (cursor) {
      const next = await log.query({ limit: 100, action: 'subject.erased', cursor });
      found.push(...next.items);
      cursor = next.next;
    }
    expect(found.map((r) => r.actor)).toEqual(Array.from({ length: 20 }, (_, i) => `a${i * 10}`));
  });

  it('since starts at the offset Kafka finds by time (ListOffsets), not at the start', async () => {
    await new Promise((r) => setTimeout(r, 200));
    const since = new Date().toISOString();
    await log.append([entry(1000)]);
    fetches.length = 0;
    const page = await exact.query({ limit: 10, since });
    expect(page.items.map((r) => r.actor)).toEqual(['a1000']);
    expect(page.next).toBeNull();
    expect(fetches[0]).toBe(200n);
    // with the default margin, a minute's records before `since` are read too (pages of at most 25 read
    // here), and filtered by their time
    const found: string[] = [];
    let page2 = await log.query({ limit: 10, since });
    found.push(...page2.items.map((r) => r.actor));
    while (page2.next) {
      page2 = await log.query({ limit: 10, since, cursor: page2.next });
      found.push(...page2.items.map((r) => r.actor));
    }
    expect(found).toEqual(['a1000']);
    expect(await log.query({ limit: 10, since: new Date(Date.now() + 600_000).toISOString() })).toEqual({
      items: [],
      next: null,
    });
  });

  it('records it cannot read are passed over; a cursor below the log start starts at the log start', async () => {
    const producer = new Kafka({
      brokers: brokers(),
      clientId: 'audit-test-producer',
      logLevel: 0,
    }).producer();
    await producer.connect();
    await producer.send({
      topic: auditTopicOf(prefix),
      messages: [{ value: 'not json' }, { value: '{"some":"json"}' }, { value: null }],
    });
    await producer.disconnect();
    const tail = await log.query({ limit: 10, cursor: '200' });
    expect(tail.items.map((r) => r.actor)).toEqual(['a1000']);
    await admin.deleteTopicRecords({
      topic: auditTopicOf(prefix),
      partitions: [{ partition: 0, offset: '150' }],
    });
    const below = await log.query({ limit: 1, cursor: '3' });
    expect(below.items[0]!.id).toBe('150');
  });

  it('a Kafka that does not answer fails the call as dependency_unavailable (kafka)', async () => {
    const down = createKafkaAuditLog({
      brokers: ['127.0.0.1:1'],
      clientId: 'audit-test-down',
      topicPrefix: `t${uniqueId()}`,
      replication: 1,
      logger,
    });
    await expect(down.append([entry(1)])).rejects.toBeInstanceOf(DependencyUnavailable);
    await expect(down.query({ limit: 1 })).rejects.toBeInstanceOf(DependencyUnavailable);
    await down.close();
  }, 120_000);
});
