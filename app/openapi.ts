import { z } from 'zod';
import { EVENT_METADATA } from '../core/log/event-types.ts';
import { AUDIT_ACTIONS } from '../core/security/audit.ts';
import { accessOf } from './access.ts';
import type { Domain } from './domain.ts';
import { type Answer, error, type RouteSpec, ref, routes } from './routes.ts';

// The OpenAPI document is generated from the route table (app/routes.ts): its paths and methods are the
// routes the server registers, its query parameters the keys of the zod schemas the handlers parse with,
// an event's data and metadata the zod schemas an append is checked against. What no zod schema checks is
// written by hand: the answers' shapes (here and in the table), the request bodies the core checks by hand
// (the append's envelope in core/log/append.ts, a blob's bytes; in the table) and the path parameters.

const OPENAPI = { target: 'openapi-3.0', io: 'input' } as const;

/** what each path parameter is; the core checks them by hand (parseStreamId, …), so no schema says it */
const PATH_PARAMETERS: Readonly<Record<string, string>> = {
  stream: '<category>-<id>',
  name: 'projection',
  key: 'row key',
  id: 'dead letter id',
  blobId: 'blob id, [A-Za-z0-9._-]{1,200}',
  subjectId: 'data subject id (metadata.subject, or the event type’s subject field)',
};

const pathParameters = (url: string) =>
  [...url.matchAll(/:(\w+)/g)].map(([, name = '']) => {
    const description = PATH_PARAMETERS[name];
    if (description === undefined) throw new Error(`no description of the path parameter ${name} of ${url}`);
    return { name, in: 'path', required: true, description, schema: { type: 'string' } };
  });

interface ObjectSchema {
  properties?: Record<string, { description?: string } & Record<string, unknown>>;
  required?: string[];
}

/** one query parameter per key of each schema; a key's description is the parameter's */
const queryParameters = (schemas: readonly z.ZodObject[]) =>
  schemas.flatMap((schema) => {
    const { properties = {}, required = [] } = z.toJSONSchema(schema, OPENAPI) as ObjectSchema;
    return Object.entries(properties).map(([name, { description, ...property }]) => ({
      name,
      in: 'query',
      ...(required.includes(name) ? { required: true } : {}),
      ...(description === undefined ? {} : { description }),
      schema: property,
    }));
  });

/**
 * Every route declares its security: the probes none, the others a bearer token and the scope the
 * server checks (`x-required-scope`, from app/access.ts) with the 401 and 403 they may answer.
 */
const securityOf = (spec: RouteSpec) => {
  if (spec.anonymous) return { security: [], responses: spec.responses };
  const access = accessOf(spec.method, spec.url, {});
  const responses: Record<string, Answer> = { ...spec.responses };
  responses['401'] ??= error('unauthenticated: no valid bearer token');
  if (access) {
    responses['403'] ??= error(
      `forbidden: the token lacks the ${access.action} scope, or the ACL hook refuses`,
    );
  }
  return { responses, ...(access ? { 'x-required-scope': access.action } : {}) };
};

const operationOf = (spec: RouteSpec) => {
  const parameters = [
    ...pathParameters(spec.url),
    ...queryParameters(spec.query ?? []),
    ...(spec.headers ?? []),
  ];
  return {
    summary: spec.summary,
    ...(parameters.length ? { parameters } : {}),
    ...(spec.body ? { requestBody: spec.body } : {}),
    ...securityOf(spec),
  };
};

/** the routes by OpenAPI path (`/v1/streams/{stream}/events`), then by method */
const pathsOf = (specs: readonly RouteSpec[]) => {
  const paths: Record<string, Record<string, object>> = {};
  for (const spec of specs) {
    const path = spec.url.replace(/:(\w+)/g, '{$1}');
    paths[path] = { ...paths[path], [spec.method.toLowerCase()]: operationOf(spec) };
  }
  return paths;
};

/** Event_<Type> for each event type, and Event: any one of them, told apart by `type` */
const eventSchemas = (domain: Domain) => {
  const byType = Object.fromEntries(
    domain.eventTypes.map((t) => [
      `Event_${t.name}`,
      {
        type: 'object',
        required: ['type', 'data'],
        // the append refuses other fields (core/log/event-types.ts)
        additionalProperties: false,
        properties: {
          id: { type: 'string', format: 'uuid' },
          type: { type: 'string', enum: [t.name] },
          data: z.toJSONSchema(t.schema, OPENAPI),
          metadata: ref('Metadata'),
        },
      },
    ]),
  );
  const event = {
    oneOf: Object.keys(byType).map(ref),
    discriminator: {
      propertyName: 'type',
      mapping: Object.fromEntries(domain.eventTypes.map((t) => [t.name, ref(`Event_${t.name}`).$ref])),
    },
  };
  return { ...byType, Event: event };
};

