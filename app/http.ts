import { maxHeaderSize, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import type { z } from 'zod';
import type { BlobRecord } from '../core/blobs/blobs.ts';
import { toJsonData } from '../core/blobs/bytes-json.ts';
import {
  isLogfrontError,
  NotFound,
  Overloaded,
  TooLarge,
  Unavailable,
  ValidationFailed,
} from '../core/errors.ts';
import { parseStreamId } from '../core/log/streams.ts';
import type { DeadLetterEntry } from '../core/ports.ts';
import type { ReadOptions } from '../core/read/facade.ts';
import { createLru } from '../core/read/lru.ts';
import { encodePosition } from '../core/read/positions.ts';
import { projectionSummaries } from '../core/read/status.ts';
import { type AuditActor, traceIdOf } from '../core/security/audit.ts';
import {
  type Access,
  allowedHostnames,
  DEFAULT_TENANT,
  Forbidden,
  hostnameOf,
  MisdirectedRequest,
  type Principal,
  RateLimited,
  Unauthenticated,
} from '../core/security/auth.ts';
import type { RecordedEvent, StreamId } from '../core/types.ts';
import { accessOf } from './access.ts';
import { type Authenticator, createAuthenticator } from './auth.ts';
import type { Logfront } from './compose.ts';
import { serverTimeouts } from './http-timeouts.ts';
import { installMetrics } from './metrics.ts';
import { openApiDocument } from './openapi.ts';
import {
  anonymousUrls,
  auditQuery,
  deadLetterQuery,
  erasureQuery,
  readOptions,
  routes,
  rowsPaging,
  serve,
  streamQuery,
} from './routes.ts';

/** what an Access names, as the audit log shows it: `stream/order-1`, `projection/orders`, `metrics` */
const resourceOf = (access: Access) =>
  access.resource.name === undefined
    ? access.resource.kind
    : `${access.resource.kind}/${access.resource.name}`;

const parse = <T>(schema: z.ZodType<T>, value: unknown, what: string): T => {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  throw new ValidationFailed(
    `invalid ${what}`,
    r.error.issues.map((i) => ({
      path: i.path.join('.') || (i.code === 'unrecognized_keys' ? i.keys.join(',') : ''),
      message: i.message,
    })),
  );
};

const cleanReadOptions = (o: z.infer<typeof readOptions>): ReadOptions => {
  const out: ReadOptions = {};
  if (o.maxStalenessMs !== undefined) out.maxStalenessMs = o.maxStalenessMs;
  if (o.after !== undefined) out.after = o.after;
  if (o.consistency !== undefined) out.consistency = o.consistency;
  if (o.onStale !== undefined) out.onStale = o.onStale;
  return out;
};

export const envelope = (e: RecordedEvent) => ({
  id: e.id,
  stream: e.stream,
  type: e.type,
  version: e.version,
  data: toJsonData(e.data),
  metadata: e.metadata,
  position: {
    topic: e.position.topic,
    partition: e.position.partition,
    offset: e.position.offset.toString(),
  },
  recordedAt: e.recordedAt,
  // a record that cannot be decoded or upcast: why, and its payload as stored (base64)
  ...(e.undecodable ? { undecodable: e.undecodable } : {}),
});

const deadLetterJson = (l: DeadLetterEntry) => ({
  id: l.id,
  projection: l.projection,
  generation: l.generation,
  position: encodePosition(l.position),
  stream: l.stream,
  version: l.version,
  eventId: l.eventId,
  type: l.type,
  kind: l.kind,
  reason: l.reason,
  state: l.state,
  recordedAt: l.recordedAt,
  resolvedAt: l.resolvedAt,
});

/**
 * The longest path segment routed, in characters once percent-decoded: stream ids reach 265 (category
 * 64, '-', id 200), subject ids 300 (core/security/names.ts), blob ids and row keys 200.
 */
const MAX_SEGMENT = 512;

/** the API's code for a refusal Fastify or Node's HTTP parser makes itself, by its status */
const REFUSALS: Readonly<Record<number, string>> = {
  400: 'bad_request',
  404: 'not_found',
  408: 'request_timeout',
  413: 'too_large',
  414: 'too_long',
  415: 'unsupported_media_type',
  417: 'expectation_failed',
  431: 'headers_too_large',
};

/** a refusal of Fastify's own (4xx) in the API's error shape */
const refusal = (error: FastifyError, status: number) => {
  if (error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
    return { error: 'invalid_json', message: error.message };
  }
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    return { error: 'too_long', message: `a path segment is over ${MAX_SEGMENT} characters` };
  }
  return { error: REFUSALS[status] ?? 'bad_request', message: error.message };
};

