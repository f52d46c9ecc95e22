import { SchemaRegistry as Client, COMPATIBILITY, SchemaType } from '@kafkajs/confluent-schema-registry';
import type { CompatibilityResult, SchemaRegistry } from '../../core/ports.ts';

/**
 * A Confluent-compatible Schema Registry (Confluent, Apicurio's ccompat API, Karapace, Redpanda)
 * through @kafkajs/confluent-schema-registry. Subjects are registered with BACKWARD compatibility.
 */
export const createConfluentRegistry = (url: string): SchemaRegistry => {
  const base = url.replace(/\/+$/, '');
  const client = new Client({ host: base, retry: { retries: 3 } });
  const http = async (path: string, init?: RequestInit) => {
    const response = await fetch(`${base}${path}`, {
      ...init,
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json', ...init?.headers },
      signal: AbortSignal.timeout(10_000),
    });
    const text = await response.text();
    return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
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
      if (status === 404) return { compatible: true, messages: [] }; // first version of a new subject
      if (status !== 200)
        throw new Error(`schema registry answered ${status} checking ${subject}: ${JSON.stringify(body)}`);
      const messages = Array.isArray(body.messages) ? body.messages.map(String) : [];
      return { compatible: body.is_compatible === true, messages };
    },
    encode: (schemaId, value) => client.encode(schemaId, value),
    decode: async (payload) => ({ schemaId: payload.readUInt32BE(1), value: await client.decode(payload) }),
    ping: async () => {
      const { status } = await http('/subjects');
      if (status !== 200) throw new Error(`schema registry answered ${status}`);
    },
  };
};
