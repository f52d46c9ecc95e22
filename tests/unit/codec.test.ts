import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { createInProcessRegistry } from '../../connectors/embedded/registry.ts';
import { EventUndecodable } from '../../core/errors.ts';
import { createCodec } from '../../core/log/codec.ts';
import { createCatalog, defineEventType } from '../../core/log/event-types.ts';
import type { SchemaRegistry } from '../../core/ports.ts';
import { orderEventTypes } from '../../sample/order-events.ts';

const shipped = { orderId: 'o-1', carrier: 'DHL' };
const placed = {
  orderId: 'o-1',
  customerId: 'c-1',
  customerEmail: 'ada@example.com',
  items: [{ sku: 's', qty: 1, priceCents: 5 }],
  totalCents: 5,
};

/** a registry whose calls we can count */
const spiedRegistry = () => {
  const registry = createInProcessRegistry();
  return { registry, register: vi.spyOn(registry, 'register') };
};

// OrderShipped as first published, then grown a carrier with an upcaster for old payloads
const ShippedV1 = defineEventType('OrderShipped', z.object({ orderId: z.string() }));
const upcastV1 = (data: unknown) => ({ carrier: 'unknown', ...(data as object) });
const shippedV2 = (upcast = vi.fn(upcastV1)) => ({
  upcast,
  type: defineEventType('OrderShipped', z.object({ orderId: z.string(), carrier: z.string().optional() }), {
    upcast,
  }),
});