/**
 * What Node's HTTP parser refuses before Fastify sees a request (a malformed request line or header,
 * headers over the size limit, a request not received in time), in the API's error shape.
 */
const connectionRefusal = (error: Error & { code?: string; rawPacket?: unknown }) => {
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return { status: 408, message: 'the request was not received in time' };
  }
  if (error.code === 'HPE_HEADER_OVERFLOW') {
    // a request line that does not end within half the limit: the URL is what is too long
    const raw = error.rawPacket;
    const head = Buffer.isBuffer(raw) ? raw.subarray(0, maxHeaderSize).toString('latin1') : '';
    const lineEnd = head.indexOf('\r\n');
    const urlTooLong = /^[A-Z]+ /.test(head) && (lineEnd < 0 ? head.length : lineEnd) > maxHeaderSize / 2;
    return urlTooLong
      ? { status: 414, message: `the URL is over ${maxHeaderSize / 2} bytes` }
      : { status: 431, message: `the request line and headers are over ${maxHeaderSize} bytes` };
  }
  return { status: 400, message: `malformed HTTP request: ${error.message}` };
};

const answerOnSocket = (socket: Socket, status: number, body: { error: string; message: string }) => {
  const text = JSON.stringify(body);
  socket.write(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
  );
};

declare module 'fastify' {
  interface FastifyRequest {
    /** who sent the request (the anonymous principal when authentication is off) */
    principal: Principal;
  }
}

/**
 * An append's events carry the principal's tenant: a `metadata.tenant` that names another is a 403; an
 * event without one gets the principal's (none is written for the default tenant, as before).
 */
const withTenant = (body: unknown, tenant: string) => {
  const events = (body as { events?: unknown } | null)?.events;
  if (!Array.isArray(events)) return;
  for (const event of events) {
    if (typeof event !== 'object' || event === null) continue;
    const e = event as { metadata?: unknown };
    const metadata = e.metadata;
    if (typeof metadata === 'object' && metadata !== null && 'tenant' in metadata) {
      const given = (metadata as { tenant: unknown }).tenant;
      if (given !== tenant) {
        throw new Forbidden(`metadata.tenant names another tenant than the token's (${tenant})`);
      }
    } else if (tenant !== DEFAULT_TENANT) {
      if (metadata === undefined) e.metadata = { tenant };
      else if (typeof metadata === 'object' && metadata !== null && !Array.isArray(metadata)) {
        (metadata as Record<string, unknown>).tenant = tenant;
      }
    }
  }
};

/**
 * Requests per principal per minute (fixed one-minute windows): over `max`, 429 `rate_limited` with
 * Retry-After until the window ends. 0: no limit. Principals are the configured keys and valid tokens,
 * so the table stays small; windows over are dropped as it grows.
 */
const createRateLimiter = (max: number) => {
  const windows = new Map<string, { startedAt: number; count: number }>();
  return {
    take: (principal: string, now = Date.now()) => {
      if (max <= 0) return;
      let w = windows.get(principal);
      if (!w || now - w.startedAt >= 60_000) {
        if (windows.size > 10_000) {
          for (const [k, v] of windows) if (now - v.startedAt >= 60_000) windows.delete(k);
        }
        w = { startedAt: now, count: 0 };
        windows.set(principal, w);
      }
      w.count += 1;
      if (w.count > max)
        throw new RateLimited(principal, max, Math.ceil((w.startedAt + 60_000 - now) / 1000));
    },
  };
};

/** aborted when the client goes away before its answer is sent: a waiting read then stops waiting */
const untilDisconnected = (reply: FastifyReply) => {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  return controller.signal;
};

/** who sent a request, for the audit trail */
const actorOf = (request: FastifyRequest): AuditActor => ({
  actor: request.principal.id,
  tenant: request.principal.tenant,
  traceId: traceIdOf(request.headers.traceparent),
});

