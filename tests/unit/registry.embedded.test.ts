import { describe, expect, it } from 'vitest';
import { createInProcessRegistry } from '../../connectors/embedded/registry.ts';

const v1 = {
  type: 'object',
  properties: { orderId: { type: 'string' } },
  required: ['orderId'],
  additionalProperties: false,
};
const v2 = { ...v1, properties: { ...v1.properties, carrier: { type: 'string' } } };
const breaking = { ...v1, properties: { orderId: { type: 'integer' } } };

describe('the in-process schema registry', () => {
  it('the first schema of a subject gets id 1', async () => {
    expect(await createInProcessRegistry().register('shop.OrderShipped', v1)).toBe(1);
  });

  it('registering an identical schema again is idempotent: same id', async () => {
    const registry = createInProcessRegistry();
    const id = await registry.register('shop.OrderShipped', v1);

    expect(await registry.register('shop.OrderShipped', structuredClone(v1))).toBe(id);
    expect(await registry.register('shop.Other', { type: 'string' })).toBe(id + 1);
  });

  it('a compatible change is a new version with a new id', async () => {
    const registry = createInProcessRegistry();
    const first = await registry.register('shop.OrderShipped', v1);

    const second = await registry.register('shop.OrderShipped', v2);

    expect(second).not.toBe(first);
    expect(second).toBe(2);
  });

  it('re-registering an earlier version returns its original id', async () => {
    const registry = createInProcessRegistry();
    await registry.register('s', v1);
    await registry.register('s', v2);

    expect(await registry.register('s', v1)).toBe(1);
  });

  it('an incompatible change is rejected with the reason', async () => {
    const registry = createInProcessRegistry();
    await registry.register('shop.OrderShipped', v1);

    await expect(registry.register('shop.OrderShipped', breaking)).rejects.toThrow(
      'schema for shop.OrderShipped is not BACKWARD compatible: /orderId: type changed from string to integer',
    );
  });

  it('a rejected schema takes no id', async () => {
    const registry = createInProcessRegistry();
    await registry.register('s', v1);
    await registry.register('s', breaking).catch(() => undefined);

    expect(await registry.register('other', { type: 'string' })).toBe(2);
  });

  it('compatibility is checked against the latest version only', async () => {
    const registry = createInProcessRegistry();
    await registry.register('s', { type: 'object', properties: { a: { enum: ['x', 'y'] } } });
    await registry.register('s', { type: 'object', properties: { a: { enum: ['x', 'y', 'z'] } } });

    await expect(
      registry.register('s', { type: 'object', properties: { a: { enum: ['x', 'y'] } } }),
    ).resolves.toBe(1);
    await expect(
      registry.register('s', { type: 'object', properties: { a: { enum: ['x'] } } }),
    ).rejects.toThrow('enum values removed: y, z');
  });

  it('subjects evolve independently', async () => {
    const registry = createInProcessRegistry();
    await registry.register('a', v1);

    expect(await registry.register('b', breaking)).toBe(2);
  });

  describe('check', () => {
    it('a subject with no schema accepts anything', async () => {
      expect(await createInProcessRegistry().check('new', breaking)).toEqual({
        compatible: true,
        messages: [],
      });
    });

    it('reports compatibility against the latest version without registering', async () => {
      const registry = createInProcessRegistry();
      await registry.register('s', v1);

      expect(await registry.check('s', v2)).toEqual({ compatible: true, messages: [] });
      expect(await registry.check('s', breaking)).toEqual({
        compatible: false,
        messages: ['/orderId: type changed from string to integer'],
      });
      expect(await registry.register('s', v2)).toBe(2);
    });
  });

  it('encode frames the value with its schema id and decode reads it back', async () => {
    const registry = createInProcessRegistry();
    const id = await registry.register('s', v1);

    const payload = await registry.encode(id, { orderId: 'o-1' });

    expect(payload[0]).toBe(0);
    expect(payload.readUInt32BE(1)).toBe(id);
    expect(await registry.decode(payload)).toEqual({ schemaId: id, value: { orderId: 'o-1' } });
  });

  it('decode refuses a payload that is not framed', async () => {
    await expect(createInProcessRegistry().decode(Buffer.from('{}'))).rejects.toThrow(
      'not a schema-registry framed payload',
    );
  });

  it('ping always answers', async () => {
    await expect(createInProcessRegistry().ping()).resolves.toBeUndefined();
  });
});
