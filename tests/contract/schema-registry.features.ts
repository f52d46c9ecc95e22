// The SchemaRegistry contract: the real registry (Apicurio's Confluent API) and the in-process one agree.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { SchemaRegistry } from '../../core/ports.ts';
import { uniqueId } from '../support/services.ts';

const jsonSchema = (schema: z.ZodType) =>
  z.toJSONSchema(schema, { target: 'draft-7', io: 'input' }) as object;

const v1 = jsonSchema(z.object({ orderId: z.string(), carrier: z.string() }).strict());
const optionalAdded = jsonSchema(
  z.object({ orderId: z.string(), carrier: z.string(), note: z.string().optional() }).strict(),
);
const requiredAdded = jsonSchema(
  z.object({ orderId: z.string(), carrier: z.string(), note: z.string() }).strict(),
);
const fieldRemoved = jsonSchema(z.object({ orderId: z.string() }).strict());
const typeChanged = jsonSchema(z.object({ orderId: z.number(), carrier: z.string() }).strict());

export const schemaRegistryContract = (name: string, open: () => SchemaRegistry) => {
  describe(`SchemaRegistry contract: ${name}`, () => {
    const registry = open();
    const subject = () => `t${uniqueId()}.OrderShipped`;

    it('registering the same schema twice gives the same id; a compatible change a new one', async () => {
      const s = subject();
      const id = await registry.register(s, v1);
      expect(await registry.register(s, v1)).toBe(id);
      const next = await registry.register(s, optionalAdded);
      expect(next).not.toBe(id);
    });

    it('names the subject version a schema id is, and refuses an id of another subject', async () => {
      const s = subject();
      const first = await registry.register(s, v1);
      const second = await registry.register(s, optionalAdded);
      expect(await registry.versionOf(s, first)).toBe(1);
      expect(await registry.versionOf(s, second)).toBe(2);
      const other = await registry.register(subject(), requiredAdded);
      await expect(registry.versionOf(s, other)).rejects.toThrow(/is not a version of/);
    });

    it('no schema id is a version of a subject never registered', async () => {
      const id = await registry.register(subject(), v1);
      const never = subject();
      await expect(registry.versionOf(never, id)).rejects.toThrow(
        `schema ${id} is not a version of ${never}`,
      );
    });

    it('a new subject is compatible with anything', async () => {
      expect(await registry.check(subject(), v1)).toEqual({ compatible: true, messages: [] });
    });

    it('an optional field added is BACKWARD compatible', async () => {
      const s = subject();
      await registry.register(s, v1);
      expect((await registry.check(s, optionalAdded)).compatible).toBe(true);
    });

    for (const [what, next] of [
      ['a field removed from a closed object', fieldRemoved],
      ['a required field added', requiredAdded],
      ['a field type changed', typeChanged],
    ] as const) {
      it(`${what} is not BACKWARD compatible, with a reason`, async () => {
        const s = subject();
        await registry.register(s, v1);
        const result = await registry.check(s, next);
        expect(result.compatible).toBe(false);
        expect(result.messages.length).toBeGreaterThan(0);
      });
    }

    it('encodes in the wire format and decodes back with the schema id', async () => {
      const id = await registry.register(subject(), v1);
      const payload = await registry.encode(id, { orderId: 'o-1', carrier: 'DHL' });
      expect(payload[0]).toBe(0);
      expect(payload.readUInt32BE(1)).toBe(id);
      expect(await registry.decode(payload)).toEqual({
        schemaId: id,
        value: { orderId: 'o-1', carrier: 'DHL' },
      });
    });

    it('answers a ping', async () => {
      await expect(registry.ping()).resolves.toBeUndefined();
    });
  });
};
