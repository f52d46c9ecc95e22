import { z } from 'zod';
import { AUDIT_ACTIONS, AUDIT_LIMIT_DEFAULT, AUDIT_LIMIT_MAX } from '../core/security/audit.ts';
import { accessOf } from './access.ts';
import type { Domain } from './domain.ts';

const json = (schema: object, description = 'OK') => ({
  description,
  content: { 'application/json': { schema } },
});
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const error = (description: string) => json(ref('Error'), description);
const readParams = [
  {
    name: 'maxStalenessMs',
    in: 'query',
    schema: { type: 'integer', minimum: 0 },
    description: 'staleness budget',
  },
  { name: 'after', in: 'query', schema: { type: 'string' }, description: 'position token to wait for' },
  { name: 'consistency', in: 'query', schema: { type: 'string', enum: ['eventual', 'strong'] } },
  { name: 'onStale', in: 'query', schema: { type: 'string', enum: ['error', 'serve'] } },
];
const path = (name: string, description: string) => ({
  name,
  in: 'path',
  required: true,
  description,
  schema: { type: 'string' },
});

/** The OpenAPI 3 document of the HTTP API (docs/http-api.md), with the domain's event schemas. */
export const openApiDocument = (domain: Domain) => {
  const events = Object.fromEntries(
    domain.eventTypes.map((t) => [
      `Event_${t.name}`,
      {
        type: 'object',
        required: ['type', 'data'],
        properties: {
          id: { type: 'string', format: 'uuid' },
          type: { type: 'string', enum: [t.name] },
          data: z.toJSONSchema(t.schema, { target: 'openapi-3.0', io: 'input' }),
          metadata: ref('Metadata'),
        },
      },
    ]),
  );
  const document = {
    openapi: '3.0.3',
    info: {
      title: 'logfront',
      version: '0.1.0',
      description: 'Append events, read projections under a staleness budget.',
    },
    paths: {
      '/v1/streams/{stream}/events': {
        post: {
          summary: 'Append events to a stream',
          parameters: [path('stream', '<category>-<id>')],
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['events'],
                  properties: {
                    expectedVersion: {
                      oneOf: [
                        { type: 'integer', minimum: 0 },
                        { type: 'string', enum: ['no_stream', 'stream_exists', 'any'] },
                      ],
                    },
                    events: { type: 'array', minItems: 1, items: { oneOf: Object.keys(events).map(ref) } },
                  },
                },
              },
            },
          },
          responses: {
            '201': json(ref('AppendResult'), 'Appended'),
            '400': error('validation_failed or invalid_json'),
            '409': error('version_conflict or conflict'),
            '413': error('too_large'),
            '503': error(
              'dependency_unavailable (Kafka, Postgres or the Schema Registry is down) or unavailable; Retry-After',
            ),
          },
        },
        get: {
          summary: 'Read a stream',
          parameters: [
            path('stream', '<category>-<id>'),
            { name: 'fromVersion', in: 'query', schema: { type: 'integer', minimum: 1, default: 1 } },
            {
              name: 'limit',
              in: 'query',
              schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
            },
          ],
          responses: {
            '200': json({
              type: 'object',
              properties: {
                events: { type: 'array', items: ref('Envelope') },
                nextVersion: { type: 'integer', nullable: true },
              },
            }),
            '400': error('validation_failed'),
            '404': error('not_found'),
          },
        },
      },
      '/v1/projections': {
        get: {
          summary: 'Projection status',
          responses: {
            '200': json({
              type: 'object',
              properties: { projections: { type: 'array', items: ref('ProjectionStatus') } },
            }),
          },
        },
      },
      '/v1/projections/{name}/rows/{key}': {
        get: {
          summary: 'Read one row through the facade',
          parameters: [path('name', 'projection'), path('key', 'row key'), ...readParams],
          responses: {
            '200': json({ type: 'object', properties: { data: { type: 'object' }, meta: ref('ReadMeta') } }),
            '400': error('validation_failed'),
            '404': error('not_found'),
            '503': error('staleness_budget_exceeded'),
          },
        },
      },
      '/v1/projections/{name}/rows': {
        get: {
          summary: 'List rows, keyset-paged, with equality filters on columns (?column=value)',
          parameters: [
            path('name', 'projection'),
            {
              name: 'limit',
              in: 'query',
              schema: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
            },
            { name: 'cursor', in: 'query', schema: { type: 'string' } },
            ...readParams,
          ],
          responses: {
            '200': json({
              type: 'object',
              properties: {
                items: { type: 'array', items: { type: 'object' } },
                next: { type: 'string', nullable: true },
                meta: ref('ReadMeta'),
              },
            }),
            '400': error('validation_failed (unknown filter, bad cursor)'),
            '404': error('not_found'),
            '503': error('staleness_budget_exceeded'),
          },
        },
      },
      '/v1/projections/{name}/rebuild': {
        post: {
          summary: 'Start a blue/green rebuild',
          parameters: [path('name', 'projection')],
          responses: {
            '202': json(
              { type: 'object', properties: { name: { type: 'string' }, generation: { type: 'integer' } } },
              'Started',
            ),
            '404': error('not_found'),
            '409': error('conflict: a rebuild is running'),
          },
        },
      },
      '/v1/projections/{name}/dead-letters': {
        get: {
          summary: "A page of the projection's dead letters, oldest first",
          parameters: [
            path('name', 'projection'),
            {
              name: 'limit',
              in: 'query',
              schema: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
            },
            {
              name: 'cursor',
              in: 'query',
              schema: { type: 'string' },
              description: 'next of the previous page',
            },
            {
              name: 'state',
              in: 'query',
              schema: { type: 'string', enum: ['pending', 'retried', 'skipped'] },
            },
          ],
          responses: {
            '200': json({
              type: 'object',
              properties: {
                items: { type: 'array', items: ref('DeadLetter') },
                next: { type: 'string', nullable: true },
              },
            }),
            '400': error('validation_failed (bad limit, cursor or state)'),
            '404': error('not_found'),
          },
        },
      },
      '/v1/projections/{name}/dead-letters/{id}/retry': {
        post: {
          summary: 'Apply a dead letter again with the handler as it is now; exactly once',
          parameters: [path('name', 'projection'), path('id', 'dead letter id')],
          responses: {
            '200': json({ type: 'object', properties: { deadLetter: ref('DeadLetter') } }),
            '404': error('not_found'),
            '409': error('conflict: resolved already, or of an inactive generation'),
            '422': error('dead_letter_still_failing'),
          },
        },
      },
      '/v1/projections/{name}/dead-letters/{id}/skip': {
        post: {
          summary: 'Mark a dead letter skipped',
          parameters: [path('name', 'projection'), path('id', 'dead letter id')],
          responses: {
            '200': json({ type: 'object', properties: { deadLetter: ref('DeadLetter') } }),
            '404': error('not_found'),
            '409': error('conflict: resolved already, or of an inactive generation'),
          },
        },
      },
      '/v1/projections/{name}/resume': {
        post: {
          summary: 'Resume a halted projection past the event it halted on',
          parameters: [path('name', 'projection')],
          responses: {
            '200': json({
              type: 'object',
              properties: { name: { type: 'string' }, skipped: ref('DeadLetter') },
            }),
            '404': error('not_found'),
            '409': error('conflict: not halted'),
          },
        },
      },
      '/v1/blobs/{blobId}': {
        put: {
          summary:
            'Upload a blob: the body streams into chunk events and a commit on the log; the blob sink stores it in S3',
          parameters: [
            path('blobId', 'blob id, [A-Za-z0-9._-]{1,200}'),
            {
              name: 'x-logfront-subject',
              in: 'header',
              required: false,
              description:
                'the data subject the blob is about, percent-encoded: erasing the subject deletes the blob, and its bytes are stored encrypted under the subject key',
              schema: { type: 'string' },
            },
          ],
          requestBody: {
            required: false,
            content: { '*/*': { schema: { type: 'string', format: 'binary' } } },
          },
          responses: {
            '201': json(
              {
                type: 'object',
                properties: {
                  blobId: { type: 'string' },
                  size: { type: 'integer' },
                  sha256: { type: 'string' },
                  position: {
                    type: 'string',
                    description: 'the commit; after=<position> on GET waits for the sink',
                  },
                },
              },
              'Appended to the log',
            ),
            '400': error('validation_failed'),
            '413': error('too_large'),
            '503': error('unavailable: no blob store'),
          },
        },
        get: {
          summary: 'Download a blob; the SHA-256 is verified as it streams',
          parameters: [path('blobId', 'blob id'), ...readParams],
          responses: {
            '200': {
              description: 'The bytes, with Content-Type and x-logfront-sha256',
              content: { '*/*': { schema: { type: 'string', format: 'binary' } } },
            },
            '404': error('not_found'),
            '502': error('checksum_mismatch'),
            '503': error('staleness_budget_exceeded: after= not stored in time'),
          },
        },
        head: {
          summary: 'Whether a blob is stored (its object at its size), without reading the bytes',
          parameters: [path('blobId', 'blob id'), ...readParams],
          responses: {
            '200': { description: 'Stored: Content-Type, Content-Length and x-logfront-sha256, no body' },
            '404': { description: 'not_found' },
            '502': { description: 'checksum_mismatch: the object is missing or of another size' },
            '503': { description: 'staleness_budget_exceeded: after= not stored in time' },
          },
        },
      },
      '/v1/subjects/{subjectId}': {
        delete: {
          summary: 'Erase a data subject (GDPR): destroy its data keys, delete its projection rows',
          parameters: [
            path('subjectId', 'data subject id (metadata.subject, or the event type’s subject field)'),
            { name: 'tenant', in: 'query', schema: { type: 'string' }, description: 'default: default' },
          ],
          responses: {
            '202': json(
              {
                type: 'object',
                properties: {
                  subjectId: { type: 'string' },
                  tenant: { type: 'string' },
                  erased: { type: 'boolean' },
                  keysDestroyed: { type: 'integer' },
                  rowsDeleted: { type: 'object', additionalProperties: { type: 'integer' } },
                  blobsDeleted: { type: 'integer', description: 'blobs uploaded for the subject, deleted' },
                },
              },
              'Erased',
            ),
            '400': error('validation_failed'),
            '403': error('forbidden'),
            '409': error('erasure_unavailable: no key-encryption key'),
          },
        },
      },
      '/v1/audit': {
        get: {
          summary:
            "A page of the audit log, oldest first: the principal's tenant's records of access decisions, deletions, erasures and operator actions",
          parameters: [
            {
              name: 'since',
              in: 'query',
              schema: { type: 'string', format: 'date-time' },
              description: 'records of actions at or after this time',
            },
            { name: 'action', in: 'query', schema: { type: 'string', enum: [...AUDIT_ACTIONS] } },
            {
              name: 'limit',
              in: 'query',
              schema: { type: 'integer', minimum: 1, maximum: AUDIT_LIMIT_MAX, default: AUDIT_LIMIT_DEFAULT },
            },
            {
              name: 'cursor',
              in: 'query',
              schema: { type: 'string' },
              description: 'next of the previous page (a position in the audit log)',
            },
            {
              name: 'tenant',
              in: 'query',
              schema: { type: 'string' },
              description: "the principal's own (another is a 403); without authentication, a filter",
            },
          ],
          responses: {
            '200': json({
              type: 'object',
              properties: {
                items: { type: 'array', items: ref('AuditRecord') },
                next: {
                  type: 'string',
                  nullable: true,
                  description:
                    'null at the end; a page may hold fewer than limit records and still have a next',
                },
              },
            }),
            '400': error('validation_failed (bad since, action, limit or cursor)'),
            '503': error('dependency_unavailable: the audit log cannot be read'),
          },
        },
      },
      '/healthz': { get: { summary: 'The process runs', responses: { '200': json({ type: 'object' }) } } },
      '/readyz': {
        get: {
          summary: 'Dependencies answer',
          responses: { '200': json({ type: 'object' }), '503': json({ type: 'object' }, 'Not ready') },
        },
      },
      '/metrics': {
        get: {
          summary: 'Prometheus metrics',
          responses: {
            '200': {
              description: 'text/plain; version=0.0.4',
              content: { 'text/plain': { schema: { type: 'string' } } },
            },
          },
        },
      },
      '/openapi.json': { get: { summary: 'This document', responses: { '200': json({ type: 'object' }) } } },
    },
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
        ...events,
        Metadata: {
          type: 'object',
          additionalProperties: false,
          properties: Object.fromEntries(
            ['tenant', 'actor', 'subject', 'correlationId', 'causationId', 'traceparent', 'occurredAt'].map(
              (k) => [k, { type: 'string' }],
            ),
          ),
        },
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
      },
    },
  };
  return withSecurity(document);
};

/**
 * Every route declares its security: the probes none, the others a bearer token and the scope the
 * server checks (`x-required-scope`, from app/access.ts) with the 401 and 403 they may answer.
 */
const withSecurity = <T extends { paths: Record<string, Record<string, Record<string, unknown>>> }>(
  document: T,
): T => {
  for (const [path, methods] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      if (path === '/healthz' || path === '/readyz') {
        operation.security = [];
        continue;
      }
      const route = path.replace(/\{(\w+)\}/g, ':$1');
      const access = accessOf(method.toUpperCase(), route, {});
      if (access) operation['x-required-scope'] = access.action;
      const responses = operation.responses as Record<string, unknown>;
      responses['401'] ??= error('unauthenticated: no valid bearer token');
      if (access)
        responses['403'] ??= error(
          `forbidden: the token lacks the ${access.action} scope, or the ACL hook refuses`,
        );
    }
  }
  return document;
};
