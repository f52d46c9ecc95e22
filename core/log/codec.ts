import { EventUndecodable } from '../errors.ts';
import type { SchemaRegistry } from '../ports.ts';
import { errorMessage, valuesAt, withoutValues } from '../security/redaction.ts';
import type { EventCatalog } from './event-types.ts';

/**
 * Turns event payloads into registry-framed bytes and back, upcasting old versions on read.
 *
 * An event type with a `binary` field is written as a binary frame, the bytes as they are beside
 * the registry-framed JSON of the other fields: no base64, no JSON of the bytes.
 *   byte 0      0x01 (a registry frame starts with 0x00)
 *   bytes 1-4   L, the length of the registry frame, big-endian
 *   L bytes     the registry frame: 0x00, schema id, JSON of the other fields
 *   the rest    the binary field's bytes
 */
export interface EventCodec {
  /** registers every event type's schema; call once at start */
  registerAll(): Promise<void>;
  encode(type: string, data: unknown): Promise<Buffer>;
  decode(type: string, payload: Buffer): Promise<unknown>;
}

const BINARY_FRAME = 0x01;
const BINARY_HEADER = 5;

export interface CodecOptions {
  /** told of every registration this codec makes (once per type and process), and of each that failed */
  onRegistration?: (subject: string, result: { schemaId: number } | { error: unknown }) => void;
}

export const createCodec = (
  registry: SchemaRegistry,
  catalog: EventCatalog,
  options: CodecOptions = {},
): EventCodec => {
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
      const subject = catalog.subjectOf(type);
      p = registry
        .register(subject, catalog.jsonSchemaOf(type))
        .then(
          (registered) => {
            ids.set(type, registered);
            options.onRegistration?.(subject, { schemaId: registered });
            return registered;
          },
          (error: unknown) => {
            options.onRegistration?.(subject, { error });
            throw error;
          },
        )
        .finally(() => pending.delete(type));
      pending.set(type, p);
    }
    return p;
  };
  const encodeBinary = async (type: string, field: string, data: Record<string, unknown>) => {
    const { [field]: bytes, ...rest } = data;
    if (!(bytes instanceof Uint8Array)) throw new Error(`event type ${type}: "${field}" must be bytes`);
    const framed = await registry.encode(await idFor(type), rest);
    const out = Buffer.allocUnsafe(BINARY_HEADER + framed.length + bytes.length);
    out[0] = BINARY_FRAME;
    out.writeUInt32BE(framed.length, 1);
    framed.copy(out, BINARY_HEADER);
    out.set(bytes, BINARY_HEADER + framed.length);
    return out;
  };
  return {
    registerAll: async () => {
      for (const type of catalog.types.keys()) await idFor(type);
    },
    encode: async (type, data) => {
      const field = catalog.get(type)?.binary;
      if (field) return encodeBinary(type, field, data as Record<string, unknown>);
      return registry.encode(await idFor(type), data);
    },
    decode: async (type, payload) => {
      const binary = payload.length > 0 && payload[0] === BINARY_FRAME;
      const end = !binary
        ? payload.length
        : payload.length >= BINARY_HEADER
          ? BINARY_HEADER + payload.readUInt32BE(1)
          : Number.POSITIVE_INFINITY;
      if (end > payload.length)
        throw new EventUndecodable('decode', 'a binary frame shorter than its header says');
      let decoded: { schemaId: number; value: unknown };
      try {
        decoded = await registry.decode(binary ? payload.subarray(BINARY_HEADER, end) : payload);
      } catch (error) {
        // never the payload: JSON.parse quotes the text it could not parse
        throw new EventUndecodable('decode', errorMessage(error));
      }
      const { schemaId } = decoded;
      const eventType = catalog.get(type);
      let value = decoded.value;
      if (binary) {
        const field = eventType?.binary;
        if (!field) {
          throw new EventUndecodable(
            'decode',
            `event type ${type} has no binary field, but its payload is a binary frame`,
          );
        }
        value = { ...(value as object), [field]: payload.subarray(end) };
      }
      // a registry that does not answer is not the event's fault: those errors go up as they are
      if (!eventType?.upcast || schemaId === (await idFor(type))) return value;
      const version = await versionOf(type, schemaId);
      try {
        return eventType.upcast(value, version);
      } catch (error) {
        // an upcaster's message may quote the payload: the values of its sensitive fields are taken out
        const message = withoutValues(errorMessage(error), valuesAt(value, eventType.sensitive));
        throw new EventUndecodable('upcast', `upcasting ${type} from schema version ${version}: ${message}`);
      }
    },
  };
};