describe('createCodec', () => {
  it('registerAll registers every event type under its subject', async () => {
    const { registry, register } = spiedRegistry();
    const catalog = createCatalog(orderEventTypes, 'shop');

    await createCodec(registry, catalog).registerAll();

    expect(register.mock.calls.map(([subject]) => subject)).toEqual([
      'shop.OrderPlaced',
      'shop.OrderShipped',
      'shop.OrderCancelled',
    ]);
    expect(register.mock.calls[1]![1]).toBe(catalog.jsonSchemaOf('OrderShipped'));
  });

  it('each type is registered once, however many events are encoded', async () => {
    const { registry, register } = spiedRegistry();
    const codec = createCodec(registry, createCatalog(orderEventTypes, 'shop'));

    await codec.registerAll();
    await codec.registerAll();
    for (let i = 0; i < 5; i++) await codec.encode('OrderShipped', shipped);

    expect(register).toHaveBeenCalledTimes(3);
  });

  it('encoding a type before registerAll registers it on first use only', async () => {
    const { registry, register } = spiedRegistry();
    const codec = createCodec(registry, createCatalog(orderEventTypes, 'shop'));

    await codec.encode('OrderShipped', shipped);
    await codec.encode('OrderShipped', shipped);

    expect(register).toHaveBeenCalledTimes(1);
    expect(register).toHaveBeenCalledWith('shop.OrderShipped', expect.any(Object));
  });

  it('an encoded payload decodes to the same data', async () => {
    const codec = createCodec(createInProcessRegistry(), createCatalog(orderEventTypes, 'shop'));
    await codec.registerAll();

    const payload = await codec.encode('OrderPlaced', placed);

    expect(await codec.decode('OrderPlaced', payload)).toEqual(placed);
  });

  it('the payload is framed with the schema id the type was registered under', async () => {
    const registry = createInProcessRegistry();
    const codec = createCodec(registry, createCatalog(orderEventTypes, 'shop'));
    await codec.registerAll();

    const payload = await codec.encode('OrderCancelled', { orderId: 'o', reason: 'r' });

    expect(payload[0]).toBe(0);
    expect(payload.readUInt32BE(1)).toBe(3);
    expect(await registry.decode(payload)).toEqual({ schemaId: 3, value: { orderId: 'o', reason: 'r' } });
  });

  it('a payload written with an older schema is upcast to the current shape', async () => {
    const registry = createInProcessRegistry();
    const writer = createCodec(registry, createCatalog([ShippedV1], 'shop'));
    const old = await writer.encode('OrderShipped', { orderId: 'o-1' });
    const v2 = shippedV2();
    const reader = createCodec(registry, createCatalog([v2.type], 'shop'));
    await reader.registerAll();

    const data = await reader.decode('OrderShipped', old);

    expect(data).toEqual({ orderId: 'o-1', carrier: 'unknown' });
    expect(v2.upcast).toHaveBeenCalledTimes(1);
    expect(v2.upcast).toHaveBeenCalledWith({ orderId: 'o-1' }, 1);
  });

  it('a payload written with the current schema is not upcast', async () => {
    const registry = createInProcessRegistry();
    await createCodec(registry, createCatalog([ShippedV1], 'shop')).registerAll();
    const v2 = shippedV2();
    const codec = createCodec(registry, createCatalog([v2.type], 'shop'));
    await codec.registerAll();

    const current = await codec.encode('OrderShipped', shipped);

    expect(await codec.decode('OrderShipped', current)).toEqual(shipped);
    expect(v2.upcast).not.toHaveBeenCalled();
  });

  it('a reader that never encoded does not upcast a payload in the current schema', async () => {
    const registry = createInProcessRegistry();
    await createCodec(registry, createCatalog([ShippedV1], 'shop')).registerAll();
    const v2 = shippedV2();
    const current = await createCodec(registry, createCatalog([v2.type], 'shop')).encode(
      'OrderShipped',
      shipped,
    );
    const reader = createCodec(registry, createCatalog([v2.type], 'shop'));

    expect(await reader.decode('OrderShipped', current)).toEqual(shipped);
    expect(v2.upcast).not.toHaveBeenCalled();
  });

  it('a type without an upcaster reads an older payload as it is', async () => {
    const registry = createInProcessRegistry();
    const old = await createCodec(registry, createCatalog([ShippedV1], 'shop')).encode('OrderShipped', {
      orderId: 'o-1',
    });
    const plain = defineEventType(
      'OrderShipped',
      z.object({ orderId: z.string(), carrier: z.string().optional() }),
    );
    const codec = createCodec(registry, createCatalog([plain], 'shop'));
    await codec.registerAll();

    expect(await codec.decode('OrderShipped', old)).toEqual({ orderId: 'o-1' });
  });

  it('a type the catalog does not know is decoded as it is', async () => {
    const registry = createInProcessRegistry();
    const payload = await registry.encode(99, { anything: true });
    const codec = createCodec(registry, createCatalog(orderEventTypes, 'shop'));

    expect(await codec.decode('OrderRefunded', payload)).toEqual({ anything: true });
  });

  it('an incompatible schema change fails registration', async () => {
    const registry = createInProcessRegistry();
    await createCodec(registry, createCatalog([ShippedV1], 'shop')).registerAll();
    const breaking = defineEventType('OrderShipped', z.object({ orderId: z.number() }));

    await expect(createCodec(registry, createCatalog([breaking], 'shop')).registerAll()).rejects.toThrow(
      /not BACKWARD compatible: \/orderId: type changed from string to number/,
    );
  });

  it('a registry failure surfaces from encode', async () => {
    const failing: SchemaRegistry = {
      ...createInProcessRegistry(),
      register: async () => {
        throw new Error('registry unreachable');
      },
    };

    await expect(
      createCodec(failing, createCatalog(orderEventTypes, 'shop')).encode('OrderShipped', shipped),
    ).rejects.toThrow('registry unreachable');
  });

  it('a framed payload that is not JSON is undecodable, and its reason quotes none of it', async () => {
    const codec = createCodec(createInProcessRegistry(), createCatalog(orderEventTypes, 'shop'));
    const text = `{"orderId":"o","customerEmail":"ada@example.com","secret":"${'s'.repeat(30)}",}`;
    const payload = Buffer.concat([Buffer.from([0, 0, 0, 0, 1]), Buffer.from(text)]);

    const refused = (await codec.decode('OrderPlaced', payload).catch((e: unknown) => e)) as EventUndecodable;

    expect(refused).toBeInstanceOf(EventUndecodable);
    expect(refused.message).toMatch(/JSON/);
    expect(refused.message).not.toMatch(/ada@example|sss/);
  });

  it("an upcaster's message is kept without the values of the type's sensitive fields", async () => {
    const registry = createInProcessRegistry();
    const V1 = defineEventType('PatientSeen', z.object({ patient: z.object({ ssn: z.string() }) }));
    const old = await createCodec(registry, createCatalog([V1], 'clinic')).encode('PatientSeen', {
      patient: { ssn: '078-05-1120' },
    });
    const V2 = defineEventType(
      'PatientSeen',
      z.object({ patient: z.object({ ssn: z.string() }), ward: z.string().optional() }),
      {
        sensitive: ['patient.ssn'],
        upcast: (data) => {
          throw new Error(`cannot read ${JSON.stringify(data)}`);
        },
      },
    );
    const reader = createCodec(registry, createCatalog([V2], 'clinic'));
    await reader.registerAll();

    const refused = (await reader.decode('PatientSeen', old).catch((e: unknown) => e)) as EventUndecodable;

    expect(refused).toMatchObject({ kind: 'upcast' });
    expect(refused.message).toBe(
      'upcasting PatientSeen from schema version 1: cannot read {"patient":{"ssn":"[redacted]"}}',
    );
  });

  it('a payload that is not framed cannot be decoded', async () => {
    const codec = createCodec(createInProcessRegistry(), createCatalog(orderEventTypes, 'shop'));

    await expect(codec.decode('OrderShipped', Buffer.from('{"orderId":"o"}'))).rejects.toThrow(
      'not a schema-registry framed payload',
    );
  });
});
