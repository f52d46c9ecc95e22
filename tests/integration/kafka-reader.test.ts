import { execFile } from 'node:child_process';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Admin, Kafka, type KafkaMessage, logLevel, type Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../app/logger.ts';
import {
  createPartitionReader,
  type FetchedRange,
  KafkaInternalsMissing,
  OffsetBelowLogStart,
  type PartitionReader,
} from '../../connectors/kafka/reader.ts';
import { createTopic } from '../../connectors/kafka/topics.ts';
import { Unavailable } from '../../core/errors.ts';
import { services, uniqueId, waitFor } from '../support/services.ts';

const prefix = `t${uniqueId()}`;
const brokers = () => [services().LOGFRONT_KAFKA_BROKERS];
const logger = createLogger('silent');

/** a TCP relay to a broker whose connections the test can close from the broker's side */
const relayTo = async (target: string) => {
  const [host, port] = target.split(':') as [string, string];
  const open = new Set<Socket>();
  let accepted = 0;
  const server = createServer((inbound) => {
    accepted++;
    const outbound = connect({ host, port: Number(port) });
    for (const s of [inbound, outbound]) {
      open.add(s);
      s.on('error', () => {});
      s.on('close', () => open.delete(s));
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const cut = () => {
    for (const s of open) s.destroy();
  };
  return {
    port: (server.address() as AddressInfo).port,
    cut,
    /** connections made to the broker through the relay so far */
    connections: () => accepted,
    close: () => {
      cut();
      return new Promise((resolve) => server.close(resolve));
    },
  };
};

const valuesOf = (messages: readonly KafkaMessage[]) => messages.map((m) => m.value!.toString());
const offsetsOf = (messages: readonly KafkaMessage[]) => messages.map((m) => BigInt(m.offset));
const range = (from: number, to: number, name = 'm') =>
  Array.from({ length: to - from }, (_, i) => `${name}${from + i}`);

describe('partition reader (Kafka)', () => {
  let kafka: Kafka;
  let admin: Admin;
  let plain: Producer;
  let reader: PartitionReader;
  const producers: Producer[] = [];
  const topics: string[] = [];

  /** a new topic under the test prefix */
  const givenTopic = async (partitions = 1) => {
    const topic = `${prefix}.reader.${uniqueId()}`;
    await createTopic(admin, { topic, numPartitions: partitions, replicationFactor: 1 });
    topics.push(topic);
    return topic;
  };
  /** one produce request, so one record batch: values `name<from>` … `name<to - 1>` */
  const givenBatch = async (topic: string, from: number, to: number, partition = 0, name = 'm') => {
    await plain.send({
      topic,
      acks: -1,
      messages: range(from, to, name).map((value) => ({ value, partition })),
    });
  };
  const transactional = async () => {
    const p = kafka.producer({
      transactionalId: `${prefix}.reader.${uniqueId()}`,
      idempotent: true,
      maxInFlightRequests: 1,
    });
    await p.connect();
    producers.push(p);
    return p;
  };
  /** a transaction of `values`, committed or aborted */
  const givenTransaction = async (topic: string, values: string[], outcome: 'commit' | 'abort') => {
    const p = await transactional();
    const t = await p.transaction();
    await t.send({ topic, messages: values.map((value) => ({ value, partition: 0 })) });
    await (outcome === 'commit' ? t.commit() : t.abort());
  };
  /** waits for the transaction markers: the partition's last stable offset reaches `atLeast` */
  const committedUpTo = async (topic: string, atLeast: number, partition = 0) =>
    waitFor(async () => {
      const o = (await admin.fetchTopicOffsets(topic)).find((x) => x.partition === partition)!;
      return Number(o.high) >= atLeast;
    });
  /** every record readRange hands over, and the end it reports */
  const readAll = async (r: PartitionReader, topic: string, from: bigint, to?: bigint, maxBytes?: number) => {
    const messages: KafkaMessage[] = [];
    const calls: FetchedRange[] = [];
    const end = await r.readRange(topic, 0, from, {
      to,
      maxBytes,
      onMessages: (ms, fetched) => {
        messages.push(...ms);
        calls.push(fetched);
      },
    });
    return { values: valuesOf(messages), offsets: offsetsOf(messages), calls, end };
  };

  beforeAll(async () => {
    kafka = new Kafka({ clientId: 'reader-test', brokers: brokers(), logLevel: logLevel.NOTHING });
    admin = kafka.admin();
    await admin.connect();
    plain = kafka.producer({ allowAutoTopicCreation: false });
    await plain.connect();
    reader = createPartitionReader({ brokers: brokers(), clientId: 'reader-test', logger });
  });
  afterAll(async () => {
    await reader?.close();
    await Promise.all(producers.map((p) => p.disconnect()));
    await plain?.disconnect();
    if (topics.length) await admin?.deleteTopics({ topics });
    await admin?.disconnect();
  });

  it('reads a range written by a plain and a transactional producer, in offset order, to the last stable offset', async () => {
    const topic = await givenTopic();
    await givenBatch(topic, 0, 3, 0, 'plain'); // offsets 0-2
    await givenTransaction(topic, ['committed0', 'committed1'], 'commit'); // 3-4, marker 5
    await committedUpTo(topic, 6);
    await givenBatch(topic, 3, 4, 0, 'plain'); // 6

    const read = await readAll(reader, topic, 0n);

    expect(read.values).toEqual(['plain0', 'plain1', 'plain2', 'committed0', 'committed1', 'plain3']);
    expect(read.offsets).toEqual([0n, 1n, 2n, 3n, 4n, 6n]);
    expect(read.end).toBe(7n);
    const fetched = await reader.fetch(topic, 0, 0n);
    expect(fetched).toMatchObject({ nextOffset: 7n, lastStableOffset: 7n, logStartOffset: 0n });
  });

  it('never returns the records of an aborted transaction, from whichever offset it fetches', async () => {
    const topic = await givenTopic();
    // two transactions interleaved, both aborted: x0 (0), y0 (1), y1 (2), then their two abort markers
    const [p, q] = [await transactional(), await transactional()];
    const tp = await p.transaction();
    await tp.send({ topic, messages: [{ value: 'aborted-x0', partition: 0 }] });
    const tq = await q.transaction();
    await tq.send({ topic, messages: [{ value: 'aborted-y0', partition: 0 }] });
    await tq.send({ topic, messages: [{ value: 'aborted-y1', partition: 0 }] });
    await tp.abort();
    await tq.abort();
    await givenTransaction(topic, ['committed'], 'commit'); // 5, marker 6
    await committedUpTo(topic, 7);
    await givenBatch(topic, 0, 1, 0, 'plain'); // 7

    for (let from = 0n; from <= 7n; from++) {
      const fetched = await reader.fetch(topic, 0, from);
      // from 2 is where kafkajs's own Batch filter lets aborted-y1 through: two aborted transactions began before it
      expect(valuesOf(fetched.messages).filter((v) => v.startsWith('aborted'))).toEqual([]);
      expect(fetched.nextOffset).toBe(8n);
    }
    expect((await readAll(reader, topic, 0n)).values).toEqual(['committed', 'plain0']);
    expect((await readAll(reader, topic, 2n)).values).toEqual(['committed', 'plain0']);
  });

  it('a transaction that began first but aborted last hides its records too', async () => {
    const topic = await givenTopic();
    // x0 (0), y0 (1), x1 (2), then y's abort marker (3) before x's (4): the broker lists the aborted
    // transactions in the order they ended, not the order they began
    const [p, q] = [await transactional(), await transactional()];
    const tp = await p.transaction();
    await tp.send({ topic, messages: [{ value: 'aborted-x0', partition: 0 }] });
    const tq = await q.transaction();
    await tq.send({ topic, messages: [{ value: 'aborted-y0', partition: 0 }] });
    await tp.send({ topic, messages: [{ value: 'aborted-x1', partition: 0 }] });
    await tq.abort();
    await tp.abort();
    await committedUpTo(topic, 5);
    await givenBatch(topic, 0, 1, 0, 'plain'); // 5

    for (let from = 0n; from <= 5n; from++) {
      const fetched = await reader.fetch(topic, 0, from);
      expect(valuesOf(fetched.messages), `from ${from}`).toEqual(['plain0']);
      expect(fetched.nextOffset).toBe(6n);
    }
  });

  it('a range of only transaction markers and aborted records returns nothing and moves nextOffset past them', async () => {
    const topic = await givenTopic();
    await givenTransaction(topic, ['a0', 'a1'], 'abort'); // 0-1, abort marker 2
    await givenTransaction(topic, ['c0'], 'commit'); // 3, commit marker 4
    await committedUpTo(topic, 5);

    const aborted = await reader.fetch(topic, 0, 0n, { maxBytes: 1 });
    expect(aborted.messages).toEqual([]);
    expect(aborted.nextOffset).toBe(2n); // the aborted batch, whole (larger than maxBytes)
    const marker = await reader.fetch(topic, 0, 4n);
    expect(marker).toEqual({ messages: [], nextOffset: 5n, lastStableOffset: 5n, logStartOffset: 0n });
    const markers = await readAll(reader, topic, 4n);
    expect(markers).toMatchObject({ values: [], calls: [], end: 5n });
    expect(await readAll(reader, topic, 0n, undefined, 1)).toMatchObject({ values: ['c0'], end: 5n });
  });

  it('a fetch from inside a record batch returns the batch from that offset on', async () => {
    const topic = await givenTopic();
    await givenBatch(topic, 0, 10); // one batch, offsets 0-9

    const fetched = await reader.fetch(topic, 0, 4n);
    expect(valuesOf(fetched.messages)).toEqual(range(4, 10));
    expect(fetched.nextOffset).toBe(10n);
    const part = await readAll(reader, topic, 4n, 7n);
    expect(part).toMatchObject({ values: range(4, 7), end: 7n });
    expect(part.calls.map((c) => c.nextOffset)).toEqual([7n]);
  });

  it('fetches of several offsets and partitions at once each answer from their own offset', async () => {
    const topic = await givenTopic(2);
    for (const partition of [0, 1]) {
      for (let b = 0; b < 50; b += 10) await givenBatch(topic, b, b + 10, partition, `p${partition}-`);
    }
    const asks = Array.from({ length: 40 }, (_, i) => ({ partition: i % 2, from: BigInt((i * 7) % 50) }));

    const answers = await Promise.all(
      asks.map(({ partition, from }) => reader.fetch(topic, partition, from, { maxBytes: 64 })),
    );

    answers.forEach((answer, i) => {
      const { partition, from } = asks[i]!;
      expect(answer.messages[0]!.offset).toBe(String(from));
      expect(answer.messages[0]!.value!.toString()).toBe(`p${partition}-${from}`);
      expect(answer.lastStableOffset).toBe(50n);
    });
  });

  it('below a log start moved by deleteRecords, a fetch fails with OffsetBelowLogStart and the new log start', async () => {
    const topic = await givenTopic();
    await givenBatch(topic, 0, 5);
    await givenBatch(topic, 5, 10);
    await admin.fetchTopicOffsets(topic); // kafkajs's deleteTopicRecords needs the topic's metadata loaded
    await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '6' }] });

    const error = await reader.fetch(topic, 0, 3n).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OffsetBelowLogStart);
    expect(error).toMatchObject({ topic, partition: 0, offset: 3n, logStartOffset: 6n, status: 410 });
    expect((error as OffsetBelowLogStart).details()).toEqual({
      topic,
      partition: 0,
      offset: '3',
      logStartOffset: '6',
    });
    await expect(readAll(reader, topic, 0n)).rejects.toBeInstanceOf(OffsetBelowLogStart);
    const kept = await reader.fetch(topic, 0, 6n);
    expect(kept).toMatchObject({ nextOffset: 10n, logStartOffset: 6n, lastStableOffset: 10n });
    expect(valuesOf(kept.messages)).toEqual(range(6, 10));
  });

  it('at or above the end of the partition a fetch returns an empty range', async () => {
    const empty = await givenTopic();
    expect(await reader.fetch(empty, 0, 0n)).toEqual({
      messages: [],
      nextOffset: 0n,
      lastStableOffset: 0n,
      logStartOffset: 0n,
    });
    const topic = await givenTopic();
    await givenBatch(topic, 0, 3);

    expect(await reader.fetch(topic, 0, 3n)).toEqual({
      messages: [],
      nextOffset: 3n,
      lastStableOffset: 3n,
      logStartOffset: 0n,
    });
    // beyond the log's end: Kafka answers OFFSET_OUT_OF_RANGE, the reader an empty range
    expect(await reader.fetch(topic, 0, 1000n)).toEqual({
      messages: [],
      nextOffset: 1000n,
      lastStableOffset: 3n,
      logStartOffset: 0n,
    });
    expect(await readAll(reader, topic, 3n)).toMatchObject({ values: [], calls: [], end: 3n });
    // a range asked beyond the end stops at the end
    expect(await readAll(reader, topic, 1n, 100n)).toMatchObject({ values: range(1, 3), end: 3n });
    expect(await readAll(reader, topic, 2n, 2n)).toMatchObject({ values: [], end: 2n });
  });

  it('readRange with a small maxBytes reads across many batches, one fetch per batch, and stops at `to`', async () => {
    const topic = await givenTopic();
    for (let b = 0; b < 300; b += 10) await givenBatch(topic, b, b + 10);
    await givenTransaction(topic, range(300, 305), 'commit'); // 300-304, marker 305
    await committedUpTo(topic, 306);
    await givenBatch(topic, 305, 310); // 306-310

    const all = await readAll(reader, topic, 0n, undefined, 200);
    expect(all.values).toEqual(range(0, 310));
    expect(all.end).toBe(311n);
    expect(all.calls.length).toBeGreaterThanOrEqual(32);
    expect(all.calls.at(-1)!.nextOffset).toBe(311n);
    const part = await readAll(reader, topic, 95n, 155n, 200);
    expect(part).toMatchObject({ values: range(95, 155), end: 155n });
    expect(part.calls.at(-1)!.nextOffset).toBe(155n);
    // Kafka returns a first batch larger than maxBytes whole
    const big = await reader.fetch(topic, 0, 0n, { maxBytes: 1 });
    expect(valuesOf(big.messages)).toEqual(range(0, 10));
  });

  it('a record handler that fails stops readRange with its error', async () => {
    const topic = await givenTopic();
    await givenBatch(topic, 0, 5);
    await givenBatch(topic, 5, 10);
    const failure = new Error('handler failed');

    const read = reader.readRange(topic, 0, 0n, {
      maxBytes: 1,
      onMessages: () => {
        throw failure;
      },
    });

    await expect(read).rejects.toBe(failure);
  });

  it('an unknown topic or partition fails as unavailable after its attempts, and the reader reads on', async () => {
    const few = createPartitionReader({ brokers: brokers(), clientId: 'reader-test', logger, attempts: 2 });
    try {
      const topic = await givenTopic();
      await givenBatch(topic, 0, 2);
      await expect(few.fetch(`${prefix}.reader.missing`, 0, 0n)).rejects.toBeInstanceOf(Unavailable);
      const error = await few.fetch(topic, 7, 0n).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Unavailable);
      expect((error as Error).message).toMatch(/reading .*\/7 at 0 failed after 2 attempts/);
      expect(valuesOf((await few.fetch(topic, 0, 0n)).messages)).toEqual(range(0, 2));
    } finally {
      await few.close();
    }
  });

  it('a topic deleted after it was read does not keep the reader from reading other and new topics', async () => {
    const own = createPartitionReader({ brokers: brokers(), clientId: 'reader-test', logger });
    try {
      const [kept, deleted] = [await givenTopic(), await givenTopic()];
      await givenBatch(kept, 0, 1);
      // a producer of its own: the deleted topic would fail the shared producer's metadata requests too
      const once = kafka.producer({ allowAutoTopicCreation: false });
      await once.connect();
      await once.send({ topic: deleted, messages: [{ value: 'gone' }] });
      await once.disconnect();
      await own.fetch(kept, 0, 0n);
      await own.fetch(deleted, 0, 0n);
      await admin.deleteTopics({ topics: [deleted] });
      topics.splice(topics.indexOf(deleted), 1);
      const fresh = await givenTopic();
      await givenBatch(fresh, 0, 1);

      expect(valuesOf((await own.fetch(fresh, 0, 0n)).messages)).toEqual(['m0']);
      expect(valuesOf((await own.fetch(kept, 0, 0n)).messages)).toEqual(['m0']);
    } finally {
      await own.close();
    }
  });

  it('a broker connection closed by the far end is made again, between fetches and during them', async () => {
    const relay = await relayTo(brokers()[0]!);
    const client = new Kafka({
      clientId: 'reader-test',
      brokers: brokers(),
      logLevel: logLevel.NOTHING,
      socketFactory: ({ onConnect }) => connect({ host: '127.0.0.1', port: relay.port }, onConnect),
    });
    const own = createPartitionReader({ kafka: client, logger });
    try {
      const topic = await givenTopic();
      await givenBatch(topic, 0, 3);
      expect(valuesOf((await own.fetch(topic, 0, 0n)).messages)).toEqual(range(0, 3));
      const before = relay.connections();
      relay.cut();
      expect(valuesOf((await own.fetch(topic, 0, 1n)).messages)).toEqual(range(1, 3));
      expect(relay.connections()).toBeGreaterThan(before);
      const during = Array.from({ length: 8 }, (_, i) => own.fetch(topic, 0, BigInt(i % 3)));
      setImmediate(relay.cut);
      const answers = await Promise.all(during);
      expect(answers.map((a) => a.messages[0]!.offset)).toEqual(['0', '1', '2', '0', '1', '2', '0', '1']);
    } finally {
      await own.close();
      await relay.close();
    }
  });

  it('a fetch on a connection gone silent times out and is tried again on a new connection', async () => {
    const sockets: Socket[] = [];
    const client = new Kafka({
      clientId: 'reader-test',
      brokers: brokers(),
      logLevel: logLevel.NOTHING,
      requestTimeout: 1000,
      socketFactory: ({ host, port, onConnect }) => {
        const socket = connect({ host, port }, onConnect);
        sockets.push(socket);
        return socket;
      },
    });
    const own = createPartitionReader({ kafka: client, logger });
    try {
      const topic = await givenTopic();
      await givenBatch(topic, 0, 3);
      await own.fetch(topic, 0, 0n);
      // closed on this side only: kafkajs hears nothing and keeps writing to them
      for (const s of sockets.splice(0)) s.destroy();

      const started = Date.now();
      expect(valuesOf((await own.fetch(topic, 0, 1n)).messages)).toEqual(range(1, 3));
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
      expect(sockets.length).toBeGreaterThan(0); // connected again
    } finally {
      await own.close();
    }
  });

  it('a closed reader refuses fetches, and a process that closed its reader exits on its own', async () => {
    const own = createPartitionReader({ brokers: brokers(), clientId: 'reader-test', logger });
    await own.close(); // never connected
    await expect(own.fetch('anything', 0, 0n)).rejects.toBeInstanceOf(Unavailable);

    const topic = await givenTopic();
    await givenBatch(topic, 0, 2);
    const module = fileURLToPath(new URL('../../connectors/kafka/reader.ts', import.meta.url));
    const script = `
      const { createPartitionReader } = await import(${JSON.stringify(module)});
      const reader = createPartitionReader({ brokers: ${JSON.stringify(brokers())}, clientId: 'child', logger: { debug() {}, warn() {} } });
      const range = await reader.fetch(${JSON.stringify(topic)}, 0, 0n);
      await reader.close();
      console.log(range.messages.length, String(range.nextOffset));`;
    const started = Date.now();
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      { timeout: 20_000 },
    );
    expect(stdout.trim()).toBe('2 2');
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('a reader whose brokers cannot be reached fails as unavailable once kafkajs gives up connecting', async () => {
    const nowhere = new Kafka({
      brokers: ['127.0.0.1:1'],
      logLevel: logLevel.NOTHING,
      retry: { retries: 1, initialRetryTime: 50 },
    });
    const own = createPartitionReader({ kafka: nowhere, logger });
    try {
      const error = await own.fetch('anything', 0, 0n).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Unavailable);
      expect((error as Error).message).toMatch(/reading anything\/0 at 0 failed after 1 attempts/);
    } finally {
      await own.close();
    }
  });

  it('a Kafka client without the internals it needs is refused when the reader is made', () => {
    expect(() => createPartitionReader({ kafka: {} as Kafka, logger })).toThrow(KafkaInternalsMissing);
    const error = (() => {
      try {
        createPartitionReader({ kafka: {} as Kafka, logger });
      } catch (e) {
        return e as KafkaInternalsMissing;
      }
    })();
    expect(error?.details()).toEqual({ missing: 'the Kafka client has no createCluster', kafkajs: '2.2.4' });
  });

  it('a Kafka client whose cluster lacks a method or the target topics the reader uses is refused', () => {
    /** a real client whose private cluster factory makes clusters changed by `change` */
    const clientWith = (change: (cluster: Record<string, unknown>) => void) => {
      const client = new Kafka({ brokers: brokers(), logLevel: logLevel.NOTHING });
      const key = Object.getOwnPropertySymbols(client).find(
        (s) => s.description === 'private:Kafka:createCluster',
      )!;
      const own = client as unknown as Record<symbol, (options: unknown) => Record<string, unknown>>;
      const create = own[key]!;
      own[key] = (options) => {
        const cluster = create(options);
        change(cluster);
        return cluster;
      };
      return client;
    };
    const missing = (client: Kafka) => {
      try {
        createPartitionReader({ kafka: client, logger });
      } catch (e) {
        expect(e).toBeInstanceOf(KafkaInternalsMissing);
        return (e as KafkaInternalsMissing).missing;
      }
      return 'nothing';
    };
    expect(missing(clientWith(() => {}))).toBe('nothing');
    expect(
      missing(
        clientWith((c) => {
          c.findBroker = undefined;
          c.fetchTopicsOffset = undefined;
        }),
      ),
    ).toBe('the cluster lacks findBroker, fetchTopicsOffset');
    expect(missing(clientWith((c) => (c.targetTopics = [])))).toBe('the cluster lacks targetTopics');
  });

  it("a reader of its own client: KAFKAJS_LOG_LEVEL=debug adds no warnings; kafkajs's failures are warnings", async () => {
    const lines: { level: number; msg: string }[] = [];
    const captured = createLogger('debug', {
      write: (line: string) => {
        lines.push(JSON.parse(line) as { level: number; msg: string });
      },
    });
    const warnings = () => lines.filter((l) => l.level >= 40);
    vi.stubEnv('KAFKAJS_LOG_LEVEL', 'debug');
    try {
      const own = createPartitionReader({ brokers: brokers(), clientId: 'reader-test', logger: captured });
      const topic = await givenTopic();
      await givenBatch(topic, 0, 2);
      expect(valuesOf((await own.fetch(topic, 0, 0n)).messages)).toEqual(range(0, 2));
      await own.close();
      expect(warnings()).toEqual([]);
    } finally {
      vi.unstubAllEnvs();
    }

    // a fetch still connecting when the reader closes fails as closed, whatever kafkajs ends with
    const nowhere = createPartitionReader({
      brokers: ['127.0.0.1:1'],
      clientId: 'reader-test',
      logger: captured,
    });
    const fetching = nowhere.fetch('anything', 0, 0n).catch((e: unknown) => e);
    await waitFor(async () => warnings().length > 0, 10_000);
    await nowhere.close();
    const error = await fetching;
    expect(error).toBeInstanceOf(Unavailable);
    expect((error as Error).message).toBe('the partition reader is closed');
    // the connection refused, as kafkajs said it
    expect(warnings().some((l) => /Failed to connect|Connection error/.test(l.msg))).toBe(true);
  });
});
