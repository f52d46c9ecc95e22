import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../app/client.ts';
import { createLogfront, type Logfront } from '../../app/compose.ts';
import { Unavailable, VersionConflict } from '../../core/errors.ts';
import { uuidv7 } from '../../core/log/ids.ts';
import { partitionOf } from '../../core/log/partitioning.ts';
import type { StreamId } from '../../core/types.ts';
import { orderShipped } from '../support/orders.ts';
import { services, servicesConfig, uniqueId } from '../support/services.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const shipped = (orderId: string) => ({
  id: uuidv7(),
  type: 'OrderShipped',
  data: { orderId, carrier: 'DHL' },
  metadata: {},
});

/** a `logfront serve` child process on a free port; resolves with its URL */
const serve = (env: Record<string, string>) =>
  new Promise<{ child: ChildProcess; url: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/logfront.js'), 'serve'], {
      cwd: ROOT,
      env: {
        ...process.env,
        ...services(),
        LOGFRONT_AUTH: 'none',
        LOGFRONT_PORT: '0',
        LOGFRONT_LOG_LEVEL: 'warn',
        LOGFRONT_RUNNERS: 'off',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    child.stdout!.on('data', (d: Buffer) => {
      const m = /logfront serving on (\S+)/.exec(d.toString());
      if (m) resolve({ child, url: m[1]! });
    });
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}`)));
  });

describe('concurrency control across writers (Kafka)', () => {
  let a: Logfront;
  let b: Logfront;
  beforeAll(async () => {
    const config = servicesConfig();
    // two independent logfronts on the same topics: two sequencers, two producers, one transactional id
    a = await createLogfront(config);
    b = await createLogfront(config);
    await a.log.ensureTopics(['order']);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it('20 appends with the same expected version from two writers: exactly one succeeds', async () => {
    const stream = `order-${uniqueId()}` as StreamId;
    await a.log.append(stream, [shipped('1')], 'no_stream');
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).log.append(stream, [shipped('1')], 1)),
    );
    const ok = results.filter((r) => r.status === 'fulfilled');
    const conflicts = results.filter((r) => r.status === 'rejected' && r.reason instanceof VersionConflict);
    expect(ok).toHaveLength(1);
    expect(conflicts).toHaveLength(19);
    expect((await a.log.readStream(stream, 1, 100)).map((e) => e.version)).toEqual([1, 2]);
    expect((await b.log.readStream(stream, 1, 100)).map((e) => e.version)).toEqual([1, 2]);
  });

  it('writers taking turns on one stream keep its versions contiguous', async () => {
    const stream = `order-${uniqueId()}` as StreamId;
    for (let i = 0; i < 10; i++) {
      const writer = i % 2 ? a : b;
      await expect(
        writer.log.append(stream, [shipped('1')], i === 0 ? 'no_stream' : i),
      ).resolves.toMatchObject({
        fromVersion: i + 1,
      });
    }
    expect((await a.log.readStream(stream, 1, 100)).map((e) => e.version)).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
    ]);
  });

  it('the same event ids sent twice at once are appended once, and both get the same answer', async () => {
    const stream = `order-${uniqueId()}` as StreamId;
    const batch = [shipped('1'), shipped('1')];
    const [first, second] = await Promise.all([
      a.log.append(stream, batch, 'any'),
      a.log.append(stream, batch, 'any'),
    ]);
    expect(second).toEqual(first);
    expect(await a.log.readStream(stream, 1, 10)).toHaveLength(2);
  });

  it('a stale owner is fenced: the broker refuses the transaction of a producer whose partition was taken', async () => {
    const stream = `order-${uniqueId()}` as StreamId;
    await a.log.append(stream, [shipped('1')], 'no_stream');
    const topic = a.log.topicFor('order');
    const partition = partitionOf(stream, a.config.kafka.partitions);
    const kafka = new Kafka({
      brokers: [services().LOGFRONT_KAFKA_BROKERS],
      clientId: 'zombie',
      logLevel: logLevel.NOTHING,
    });
    // the old owner: a producer with the partition's transactional id, mid-transaction
    const zombie = kafka.producer({
      transactionalId: `${a.config.topicPrefix}.sequencer.${topic}.${partition}`,
      idempotent: true,
      maxInFlightRequests: 1,
    });
    await zombie.connect();
    const txn = await zombie.transaction();
    await txn.send({ topic, messages: [{ key: stream, value: 'zombie', partition }] });
    // a writer takes the partition
    await expect(b.log.append(stream, [shipped('1')], 1)).resolves.toMatchObject({ fromVersion: 2 });
    const refused = await txn.commit().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(Error);
    // Kafka 4.1 answers the old epoch's EndTxn with INVALID_PRODUCER_EPOCH (kafkajs predates PRODUCER_FENCED)
    expect((refused as { type?: string }).type).toMatch(/^(INVALID_PRODUCER_EPOCH|PRODUCER_FENCED)$/);
    await zombie.disconnect();
    expect((await b.log.readStream(stream, 1, 10)).map((e) => e.version)).toEqual([1, 2]);
  });

  it('appends fail as unavailable when the partition cannot be taken, and after close', async () => {
    const config = servicesConfig();
    const slow = await createLogfront(config);
    const stream = `order-${uniqueId()}` as StreamId;
    await slow.log.append(stream, [shipped('1')], 'no_stream');
    await slow.close();
    await expect(slow.log.append(stream, [shipped('1')], 1)).rejects.toBeInstanceOf(Unavailable);
  });
});

describe('concurrency control across processes (HTTP)', () => {
  const id = uniqueId();
  const env = { LOGFRONT_TOPIC_PREFIX: `t${id}`, LOGFRONT_DATABASE_SCHEMA: `t_${id}` };
  let servers: { child: ChildProcess; url: string }[] = [];
  afterAll(() => {
    for (const s of servers) s.child.kill('SIGKILL');
  });

  it('20 appends with the same expected version sent to two server processes: 1 succeeds, 19 get 409', async () => {
    servers = await Promise.all([serve(env), serve(env)]);
    const [one, two] = servers.map((s) => createClient(s.url));
    const stream = `order-${uniqueId()}`;
    await one!.append(stream, [orderShipped('1')], 'no_stream');
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? one! : two!).append(stream, [orderShipped('1')], 1)),
    );
    const statuses = results.map((r) =>
      r.status === 'fulfilled' ? 201 : (r.reason as { status: number }).status,
    );
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(19);
    const events = await two!.readStream(stream, 1, 100);
    expect(events.events.map((e) => e.version)).toEqual([1, 2]);
  });

  it('SIGKILL of the owning process under steady appends loses no acknowledged append', async () => {
    const [one, two] = servers.map((s) => createClient(s.url));
    const stream = `order-${uniqueId()}`;
    const acknowledged = new Map<string, number>();
    let version = 0;
    let target = 0;
    let killed = false;
    const clients = [one!, two!];
    // a client that retries the same event id until it gets an answer, on the other server when one dies
    const appendOne = async () => {
      const event = { ...orderShipped('1'), id: uuidv7() };
      for (let attempt = 0; attempt < 50; attempt++) {
        try {
          const r = await clients[target]!.append(stream, [event], version === 0 ? 'no_stream' : version);
          version = r.toVersion;
          acknowledged.set(event.id, r.toVersion);
          return;
        } catch (error) {
          const status = (error as { status?: number }).status;
          if (status === 409) {
            version = (error as { body: { actual: number } }).body.actual;
            // a retry of an event that did land answers 201 with its version; a 409 means it did not
            continue;
          }
          target = 1; // the server died or answered 503: go to the survivor
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      throw new Error('append never answered');
    };
    for (let i = 0; i < 60; i++) {
      if (i === 30) {
        servers[0]!.child.kill('SIGKILL');
        killed = true;
      }
      await appendOne();
    }
    expect(killed).toBe(true);
    const read = await two!.readStream(stream, 1, 1000);
    const versions = read.events.map((e) => e.version as number);
    expect(versions).toEqual(Array.from({ length: versions.length }, (_, i) => i + 1));
    const byId = new Map(read.events.map((e) => [e.id as string, e.version as number]));
    expect(byId.size).toBe(read.events.length); // no event twice
    for (const [eventId, v] of acknowledged) expect(byId.get(eventId)).toBe(v);
    expect(acknowledged.size).toBe(60);
  });
});
