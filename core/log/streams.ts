import { ValidationFailed } from '../errors.ts';
import type { StreamId } from '../types.ts';

// category-id: the category names the topic, so it keeps to Kafka's topic alphabet.
const STREAM_ID = /^([A-Za-z][A-Za-z0-9_]{0,63})-([A-Za-z0-9._:-]{1,200})$/;

export const parseStreamId = (raw: string, path = 'stream'): StreamId => {
  if (!STREAM_ID.test(raw)) {
    throw new ValidationFailed('invalid stream id', [
      {
        path,
        message: `"${raw.slice(0, 80)}" is not <category>-<id>: category [A-Za-z][A-Za-z0-9_]{0,63}, id [A-Za-z0-9._:-]{1,200}`,
      },
    ]);
  }
  return raw as StreamId;
};

export const categoryOf = (stream: StreamId | string): string => {
  const dash = stream.indexOf('-');
  return dash < 0 ? stream : stream.slice(0, dash);
};

export const topicFor = (prefix: string, category: string) => `${prefix}.events.${category}`;

/** the categories among `topics` that are this prefix's event topics (`<prefix>.events.<category>`) */
export const categoriesOf = (prefix: string, topics: readonly string[]): string[] => {
  const start = topicFor(prefix, '');
  return topics
    .filter((t) => t.startsWith(start) && t.length > start.length)
    .map((t) => t.slice(start.length));
};
