import { isDeepStrictEqual } from 'node:util';
import type { CompatibilityResult, SchemaRegistry } from '../../core/ports.ts';
import { backwardCompatibility, frame, unframe } from '../schema-wire/wire.ts';

/** An in-process schema registry with the Confluent wire format and BACKWARD checks. */
export const createInProcessRegistry = (): SchemaRegistry => {
  const schemas: object[] = [];
  const subjects = new Map<string, number[]>();
  const latest = (subject: string) => {
    const versions = subjects.get(subject);
    return versions?.length ? schemas[versions.at(-1)! - 1] : undefined;
  };
  return {
    register: async (subject, jsonSchema) => {
      const versions = subjects.get(subject) ?? [];
      const existing = versions.find((id) => isDeepStrictEqual(schemas[id - 1], jsonSchema));
      if (existing !== undefined) return existing;
      const previous = latest(subject);
      if (previous) {
        const result = backwardCompatibility(previous, jsonSchema);
        if (!result.compatible)
          throw new Error(`schema for ${subject} is not BACKWARD compatible: ${result.messages.join('; ')}`);
      }
      schemas.push(jsonSchema);
      versions.push(schemas.length);
      subjects.set(subject, versions);
      return schemas.length;
    },
    check: async (subject, jsonSchema): Promise<CompatibilityResult> => {
      const previous = latest(subject);
      return previous ? backwardCompatibility(previous, jsonSchema) : { compatible: true, messages: [] };
    },
    versionOf: async (subject, schemaId) => {
      const version = (subjects.get(subject) ?? []).indexOf(schemaId) + 1;
      if (version === 0) throw new Error(`schema ${schemaId} is not a version of ${subject}`);
      return version;
    },
    encode: async (schemaId, value) => frame(schemaId, value),
    decode: async (payload) => unframe(payload),
    ping: async () => {},
  };
};
