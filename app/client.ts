// A small HTTP client for the logfront API, used by the CLI and the examples.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly body: Record<string, unknown>,
  ) {
    super(message);
  }
}

export interface ReadQuery {
  maxStalenessMs?: number;
  after?: string;
  consistency?: 'eventual' | 'strong';
  onStale?: 'error' | 'serve';
}

/** a client of the HTTP API at `baseUrl`, sending `token` as its bearer token */
export const createClient = (baseUrl: string, token?: string) => {
  const base = baseUrl.replace(/\/+$/, '');
  const auth: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    let response: Response;
    try {
      response = await fetch(`${base}${path}`, {
        method,
        ...(body === undefined
          ? { headers: auth }
          : { body: JSON.stringify(body), headers: { ...auth, 'content-type': 'application/json' } }),
      });
    } catch (error) {
      throw new ApiError(
        0,
        'unreachable',
        `no logfront server answers at ${base} (${(error as Error).message})`,
        {},
      );
    }
    const text = await response.text();
    let parsed: Record<string, unknown> = {};
    try {
      parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      parsed = { message: text };
    }
    if (!response.ok) {
      throw new ApiError(
        response.status,
        String(parsed.error ?? 'http_error'),
        String(parsed.message ?? `HTTP ${response.status}`),
        parsed,
      );
    }
    return parsed as T;
  };
  const query = (q: Record<string, string | number | undefined>) => {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(q)) if (v !== undefined) params.set(k, String(v));
    const s = params.toString();
    return s ? `?${s}` : '';
  };
  return {
    append: (stream: string, events: unknown[], expectedVersion?: number | string) =>
      call<{ stream: string; fromVersion: number; toVersion: number; position: string }>(
        'POST',
        `/v1/streams/${encodeURIComponent(stream)}/events`,
        expectedVersion === undefined ? { events } : { events, expectedVersion },
      ),
    readStream: (stream: string, fromVersion = 1, limit = 100) =>
      call<{ events: Record<string, unknown>[]; nextVersion: number | null }>(
        'GET',
        `/v1/streams/${encodeURIComponent(stream)}/events${query({ fromVersion, limit })}`,
      ),
    get: (projection: string, key: string, q: ReadQuery = {}) =>
      call<{ data: Record<string, unknown>; meta: Record<string, unknown> }>(
        'GET',
        `/v1/projections/${encodeURIComponent(projection)}/rows/${encodeURIComponent(key)}${query({ ...q })}`,
      ),
    list: (
      projection: string,
      q: ReadQuery & { limit?: number; cursor?: string; filters?: Record<string, string> } = {},
    ) => {
      const { filters, ...rest } = q;
      return call<{ items: Record<string, unknown>[]; next: string | null; meta: Record<string, unknown> }>(
        'GET',
        `/v1/projections/${encodeURIComponent(projection)}/rows${query({ ...rest, ...filters })}`,
      );
    },
    projections: () => call<{ projections: Record<string, unknown>[] }>('GET', '/v1/projections'),
    rebuild: (projection: string) =>
      call<{ name: string; generation: number }>(
        'POST',
        `/v1/projections/${encodeURIComponent(projection)}/rebuild`,
      ),
    deadLetters: (projection: string, q: { limit?: number; cursor?: string; state?: string } = {}) =>
      call<{ items: DeadLetterJson[]; next: string | null }>(
        'GET',
        `/v1/projections/${encodeURIComponent(projection)}/dead-letters${query({ ...q })}`,
      ),
    resolveDeadLetter: (projection: string, id: string, action: 'retry' | 'skip') =>
      call<{ deadLetter: DeadLetterJson }>(
        'POST',
        `/v1/projections/${encodeURIComponent(projection)}/dead-letters/${encodeURIComponent(id)}/${action}`,
      ),
    resume: (projection: string) =>
      call<{ name: string; skipped: DeadLetterJson }>(
        'POST',
        `/v1/projections/${encodeURIComponent(projection)}/resume`,
      ),
    audit: (q: { since?: string; action?: string; limit?: number; cursor?: string; tenant?: string } = {}) =>
      call<{ items: AuditRecordJson[]; next: string | null }>('GET', `/v1/audit${query({ ...q })}`),
    ready: () => call<Record<string, unknown>>('GET', '/readyz'),
    erase: (subjectId: string, tenant?: string) =>
      call<{
        subjectId: string;
        tenant: string;
        erased: true;
        keysDestroyed: number;
        rowsDeleted: Record<string, number>;
        /** absent from servers older than blob erasure */
        blobsDeleted?: number;
      }>('DELETE', `/v1/subjects/${encodeURIComponent(subjectId)}${query({ tenant })}`),
  };
};

export type Client = ReturnType<typeof createClient>;

/** a dead letter as the API shows it */
export interface DeadLetterJson {
  id: string;
  projection: string;
  generation: number;
  position: string;
  stream: string;
  version: number;
  eventId: string;
  type: string;
  kind: string;
  reason: string;
  state: string;
  recordedAt: string;
  resolvedAt: string | null;
}

/** an audit record as the API shows it */
export interface AuditRecordJson {
  id: string;
  time: string;
  action: string;
  actor: string;
  tenant: string;
  resource: string;
  outcome: string;
  traceId: string | null;
  reason?: string;
  details?: Record<string, unknown>;
}
