// The log's topics: created on first use with the deployment's settings, their partitions and limits.
import type { Admin } from 'kafkajs';
import { BLOB_CATEGORY, BLOB_TOPIC_MAX_MESSAGE_BYTES } from '../../core/blobs.ts';
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
  /** per partition of each topic, the log's start (`low`) or its end, the last stable offset (`high`) */
  offsetsAt(topics: readonly string[], edge: 'low' | 'high'): Promise<Position[]>;
}

export const createTopics = (deps: {
  admin: () => Promise<Admin>;
  topicPrefix: string;
  partitions: number;
  replication: number;
  /** retention.ms of the topics it creates; -1 keeps records for ever */
  retentionMs: number;
}): Topics => {
  const known = new Map<string, Promise<TopicInfo>>();
  const info = (topic: string, partitions = deps.partitions) =>
    memo(known, topic, async () => {
      const a = await deps.admin();
      const existing = await a.listTopics();
      const blobs = topic === `${deps.topicPrefix}.events.${BLOB_CATEGORY}`;
      if (!existing.includes(topic)) {
        // false (not an error) when another process created it meanwhile
        await a.createTopics({
          waitForLeaders: true,
          topics: [
            {
              topic,
              numPartitions: partitions,
              replicationFactor: deps.replication,
              configEntries: [
                { name: 'message.timestamp.type', value: 'LogAppendTime' },
                { name: 'retention.ms', value: String(deps.retentionMs) },
                // blob chunks travel several to a transaction (core/blob-service.ts)
                ...(blobs
                  ? [{ name: 'max.message.bytes', value: String(BLOB_TOPIC_MAX_MESSAGE_BYTES) }]
                  : []),
              ],
            },
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
    });

  return {
    info,
    offsetsAt: async (topics, edge) => {
      const a = await deps.admin();
      const all = await Promise.all(
        topics.map(async (topic) => {
          await info(topic);
          return (await topicOffsets(a, topic)).map((o) => ({
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
