// What both schema registries share: the Confluent Registry's client (connectors/registry) and the
// in-process one of the embedded mode (connectors/embedded). Neutral: it loads no client library, so
// either connector folder may import it (biome.json's layering rule).
import type { CompatibilityResult } from '../../core/ports.ts';

// Confluent wire format: magic byte 0, 4-byte big-endian schema id, payload (JSON here).
export const frame = (schemaId: number, value: unknown): Buffer => {
  const json = Buffer.from(JSON.stringify(value), 'utf8');
  const out = Buffer.allocUnsafe(5 + json.length);
  out.writeUInt8(0, 0);
  out.writeUInt32BE(schemaId, 1);
  json.copy(out, 5);
  return out;
};

export const unframe = (payload: Buffer): { schemaId: number; value: unknown } => {
  if (payload.length < 5 || payload.readUInt8(0) !== 0)
    throw new Error('not a schema-registry framed payload');
  return { schemaId: payload.readUInt32BE(1), value: JSON.parse(payload.subarray(5).toString('utf8')) };
};

type Json = { [k: string]: unknown };
const asObject = (v: unknown): Json => (typeof v === 'object' && v !== null ? (v as Json) : {});
const typesOf = (s: Json): string[] =>
  Array.isArray(s.type) ? (s.type as string[]) : s.type ? [String(s.type)] : [];

/**
 * BACKWARD: a reader with `next` can read data written with `previous`. Covers what event
 * schemas change in practice: new required properties, removed properties on closed objects,
 * changed types, narrowed enums; recursing into properties and array items.
 */
export const backwardCompatibility = (previous: object, next: object): CompatibilityResult => {
  const messages: string[] = [];
  const walk = (oldS: Json, newS: Json, path: string) => {
    const oldT = typesOf(oldS);
    const newT = typesOf(newS);
    const widened = (t: string) => newT.includes(t) || (t === 'integer' && newT.includes('number'));
    if (newT.length && oldT.some((t) => !widened(t))) {
      messages.push(`${path || '/'}: type changed from ${oldT.join('|')} to ${newT.join('|')}`);
      return;
    }
    if (Array.isArray(newS.enum) && Array.isArray(oldS.enum)) {
      const dropped = (oldS.enum as unknown[]).filter((v) => !(newS.enum as unknown[]).includes(v));
      if (dropped.length) messages.push(`${path || '/'}: enum values removed: ${dropped.join(', ')}`);
    }
    const oldProps = asObject(oldS.properties);
    const newProps = asObject(newS.properties);
    const oldRequired = new Set((oldS.required as string[] | undefined) ?? []);
    for (const name of (newS.required as string[] | undefined) ?? []) {
      if (!oldRequired.has(name)) messages.push(`${path}/${name}: required property added`);
    }
    const closed = newS.additionalProperties === false;
    for (const name of Object.keys(oldProps)) {
      if (!(name in newProps)) {
        if (closed) messages.push(`${path}/${name}: property removed`);
        continue;
      }
      walk(asObject(oldProps[name]), asObject(newProps[name]), `${path}/${name}`);
    }
    if (oldS.items && newS.items) walk(asObject(oldS.items), asObject(newS.items), `${path}/items`);
  };
  walk(asObject(previous), asObject(next), '');
  return { compatible: messages.length === 0, messages };
};
