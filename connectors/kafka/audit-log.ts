// The audit log on Kafka: one topic, `<prefix>.audit`, one partition (a total order), records kept for
// ever. A page is read by position with the partition reader from its cursor (an offset); `since`
// finds its first offset with ListOffsets by timestamp. No page reads the topic from its start unless
// it asks for the start.
import { type Admin, Partitioners, type Producer } from 'kafkajs';
import { classified } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import {
  type AuditEntry,
  type AuditLog,
  type AuditQuery,
  type AuditRecord,
  matchesAudit,
} from '../../core/security/audit.ts';
import { createKafkaClient, type KafkaSecurity, kafkaFailure, lazily } from './client.ts';
import { createPartitionReader, OffsetBelowLogStart, type PartitionReader } from './reader.ts';
import { createTopic, durabilityConfigs } from './topics.ts';

/** with TLS and SASL as the deployment's clients reach the brokers */
export interface KafkaAuditLogOptions extends KafkaSecurity {
  brokers: string[];
  clientId: string;
  topicPrefix: string;
  replication: number;
  /** min.insync.replicas of the topic; default 2 from replication 3 on, else 1 */
  minInsyncReplicas?: number | undefined;
  logger: Logger;
  /** reads the topic by position (default: a partition reader of the audit log's own client) */
  reader?: Pick<PartitionReader, 'fetch' | 'close'>;
  /** records one page reads at most before it answers with what it found (default 10000) */
  scanLimit?: number;
  /**
   * how far before `since` a query starts by the broker's time of the records, for a record whose own
   * time is earlier than when the broker stored it (a clock ahead of the broker's; default 60 s)
   */
  sinceMarginMs?: number;
}
const FETCH_BYTES = 1024 * 1024;

export const auditTopicOf = (topicPrefix: string) => `${topicPrefix}.audit`;

const recordOf = (offset: string, value: Buffer | null): AuditRecord | undefined => {
  if (!value) return undefined;
  try {
    const entry = JSON.parse(value.toString('utf8')) as AuditEntry;
    return typeof entry.action === 'string' && typeof entry.time === 'string'
      ? { id: offset, ...entry }
      : undefined;
  } catch {
    return undefined; // not a record of ours
  }
};

export const createKafkaAuditLog = (options: KafkaAuditLogOptions): AuditLog => {
  const topic = auditTopicOf(options.topicPrefix);
  const scanLimit = options.scanLimit ?? 10_000;
  const sinceMarginMs = options.sinceMarginMs ?? 60_000;
  const kafka = createKafkaClient(options);
  const admin = lazily(async (): Promise<Admin> => {
    const a = kafka.admin();
    await a.connect();
    return a;
  });
  const producer = lazily(async (): Promise<Producer> => {
    // at-least-once: a send kafkajs retries may be written twice (one request in flight keeps the order);
    // an idempotent producer would retry for ever, and a required record must fail in bounded time
    const p = kafka.producer({
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await p.connect();
    return p;
  });
  const reader = options.reader ?? createPartitionReader({ kafka, logger: options.logger });
  // made on the first write; a read never makes it (no record was written: the page is empty)
  let known = false;
  const ensured = lazily(async () => {
    const a = await admin();
    if (!(await a.listTopics()).includes(topic)) {
      await createTopic(a, {
        topic,
        numPartitions: 1,
        replicationFactor: options.replication,
        configEntries: [
          { name: 'message.timestamp.type', value: 'LogAppendTime' },
          { name: 'retention.ms', value: '-1' },
          { name: 'retention.bytes', value: '-1' },
          { name: 'cleanup.policy', value: 'delete' },
          ...durabilityConfigs(options.replication, options.minInsyncReplicas),
        ],
      });
    }
    known = true;
  });
  const exists = async () => {
    known ||= (await (await admin()).listTopics()).includes(topic);
    return known;
  };

  // the first offset of a record the broker stored at or after `time` (the end when there is none)
  const offsetAt = async (time: number) => {
    const [p] = await (await admin()).fetchTopicOffsetsByTimestamp(topic, time);
    return BigInt(p?.offset ?? '0');
  };

  const log: AuditLog = {
    append: async (entries) => {
      await ensured();
      await (await producer()).send({
        topic,
        acks: -1,
        messages: entries.map((e) => ({
          key: e.tenant,
          value: JSON.stringify(e),
          timestamp: String(Date.parse(e.time)),
          headers: { lf_audit_action: e.action },
        })),
      });
    },
    query: async (query: AuditQuery) => {
      if (!(await exists())) return { items: [], next: null };
      let from =
        query.cursor !== undefined
          ? BigInt(query.cursor)
          : query.since !== undefined
            ? await offsetAt(Date.parse(query.since) - sinceMarginMs)
            : 0n;
      const items: AuditRecord[] = [];
      let scanned = 0;
      for (;;) {
        let range: Awaited<ReturnType<PartitionReader['fetch']>>;
        try {
          range = await reader.fetch(topic, 0, from, { maxBytes: FETCH_BYTES });
        } catch (error) {
          // a topic made elsewhere with a retention: the page starts where the topic does now
          if (!(error instanceof OffsetBelowLogStart)) throw error;
          from = error.logStartOffset;
          continue;
        }
        for (const m of range.messages) {
          scanned += 1;
          const r = recordOf(m.offset, m.value);
          if (!r || !matchesAudit(r, query)) continue;
          items.push(r);
          if (items.length === query.limit) {
            const after = BigInt(m.offset) + 1n;
            return { items, next: after < range.lastStableOffset ? after.toString() : null };
          }
        }
        // the end of the topic when the read began
        if (range.nextOffset <= from || range.nextOffset >= range.lastStableOffset) {
          return { items, next: null };
        }
        from = range.nextOffset;
        if (scanned >= scanLimit) return { items, next: from.toString() };
      }
    },
    close: async () => {
      await reader.close();
      for (const connected of [producer.peek(), admin.peek()]) {
        const client = await connected?.catch(() => undefined);
        await client?.disconnect();
      }
    },
  };
  // a Kafka that is down or unreachable fails a call as DependencyUnavailable (kafka)
  return {
    ...log,
    append: classified(kafkaFailure, log.append),
    query: classified(kafkaFailure, log.query),
  };
};