/** the answers' shapes: no zod schema checks them */
const answerSchemas = {
  AppendResult: {
    type: 'object',
    required: ['stream', 'fromVersion', 'toVersion', 'position'],
    properties: {
      stream: { type: 'string' },
      fromVersion: { type: 'integer' },
      toVersion: { type: 'integer' },
      position: { type: 'string' },
    },
  },
  Envelope: {
    type: 'object',
    properties: {
      id: { type: 'string' },
      stream: { type: 'string' },
      type: { type: 'string' },
      version: { type: 'integer' },
      data: { type: 'object' },
      metadata: ref('Metadata'),
      position: {
        type: 'object',
        properties: {
          topic: { type: 'string' },
          partition: { type: 'integer' },
          offset: { type: 'string' },
        },
      },
      recordedAt: { type: 'string', format: 'date-time' },
    },
  },
  ReadMeta: {
    type: 'object',
    properties: {
      position: { type: 'string', nullable: true },
      stalenessMs: { type: 'number' },
      lagEvents: { type: 'integer' },
      source: { type: 'string', enum: ['cache', 'store'] },
      stale: { type: 'boolean' },
      generation: { type: 'integer' },
    },
  },
  ProjectionStatus: {
    type: 'object',
    properties: {
      name: { type: 'string' },
      generation: { type: 'integer' },
      state: {
        type: 'string',
        enum: ['idle', 'running', 'stopped', 'halted', 'rebuilding', 'unresponsive'],
      },
      lagEvents: { type: 'integer' },
      stalenessMs: { type: 'number' },
      deadLettered: { type: 'integer' },
      heartbeatAt: { type: 'string', nullable: true },
      lastError: { type: 'string', nullable: true },
      rebuilding: { type: 'object', nullable: true },
      holes: {
        type: 'array',
        description:
          'partitions stopped below the log start: offsets [from, to) neither Kafka nor the archive holds',
        items: {
          type: 'object',
          properties: {
            topic: { type: 'string' },
            partition: { type: 'integer' },
            from: { type: 'string' },
            to: { type: 'string' },
          },
        },
      },
    },
  },
  DeadLetter: {
    type: 'object',
    properties: {
      id: { type: 'string' },
      projection: { type: 'string' },
      generation: { type: 'integer' },
      position: { type: 'string' },
      stream: { type: 'string' },
      version: { type: 'integer' },
      eventId: { type: 'string' },
      type: { type: 'string' },
      kind: { type: 'string', enum: ['handler', 'column', 'rows', 'decode', 'upcast'] },
      reason: { type: 'string' },
      state: { type: 'string', enum: ['pending', 'retried', 'skipped'] },
      recordedAt: { type: 'string', format: 'date-time' },
      resolvedAt: { type: 'string', format: 'date-time', nullable: true },
    },
  },
  AuditRecord: {
    type: 'object',
    required: ['id', 'time', 'action', 'actor', 'tenant', 'resource', 'outcome', 'traceId'],
    properties: {
      id: { type: 'string', description: 'its position in the audit log' },
      time: { type: 'string', format: 'date-time' },
      action: { type: 'string', enum: [...AUDIT_ACTIONS] },
      actor: { type: 'string' },
      tenant: { type: 'string' },
      resource: { type: 'string', description: '<kind>/<name>; a data subject as subject/hmac:<hex>' },
      outcome: { type: 'string', enum: ['started', 'success', 'failure'] },
      traceId: { type: 'string', nullable: true },
      reason: { type: 'string' },
      details: { type: 'object', additionalProperties: true },
    },
  },
  Error: {
    type: 'object',
    required: ['error', 'message'],
    properties: { error: { type: 'string' }, message: { type: 'string' } },
    additionalProperties: true,
  },
};

/** The OpenAPI 3 document of the HTTP API (docs/http-api.md), with the domain's event schemas. */
export const openApiDocument = (domain: Domain) => ({
  openapi: '3.0.3',
  info: {
    title: 'logfront',
    version: '0.1.0',
    description: 'Append events, read projections under a staleness budget.',
  },
  paths: pathsOf(Object.values(routes)),
  security: [{ bearer: [] }],
  components: {
    securitySchemes: {
      bearer: {
        type: 'http',
        scheme: 'bearer',
        description:
          'an API key (LOGFRONT_API_KEYS_FILE) or a JWT (claims sub, tenant, scope); `dev` prints a dev key',
      },
    },
    schemas: {
      ...eventSchemas(domain),
      Metadata: z.toJSONSchema(EVENT_METADATA, OPENAPI),
      ...answerSchemas,
    },
  },
});
