import { afterEach, describe, expect, it } from 'vitest';
import { createLogfront, type Logfront } from '../../app/compose.ts';
import { sampleDomain } from '../../app/domain.ts';
import type { Config } from '../../core/config.ts';
import { projectionSummaries } from '../../core/status.ts';
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

    const open = async (onError: 'halt' | 'skip') => {
      const projection = poisonable(`p_${onError}`, onError);
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
  });
}