/** The HTTP API of API.md over the services of one Logfront. */
export const createHttpServer = (
  lf: Logfront,
  options: { authenticator?: Authenticator } = {},
): FastifyInstance => {
  // a server nobody chose to open is not opened: ConfigError naming LOGFRONT_AUTH
  const auth = options.authenticator ?? createAuthenticator(lf.config.auth);
  const hosts = allowedHostnames(lf.config.http.allowedHosts, lf.config.http.host);
  const limiter = createRateLimiter(lf.config.http.rateLimitPerMinute);
  // access decisions go to the audit trail, best effort: they never fail or slow a request down
  const audit = lf.audit;
  const timeouts = serverTimeouts(lf.config.http.timeouts);
  const app = Fastify({
    loggerInstance: lf.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: lf.config.limits.maxAppendBytes * 2 + 64 * 1024,
    routerOptions: { maxParamLength: MAX_SEGMENT },
    // slow clients are cut off (slowloris, a slow upload, a connection left idle): app/http-timeouts.ts
    ...timeouts,
    // a request without Host is refused below, in the API's error shape (Node's own 400 has no body)
    http: { ...timeouts.http, requireHostHeader: false },
    // the router's own refusals answer in the API's error shape
    frameworkErrors: (error, _request, reply) => {
      const status = error.statusCode ?? 400;
      if (status >= 500) {
        void (reply as FastifyReply).status(500).send({ error: 'internal', message: 'internal error' });
        return;
      }
      void (reply as FastifyReply).status(status).send(refusal(error, status));
    },
    // and so do Node's HTTP parser's
    clientErrorHandler: (error, socket) => {
      if (error.code === 'ECONNRESET' || socket.destroyed) return;
      const { status, message } = connectionRefusal(error);
      // a response already under way on this connection cannot be followed by another
      const current = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
      if (socket.writable && !current?.headersSent) {
        answerOnSocket(socket, status, { error: REFUSALS[status] ?? 'bad_request', message });
      }
      socket.destroy();
    },
    // a request that arrives while the server closes is answered below, in the API's error shape
    return503OnClosing: false,
  });

  app.decorateRequest('principal', null as unknown as Principal);
  app.decorate('metricsRegistry', installMetrics(app, lf));

  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  // Refusals every route shares: the server is closing; HTTP/1.1 without Host; a query parameter given
  // more than once (`?tenant=a&tenant=b` is neither a nor b: no route guesses which was meant)
  app.addHook('onRequest', async (request, reply) => {
    if (closing) {
      reply.header('connection', 'close');
      throw new Unavailable('the server is shutting down', 1);
    }
    if (request.raw.httpVersion === '1.1' && !request.headers.host) {
      throw Object.assign(new Error('an HTTP/1.1 request needs a Host header'), { statusCode: 400 });
    }
    const repeated = Object.entries(request.query as Record<string, unknown>)
      .filter(([, value]) => Array.isArray(value))
      .map(([name]) => name);
    if (repeated.length) {
      throw new ValidationFailed(
        'invalid query',
        repeated.map((name) => ({
          path: name,
          message: `query parameter "${name}" is given more than once`,
        })),
      );
    }
    // DNS rebinding: a page from elsewhere that resolves its own name to this server
    if (hosts && request.headers.host && !hosts.has(hostnameOf(request.headers.host))) {
      throw new MisdirectedRequest(
        `this server does not answer to ${request.headers.host.slice(0, 100)}; see LOGFRONT_ALLOWED_HOSTS`,
      );
    }
    // a cross-site form can POST text/plain without a preflight: state changes take JSON only
    const type = request.headers['content-type'];
    if (request.method === 'POST' && type !== undefined && !/^application\/json\s*(;|$)/i.test(type)) {
      throw Object.assign(new Error(`POST takes application/json, not ${type.slice(0, 100)}`), {
        statusCode: 415,
        code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE',
      });
    }
    const route = request.routeOptions.url;
    if (route !== undefined && anonymousUrls.has(route)) return;
    const access = accessOf(request.method, route, request.params as Record<string, string>);
    let principal: Principal;
    try {
      principal = await auth.authenticate(request.headers.authorization);
    } catch (error) {
      if (error instanceof Unauthenticated) {
        audit.offer({
          actor: 'anonymous',
          tenant: DEFAULT_TENANT,
          traceId: traceIdOf(request.headers.traceparent),
          action: 'auth.failed',
          resource: `route/${request.method} ${route ?? request.url.split('?')[0]}`,
          outcome: 'failure',
          reason: error.message,
          details: { source: request.ip },
        });
        reply.header('www-authenticate', 'Bearer');
      }
      throw error;
    }
    request.principal = principal;
    if (auth.mode === 'tokens') limiter.take(principal.id);
    if (!access) return;
    const denied = !principal.scopes.has(access.action)
      ? `the token lacks the ${access.action} scope`
      : await allowedByHook(principal, access);
    if (denied) {
      audit.offer({
        ...actorOf(request),
        action: 'acl.denied',
        resource: resourceOf(access),
        outcome: 'failure',
        reason: denied,
        details: { scope: access.action, source: request.ip },
      });
      throw new Forbidden(
        `${denied} (${access.action} on ${access.resource.kind}${access.resource.name ? ` ${access.resource.name.slice(0, 200)}` : ''})`,
      );
    }
  });
  // the tenant a read is confined to: the principal's; with LOGFRONT_AUTH=none, none (everything is seen)
  const tenantOf = (request: FastifyRequest): { tenant?: string } =>
    auth.mode === 'tokens' ? { tenant: request.principal.tenant } : {};
  // the deployment's ACL hook (logfront.config.ts `authorize`): false or a reason refuses
  const allowedByHook = async (principal: Principal, access: Access): Promise<string | undefined> => {
    if (!lf.domain.authorize) return undefined;
    const verdict = await lf.domain.authorize(principal, access.action, access.resource);
    if (verdict === true) return undefined;
    return typeof verdict === 'string' && verdict ? verdict : "the deployment's authorize hook refuses";
  };
  // `Expect` other than 100-continue: Node answers 417 itself, with no body
  app.server.on('checkExpectation', (request, response) => {
    const text = JSON.stringify({
      error: 'expectation_failed',
      message: `Expect: ${String(request.headers.expect).slice(0, 100)} is not supported`,
    });
    response.writeHead(417, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
      connection: 'close',
    });
    response.end(text);
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (isLogfrontError(error)) {
      if (error instanceof Unavailable || error instanceof RateLimited || error instanceof Overloaded) {
        reply.header('retry-after', String(error.retryAfterSeconds));
      }
      return reply
        .status(error.status)
        .send({ error: error.code, message: error.message, ...error.details() });
    }
    const status = error.statusCode ?? 500;
    if (status === 413) {
      return reply
        .status(413)
        .send({ error: 'too_large', message: `request body is over ${app.initialConfig.bodyLimit} bytes` });
    }
    if (status >= 400 && status < 500) return reply.status(status).send(refusal(error, status));
    // the route, never the URL: path parameters and the query name subjects, keys and filter values
    request.log.error(
      {
        err: error,
        method: request.method,
        route: request.routeOptions.url ?? null,
        traceId: traceIdOf(request.headers.traceparent),
      },
      'request failed',
    );
    return reply.status(500).send({ error: 'internal', message: 'internal error; see the server log' });
  });
  app.setNotFoundHandler((request, reply) =>
    reply
      .status(404)
      .send({ error: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}` }),
  );

  // Stream ids are one namespace: a stream is the tenant's that wrote its first event, for good. So a
  // stream's tenant, once seen, is remembered; a stream not made yet is looked up again next time.
  const streamTenants = createLru<string>(10_000, 3_600_000);
  const tenantOfStream = async (stream: StreamId) => {
    const known = streamTenants.get(stream);
    if (known !== undefined) return known;
    const [first] = await lf.log.readStream(stream, 1, 1);
    if (!first) return undefined;
    const tenant = first.metadata.tenant ?? DEFAULT_TENANT;
    streamTenants.set(stream, tenant);
    return tenant;
  };

  serve(app, routes.append, async (request, reply) => {
    // the append's deadline runs from the request's receipt: its body, the tenant check and the queue count
    const deadline = Date.now() - reply.elapsedTime + lf.config.limits.appendDeadlineMs;
    if (auth.mode === 'tokens') {
      withTenant(request.body, request.principal.tenant);
      // another tenant's stream does not exist for this principal: it may not be appended to either
      const stream = parseStreamId(request.params.stream);
      const owner = await tenantOfStream(stream);
      if (owner !== undefined && owner !== request.principal.tenant)
        throw new NotFound(`no stream ${stream}`);
    }
    const result = await lf.append.appendToStream(request.params.stream, request.body, { deadline });
    return reply.status(201).send(result);
  });

  serve(app, routes.readStream, async (request) => {
    const stream = parseStreamId(request.params.stream);
    const q = parse(streamQuery, request.query, 'query');
    const events = await lf.log.readStream(stream, q.fromVersion, q.limit);
    if (events.length === 0 && q.fromVersion === 1) throw new NotFound(`no stream ${stream}`);
    // another tenant's stream does not exist for this principal
    if (
      auth.mode === 'tokens' &&
      events.some((e) => (e.metadata.tenant ?? DEFAULT_TENANT) !== request.principal.tenant)
    ) {
      throw new NotFound(`no stream ${stream}`);
    }
    const last = events.at(-1);
    return {
      events: events.map(envelope),
      nextVersion: events.length === q.limit && last ? last.version + 1 : null,
    };
  });

  serve(app, routes.projections, async () => ({
    projections: await projectionSummaries(
      lf.store,
      lf.log,
      lf.domain.projections,
      undefined,
      lf.archiveHoles,
    ),
  }));

  serve(app, routes.rebuild, async (request, reply) => {
    const r = await lf.rebuild(request.params.name, actorOf(request));
    return reply.status(202).send({ name: request.params.name, generation: r.generation });
  });

  // dead letters (docs/runbooks.md#dead-letters): list, retry after a fix, skip; resume a halted projection
  serve(app, routes.deadLetters, async (request) => {
    const q = parse(deadLetterQuery, request.query, 'query');
    const page = await lf.deadLetters.list(request.params.name, q);
    return { items: page.items.map(deadLetterJson), next: page.next };
  });
  serve(app, routes.retryDeadLetter, async (request) => ({
    deadLetter: deadLetterJson(
      await lf.deadLetters.retry(request.params.name, request.params.id, actorOf(request)),
    ),
  }));
  serve(app, routes.skipDeadLetter, async (request) => ({
    deadLetter: deadLetterJson(
      await lf.deadLetters.skip(request.params.name, request.params.id, actorOf(request)),
    ),
  }));
  serve(app, routes.resume, async (request) => ({
    name: request.params.name,
    skipped: deadLetterJson(await lf.deadLetters.resume(request.params.name, actorOf(request))),
  }));

  // GDPR erasure (docs/erasure.md): the subject's data keys are destroyed, its projection rows deleted
  serve(app, routes.erase, async (request, reply) => {
    // an erasure acts on exactly what it was asked: a misspelt parameter is a 400, never the default tenant
    const query = parse(erasureQuery, request.query, 'query');
    if (auth.mode === 'tokens' && query.tenant !== undefined && query.tenant !== request.principal.tenant) {
      throw new Forbidden(`a principal of tenant ${request.principal.tenant} erases in its own tenant only`);
    }
    const r = await lf.erasure.erase(request.params.subjectId, {
      tenant: auth.mode === 'tokens' ? request.principal.tenant : query.tenant,
      actor: request.principal.id,
      traceId: traceIdOf(request.headers.traceparent),
    });
    return reply.status(202).send(r);
  });

  // the audit log (docs/security.md#the-audit-trail): a principal reads its own tenant's records
  serve(app, routes.audit, async (request) => {
    const query = parse(auditQuery, request.query, 'query');
    if (auth.mode === 'tokens' && query.tenant !== undefined && query.tenant !== request.principal.tenant) {
      throw new Forbidden(
        `a principal of tenant ${request.principal.tenant} reads its own tenant's audit records`,
      );
    }
    return lf.audit.query({
      ...query,
      tenant: auth.mode === 'tokens' ? request.principal.tenant : query.tenant,
    });
  });

  serve(app, routes.row, async (request, reply) => {
    const options = cleanReadOptions(parse(readOptions, request.query, 'query'));
    // another tenant's row is not found, as a missing one (docs/security.md#tenants)
    return lf.facade.get(request.params.name, request.params.key, {
      ...options,
      ...tenantOf(request),
      signal: untilDisconnected(reply),
    });
  });

  serve(app, routes.rows, async (request, reply) => {
    const { limit, cursor, maxStalenessMs, after, consistency, onStale, ...filters } =
      request.query as Record<string, string>;
    const options = cleanReadOptions(
      parse(readOptions, { maxStalenessMs, after, consistency, onStale }, 'query'),
    );
    const paging = parse(rowsPaging, { limit, cursor }, 'query');
    for (const [k, v] of Object.entries(filters)) {
      if (typeof v !== 'string')
        throw new ValidationFailed('invalid filter', [{ path: k, message: 'give a filter once' }]);
    }
    return lf.facade.list(request.params.name, {
      ...options,
      ...tenantOf(request),
      signal: untilDisconnected(reply),
      filters,
      limit: paging.limit,
      ...(paging.cursor ? { cursor: paging.cursor } : {}),
    });
  });

  // blobs: the body streams into chunk events as it arrives (never held whole); reads stream back verified
  const blobSubjectOf = (header: string | string[] | undefined) => {
    if (header === undefined) return undefined;
    try {
      return decodeURIComponent(String(header));
    } catch {
      throw new ValidationFailed('invalid subject', [
        { path: 'x-logfront-subject', message: 'percent-encoded UTF-8 (encodeURIComponent)' },
      ]);
    }
  };
  app.register(async (blobs) => {
    blobs.removeAllContentTypeParsers();
    blobs.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
    const service = () => {
      if (!lf.blobs)
        throw new Unavailable('no blob store: set LOGFRONT_S3_ENDPOINT and LOGFRONT_S3_BUCKET', 60);
      return lf.blobs;
    };
    serve(blobs, routes.putBlob, async (request, reply) => {
      const declared = Number(request.headers['content-length'] ?? Number.NaN);
      if (declared > lf.config.blobs.maxBytes) {
        throw new TooLarge(`blob larger than ${lf.config.blobs.maxBytes} bytes`, lf.config.blobs.maxBytes);
      }
      // the passthrough parser leaves the body unread: it is the request stream itself
      try {
        const r = await service().upload(
          request.params.blobId,
          request.headers['content-type'] ?? '',
          request.raw,
          {
            // the blob's data subject (docs/blobs.md#encryption-at-rest), percent-encoded like a path; it
            // is named in the uploader's tenant, whose blob it is (docs/security.md#tenants)
            subject: blobSubjectOf(request.headers['x-logfront-subject']),
            tenant: request.principal.tenant,
          },
        );
        return reply.status(201).send(r);
      } catch (error) {
        // the rest of the body is not wanted: discard it, and close the connection after the answer
        request.raw.resume();
        reply.raw.shouldKeepAlive = false;
        throw error;
      }
    });
    const headersOf = (reply: FastifyReply, record: BlobRecord) =>
      reply
        .header('content-type', record.contentType)
        .header('content-length', String(record.size))
        .header('x-logfront-sha256', record.sha256);
    // HEAD: the blob is stored (and its object is there, at its size); no bytes are read
    serve(blobs, routes.headBlob, async (request, reply) => {
      const options = cleanReadOptions(parse(readOptions, request.query, 'query'));
      const record = await service().stat(request.params.blobId, { ...options, ...tenantOf(request) });
      return headersOf(reply, record).send();
    });
    serve(
      blobs,
      routes.getBlob,
      async (request, reply) => {
        const options = cleanReadOptions(parse(readOptions, request.query, 'query'));
        const { record, body } = await service().read(request.params.blobId, {
          ...options,
          ...tenantOf(request),
        });
        // a mismatch found after the first byte ends the response abruptly: never a clean end of bad bytes
        body.on('error', (error) => {
          request.log.error({ err: error, blobId: record.blobId }, 'blob read ended');
          reply.raw.destroy(error);
        });
        return headersOf(reply, record).send(body);
      },
      { exposeHeadRoute: false },
    );
  });

  serve(app, routes.openapi, async () => openApiDocument(lf.domain));
  serve(app, routes.healthz, async () => ({ status: 'ok' }));
  serve(app, routes.readyz, async (_request, reply) => {
    const results = await Promise.all(
      lf.probes.map(async (p) => {
        try {
          await Promise.race([
            p.ping(),
            new Promise((_, reject) => setTimeout(() => reject(new Error('no answer in 3 s')), 3000).unref()),
          ]);
          return { name: p.name, ok: true, ...(p.optional ? { optional: true } : {}) };
        } catch (error) {
          return {
            name: p.name,
            ok: false,
            ...(p.optional ? { optional: true } : {}),
            error: error instanceof Error ? error.message : String(error),
          };
        }
      }),
    );
    // an optional dependency (the Redis cache) is reported, but logfront serves without it
    const failing = results.filter((r) => !r.ok && !r.optional);
    return reply.status(failing.length ? 503 : 200).send({
      status: failing.length ? 'unavailable' : 'ready',
      dependencies: results,
      ...(failing.length
        ? { error: 'unavailable', message: `not ready: ${failing.map((f) => f.name).join(', ')}` }
        : {}),
    });
  });

  return app;
};
