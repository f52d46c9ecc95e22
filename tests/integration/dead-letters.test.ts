import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogfront, type Logfront } from '../../app/compose.ts';
import type { Config } from '../../app/config.ts';
import { sampleDomain } from '../../app/domain.ts';
import { defineEventType } from '../../core/log/event-types.ts';
import { projectionSummaries } from '../../core/read/status.ts';
import type { StreamId } from '../../core/types.ts';
import { OrderShippedV2 } from '../../sample/order-shipped-v2.ts';
import { poisonable } from '../support/domain.ts';
import { orderPlaced } from '../support/orders.ts';
import { embeddedConfig, servicesConfig, uniqueId, waitFor } from '../support/services.ts';

const cancel = (orderId: string, reason: string) => ({ type: 'OrderCancelled', data: { orderId, reason } });
const ship = (orderId: string, carrier: string) => ({ type: 'OrderShipped', data: { orderId, carrier } });

for (const [mode, config] of [
  ['Kafka', () => servicesConfig()],
  ['embedded', () => embeddedConfig()],
] as [string, () => Config][]) {
  describe(`dead letters (${mode})`, () => {
    let lf: Logfront | undefined;
    afterEach(async () => {
      await lf?.close();
      lf = undefined;
    });

    const open = async (onError: 'halt' | 'skip', fix = { fixed: false }) => {
      const projection = poisonable(`p_${onError}`, onError, fix);
      lf = await createLogfront(config(), {
        domain: { eventTypes: sampleDomain.eventTypes, projections: [projection] },
      });
      return { lf, projection };
    };
    const appendTo = (l: Logfront, id: string, events: object[]) =>
      l.append.appendToStream(`order-${id}`, { events });

    it('skip: a poison event lands in the dead letters with its reason and position, and the projection goes on', async () => {
      const { lf, projection } = await open('skip');
      const [a, b, c] = [uniqueId(), uniqueId(), uniqueId()];
      // one stream, so the events keep their order in one partition
      const s = uniqueId();
      await appendTo(lf, s, [
        orderPlaced(a, 2),
        cancel(a, 'poison'),
        orderPlaced(b, 3),
        ship(b, 'bad-row'),
        orderPlaced(c, 4),
      ]);
      await lf.startRunners();
      await waitFor(async () => (await lf.store.status(projection.name))?.deadLettered === 2, 30_000);
      await waitFor(async () => (await lf.store.get(projection, c)).row !== null, 30_000);
      expect((await lf.store.get(projection, a)).row).toMatchObject({ status: 'placed', qty: 2 });
      expect((await lf.store.get(projection, b)).row).toMatchObject({ status: 'placed', qty: 3 });
      const letters = await lf.log.deadLetters(projection.name, 10);
      expect(letters.map((l) => l.event.type)).toEqual(['OrderCancelled', 'OrderShipped']);
      expect(letters[0]!.reason).toMatch(/cannot cancel: poison \(event .* OrderCancelled at .*@\d+\)/);
      expect(letters[1]!.reason).toMatch(/integer/);
      expect(letters[0]!.event.position.offset).toBeGreaterThanOrEqual(0n);
      expect(letters[0]!.event.stream).toBe(`order-${s}`);
      const [summary] = await projectionSummaries(lf.store, lf.log, [projection]);
      expect(summary).toMatchObject({ state: 'running', deadLettered: 2, lagEvents: 0 });
    });

    it('halt: the projection stops at the poison event, reports it, and applies nothing after it', async () => {
      const { lf, projection } = await open('halt');
      const [x, y] = [uniqueId(), uniqueId()];
      const s = uniqueId();
      await appendTo(lf, s, [orderPlaced(x, 1), cancel(x, 'poison'), orderPlaced(y, 1)]);
      await lf.startRunners();
      await waitFor(async () => (await lf.store.status(projection.name))?.state === 'halted', 30_000);
      const status = (await lf.store.status(projection.name))!;
      expect(status.deadLettered).toBe(1);
      expect(status.lastError).toMatch(/cannot cancel: poison/);
      expect((await lf.store.get(projection, x)).row).toMatchObject({ status: 'placed' });
      expect((await lf.store.get(projection, y)).row).toBeNull();
      const [summary] = await projectionSummaries(lf.store, lf.log, [projection]);
      expect(summary!.state).toBe('halted');
      expect(summary!.lagEvents).toBeGreaterThanOrEqual(2);
      expect((await lf.log.deadLetters(projection.name, 10)).map((l) => l.event.type)).toEqual([
        'OrderCancelled',
      ]);
    });

    it('skip: the letters are listed in pages; retry after a fix applies the event exactly once; skip resolves', async () => {
      const fix = { fixed: false };
      const { lf, projection } = await open('skip', fix);
      const [a, b, c] = [uniqueId(), uniqueId(), uniqueId()];
      const s = uniqueId();
      await appendTo(lf, s, [
        orderPlaced(a, 2),
        cancel(a, 'poison'),
        orderPlaced(b, 3),
        ship(b, 'bad-row'),
        orderPlaced(c, 4),
      ]);
      await lf.startRunners();
      await waitFor(async () => (await lf.store.get(projection, c)).row !== null, 30_000);
      const first = await lf.deadLetters.list(projection.name, { limit: 1 });
      expect(first.items).toHaveLength(1);
      expect(first.next).not.toBeNull();
      const second = await lf.deadLetters.list(projection.name, { limit: 1, cursor: first.next! });
      const letters = [...first.items, ...second.items];
      expect(letters.map((l) => [l.type, l.kind, l.state, l.stream])).toEqual([
        ['OrderCancelled', 'handler', 'pending', `order-${s}`],
        ['OrderShipped', 'column', 'pending', `order-${s}`],
      ]);
      expect(letters[1]!.reason).toMatch(/qty/);
      expect(
        (await lf.deadLetters.list(projection.name, { limit: 1, cursor: second.items[0]!.id })).next,
      ).toBeNull();

      // still broken: the retry fails, the letter stays pending
      await expect(lf.deadLetters.retry(projection.name, letters[0]!.id)).rejects.toMatchObject({
        code: 'dead_letter_still_failing',
        status: 422,
      });
      fix.fixed = true;
      const retried = await lf.deadLetters.retry(projection.name, letters[0]!.id);
      expect(retried).toMatchObject({ state: 'retried', id: letters[0]!.id });
      expect((await lf.store.get(projection, a)).row).toMatchObject({ status: 'cancelled', qty: 2 });
      // exactly once: a second retry is refused and changes nothing
      await expect(lf.deadLetters.retry(projection.name, letters[0]!.id)).rejects.toMatchObject({
        code: 'conflict',
      });
      await expect(lf.deadLetters.skip(projection.name, letters[1]!.id)).resolves.toMatchObject({
        state: 'skipped',
      });
      expect((await lf.store.get(projection, b)).row).toMatchObject({ status: 'placed', qty: 3 });
      expect((await lf.deadLetters.list(projection.name, { state: 'pending' })).items).toEqual([]);
      expect(
        (await lf.store.deadLetterCounts())
          .filter((x) => x.projection === projection.name)
          .map((x) => [x.kind, x.state, x.count])
          .sort(),
      ).toEqual([
        ['column', 'skipped', 1],
        ['handler', 'retried', 1],
      ]);
      await expect(lf.deadLetters.retry(projection.name, '999999999')).rejects.toMatchObject({ status: 404 });
      await expect(lf.deadLetters.skip(projection.name, 'x')).rejects.toMatchObject({ status: 404 });
      await expect(lf.deadLetters.list('nope')).rejects.toMatchObject({ status: 404 });
      await expect(lf.deadLetters.list(projection.name, { cursor: 'abc' })).rejects.toMatchObject({
        status: 400,
      });
      await expect(lf.deadLetters.resume(projection.name)).rejects.toMatchObject({ code: 'conflict' });
    });

    it('halt: resume skips the event it halted on, and the projection goes on with what came after', async () => {
      const { lf, projection } = await open('halt');
      const [x, y] = [uniqueId(), uniqueId()];
      const s = uniqueId();
      await appendTo(lf, s, [orderPlaced(x, 1), cancel(x, 'poison'), orderPlaced(y, 1)]);
      await lf.startRunners();
      await waitFor(async () => (await lf.store.status(projection.name))?.state === 'halted', 30_000);
      const skipped = await lf.deadLetters.resume(projection.name);
      expect(skipped).toMatchObject({ type: 'OrderCancelled', state: 'skipped' });
      await waitFor(async () => (await lf.store.get(projection, y)).row !== null, 30_000);
      expect((await lf.store.get(projection, x)).row).toMatchObject({ status: 'placed' });
      expect((await lf.store.status(projection.name))!.state).toBe('running');
      // what comes later is applied too
      const z = uniqueId();
      await appendTo(lf, s, [orderPlaced(z, 5)]);
      await waitFor(async () => (await lf.store.get(projection, z)).row !== null, 30_000);
    });

    it('halt: a retry after a fix applies the event it halted on once, and the projection goes on', async () => {
      const fix = { fixed: false };
      const { lf, projection } = await open('halt', fix);
      const [x, y] = [uniqueId(), uniqueId()];
      const s = uniqueId();
      await appendTo(lf, s, [orderPlaced(x, 1), cancel(x, 'poison'), orderPlaced(y, 1)]);
      await lf.startRunners();
      await waitFor(async () => (await lf.store.status(projection.name))?.state === 'halted', 30_000);
      const [letter] = (await lf.deadLetters.list(projection.name)).items;
      fix.fixed = true;
      await lf.deadLetters.retry(projection.name, letter!.id);
      await waitFor(async () => (await lf.store.get(projection, y)).row !== null, 30_000);
      expect((await lf.store.get(projection, x)).row).toMatchObject({ status: 'cancelled' });
      const [summary] = await projectionSummaries(lf.store, lf.log, [projection]);
      expect(summary).toMatchObject({ state: 'running', lagEvents: 0 });
    });
  });
}

