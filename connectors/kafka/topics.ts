// The log's topics: created on first use with the deployment's settings, their partitions and limits.
import type { Admin, ITopicConfig } from 'kafkajs';
import { BLOB_CATEGORY, BLOB_TOPIC_MAX_MESSAGE_BYTES } from '../../core/blobs/blobs.ts';
import { pollUntil } from '../../core/poll.ts';
import type { Resilience } from '../../core/resilience/resilience.ts';
import type { Position } from '../../core/types.ts';
import { memo, topicOffsets } from './client.ts';

/** Kafka's default max.message.bytes (broker message.max.bytes), what logfront's event topics get */
const DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;

export interface TopicInfo {
  partitions: number;
  /** the topic's max.message.bytes as logfront creates it: a record batch larger than this is refused */
  maxMessageBytes: number;
}

export interface Topics {
  /** the topic's partition count and limits; creates it when missing (`partitions`, default the log's) */
  info(topic: string, partitions?: number): Promise<TopicInfo>;
  /** the topic's partition count and limits when it exists; undefined otherwise (it is not made) */
  find(topic: string): Promise<TopicInfo | undefined>;
  /** per partition of each topic, the log's start (`low`) or its end, the last stable offset (`high`) */
  offsetsAt(topics: readonly string[], edge: 'low' | 'high'): Promise<Position[]>;
}

/**
 * The min.insync.replicas of a topic logfront makes, unless configured: 2 from replication 3 on (a write
 * acknowledged with acks=all is then on two brokers, and one broker may be down), else 1 (every
 * replica: with 2, one broker down would stop the writes).
 */
export const minInsyncReplicasFor = (replication: number) => (replication >= 3 ? 2 : 1);

/** the topic configs that say how many replicas must have a record before it is acknowledged */
export const durabilityConfigs = (replication: number, minInsyncReplicas?: number) => [
  { name: 'min.insync.replicas', value: String(minInsyncReplicas ?? minInsyncReplicasFor(replication)) },
];

/** how long a topic made here may take to have a leader for every partition */
const LEADER_WAIT_MS = 30_000;

/**
 * Creates a topic (false when it exists already) and waits until every partition has a leader.
 * kafkajs's own wait (`waitForLeaders`) retries only LEADER_NOT_AVAILABLE, and gives up when the
 * broker it asks does not know the just-made topic yet (UNKNOWN_TOPIC_OR_PARTITION), which a KRaft
 * broker answers for a moment after a create, more often right after topics were deleted.
 */
export const createTopic = async (admin: Admin, config: ITopicConfig, waitMs = LEADER_WAIT_MS) => {
  const created = await admin.createTopics({ waitForLeaders: false, topics: [config] });
  await pollUntil(
    async () => {
      // kafkajs answers the asked topic, or throws its error (UNKNOWN_TOPIC_OR_PARTITION, retriable)
      const meta = await admin.fetchTopicMetadata({ topics: [config.topic] });
      const { partitions } = meta.topics[0]!;
      return partitions.length > 0 && partitions.every((p) => p.leader >= 0) ? true : undefined;
    },
    {
      waitMs,
      everyMs: 50,
      retriable: (e) => (e as { retriable?: boolean }).retriable === true,
      timeoutMessage: `Kafka topic ${config.topic} has no leader for every partition after ${waitMs} ms`,
    },
  );
  return created;
};

export const createTopics = (deps: {
  admin: () => Promise<Admin>;
  topicPrefix: string;
  partitions: number;
  replication: number;
  /** min.insync.replicas of the topics it creates; default minInsyncReplicasFor(replication) */
  minInsyncReplicas?: number | undefined;
  /** retention.ms of the topics it creates; -1 keeps records for ever */
  retentionMs: number;
  /**
   * the process's resilience layer: admin calls go through the kafka breaker (kafkajs retries them
   * itself), retries of topic offsets are counted
   */
  resilience?: Resilience | undefined;
}): Topics => {
  const known = new Map<string, Promise<TopicInfo>>();
  const { resilience } = deps;
  const admin = <T>(operation: string, call: () => Promise<T>) =>
    resilience ? resilience.run('kafka', operation, call, { retryable: () => false }) : call();
  const info = (topic: string, partitions = deps.partitions) =>
    memo(known, topic, () =>
      admin('topic_info', async () => {
        const a = await deps.admin();
        const existing = await a.listTopics();
        const blobs = topic === `${deps.topicPrefix}.events.${BLOB_CATEGORY}`;
        if (!existing.includes(topic)) {
          // false (not an error) when another process created it meanwhile
          await createTopic(a, {
            topic,
            numPartitions: partitions,
            replicationFactor: deps.replication,
            configEntries: [
              { name: 'message.timestamp.type', value: 'LogAppendTime' },
              { name: 'retention.ms', value: String(deps.retentionMs) },
              ...durabilityConfigs(deps.replication, deps.minInsyncReplicas),
              // blob chunks travel several to a transaction (core/blobs/blob-service.ts)
              ...(blobs ? [{ name: 'max.message.bytes', value: String(BLOB_TOPIC_MAX_MESSAGE_BYTES) }] : []),
            ],
          });
        }
        const meta = await a.fetchTopicMetadata({ topics: [topic] });
        return {
          partitions: meta.topics[0]!.partitions.length,
          // what logfront creates topics with; a topic made elsewhere with a lower limit refuses a large
          // group-commit batch, whose appends the sequencer then writes one by one
          maxMessageBytes: blobs ? BLOB_TOPIC_MAX_MESSAGE_BYTES : DEFAULT_MAX_MESSAGE_BYTES,
        };
      }),
    );

  return {
    info,
    find: async (topic) => {
      if (known.has(topic)) return info(topic);
      const exists = await admin('list_topics', async () =>
        (await (await deps.admin()).listTopics()).includes(topic),
      );
      return exists ? info(topic) : undefined;
    },
    offsetsAt: async (topics, edge) => {
      const a = await deps.admin();
      const all = await Promise.all(
        topics.map(async (topic) => {
          await info(topic);
          const offsets = await admin('topic_offsets', () => topicOffsets(a, topic, resilience?.retried));
          return offsets.map((o) => ({
            topic,
            partition: o.partition,
            offset: BigInt(o[edge]),
          }));
        }),
      );
      return all.flat();
    },
  };
};
