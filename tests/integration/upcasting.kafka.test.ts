import { afterAll, describe, expect, it } from 'vitest';
import { createLogfront, type Logfront } from '../../app/compose.ts';
import { type Domain, sampleDomain } from '../../app/domain.ts';
import type { StreamId } from '../../core/types.ts';
import { OrderShippedV2 } from '../../sample/order-shipped-v2.ts';
import { servicesConfig, uniqueId } from '../support/services.ts';

const v2Domain: Domain = {
  ...sampleDomain,
  eventTypes: sampleDomain.eventTypes.map((t) => (t.name === 'OrderShipped' ? OrderShippedV2 : t)),
};

describe('upcasting (Kafka, real registry)', () => {
  const opened: Logfront[] = [];
  afterAll(async () => {
    for (const lf of opened) await lf.close();
  });

  it('records written with OrderShipped v1 read as v2 in a process that knows v2', async () => {
    const config = servicesConfig();
    const v1 = await createLogfront(config);
    opened.push(v1);
    const stream = `order-${uniqueId()}` as StreamId;
    await v1.append.appendToStream(stream, {
      events: [{ type: 'OrderShipped', data: { orderId: '1', carrier: 'DHL' } }],
    });

    const v2 = await createLogfront(config, { domain: v2Domain });
    opened.push(v2);
    await v2.append.appendToStream(stream, {
      events: [{ type: 'OrderShipped', data: { orderId: '1', carrier: 'UPS', service: 'express' } }],
    });

    const read = await v2.log.readStream(stream, 1, 10);
    expect(read.map((e) => e.data)).toEqual([
      { orderId: '1', carrier: 'DHL', service: 'standard' },
      { orderId: '1', carrier: 'UPS', service: 'express' },
    ]);
    // the v1 process still reads what it wrote as it wrote it
    expect((await v1.log.readStream(stream, 1, 1))[0]!.data).toEqual({ orderId: '1', carrier: 'DHL' });
  });
});
