// The sample domain's upcasting example (sample/order-shipped-v2.ts): a v1 record reads as the v2 shape.
import { describe, expect, it } from 'vitest';
import { OrderShippedV2 } from '../../sample/order-shipped-v2.ts';

describe('OrderShipped v2 (the upcasting example)', () => {
  it('gives a record written with version 1 the service it meant', () => {
    expect(OrderShippedV2.upcast!({ orderId: 'o1', carrier: 'DHL' }, 1)).toEqual({
      orderId: 'o1',
      carrier: 'DHL',
      service: 'standard',
    });
  });

  it('leaves a record of version 2 as it was written', () => {
    const v2 = { orderId: 'o1', carrier: 'DHL', service: 'express' };
    expect(OrderShippedV2.upcast!(v2, 2)).toBe(v2);
  });
});
