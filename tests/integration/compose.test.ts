// The composition root's options (app/compose.ts, compose-services.ts): a given logger, a domain of the
// caller's, and the parts a deployment can leave out (Redis, S3, the cache, the sinks, the stream index).
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createLogfront, type Logfront } from '../../app/compose.ts';
import { type Config, loadConfig } from '../../app/config.ts';
import { sampleDomain } from '../../app/domain.ts';
import { createLogger } from '../../app/logger.ts';
import { defineEventType } from '../../core/log/event-types.ts';
import type { RecordedEvent } from '../../core/types.ts';
import { defineProjection, upsert } from '../../projections/define.ts';
import { OrderCancelled, OrderShipped, type OrderShippedData } from '../../sample/order-events.ts';
import { orderPlacedBy } from '../support/orders.ts';
import { embeddedConfig, services, uniqueId, waitFor } from '../support/services.ts';

/** a domain with no sensitive field: shipments by order */
const shipments = defineProjection({
  name: 'shipments',
  key: 'orderId',
  categories: ['order'],
  columns: { orderId: 'text', carrier: 'text' },
  on: {
    OrderShipped: (e: RecordedEvent<OrderShippedData>) =>
      upsert({ orderId: e.data.orderId, carrier: e.data.carrier }),
  },
});
const plainDomain = { eventTypes: [OrderShipped, OrderCancelled], projections: [shipments] };

/** a pino logger at `level` whose lines are kept */
const capturedLogger = (level: 'info' | 'warn') => {
  const lines: { msg: string; projection?: string }[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: createLogger(level, sink), lines };
};

/** the real services without Redis and S3 (and their variables), isolated like servicesConfig */
const servicesWithoutRedisAndS3 = (overrides: Record<string, string> = {}): Config => {
  const id = uniqueId();
  const kept = Object.entries(services()).filter(([name]) => !/^LOGFRONT_(REDIS|S3)_/.test(name));
  return loadConfig({
    ...Object.fromEntries(kept),
    LOGFRONT_MODE: 'services',
    LOGFRONT_TOPIC_PREFIX: `t${id}`,
    LOGFRONT_DATABASE_SCHEMA: `t_${id}`,
    LOGFRONT_AUTH: 'none',
    ...overrides,
  });
};

