import { afterAll, describe, expect, it } from 'vitest';
import { createLogfront, type Logfront } from '../../app/compose.ts';
import { orderPlaced } from '../support/orders.ts';
import { servicesConfig, uniqueId } from '../support/services.ts';

describe('projection runner on Kafka', () => {
  const opened: Logfront[] = [];
  afterAll(async () => {
    for (const lf of opened) await lf.close();
  });

  it('a new checkpoint store reads the log from its start, whatever offsets the group committed before', async () => {
    const first = servicesConfig();
    const a = await createLogfront(first);
    opened.push(a);
    await a.startRunners();
    const ids = Array.from({ length: 50 }, () => uniqueId());
    let last = '';
    for (const id of ids)
      last = (await a.append.appendToStream(`order-${id}`, { events: [orderPlaced(id)] })).position;
    await a.facade.get('orders', ids.at(-1)!, { after: last, maxStalenessMs: 20_000 });
    await a.stopRunners(); // its group has committed offsets at the end of the log

    // same topics and consumer group, an empty Postgres schema: the committed offsets must not be trusted
    const b = await createLogfront({ ...first, database: { ...first.database, schema: `t_${uniqueId()}` } });
    opened.push(b);
    await b.startRunners();
    const row = await b.facade.get('orders', ids[0]!, { after: last, maxStalenessMs: 20_000 });
    expect(row.data.orderId).toBe(ids[0]);
    const all = await b.facade.list('orders', { limit: 500 });
    expect(all.items).toHaveLength(50);
  });
});
