// Golden tests: inputs in tests/golden/fixtures, expected outputs in tests/golden/expected.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogfront, type Logfront } from '../../app/compose.ts';
import { orderPlaced } from '../support/orders.ts';
import { servicesConfig } from '../support/services.ts';

const here = import.meta.dirname;
const load = <T>(kind: 'fixtures' | 'expected', name: string) =>
  JSON.parse(readFileSync(join(here, kind, `${name}.json`), 'utf8')) as T;

const placeAll = async (lf: Logfront, ids: readonly string[]) => {
  let position = '';
  for (const id of ids) {
    position = (await lf.append.appendToStream(`order-${id}`, { events: [orderPlaced(id)] })).position;
  }
  return position;
};

describe('golden: pagination stays stable while rows are inserted', () => {
  const fixture = load<{ limit: number; initial: string[]; placedAfterPage: Record<string, string[]> }>(
    'fixtures',
    'pagination',
  );
  let lf: Logfront;
  beforeAll(async () => {
    lf = await createLogfront(servicesConfig());
    await lf.startRunners();
  }, 60_000);
  afterAll(async () => lf?.close());

  it('no row is skipped or repeated; rows placed before the cursor are not seen', async () => {
    let after = await placeAll(lf, fixture.initial);
    const pages: string[][] = [];
    let cursor: string | undefined;
    let next: string | null = null;
    for (let page = 1; page < 20; page++) {
      const r = await lf.facade.list('orders', {
        limit: fixture.limit,
        after,
        ...(cursor ? { cursor } : {}),
      });
      pages.push(r.items.map((row) => String(row.orderId)));
      next = r.next;
      if (!r.next) break;
      cursor = r.next;
      const placed = fixture.placedAfterPage[String(page)];
      if (placed) after = await placeAll(lf, placed);
    }
    expect({ pages, lastNext: next }).toEqual(load('expected', 'pagination'));
  });
});

describe('golden: cache entries expire after their time to live', () => {
  const fixture = load<{
    env: Record<string, string>;
    steps: ({ read: true } | { sleepMs: number })[];
  }>('fixtures', 'cache-ttl');
  let lf: Logfront;
  beforeAll(async () => {
    lf = await createLogfront(servicesConfig(fixture.env));
    await lf.startRunners();
  }, 60_000);
  afterAll(async () => lf?.close());

  it('hits until the entry expires, then the store answers and fills it again', async () => {
    const after = await placeAll(lf, ['ttl-1']);
    await lf.facade.list('orders', { after, limit: 1 }); // applied; the cache is still empty
    const sources: string[] = [];
    for (const step of fixture.steps) {
      if ('sleepMs' in step) await new Promise((r) => setTimeout(r, step.sleepMs));
      else sources.push((await lf.facade.get('orders', 'ttl-1', { maxStalenessMs: 60_000 })).meta.source);
    }
    expect({ sources }).toEqual(load('expected', 'cache-ttl'));
  });
});
