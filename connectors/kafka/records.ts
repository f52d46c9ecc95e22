// Kafka records ↔ logfront events: the headers logfront writes, decoding.
import type { IHeaders, KafkaMessage } from 'kafkajs';
import { EventUndecodable } from '../../core/errors.ts';
import type { EventCodec } from '../../core/log/codec.ts';
import { errorMessage } from '../../core/security/redaction.ts';
import type { EventId, EventMetadata, RecordedEvent, StreamId } from '../../core/types.ts';
import type { TailEvent } from './sequencer.ts';

export const header = (headers: IHeaders | undefined, name: string) => {
  const v = headers?.[name];
  if (v === undefined) return undefined;
  return (Array.isArray(v) ? v[0] : v)?.toString('utf8');
};

/** a header's first value, raw */
export const rawHeader = (headers: IHeaders | undefined, name: string) => {
  const v = headers?.[name];
  return Array.isArray(v) ? v[0] : v;
};

/**
 * A header's text, for headers with few distinct values (event types): the last texts seen are
 * reused when the bytes match instead of decoding a new string per record.
 */
export const internedHeader = (() => {
  const recent: { bytes: Buffer; text: string }[] = [];
  return (headers: IHeaders | undefined, name: string) => {
    const v = rawHeader(headers, name);
    if (v === undefined || typeof v === 'string') return v;
    for (const r of recent) if (r.bytes.length === v.length && r.bytes.equals(v)) return r.text;
    const text = v.toString('utf8');
    recent.unshift({ bytes: Buffer.from(v), text });
    if (recent.length > 16) recent.pop();
    return text;
  };
})();

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/** a payload this large counts against a subscription queue's bytes (blob chunks) */
export const LARGE_PAYLOAD = 16 * 1024;

/** a record's place in its stream, read from its key and headers alone; undefined: not logfront's */
export const tailEventOf = (m: KafkaMessage): TailEvent | undefined => {
  if (m.key === null) return undefined;
  const version = header(m.headers, 'lf_stream_version');
  const id = header(m.headers, 'ce_id');
  if (version === undefined || id === undefined || header(m.headers, 'ce_type') === undefined)
    return undefined;
  return { stream: m.key.toString('utf8'), version: Number(version), id, offset: BigInt(m.offset) };
};

export interface RecordMapper {
  /** the events of logfront's records among `messages` (payloads decoded together), and the others */
  /** `withData: false`: the events' data stay undecoded (null), for readers of their places only */
  toEvents(
    topic: string,
    partition: number,
    messages: readonly KafkaMessage[],
    withData?: boolean,
  ): Promise<{ events: RecordedEvent[]; foreign: KafkaMessage[] }>;
  /** the payload size of an event decoded from a large record */
  payloadBytes(event: RecordedEvent): number;
}

export const createRecordMapper = (codec: EventCodec): RecordMapper => {
  // the event of a record whose type and version headers are read; records of one record batch share
  // a (LogAppendTime) timestamp, so its ISO form is made once per run of equal timestamps
  let lastTimestamp = '';
  let lastIso = '';
  const payloadBytes = new WeakMap<RecordedEvent, number>();
  const eventOf = (
    topic: string,
    partition: number,
    m: KafkaMessage,
    type: string,
    version: string,
    data: unknown,
  ): RecordedEvent => {
    if (m.timestamp !== lastTimestamp) {
      lastTimestamp = m.timestamp;
      lastIso = new Date(Number(m.timestamp)).toISOString();
    }
    const meta = rawHeader(m.headers, 'lf_metadata');
    // most events carry no metadata: `{}` needs no parse
    const empty =
      meta === undefined ||
      (typeof meta !== 'string' && meta.length === 2 && meta[0] === OPEN_BRACE && meta[1] === CLOSE_BRACE);
    let metadata: EventMetadata = {};
    let badMetadata: string | undefined;
    if (!empty) {
      try {
        metadata = JSON.parse(meta.toString('utf8')) as EventMetadata;
      } catch (error) {
        badMetadata = `its metadata header is not JSON: ${errorMessage(error)}`;
      }
    }
    const event: RecordedEvent = {
      id: header(m.headers, 'ce_id') as EventId,
      stream: m.key!.toString('utf8') as StreamId,
      type,
      version: Number(version),
      data,
      metadata,
      position: { topic, partition, offset: BigInt(m.offset) },
      recordedAt: lastIso,
    };
    if (badMetadata) event.undecodable = { kind: 'decode', reason: badMetadata };
    return event;
  };
  /** the events of logfront's records among `messages` (payloads decoded together), and the others */
  const toEvents = async (
    topic: string,
    partition: number,
    messages: readonly KafkaMessage[],
    withData = true,
  ) => {
    const ours: { m: KafkaMessage; type: string; version: string }[] = [];
    const foreign: KafkaMessage[] = [];
    for (const m of messages) {
      // a record logfront wrote has a key, a type and a stream version
      const type = m.key === null ? undefined : internedHeader(m.headers, 'ce_type');
      const version = type === undefined ? undefined : header(m.headers, 'lf_stream_version');
      if (type === undefined || version === undefined) foreign.push(m);
      else ours.push({ m, type, version });
    }
    // a record that cannot be decoded or upcast is delivered as an event without data that says why
    const undecodable = new Map<number, EventUndecodable>();
    const data = withData
      ? await Promise.all(
          ours.map(({ m, type }, i) =>
            m.value
              ? codec.decode(type, m.value).catch((error: unknown) => {
                  if (!(error instanceof EventUndecodable)) throw error;
                  undecodable.set(i, error);
                  return null;
                })
              : null,
          ),
        )
      : [];
    const events = ours.map(({ m, type, version }, i) => {
      const e = eventOf(topic, partition, m, type, version, data[i] ?? null);
      const bad = undecodable.get(i);
      if (bad) e.undecodable = { kind: bad.kind, reason: bad.message, payload: m.value!.toString('base64') };
      // logfront never writes a record without a value: one (a tombstone, another writer) has no data to give
      else if (withData && !m.value) e.undecodable = { kind: 'decode', reason: 'the record has no value' };
      // large payloads (blob chunks) count against a queue's bytes; small ones only as events
      if (m.value && m.value.length >= LARGE_PAYLOAD) payloadBytes.set(e, m.value.length);
      return e;
    });
    return { events, foreign };
  };

  return { toEvents, payloadBytes: (e) => payloadBytes.get(e) ?? 0 };
};
