// Read-your-writes through the HTTP API on the real services, with the cache on: 1,000 rounds of
// append then GET ?after=<position>, each of which must see its own write.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Api, startApi } from '../support/api.ts';
import { orderPlaced, orderShipped } from '../support/orders.ts';
import { servicesConfig, uniqueId } from '../support/services.ts';

const ROUNDS = 1000;
const LANES = 8;

describe('read-your-writes', () => {
  let api: Api;
  beforeAll(async () => {
    api = await startApi(servicesConfig());
  }, 60_000);
  afterAll(async () => api?.close());

  it(`${ROUNDS} rounds of append then get ?after=<position> always see the write`, async () => {
    let seen = 0;
    const sources = { cache: 0, store: 0 };
    const lane = async () => {
      const id = uniqueId();
      for (let round = 0; round < ROUNDS / LANES; round++) {
        const event = round === 0 ? orderPlaced(id) : orderShipped(id);
        const appended = await api.request('POST', `/v1/streams/order-${id}/events`, {
          expectedVersion: round === 0 ? 'no_stream' : round,
          events: [event],
        });
        expect(appended.status).toBe(201);
        const r = await api.request(
          'GET',
          `/v1/projections/orders/rows/${id}?after=${encodeURIComponent(String(appended.body.position))}`,
        );
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        expect((r.body.data as { version: number }).version).toBe(round + 1);
        sources[(r.body.meta as { source: 'cache' | 'store' }).source] += 1;
        seen += 1;
      }
    };
    await Promise.all(Array.from({ length: LANES }, lane));
    expect(seen).toBe(ROUNDS);
    console.log(
      `read-your-writes: ${seen} rounds, answered from store ${sources.store}, cache ${sources.cache}`,
    );
  }, 300_000);
});
