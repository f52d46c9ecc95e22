import type { EventCatalog } from './event-types.ts';
import type { SchemaRegistry } from './ports.ts';

/** Turns event payloads into registry-framed bytes and back, upcasting old versions on read. */
export interface EventCodec {
  /** registers every event type's schema; call once at start */
  registerAll(): Promise<void>;
  encode(type: string, data: unknown): Promise<Buffer>;
  decode(type: string, payload: Buffer): Promise<unknown>;
}

export const createCodec = (registry: SchemaRegistry, catalog: EventCatalog): EventCodec => {
  const ids = new Map<string, number>();
  const pending = new Map<string, Promise<number>>();
  // schema id → the subject version it is, for upcasters
  const versions = new Map<number, Promise<number>>();
  const versionOf = (type: string, schemaId: number) => {
    let v = versions.get(schemaId);
    if (!v) {
      v = registry.versionOf(catalog.subjectOf(type), schemaId);
      v.catch(() => versions.delete(schemaId));
      versions.set(schemaId, v);
    }
    return v;
  };
  // one registration per type, however many encodes wait for it
  const idFor = (type: string): Promise<number> => {
    const id = ids.get(type);
    if (id !== undefined) return Promise.resolve(id);
    let p = pending.get(type);
    if (!p) {
      p = registry
        .register(catalog.subjectOf(type), catalog.jsonSchemaOf(type))
        .then((registered) => {
          ids.set(type, registered);
          return registered;
        })
        .finally(() => pending.delete(type));
      pending.set(type, p);
    }
    return p;
  };
  return {
    registerAll: async () => {
      for (const type of catalog.types.keys()) await idFor(type);
    },
    encode: async (type, data) => registry.encode(await idFor(type), data),
    decode: async (type, payload) => {
      const { schemaId, value } = await registry.decode(payload);
      const eventType = catalog.get(type);
      if (!eventType?.upcast || schemaId === (await idFor(type))) return value;
      return eventType.upcast(value, await versionOf(type, schemaId));
    },
  };
};
