// Issue 15, "retries and breaker states are visible in /metrics", on the real services: logfront serving
// HTTP with Postgres behind Toxiproxy. Postgres goes down: reads answer 503 dependency_unavailable
// (postgres) with Retry-After, the postgres breaker opens and /metrics shows it; Postgres comes back:
// after the open period a trial read closes the breaker, /metrics shows that too, and reads succeed
// again without a restart.
import { afterAll, describe, expect, it } from 'vitest';
import { type Api, startApi } from '../support/api.ts';
import { orderPlaced } from '../support/orders.ts';
import { servicesConfig, uniqueId, waitFor } from '../support/services.ts';
import { createProxy, type ToxicProxy, throughProxy } from '../support/toxiproxy.ts';

const OPEN_MS = 1000;

let proxy: ToxicProxy | undefined;
let api: Api | undefined;
afterAll(async () => {
  await api?.close().catch(() => {});
  await proxy?.remove().catch(() => {});
});

/** the value of one series of /metrics (labels as Prometheus prints them), 0 when absent */
const series = (text: string, name: string, labels: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
};

describe('the postgres breaker opens and closes, and /metrics says so', () => {
  it('Postgres down: 503 with Retry-After, breaker open; back: half-open, closed, reads served again', async () => {
    const base = servicesConfig();
    proxy = await createProxy(new URL(base.database.url!).host);
    api = await startApi(
      servicesConfig({
        LOGFRONT_DATABASE_URL: throughProxy(base.database.url!, proxy),
        LOGFRONT_BREAKER_OPEN_MS: String(OPEN_MS),
        LOGFRONT_BREAKER_FAILURES: '3',
        LOGFRONT_LOG_LEVEL: 'error',
      }),
      { runners: false },
    );
    const up = api;
    const metrics = async () => (await fetch(`${up.url}/metrics`)).text();
    const id = uniqueId();
    const read = () => up.request('GET', `/v1/streams/order-${id}/events`);
    const placed = await up.request('POST', `/v1/streams/order-${id}/events`, { events: [orderPlaced(id)] });
    expect(placed.status, JSON.stringify(placed.body)).toBe(201);
    expect((await read()).status).toBe(200);
    expect(series(await metrics(), 'logfront_breaker_state', 'dependency="postgres"')).toBe(0);

    await proxy.enabled(false);
    // every answer while it is down: 503 naming postgres, with Retry-After; soon the breaker's own
    const refused = await waitFor(async () => {
      const r = await read();
      expect(r.status, JSON.stringify(r.body)).toBe(503);
      expect(r.body).toMatchObject({ error: 'dependency_unavailable', dependency: 'postgres' });
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      return String(r.body.message).includes('circuit open') ? r : undefined;
    }, 30_000);
    expect(refused.body.message).toContain('postgres is unavailable');
    const open = await metrics();
    expect(series(open, 'logfront_breaker_state', 'dependency="postgres"')).toBe(2);
    expect(
      series(open, 'logfront_breaker_transitions_total', 'dependency="postgres",from="closed",to="open"'),
    ).toBe(1);
    // connections that could not be made were tried again (for a query or a transaction)
    const retried = open
      .split('\n')
      .filter((l) => l.startsWith('logfront_retries_total{dependency="postgres"'))
      .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
    expect(retried).toBeGreaterThan(0);
    // the other dependencies' breakers are untouched
    expect(series(open, 'logfront_breaker_state', 'dependency="kafka"')).toBe(0);

    await proxy.enabled(true);
    await new Promise((r) => setTimeout(r, OPEN_MS));
    const served = await waitFor(async () => {
      const r = await read();
      return r.status === 200 ? r : undefined;
    }, 30_000);
    expect((served.body.events as { stream: string }[]).map((e) => e.stream)).toEqual([`order-${id}`]);
    const closed = await metrics();
    expect(series(closed, 'logfront_breaker_state', 'dependency="postgres"')).toBe(0);
    expect(
      series(
        closed,
        'logfront_breaker_transitions_total',
        'dependency="postgres",from="open",to="half_open"',
      ),
    ).toBeGreaterThanOrEqual(1);
    expect(
      series(
        closed,
        'logfront_breaker_transitions_total',
        'dependency="postgres",from="half_open",to="closed"',
      ),
    ).toBe(1);
  }, 120_000);
});