describe('composing logfront', () => {
  const opened: Logfront[] = [];
  const open = async (...args: Parameters<typeof createLogfront>) => {
    const lf = await createLogfront(...args);
    opened.push(lf);
    return lf;
  };
  afterEach(async () => {
    for (const lf of opened.splice(0)) await lf.close();
  });

  it('services without Redis and S3: no cache, no blobs, and readiness asks only Kafka, Postgres and the registry', async () => {
    const { logger } = capturedLogger('warn');
    const lf = await open(servicesWithoutRedisAndS3(), { logger, domain: plainDomain });
    expect(lf.cache).toBeUndefined();
    expect(lf.blobs).toBeUndefined();
    expect(lf.blobStore).toBeUndefined();
    expect(lf.probes.map((p) => p.name)).toEqual(['kafka', 'postgres', 'schema-registry']);
    for (const probe of lf.probes) await probe.ping();

    await lf.startRunners();
    const orderId = uniqueId();
    const r = await lf.append.appendToStream(`order-${orderId}`, {
      events: [{ type: 'OrderShipped', data: { orderId, carrier: 'DHL' } }],
    });
    const first = await lf.facade.get('shipments', orderId, { after: r.position, maxStalenessMs: 20_000 });
    const again = await lf.facade.get('shipments', orderId, { maxStalenessMs: 20_000 });
    expect(first.data).toEqual({ orderId, carrier: 'DHL' });
    expect([first.meta.source, again.meta.source]).toEqual(['store', 'store']);
    expect(lf.cacheCounts.hits).toEqual({ memory: 0, shared: 0 });
  });

  it('encryption off is warned of at every start, whatever the domain; with a KEK there is no warning', async () => {
    const warned = (lines: { msg: string }[]) => lines.some((l) => /^LOGFRONT_ENCRYPTION=off/.test(l.msg));
    const off = servicesWithoutRedisAndS3({ LOGFRONT_KEK: '', LOGFRONT_ENCRYPTION: 'off' });
    for (const domain of [plainDomain, sampleDomain]) {
      const log = capturedLogger('warn');
      await open(off, { logger: log.logger, domain });
      expect(warned(log.lines)).toBe(true);
    }
    const keyed = capturedLogger('warn');
    await open(servicesWithoutRedisAndS3(), { logger: keyed.logger, domain: sampleDomain });
    expect(warned(keyed.lines)).toBe(false);
  });

  it('a schema the registry refuses is in the audit trail as a failed schema.registered, with the reason', async () => {
    const config = servicesWithoutRedisAndS3();
    const first = await open(config, { domain: plainDomain });
    const shipped = (orderId: string) => ({ type: 'OrderShipped', data: { orderId, carrier: 'DHL' } });
    await first.append.appendToStream(`order-${uniqueId()}`, { events: [shipped('1')] });
    // carrier removed: not BACKWARD compatible with the version just registered
    const narrower = defineEventType('OrderShipped', z.object({ orderId: z.string().min(1) }).strict());
    const second = await open(config, { domain: { eventTypes: [narrower], projections: [] } });
    await expect(
      second.append.appendToStream(`order-${uniqueId()}`, {
        events: [{ type: 'OrderShipped', data: { orderId: '2' } }],
      }),
    ).rejects.toThrow();
    await second.audit.flush();
    const { items } = await second.audit.query({ action: 'schema.registered', limit: 100 });
    const subject = `${config.topicPrefix}.OrderShipped`;
    expect(items.filter((r) => r.resource === `schema/${subject}`).map((r) => r.outcome)).toEqual([
      'success',
      'failure',
    ]);
    const failed = items.find((r) => r.outcome === 'failure')!;
    expect(failed.reason).toMatch(new RegExp(`[Ii]ncompatible.*${subject}`));
    expect(failed.details).toBeUndefined();
  });

  it('with LOGFRONT_STREAM_INDEX=off the runners leave the stream index alone until it is started, once', async () => {
    const { logger, lines } = capturedLogger('info');
    const lf = await open(servicesWithoutRedisAndS3({ LOGFRONT_STREAM_INDEX: 'off' }), {
      logger,
      domain: plainDomain,
    });
    await lf.startRunners();
    await lf.startRunners(); // a second call starts nothing more
    const started = lines.filter((l) => l.msg === 'projection runner started');
    expect(started.map((l) => l.projection)).toEqual(['shipments']);

    const orderId = uniqueId();
    const r = await lf.append.appendToStream(`order-${orderId}`, {
      events: [{ type: 'OrderShipped', data: { orderId, carrier: 'UPS' } }],
    });
    // the projection is applied; the index has not covered the event
    await lf.facade.get('shipments', orderId, { after: r.position, maxStalenessMs: 20_000 });
    expect(await lf.streamIndexLag()).toBeGreaterThan(0);
    await lf.startStreamIndex();
    await lf.startStreamIndex();
    await waitFor(async () => (await lf.streamIndexLag()) === 0, 30_000);
  });

  it('embedded with LOGFRONT_CACHE=off: reads come from the store, and erasure deletes rows without a cache to tell', async () => {
    const lf = await open(embeddedConfig({ LOGFRONT_CACHE: 'off' }));
    expect(lf.cache).toBeUndefined();
    expect(lf.streamIndex).toBeUndefined();
    expect(await lf.streamIndexLag()).toBe(0);
    await lf.startRunners();
    const [customer, orderId] = [`ada-${uniqueId()}`, uniqueId()];
    const r = await lf.append.appendToStream(`order-${orderId}`, {
      events: [orderPlacedBy(orderId, customer)],
    });
    const read = async () => (await lf.facade.get('orders', orderId, { after: r.position })).meta.source;
    expect([await read(), await read()]).toEqual(['store', 'store']);
    const erased = await lf.erasure.erase(customer, { actor: 'test' });
    expect(erased).toMatchObject({ keysDestroyed: 1, rowsDeleted: { orders: 1 } });
    await expect(lf.facade.get('orders', orderId)).rejects.toMatchObject({ status: 404 });
  });

  it('embedded with LOGFRONT_SINKS=off: an upload is taken, and no sink of this process stores it', async () => {
    const lf = await open(embeddedConfig({ LOGFRONT_SINKS: 'off' }));
    await lf.startRunners();
    const body = (async function* () {
      yield Buffer.from('hello');
    })();
    const up = await lf.blobs!.upload('note.txt', 'text/plain', body);
    await expect(
      lf.blobs!.stat('note.txt', { after: up.position, maxStalenessMs: 300 }),
    ).rejects.toMatchObject({
      code: 'staleness_budget_exceeded',
    });
    expect(lf.blobCounts.stored).toBe(0);
  });
});
