import type { EventLog } from '../../core/ports.ts';
import type { RecordedEvent } from '../../core/types.ts';
import { uniqueId, waitFor } from './services.ts';

/** every event of the topics up to their current end, read with a fresh subscription */
export const readAll = async (log: EventLog, topics: string[]): Promise<RecordedEvent[]> => {
  const ends = await log.endOffsets(topics);
  const remaining = new Map(
    ends.filter((e) => e.offset > 0n).map((e) => [`${e.topic}/${e.partition}`, e.offset]),
  );
  const events: RecordedEvent[] = [];
  const sub = await log.subscribe({
    groupId: `reader-${uniqueId()}`,
    topics,
    startAt: async () => undefined,
    onBatch: async (b) => {
      const key = `${b.topic}/${b.partition}`;
      const end = remaining.get(key);
      if (end === undefined) return;
      events.push(...b.events.filter((e) => e.position.offset < end));
      if (b.nextOffset >= end) remaining.delete(key);
    },
  });
  try {
    await waitFor(async () => remaining.size === 0, 60_000);
  } finally {
    await sub.stop();
  }
  const seen = new Set<string>();
  return events.filter((e) => {
    const k = `${e.position.topic}/${e.position.partition}/${e.position.offset}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
};
