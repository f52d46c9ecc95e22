import http from 'node:http';
import https from 'node:https';
import type { ConnectionOptions } from 'node:tls';
import { SchemaRegistry as Client, COMPATIBILITY, SchemaType } from '@kafkajs/confluent-schema-registry';
import { DependencyUnavailable, EventUndecodable, isLogfrontError } from '../../core/errors.ts';
import type { CompatibilityResult, SchemaRegistry } from '../../core/ports.ts';
import type { Resilience } from '../../core/resilience/resilience.ts';
import { standaloneResilience } from '../../core/resilience/standalone.ts';
import { backwardCompatibility, frame, unframe } from '../schema-wire/wire.ts';

/** how long a request to the registry may take */
const TIMEOUT_MS = 10_000;

type Middleware = NonNullable<ConstructorParameters<typeof Client>[0]['middlewares']>[number];

/** every request of the client is bounded in time (it sets none of its own) */
const timeout: Middleware = () => ({
  prepareRequest: (next) => next().then((request) => request.enhance({ timeout: TIMEOUT_MS })),
});

/** the status of a failure the client reports (its ResponseError), if it is one */
const statusOf = (error: unknown) => {
  const status = (error as { status?: unknown }).status;
  return typeof status === 'number' ? status : undefined;
};

/** whether an error says the registry failed (down, unreachable, 5xx): what its breaker counts */
export const registryDown = (error: unknown): boolean =>
  error instanceof DependencyUnavailable && error.dependency === 'schema-registry';

/** a registry's own failure (5xx) or refusal to serve now (408, 429) */
/** a 409 to setting a subject's compatibility: another process set it first */
const lostConfigRace = (error: unknown) =>
  statusOf(error) === 409 && /\/config\//.test(String((error as { url?: unknown }).url ?? ''));

const unavailableStatus = (status: number) => status >= 500 || status === 408 || status === 429;

/** a registry's answer; a body that is not JSON (a proxy's error page) is kept as its text */
const parseBody = (text: string): Record<string, unknown> => {
  if (!text) return {};
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return { text: text.slice(0, 200) };
  }
};

/** with an https:// URL: the CAs trusted for the registry's certificate, whether it is checked */
export type RegistryTls = Pick<ConnectionOptions, 'ca' | 'rejectUnauthorized'>;

/** the agent every request to the registry goes through: https with the settings, or Node's default */
export const registryAgent = (tls: RegistryTls | undefined): https.Agent | undefined =>
  tls ? new https.Agent({ ...tls, keepAlive: true }) : undefined;

/**
 * One request to the registry through Node's http(s), with the agent (fetch takes no CAs of its own);
 * a request without an answer within TIMEOUT_MS fails.
 */
const send = (
  url: string,
  init: { method?: string; body?: string; headers: Record<string, string> },
  agent: https.Agent | undefined,
) =>
  new Promise<{ status: number; text: string }>((resolve, reject) => {
    const target = new URL(url);
    const request = (target.protocol === 'https:' ? https : http).request(
      target,
      { method: init.method ?? 'GET', headers: init.headers, signal: AbortSignal.timeout(TIMEOUT_MS), agent },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () =>
          // a response of a client request always has its status code
          resolve({ status: response.statusCode!, text: Buffer.concat(chunks).toString('utf8') }),
        );
      },
    );
    request.on('error', reject);
    request.end(init.body);
  });

/**
 * A Confluent-compatible Schema Registry (Confluent, Apicurio's ccompat API, Karapace, Redpanda)
 * through @kafkajs/confluent-schema-registry. Subjects are registered with BACKWARD compatibility.
 * A registry that is down, or does not answer within 10 s, fails a call as DependencyUnavailable.
 * Registrations, checks and version lookups go through the registry's breaker and the retry policy
 * (each is safe to repeat: registering a schema again returns its id); the probe does not.
 */
export const createConfluentRegistry = (
  url: string,
  options: { tls?: RegistryTls | undefined; resilience?: Resilience | undefined } = {},
): SchemaRegistry => {
  const base = url.replace(/\/+$/, '');
  const agent = registryAgent(options.tls);
  const resilience = options.resilience ?? standaloneResilience(registryDown);
  const guarded =
    <A extends unknown[], R>(operation: string, call: (...args: A) => Promise<R>) =>
    (...args: A) =>
      resilience.run('schema-registry', operation, () => call(...args));
  // The client registers schemas (formats kept for other readers); its Ajv is not used to encode. It
  // does not retry: the retry policy does.
  const client = new Client(
    { host: base, retry: { retries: 0 }, middlewares: [timeout], ...(agent ? { agent } : {}) },
    { [SchemaType.JSON]: { strict: false, validateFormats: false, logger: false } },
  );
  // a registry that does not answer, or answers 5xx, 408 or 429, is unavailable; other answers are kept
  const http = async (path: string, init?: { method?: string; body?: string }) => {
    let answer: { status: number; text: string };
    try {
      answer = await send(
        `${base}${path}`,
        { ...init, headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' } },
        agent,
      );
    } catch (error) {
      const cause = (error as { cause?: { message?: string } }).cause?.message;
      throw new DependencyUnavailable(
        'schema-registry',
        `no answer from ${path.split('?')[0]}: ${(error as Error).message}${cause ? ` (${cause})` : ''}`,
        { cause: error },
      );
    }
    const { status, text } = answer;
    if (unavailableStatus(status)) {
      throw new DependencyUnavailable('schema-registry', `it answered ${status}: ${text.slice(0, 200)}`);
    }
    return { status, body: parseBody(text) };
  };
  // A failure of the client as DependencyUnavailable when the registry is down. The client reports a
  // registry that did not answer (refused, reset, timed out) as a status 400 of its own, like a
  // registry's own 400: whether it answers at all is asked of it again.
  const registryFailure = async (error: unknown): Promise<unknown> => {
    if (isLogfrontError(error)) return error;
    const status = statusOf(error);
    const message = error instanceof Error ? error.message : String(error);
    if (status !== undefined && unavailableStatus(status)) {
      return new DependencyUnavailable('schema-registry', message, { cause: error });
    }
    if (status === 400) {
      const down = await http('/subjects').then(
        () => false,
        (e: unknown) => e instanceof DependencyUnavailable,
      );
      if (down) return new DependencyUnavailable('schema-registry', message, { cause: error });
    }
    return error;
  };
  return {
    register: guarded('register', async (subject: string, jsonSchema: object) => {
      const register = () =>
        client.register(
          { type: SchemaType.JSON, schema: JSON.stringify(jsonSchema) },
          { subject, compatibility: COMPATIBILITY.BACKWARD },
        );
      try {
        try {
          return (await register()).id;
        } catch (error) {
          // two processes registering a new subject at once both set its compatibility; the registry
          // refuses the second (Apicurio: 409 "A rule named 'COMPATIBILITY' already exists"). Once more,
          // the rule is there and the registration is answered with the existing id.
          if (!lostConfigRace(error)) throw error;
          return (await register()).id;
        }
      } catch (error) {
        throw await registryFailure(error);
      }
    }),
    check: guarded('check', async (subject: string, jsonSchema: object): Promise<CompatibilityResult> => {
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
    }),
    versionOf: guarded('version', async (subject: string, schemaId: number) => {
      const path = `/subjects/${encodeURIComponent(subject)}/versions`;
      const { body } = await http(path);
      for (const version of Array.isArray(body) ? (body as number[]) : []) {
        const v = await http(`${path}/${version}`);
        if (v.body.id === schemaId) return version;
      }
      throw new EventUndecodable('decode', `schema ${schemaId} is not a version of ${subject}`);
    }),
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
