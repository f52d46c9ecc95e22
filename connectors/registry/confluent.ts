import { SchemaRegistry as Client, COMPATIBILITY, SchemaType } from '@kafkajs/confluent-schema-registry';
import { EventUndecodable } from '../../core/errors.ts';
import type { CompatibilityResult, SchemaRegistry } from '../../core/ports.ts';
import { backwardCompatibility, frame, unframe } from './wire.ts';

/**
 * A Confluent-compatible Schema Registry (Confluent, Apicurio's ccompat API, Karapace, Redpanda)
 * through @kafkajs/confluent-schema-registry. Subjects are registered with BACKWARD compatibility.
 */
/** a registry's answer; a body that is not JSON (a proxy's error page) is kept as its text */
const parseBody = (text: string): Record<string, unknown> => {
  if (!text) return {};
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return { text: text.slice(0, 200) };
  }
};

export const createConfluentRegistry = (url: string): SchemaRegistry => {
  const base = url.replace(/\/+$/, '');
  // The client registers schemas (formats kept for other readers); its Ajv is not used to encode.
  const client = new Client(
    { host: base, retry: { retries: 3 } },
    { [SchemaType.JSON]: { strict: false, validateFormats: false, logger: false } },
  );
  const http = async (path: string, init?: RequestInit) => {
    const response = await fetch(`${base}${path}`, {
      ...init,
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json', ...init?.headers },
      signal: AbortSignal.timeout(10_000),
    });
    const text = await response.text();
    return { status: response.status, body: parseBody(text) };
  };
  return {
    register: async (subject, jsonSchema) => {
      const { id } = await client.register(
        { type: SchemaType.JSON, schema: JSON.stringify(jsonSchema) },
        { subject, compatibility: COMPATIBILITY.BACKWARD },
      );
      return id;
    },
    check: async (subject, jsonSchema): Promise<CompatibilityResult> => {
      const { status, body } = await http(
        `/compatibility/subjects/${encodeURIComponent(subject)}/versions/latest?verbose=true`,
        { method: 'POST', body: JSON.stringify({ schemaType: 'JSON', schema: JSON.stringify(jsonSchema) }) },
      );
      // Confluent answers 404 / 40401 for a subject with no versions yet: anything is compatible with nothing
      const newSubject = status === 404 && body.error_code === 40401;
      if (status !== 200 && !newSubject) {
        throw new Error(`schema registry answered ${status} checking ${subject}: ${JSON.stringify(body)}`);
      }
      const compatible = newSubject || body.is_compatible === true;
      let messages = Array.isArray(body.messages) ? body.messages.map(String) : [];
      if (!compatible && messages.length === 0) {
        // some registries (Apicurio) give the verdict without reasons: name them from the latest schema
        const latest = await http(`/subjects/${encodeURIComponent(subject)}/versions/latest`);
        const previous =
          typeof latest.body.schema === 'string' ? (JSON.parse(latest.body.schema) as object) : {};
        const reasons = backwardCompatibility(previous, jsonSchema).messages;
        messages = reasons.length
          ? [...reasons]
          : [`not BACKWARD compatible with the latest version of ${subject}`];
      }
      return { compatible, messages };
    },
    versionOf: async (subject, schemaId) => {
      const path = `/subjects/${encodeURIComponent(subject)}/versions`;
      const { body } = await http(path);
      for (const version of Array.isArray(body) ? (body as number[]) : []) {
        const v = await http(`${path}/${version}`);
        if (v.body.id === schemaId) return version;
      }
      throw new EventUndecodable('decode', `schema ${schemaId} is not a version of ${subject}`);
    },
    // Payloads were validated with zod when prepared (every failing path named); framing them here
    // skips a second, slower validation of every payload by the client's Ajv.
    encode: async (schemaId, value) => frame(schemaId, value),
    // Payloads were validated when they were written: reading them back is the wire format's JSON,
    // with no schema fetch and no Ajv compile per process.
    decode: async (payload) => unframe(payload),
    ping: async () => {
      const { status } = await http('/subjects');
      if (status !== 200) throw new Error(`schema registry answered ${status}`);
    },
  };
};