describe('dead letters of records that cannot be read (Kafka)', () => {
  const opened: Logfront[] = [];
  afterEach(async () => {
    for (const l of opened.splice(0)) await l.close();
  });

  it('a record whose payload cannot be decoded is dead-lettered (decode) and the partition goes on', async () => {
    const projection = poisonable('p_decode', 'skip');
    const lf = await createLogfront(servicesConfig(), {
      domain: { eventTypes: sampleDomain.eventTypes, projections: [projection] },
    });
    opened.push(lf);
    const s = uniqueId();
    const [a, b] = [uniqueId(), uniqueId()];
    await lf.append.appendToStream(`order-${s}`, { events: [orderPlaced(a, 1)] });
    const [first] = await lf.log.readStream(`order-${s}` as StreamId, 1, 1);
    // a record with logfront's headers whose payload is not registry-framed, in the same partition
    const kafka = new Kafka({ brokers: lf.config.kafka.brokers, logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    await producer.connect();
    try {
      await producer.send({
        topic: first!.position.topic,
        messages: [
          {
            partition: first!.position.partition,
            key: `order-${s}`,
            value: Buffer.from('not a registry frame'),
            headers: { ce_id: randomUUID(), ce_type: 'OrderCancelled', lf_stream_version: '2' },
          },
        ],
      });
    } finally {
      await producer.disconnect();
    }
    await lf.append.appendToStream(`order-${uniqueId()}`, { events: [orderPlaced(b, 1)] });
    await lf.startRunners();
    await waitFor(async () => (await lf.deadLetters.list(projection.name)).items.length === 1, 30_000);
    await waitFor(async () => (await lf.store.get(projection, b)).row !== null, 30_000);
    const [letter] = (await lf.deadLetters.list(projection.name)).items;
    expect(letter).toMatchObject({
      kind: 'decode',
      type: 'OrderCancelled',
      stream: `order-${s}`,
      version: 2,
    });
    expect(letter!.reason).toMatch(/not a schema-registry framed payload/);
    expect((await lf.store.get(projection, a)).row).toMatchObject({ status: 'placed' });
    // reading the stream shows the record as it is: no data, why, and its payload as stored
    const [bad] = await lf.log.readStream(`order-${s}` as StreamId, 2, 1);
    expect(bad).toMatchObject({ data: null, undecodable: { kind: 'decode' } });
    expect(Buffer.from(bad!.undecodable!.payload!, 'base64').toString()).toBe('not a registry frame');
    // a retry reads it again from the log: still undecodable, still pending
    await expect(lf.deadLetters.retry(projection.name, letter!.id)).rejects.toMatchObject({
      code: 'dead_letter_still_failing',
    });
  });

  it('an upcaster that throws dead-letters its event (upcast) and the projection goes on', async () => {
    const config = servicesConfig();
    const v1 = await createLogfront(config);
    opened.push(v1);
    const s = uniqueId();
    const [a, b] = [uniqueId(), uniqueId()];
    await v1.append.appendToStream(`order-${s}`, {
      events: [orderPlaced(a, 1), ship(a, 'boom'), orderPlaced(b, 1)],
    });
    const projection = poisonable('p_upcast', 'skip');
    const v2 = await createLogfront(config, {
      domain: {
        eventTypes: sampleDomain.eventTypes.map((t) =>
          t.name !== 'OrderShipped'
            ? t
            : defineEventType('OrderShipped', OrderShippedV2.schema, {
                upcast: (data) => {
                  if ((data as { carrier: string }).carrier === 'boom')
                    throw new Error('no service for boom');
                  return { ...(data as object), service: 'standard' };
                },
              }),
        ),
        projections: [projection],
      },
    });
    opened.push(v2);
    // v2's schema is registered when v2 first writes the type
    await v2.append.appendToStream(`order-${uniqueId()}`, {
      events: [{ type: 'OrderShipped', data: { orderId: 'z', carrier: 'UPS', service: 'express' } }],
    });
    await v2.startRunners();
    await waitFor(async () => (await v2.store.get(projection, b)).row !== null, 30_000);
    await waitFor(async () => (await v2.deadLetters.list(projection.name)).items.length === 1, 30_000);
    const [letter] = (await v2.deadLetters.list(projection.name)).items;
    expect(letter).toMatchObject({ kind: 'upcast', type: 'OrderShipped', version: 2 });
    expect(letter!.reason).toMatch(/no service for boom/);
  });
});
