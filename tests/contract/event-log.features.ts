// The EventLog contract: every implementation (Kafka, the embedded table log) passes the same suite.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppendTimeout, Conflict, VersionConflict } from '../../core/errors.ts';
import { uuidv7 } from '../../core/log/ids.ts';
import type { EventLog, LogBatch } from '../../core/ports.ts';
import type { PreparedEvent, RecordedEvent, StreamId } from '../../core/types.ts';
import { uniqueId, waitFor } from '../support/services.ts';

export interface LogFixture {
  log: EventLog;
  /** closes the log and opens it again over the same storage (a process restart); the new log */
  restart(): Promise<EventLog>;
  close(): Promise<void>;
}

const shipped = (orderId: string, carrier = 'DHL'): PreparedEvent => ({
  id: uuidv7(),
  type: 'OrderShipped',
  data: { orderId, carrier },
  metadata: { tenant: 'acme', correlationId: 'corr-1' },
});

export const eventLogContract = (name: string, open: () => Promise<LogFixture>) => {
  describe(`EventLog contract: ${name}`, () => {
    let fixture: LogFixture;
    let log: EventLog;
    const stream = (): StreamId => `order-${uniqueId()}` as StreamId;

    beforeAll(async () => {
      fixture = await open();
      log = fixture.log;
      await log.ensureTopics(['order']);
    });
    afterAll(async () => fixture?.close());

    it('appends to a new stream from version 1 and reads the events back in order', async () => {
      const s = stream();
      const events = [shipped('1', 'a'), shipped('1', 'b'), shipped('1', 'c')];
      const r = await log.append(s, events, 'no_stream');
      expect(r).toMatchObject({ stream: s, fromVersion: 1, toVersion: 3 });
      expect(r.position.topic).toBe(log.topicFor('order'));
      const read = await log.readStream(s, 1, 100);
      expect(read.map((e) => [e.version, e.id, e.type, (e.data as { carrier: string }).carrier])).toEqual([
        [1, events[0]!.id, 'OrderShipped', 'a'],
        [2, events[1]!.id, 'OrderShipped', 'b'],
        [3, events[2]!.id, 'OrderShipped', 'c'],
      ]);
      expect(read[0]!.metadata).toMatchObject({ tenant: 'acme', correlationId: 'corr-1' });
      expect(read[2]!.position).toEqual(r.position);
      expect(Date.parse(read[0]!.recordedAt)).toBeGreaterThan(Date.now() - 60_000);
    });

    it('a second writer with the same expected version gets a conflict naming expected and actual', async () => {
      const s = stream();
      await log.append(s, [shipped('1')], 'no_stream');
      await log.append(s, [shipped('1')], 1);
      const error = await log.append(s, [shipped('1')], 1).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(VersionConflict);
      expect(error).toMatchObject({
        code: 'version_conflict',
        status: 409,
        expected: 1,
        actual: 2,
        stream: s,
      });
      expect((await log.readStream(s, 1, 10)).map((e) => e.version)).toEqual([1, 2]);
    });

    it('checks no_stream, stream_exists and any against the head', async () => {
      const s = stream();
      await expect(log.append(s, [shipped('1')], 'stream_exists')).rejects.toMatchObject({ actual: 0 });
      await log.append(s, [shipped('1')], 'any');
      await expect(log.append(s, [shipped('1')], 'no_stream')).rejects.toMatchObject({
        expected: 'no_stream',
        actual: 1,
      });
      await expect(log.append(s, [shipped('1')], 'stream_exists')).resolves.toMatchObject({ fromVersion: 2 });
      await expect(log.append(s, [shipped('1')], 0)).rejects.toBeInstanceOf(VersionConflict);
    });

    it('a retry with the same event ids appends nothing and answers the original result', async () => {
      const s = stream();
      const batch = [shipped('1'), shipped('1')];
      const first = await log.append(s, batch, 'no_stream');
      const again = await log.append(s, batch, 'no_stream');
      expect(again).toEqual(first);
      expect(await log.readStream(s, 1, 10)).toHaveLength(2);
      const partial = await log.append(s, [batch[0]!, shipped('1')], 'any').catch((e: unknown) => e);
      expect(partial).toBeInstanceOf(Conflict);
      expect(await log.readStream(s, 1, 10)).toHaveLength(2);
    });

    it('an append whose deadline has passed fails with append_timeout and writes nothing; its retry with the same ids is written once', async () => {
      const s = stream();
      await log.append(s, [shipped('1')], 'no_stream');
      const events = [shipped('1', 'a'), shipped('1', 'b')];
      const error = await log.append(s, events, 1, { deadline: Date.now() - 1 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AppendTimeout);
      expect(error).toMatchObject({ code: 'append_timeout', status: 503, stream: s });
      expect((await log.readStream(s, 1, 10)).map((e) => e.version)).toEqual([1]);
      const r = await log.append(s, events, 1, { deadline: Date.now() + 30_000 });
      expect(r).toMatchObject({ fromVersion: 2, toVersion: 3 });
      expect((await log.readStream(s, 1, 10)).map((e) => e.id)).toEqual([
        expect.any(String),
        events[0]!.id,
        events[1]!.id,
      ]);
    });

    it('reads a stream from a version with a limit, contiguous', async () => {
      const s = stream();
      await log.append(
        s,
        Array.from({ length: 5 }, () => shipped('1')),
        'no_stream',
      );
      expect((await log.readStream(s, 2, 2)).map((e) => e.version)).toEqual([2, 3]);
      expect((await log.readStream(s, 5, 10)).map((e) => e.version)).toEqual([5]);
      expect(await log.readStream(s, 6, 10)).toEqual([]);
      expect(await log.readStream(stream(), 1, 10)).toEqual([]);
    });

    it('end offsets move past every appended event', async () => {
      const topic = log.topicFor('order');
      const s = stream();
      const r = await log.append(s, [shipped('1'), shipped('1')], 'no_stream');
      const ends = await log.endOffsets([topic]);
      const end = ends.find((p) => p.partition === r.position.partition)!;
      expect(end.topic).toBe(topic);
      expect(end.offset).toBeGreaterThan(r.position.offset);
    });

    it('lists the categories it has a topic for: created ones and appended-to ones', async () => {
      const created = `cat${uniqueId()}`;
      const appended = `cat${uniqueId()}`;
      await log.ensureTopics([created]);
      await log.append(`${appended}-1` as StreamId, [shipped('1')], 'no_stream');
      const categories = await log.categories();
      expect(categories).toContain(created);
      expect(categories).toContain(appended);
      expect(categories.every((c) => c.length > 0 && !c.includes('.events.'))).toBe(true);
    });

    it('a subscription delivers every event once per partition in offset order, from the given start', async () => {
      const category = `sub${uniqueId()}`;
      await log.ensureTopics([category]);
      const topic = log.topicFor(category);
      const streams = Array.from({ length: 4 }, (_, i) => `${category}-${i}` as StreamId);
      for (const s of streams) await log.append(s, [shipped(s), shipped(s)], 'no_stream');
      const seen: RecordedEvent[] = [];
      const batches: LogBatch[] = [];
      const sub = await log.subscribe({
        groupId: `g-${uniqueId()}`,
        topics: [topic],
        startAt: async () => undefined,
        onBatch: async (b) => {
          batches.push(b);
          seen.push(...b.events);
        },
        maxBatchEvents: 3,
      });
      try {
        await waitFor(async () => seen.length >= 8);
        for (const s of streams) await log.append(s, [shipped(s)], 2);
        await waitFor(async () => seen.length >= 12);
      } finally {
        await sub.stop();
      }
      expect(seen).toHaveLength(12);
      expect(new Set(seen.map((e) => e.id)).size).toBe(12);
      for (const b of batches) {
        expect(b.events.length).toBeLessThanOrEqual(3);
        const offsets = b.events.map((e) => e.position.offset);
        expect([...offsets].sort((a, c) => (a < c ? -1 : 1))).toEqual(offsets);
        if (b.events.length) expect(b.nextOffset).toBeGreaterThan(b.events.at(-1)!.position.offset);
        expect(b.highWatermark).toBeGreaterThanOrEqual(b.nextOffset);
      }
      for (const s of streams) {
        expect(seen.filter((e) => e.stream === s).map((e) => e.version)).toEqual([1, 2, 3]);
      }

      // a new subscription that starts at stored offsets sees only what follows them
      const resumeAt = new Map<number, bigint>();
      for (const e of seen) {
        const p = e.position.partition;
        if (e.version === 2)
          resumeAt.set(
            p,
            (resumeAt.get(p) ?? 0n) > e.position.offset + 1n ? resumeAt.get(p)! : e.position.offset + 1n,
          );
      }
      const later: RecordedEvent[] = [];
      const sub2 = await log.subscribe({
        groupId: `g-${uniqueId()}`,
        topics: [topic],
        startAt: async (_t, p) => resumeAt.get(p),
        onBatch: async (b) => {
          later.push(...b.events.filter((e) => e.position.offset >= (resumeAt.get(b.partition) ?? 0n)));
        },
      });
      try {
        await waitFor(async () => later.length >= 4);
      } finally {
        await sub2.stop();
      }
      expect(later.map((e) => e.version).sort()).toEqual([3, 3, 3, 3]);
    });

    it('after a restart over the same storage, heads, event ids and stream reads are as before', async () => {
      const s = stream();
      const events = [shipped('1', 'a'), shipped('1', 'b')];
      const first = await log.append(s, events, 'no_stream');
      log = await fixture.restart();
      await expect(log.append(s, [shipped('1')], 'no_stream')).rejects.toMatchObject({
        code: 'version_conflict',
        actual: 2,
      });
      await expect(log.append(s, events, 'any')).resolves.toEqual(first);
      await expect(log.append(s, [shipped('1', 'c')], 2)).resolves.toMatchObject({
        fromVersion: 3,
        toVersion: 3,
      });
      const read = await log.readStream(s, 1, 10);
      expect(read.map((e) => [e.version, (e.data as { carrier: string }).carrier])).toEqual([
        [1, 'a'],
        [2, 'b'],
        [3, 'c'],
      ]);
      expect((await log.readStream(s, 2, 1)).map((e) => e.version)).toEqual([2]);
    });

    it('answers a ping', async () => {
      await expect(log.ping()).resolves.toBeUndefined();
    });
  });
};
