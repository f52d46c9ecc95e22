// The routes of the HTTP API, one entry each. The server registers every route from here (`serve`), and
// the OpenAPI document is generated from here (app/openapi.ts): the query parameters it shows are the keys
// of the very zod schemas the handlers parse the query with, so the two cannot drift apart.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { AUDIT_ACTIONS, AUDIT_LIMIT_DEFAULT, AUDIT_LIMIT_MAX } from '../core/security/audit.ts';
import { TENANT_NAME } from '../core/security/auth.ts';
import { DEAD_LETTERS_DEFAULT_LIMIT } from '../projections/dead-letters.ts';

/** the read options of a row, a list of rows and a blob */
export const readOptions = z
  .object({
    maxStalenessMs: z.coerce.number().int().min(0).max(3_600_000).optional().describe('staleness budget'),
    after: z.string().min(1).max(10_000).optional().describe('position token to wait for'),
    consistency: z.enum(['eventual', 'strong']).optional(),
    onStale: z.enum(['error', 'serve']).optional(),
  })
  .strict();

export const streamQuery = z
  .object({
    // a stream version is a 32-bit integer in every store
    fromVersion: z.coerce
      .number()
      .int()
      .min(1)
      .max(2 ** 31 - 1)
      .default(1),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
  })
  .strict();

/** a list of rows' paging; the query's other parameters are its read options and column filters */
export const rowsPaging = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().optional(),
});

export const deadLetterQuery = z
  .object({
    // the list applies the default and checks the cursor (projections/dead-letters.ts)
    limit: z.coerce.number().int().min(1).max(500).optional().meta({ default: DEAD_LETTERS_DEFAULT_LIMIT }),
    cursor: z.string().optional().describe('next of the previous page'),
    state: z.enum(['pending', 'retried', 'skipped']).optional(),
  })
  .strict();

export const erasureQuery = z
  .object({
    tenant: z
      .string()
      .regex(TENANT_NAME, 'a tenant name')
      .optional()
      .describe(
        "the subject's tenant, default: default; with tokens, the principal's own (another is a 403)",
      ),
  })
  .strict();

/**
 * The audit log's query. The audit trail checks the values (core/security/audit.ts) with its own messages, so the
 * zod schema takes any string; `meta` tells the document what the audit trail accepts.
 */
export const auditQuery = z
  .object({
    since: z
      .string()
      .optional()
      .meta({ format: 'date-time', description: 'records of actions at or after this time' }),
    action: z
      .string()
      .optional()
      .meta({ enum: [...AUDIT_ACTIONS] }),
    tenant: z
      .string()
      .optional()
      .describe("the principal's own (another is a 403); without authentication, a filter"),
    limit: z.coerce
      .number()
      .int()
      .min(1)
      .max(AUDIT_LIMIT_MAX)
      .optional()
      .meta({ default: AUDIT_LIMIT_DEFAULT }),
    cursor: z.string().optional().describe('next of the previous page (a position in the audit log)'),
  })
  .strict();

/** an OpenAPI response: what it means, and its body's schema by media type (none: no body) */
export interface Answer {
  readonly description: string;
  readonly content?: Readonly<Record<string, { readonly schema: object }>>;
}

export interface RouteSpec<Url extends string = string> {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'HEAD';
  /** in Fastify's form: `/v1/streams/:stream/events` */
  readonly url: Url;
  readonly summary: string;
  /** the zod schemas the handler parses `request.query` with: the document's query parameters are their keys */
  readonly query?: readonly z.ZodObject[];
  /** the request body as the document shows it: the core checks it by hand (core/log/append.ts, the blob store) */
  readonly body?: object;
  /** request headers the route reads (OpenAPI header parameters), checked by hand */
  readonly headers?: readonly object[];
  readonly responses: Readonly<Record<string, Answer>>;
  /** answered without a token: the probes */
  readonly anonymous?: boolean;
}

/** the path parameters of a Fastify URL: `/v1/projections/:name/rows/:key` has `name` and `key` */
export type ParamsOf<Url extends string> = Url extends `${string}:${infer Name}/${infer Rest}`
  ? { [K in Name]: string } & ParamsOf<Rest>
  : Url extends `${string}:${infer Name}`
    ? { [K in Name]: string }
    : unknown;

