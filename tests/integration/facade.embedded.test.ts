import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogfront, type Logfront } from '../../app/compose.ts';
import {
  DependencyUnavailable,
  NotFound,
  StalenessBudgetExceeded,
  ValidationFailed,
} from '../../core/errors.ts';
import { createFacade } from '../../core/read/facade.ts';
import { decodePositions } from '../../core/read/positions.ts';
import { projectionSummaries } from '../../core/read/status.ts';
import { orderPlaced, orderShipped } from '../support/orders.ts';
import { embeddedConfig, uniqueId } from '../support/services.ts';

describe('facade reads under a staleness budget (embedded)', () => {
  let lf: Logfront;
  beforeAll(async () => {
    lf = await createLogfront(embeddedConfig({ LOGFRONT_READ_WAIT_MS: '300' }));
    await lf.startRunners();
  });
  afterAll(async () => lf?.close());

  const place = async (id = uniqueId()) => ({
    id,
    ...(await lf.append.appendToStream(`order-${id}`, { events: [orderPlaced(id, 2)] })),
  });

  it('read-your-writes: after= waits for the append, and meta.position covers it', async () => {
    for (let i = 0; i < 20; i++) {
      const { id, position } = await place();
      const r = await lf.facade.get('orders', id, { after: position });
      expect(r.data.orderId).toBe(id);
      const reflected = decodePositions(r.meta.position!);
      const wanted = decodePositions(position)[0]!;
      expect(reflected.find((p) => p.topic === wanted.topic)!.offset).toBeGreaterThanOrEqual(wanted.offset);
    }
  });

  it('a LISTEN that cannot be opened fails no read and crashes nothing: the wait polls, and listens again later', async () => {
    let attempts = 0;
    const warnings: string[] = [];
    const facade = createFacade({
      // the real store, whose notifications are away
      store: {
        ...lf.store,
        onCheckpoint: async () => {
          attempts += 1;
          throw new Error('the store is away');
        },
      },
      log: lf.log,
      projections: lf.domain.projections,
      defaultWaitMs: 5_000,
      logger: { warn: (_: unknown, m?: string) => warnings.push(m ?? ''), error() {}, info() {}, debug() {} },
    });
    for (let i = 0; i < 2; i++) {
      const { id, position } = await place();
      expect((await facade.get('orders', id, { after: position })).data.orderId).toBe(id);
    }
    expect(attempts).toBeGreaterThanOrEqual(2);
    expect(warnings).toContain('cannot listen for checkpoints; reads poll until it can');
    await facade.close();
  });

  it('a read whose log does not answer fails at its deadline (its wait plus readTimeoutMs) naming the log, and one of nothing pending names no dependency', async () => {
    const facade = createFacade({
      store: lf.store,
      // the log's ends never come back (a stalled connection)
      log: { ...lf.log, endOffsets: () => new Promise(() => {}) },
      projections: lf.domain.projections,
      defaultWaitMs: 5_000,
      readTimeoutMs: 300,
    });
    const { id } = await place();
    const began = Date.now();
    const error = await facade.get('orders', id, { maxStalenessMs: 200 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DependencyUnavailable);
    expect(error).toMatchObject({ dependency: 'kafka', status: 503, retryAfterSeconds: 1 });
    expect((error as Error).message).toContain("no answer within the read's deadline of 500 ms");
    expect(Date.now() - began).toBeGreaterThanOrEqual(450);
    expect(Date.now() - began).toBeLessThan(3000);
    await expect(facade.list('orders', { limit: 1 })).rejects.toMatchObject({ dependency: 'kafka' });
    await facade.close();
    // the embedded log is a table of the embedded Postgres: named so
    const embedded = createFacade({
      store: { ...lf.store, get: () => new Promise(() => {}) },
      log: lf.log,
      projections: lf.domain.projections,
      defaultWaitMs: 5_000,
      readTimeoutMs: 100,
      dependencies: { log: 'postgres', store: 'postgres', cache: 'redis' },
    });
    await expect(embedded.get('orders', uniqueId())).rejects.toMatchObject({
      code: 'dependency_unavailable',
      dependency: 'postgres',
    });
    await embedded.close();
  });

  it('consistency=strong waits until the log end as of the read is applied', async () => {
    const { id } = await place();
    await lf.append.appendToStream(`order-${id}`, { events: [orderShipped(id)] });
    const r = await lf.facade.get('orders', id, { consistency: 'strong' });
    expect(r.data).toMatchObject({ status: 'shipped', version: 2 });
    expect(r.meta).toMatchObject({ stale: false, lagEvents: 0, stalenessMs: 0 });
  });

  it('whenApplied resolves once the position is applied, and is false when the budget runs out', async () => {
    const { position } = await place();
    expect(await lf.facade.whenApplied('orders', decodePositions(position), 5000)).toBe(true);
    const far = { topic: decodePositions(position)[0]!.topic, partition: 0, offset: 10_000_000n };
    expect(await lf.facade.whenApplied('orders', [far], 100)).toBe(false);
  });

  it('list answers pages with meta, and rejects bad limits', async () => {
    const page = await lf.facade.list('orders', { limit: 2 });
    expect(page.items.length).toBeLessThanOrEqual(2);
    expect(page.meta.source).toBe('store');
    await expect(lf.facade.list('orders', { limit: 0 })).rejects.toBeInstanceOf(ValidationFailed);
    await expect(lf.facade.list('orders', { limit: 501 })).rejects.toBeInstanceOf(ValidationFailed);
    await expect(lf.facade.get('orders', 'x', { maxStalenessMs: -1 })).rejects.toBeInstanceOf(
      ValidationFailed,
    );
    await expect(lf.facade.get('nope', 'x')).rejects.toBeInstanceOf(NotFound);
  });

  describe('with the runner stopped', () => {
    beforeAll(async () => {
      await lf.stopRunners();
    });
    afterAll(async () => {
      await lf.startRunners();
    });

    it('a stopped projection is as stale as its last heartbeat is old: over the budget the read fails', async () => {
      const { id } = await place();
      await new Promise((r) => setTimeout(r, 250));
      const started = Date.now();
      const error = await lf.facade.get('orders', id, { maxStalenessMs: 200 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StalenessBudgetExceeded);
      expect((error as StalenessBudgetExceeded).stalenessMs).toBeGreaterThanOrEqual(200);
      expect((error as StalenessBudgetExceeded).lagEvents).toBeGreaterThanOrEqual(1);
      expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    });

    it('onStale=serve answers with what the store has, marked stale', async () => {
      const { id } = await place();
      const existing = (await lf.facade.list('orders', { limit: 1 })).items[0]!;
      const r = await lf.facade.get('orders', String(existing.orderId), {
        maxStalenessMs: 50,
        onStale: 'serve',
      });
      expect(r.meta.stale).toBe(true);
      expect(r.meta.lagEvents).toBeGreaterThanOrEqual(1);
      await expect(
        lf.facade.get('orders', id, { maxStalenessMs: 50, onStale: 'serve' }),
      ).rejects.toBeInstanceOf(NotFound);
    });

    it('after= a position not yet applied fails after the default wait', async () => {
      const { id, position } = await place();
      const error = await lf.facade.get('orders', id, { after: position }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StalenessBudgetExceeded);
      expect((error as StalenessBudgetExceeded).budgetMs).toBe(300);
    });

    it('while stopped, the staleness GET /v1/projections reports grows', async () => {
      const first = (await projectionSummaries(lf.store, lf.log, lf.domain.projections))[0]!;
      await new Promise((r) => setTimeout(r, 300));
      const second = (await projectionSummaries(lf.store, lf.log, lf.domain.projections))[0]!;
      expect(first.state).toBe('stopped');
      expect(second.stalenessMs).toBeGreaterThanOrEqual(first.stalenessMs + 250);
    });

    it('projection status reports the lag while stopped', async () => {
      const status = await lf.store.status('orders');
      expect(status?.state).toBe('stopped');
    });
  });

  it('once the runner runs again the lag drains and strong reads succeed', async () => {
    const { id } = await place();
    const r = await lf.facade.get('orders', id, { consistency: 'strong' });
    expect(r.meta.lagEvents).toBe(0);
  });
});

describe('a projection that never started', () => {
  it('reports stale, not caught up', async () => {
    const idle = await createLogfront(embeddedConfig());
    try {
      const [summary] = await projectionSummaries(idle.store, idle.log, idle.domain.projections);
      expect(summary).toMatchObject({ name: 'orders', state: 'idle', generation: 0 });
      expect(summary!.stalenessMs).toBeGreaterThan(Date.now() - 1000);
    } finally {
      await idle.close();
    }
  });
});
