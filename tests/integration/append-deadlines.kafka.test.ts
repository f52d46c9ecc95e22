// Deadlines and backpressure on the append path (docs/http-api.md#deadlines-and-backpressure), against a
// broker of the test's own that it hangs with SIGSTOP: appends get 503 append_timeout with Retry-After at
// their deadline, a full partition queue answers 429 overloaded at once, the process stays up, and once
// the broker runs again the same appends retried with the same event ids are written exactly once.
// Postgres, Redis and the registry are the shared services; the shared broker is not touched.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../app/config.ts';
import { uuidv7 } from '../../core/log/ids.ts';
import { type Api, startApi } from '../support/api.ts';
import { KAFKA_USERS, type OwnKafka, startOwnKafka } from '../support/kafka-server.ts';
import { orderPlaced } from '../support/orders.ts';
import { removeOwnData } from '../support/own-data.ts';
import { services, servicesConfig, uniqueId } from '../support/services.ts';

const DEADLINE_MS = 2000;
/** what the answer may take past the deadline on a loaded machine */
const SLACK_MS = 1500;
const QUEUE_EVENTS = 4;

describe('append deadlines and backpressure (a broker that hangs)', () => {
  let kafka: OwnKafka;
  let config: Config;
  let api: Api;
  beforeAll(async () => {
    kafka = await startOwnKafka();
    config = servicesConfig({
      LOGFRONT_KAFKA_BROKERS: kafka.brokers,
      LOGFRONT_KAFKA_SASL_MECHANISM: KAFKA_USERS.plain.mechanism,
      LOGFRONT_KAFKA_SASL_USERNAME: KAFKA_USERS.plain.username,
      LOGFRONT_KAFKA_SASL_PASSWORD: KAFKA_USERS.plain.password,
      LOGFRONT_TOPIC_PARTITIONS: '1',
      LOGFRONT_SINKS: 'off',
      LOGFRONT_APPEND_DEADLINE_MS: String(DEADLINE_MS),
      LOGFRONT_APPEND_QUEUE_EVENTS: String(QUEUE_EVENTS),
    });
    api = await startApi(config, { runners: false });
  }, 240_000);
  afterAll(async () => {
    kafka?.resume();
    await api?.close();
    if (config) await removeOwnData(config, services().LOGFRONT_SCHEMA_REGISTRY_URL).catch(() => {});
    await kafka?.stop();
  }, 120_000);

  /** an append of one OrderPlaced with a fixed event id, so that it can be sent again as it was */
  const appendOf = (stream = `order-${uniqueId()}`) => {
    const orderId = stream.slice('order-'.length);
    return {
      stream,
      body: { expectedVersion: 'no_stream', events: [{ ...orderPlaced(orderId, 1, 100), id: uuidv7() }] },
    };
  };
  type Append = ReturnType<typeof appendOf>;

  const send = async (a: Append) => {
    const started = Date.now();
    const r = await api.request('POST', `/v1/streams/${a.stream}/events`, a.body);
    return { ...r, ms: Date.now() - started };
  };

  /** sends `a` again until it is appended; every refusal meanwhile is a 503 or 429 with Retry-After */
  const retryUntilAppended = async (a: Append) => {
    const giveUpAt = Date.now() + 90_000;
    for (;;) {
      const r = await send(a);
      if (r.status === 201) return r;
      expect([429, 503], JSON.stringify(r.body)).toContain(r.status);
      expect(r.headers.get('retry-after')).toMatch(/^\d+$/);
      if (Date.now() > giveUpAt) throw new Error(`${a.stream} was not appended: ${JSON.stringify(r.body)}`);
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  };

  /** the stream holds exactly the append's event, once, at version 1 */
  const expectWrittenOnce = async (a: Append) => {
    const r = await api.request('GET', `/v1/streams/${a.stream}/events`);
    expect(r.status).toBe(200);
    const events = r.body.events as { id: string; version: number }[];
    expect(events.map((e) => [e.version, e.id])).toEqual([[1, a.body.events[0]!.id]]);
  };

  it('with the broker hung, appends get 503 append_timeout with Retry-After at their deadline; retried with the same ids after it recovers, each is written once', async () => {
    // the partition is owned before the broker hangs (a first append may take longer than the deadline on
    // a loaded machine: the topic is made, the schema registered, the coordinator loaded)
    await retryUntilAppended(appendOf());
    await kafka.pause();
    const appends = [appendOf(), appendOf(), appendOf()];
    let answers: Awaited<ReturnType<typeof send>>[];
    try {
      answers = await Promise.all(appends.map(send));
      // the process stays up and answers what needs no broker
      expect((await api.request('GET', '/healthz')).status).toBe(200);
    } finally {
      kafka.resume();
    }
    for (const r of answers) {
      expect(r.status, JSON.stringify(r.body)).toBe(503);
      expect(r.body.error).toBe('append_timeout');
      expect(r.body.message).toMatch(/safe to retry with the same event ids/);
      expect(r.headers.get('retry-after')).toBe('1');
      expect(r.ms).toBeGreaterThanOrEqual(DEADLINE_MS - 50);
      expect(r.ms).toBeLessThan(DEADLINE_MS + SLACK_MS);
    }
    // the first may have been inside a transaction the broker commits on waking: answered, not repeated
    for (const a of appends) {
      const r = await retryUntilAppended(a);
      expect(r.body).toMatchObject({ stream: a.stream, fromVersion: 1, toVersion: 1 });
      // a second retry is answered with the same result
      expect((await send(a)).body).toEqual(r.body);
    }
    for (const a of appends) await expectWrittenOnce(a);
    // the stream goes on from there, versions contiguous
    const [first] = appends;
    const next = await api.request('POST', `/v1/streams/${first!.stream}/events`, {
      expectedVersion: 1,
      events: [{ ...orderPlaced(first!.stream.slice(6), 2, 200), id: uuidv7() }],
    });
    expect(next.status, JSON.stringify(next.body)).toBe(201);
    expect(next.body).toMatchObject({ fromVersion: 2, toVersion: 2 });
  }, 180_000);

  it('with the broker hung and the queue full, one more append gets 429 overloaded with Retry-After at once', async () => {
    await retryUntilAppended(appendOf());
    await kafka.pause();
    // one is taken into a transaction that hangs, QUEUE_EVENTS wait in the queue, the rest are refused
    const appends = Array.from({ length: QUEUE_EVENTS + 3 }, () => appendOf());
    let answers: Awaited<ReturnType<typeof send>>[];
    try {
      const sent = [];
      for (const a of appends) {
        sent.push(send(a));
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      answers = await Promise.all(sent);
    } finally {
      kafka.resume();
    }
    const refused = answers.filter((r) => r.status === 429);
    const timedOut = answers.filter((r) => r.status === 503);
    expect(refused, JSON.stringify(answers.map((r) => r.body))).toHaveLength(2);
    expect(timedOut).toHaveLength(QUEUE_EVENTS + 1);
    for (const r of refused) {
      expect(r.body.error).toBe('overloaded');
      expect(r.body.message).toMatch(/append queue of .* is full/);
      expect(r.headers.get('retry-after')).toBe('1');
      // at once, not at the deadline
      expect(r.ms).toBeLessThan(DEADLINE_MS / 2);
    }
    for (const r of timedOut) expect(r.body.error).toBe('append_timeout');
    // nothing refused was written; everything retried is, once
    for (const a of appends) await retryUntilAppended(a);
    for (const a of appends) await expectWrittenOnce(a);
  }, 180_000);
});