/** keeps the URL's literal type, so that a handler's `request.params` has the URL's parameters */
const route = <Url extends string>(spec: RouteSpec<Url>) => spec;

/** registers a route of the table under its method and URL: the ones the document shows */
export const serve = <Url extends string>(
  app: FastifyInstance,
  spec: RouteSpec<Url>,
  handler: (request: FastifyRequest<{ Params: ParamsOf<Url> }>, reply: FastifyReply) => Promise<unknown>,
  options: { exposeHeadRoute?: boolean } = {},
) => app.route<{ Params: ParamsOf<Url> }>({ method: spec.method, url: spec.url, ...options, handler });

export const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: object, description = 'OK'): Answer => ({
  description,
  content: { 'application/json': { schema } },
});
export const error = (description: string) => json(ref('Error'), description);
const bytes = { schema: { type: 'string', format: 'binary' } };

export const routes = {
  append: route({
    method: 'POST',
    url: '/v1/streams/:stream/events',
    summary: 'Append events to a stream',
    body: {
      required: true,
      content: {
        'application/json': {
          schema: {
            type: 'object',
            required: ['events'],
            additionalProperties: false,
            properties: {
              expectedVersion: {
                oneOf: [
                  { type: 'integer', minimum: 0 },
                  { type: 'string', enum: ['no_stream', 'stream_exists', 'any'] },
                ],
              },
              events: { type: 'array', minItems: 1, items: ref('Event') },
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
      '429': error("overloaded: the partition's append queue is full; Retry-After"),
      '503': error(
        'dependency_unavailable (Kafka, Postgres or the Schema Registry is down), append_timeout (not committed within LOGFRONT_APPEND_DEADLINE_MS; safe to retry with the same event ids) or unavailable; Retry-After',
      ),
    },
  }),
  readStream: route({
    method: 'GET',
    url: '/v1/streams/:stream/events',
    summary: 'Read a stream',
    query: [streamQuery],
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
  }),
  projections: route({
    method: 'GET',
    url: '/v1/projections',
    summary: 'Projection status',
    responses: {
      '200': json({
        type: 'object',
        properties: { projections: { type: 'array', items: ref('ProjectionStatus') } },
      }),
    },
  }),
  row: route({
    method: 'GET',
    url: '/v1/projections/:name/rows/:key',
    summary: 'Read one row through the facade',
    query: [readOptions],
    responses: {
      '200': json({ type: 'object', properties: { data: { type: 'object' }, meta: ref('ReadMeta') } }),
      '400': error('validation_failed'),
      '404': error('not_found'),
      '503': error('staleness_budget_exceeded'),
    },
  }),
  rows: route({
    method: 'GET',
    url: '/v1/projections/:name/rows',
    summary: 'List rows, keyset-paged, with equality filters on columns (?column=value)',
    query: [rowsPaging, readOptions],
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
  }),
  rebuild: route({
    method: 'POST',
    url: '/v1/projections/:name/rebuild',
    summary: 'Start a blue/green rebuild',
    responses: {
      '202': json(
        { type: 'object', properties: { name: { type: 'string' }, generation: { type: 'integer' } } },
        'Started',
      ),
      '404': error('not_found'),
      '409': error('conflict: a rebuild is running'),
    },
  }),
  deadLetters: route({
    method: 'GET',
    url: '/v1/projections/:name/dead-letters',
    summary: "A page of the projection's dead letters, oldest first",
    query: [deadLetterQuery],
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
  }),
  retryDeadLetter: route({
    method: 'POST',
    url: '/v1/projections/:name/dead-letters/:id/retry',
    summary: 'Apply a dead letter again with the handler as it is now; exactly once',
    responses: {
      '200': json({ type: 'object', properties: { deadLetter: ref('DeadLetter') } }),
      '404': error('not_found'),
      '409': error('conflict: resolved already, or of an inactive generation'),
      '422': error('dead_letter_still_failing'),
    },
  }),
  skipDeadLetter: route({
    method: 'POST',
    url: '/v1/projections/:name/dead-letters/:id/skip',
    summary: 'Mark a dead letter skipped',
    responses: {
      '200': json({ type: 'object', properties: { deadLetter: ref('DeadLetter') } }),
      '404': error('not_found'),
      '409': error('conflict: resolved already, or of an inactive generation'),
    },
  }),
  resume: route({
    method: 'POST',
    url: '/v1/projections/:name/resume',
    summary: 'Resume a halted projection past the event it halted on',
    responses: {
      '200': json({ type: 'object', properties: { name: { type: 'string' }, skipped: ref('DeadLetter') } }),
      '404': error('not_found'),
      '409': error('conflict: not halted'),
    },
  }),
  putBlob: route({
    method: 'PUT',
    url: '/v1/blobs/:blobId',
    summary:
      'Upload a blob: the body streams into chunk events and a commit on the log; the blob sink stores it in S3',
    body: { required: false, content: { '*/*': bytes } },
    headers: [
      {
        name: 'x-logfront-subject',
        in: 'header',
        required: false,
        description:
          'the data subject the blob is about, percent-encoded: erasing the subject deletes the blob, and its bytes are stored encrypted under the subject key',
        schema: { type: 'string' },
      },
    ],
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
  }),
  getBlob: route({
    method: 'GET',
    url: '/v1/blobs/:blobId',
    summary: 'Download a blob; the SHA-256 is verified as it streams',
    query: [readOptions],
    responses: {
      '200': { description: 'The bytes, with Content-Type and x-logfront-sha256', content: { '*/*': bytes } },
      '404': error('not_found'),
      '502': error('checksum_mismatch'),
      '503': error('staleness_budget_exceeded: after= not stored in time'),
    },
  }),
  headBlob: route({
    method: 'HEAD',
    url: '/v1/blobs/:blobId',
    summary: 'Whether a blob is stored (its object at its size), without reading the bytes',
    query: [readOptions],
    responses: {
      '200': { description: 'Stored: Content-Type, Content-Length and x-logfront-sha256, no body' },
      '404': { description: 'not_found' },
      '502': { description: 'checksum_mismatch: the object is missing or of another size' },
      '503': { description: 'staleness_budget_exceeded: after= not stored in time' },
    },
  }),
  erase: route({
    method: 'DELETE',
    url: '/v1/subjects/:subjectId',
    summary: 'Erase a data subject (GDPR): destroy its data keys, delete its projection rows',
    query: [erasureQuery],
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
  }),
  audit: route({
    method: 'GET',
    url: '/v1/audit',
    summary:
      "A page of the audit log, oldest first: the principal's tenant's records of access decisions, deletions, erasures and operator actions",
    query: [auditQuery],
    responses: {
      '200': json({
        type: 'object',
        properties: {
          items: { type: 'array', items: ref('AuditRecord') },
          next: {
            type: 'string',
            nullable: true,
            description: 'null at the end; a page may hold fewer than limit records and still have a next',
          },
        },
      }),
      '400': error('validation_failed (bad since, action, limit or cursor)'),
      '503': error('dependency_unavailable: the audit log cannot be read'),
    },
  }),
  healthz: route({
    method: 'GET',
    url: '/healthz',
    summary: 'The process runs',
    anonymous: true,
    responses: { '200': json({ type: 'object' }) },
  }),
  readyz: route({
    method: 'GET',
    url: '/readyz',
    summary: 'Dependencies answer',
    anonymous: true,
    responses: { '200': json({ type: 'object' }), '503': json({ type: 'object' }, 'Not ready') },
  }),
  metrics: route({
    method: 'GET',
    url: '/metrics',
    summary: 'Prometheus metrics',
    responses: {
      '200': {
        description: 'text/plain; version=0.0.4',
        content: { 'text/plain': { schema: { type: 'string' } } },
      },
    },
  }),
  openapi: route({
    method: 'GET',
    url: '/openapi.json',
    summary: 'This document',
    responses: { '200': json({ type: 'object' }) },
  }),
};

/** the URLs answered without a token */
export const anonymousUrls: ReadonlySet<string> = new Set(
  Object.values(routes)
    .filter((r) => r.anonymous)
    .map((r) => r.url),
);
