// How long a read waits: never more than LOGFRONT_MAX_WAIT_MS, and not at all once its client is gone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodePosition } from '../../core/read/positions.ts';
import { type Api, startApi } from '../support/api.ts';
import { embeddedConfig } from '../support/services.ts';

describe('read waits (embedded)', () => {
  let api: Api;
  let unreachable = '';
  beforeAll(async () => {
    api = await startApi(embeddedConfig({ LOGFRONT_MAX_WAIT_MS: '300' }));
    // a position the log has not reached: a read after it waits for as long as it may
    unreachable = encodePosition({ topic: api.lf.log.topicFor('order'), partition: 0, offset: 1_000_000n });
  });
  afterAll(async () => api?.close());

  it('a budget above the cap waits the cap, then answers 503', async () => {
    const started = Date.now();
    const r = await api.request(
      'GET',
      `/v1/projections/orders/rows/x?after=${unreachable}&maxStalenessMs=60000`,
    );
    expect(r.status).toBe(503);
    expect(r.body.error).toBe('staleness_budget_exceeded');
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('a read whose client disconnects stops waiting (counted as 499)', async () => {
    const api2 = await startApi(embeddedConfig({ LOGFRONT_MAX_WAIT_MS: '60000' }));
    try {
      const position = encodePosition({
        topic: api2.lf.log.topicFor('order'),
        partition: 0,
        offset: 1_000_000n,
      });
      const controller = new AbortController();
      const read = fetch(`${api2.url}/v1/projections/orders/rows?after=${position}&maxStalenessMs=60000`, {
        signal: controller.signal,
      }).catch((e: Error) => e.name);
      await new Promise((r) => setTimeout(r, 300));
      controller.abort();
      expect(await read).toBe('AbortError');
      const gone = async () =>
        /logfront_http_requests_total\{method="GET",route="\/v1\/projections\/:name\/rows",status="499"\} 1/.test(
          await (await fetch(`${api2.url}/metrics`)).text(),
        );
      const deadline = Date.now() + 5000;
      while (!(await gone()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(await gone()).toBe(true);
      // and the wait itself ends: the facade gives up as soon as the signal says so
      const aborted = new AbortController();
      const started = Date.now();
      const waiting = api2.lf.facade.list('orders', {
        after: position,
        maxStalenessMs: 60_000,
        signal: aborted.signal,
      });
      setTimeout(() => aborted.abort(), 100);
      await expect(waiting).rejects.toMatchObject({ code: 'client_gone' });
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      await api2.close();
    }
  });
});
