// Who may do what (DESIGN §7, API.md "Authentication and tenants"): a request's bearer token names a
// principal, its tenant and its scopes; a route needs one scope; a deployment's `authorize` hook may
// refuse more, per stream category or projection.
import { createHash, timingSafeEqual } from 'node:crypto';
import { LogfrontError } from '../errors.ts';
import { TENANT_NAME } from './names.ts';

export const SCOPES = ['append', 'read', 'admin', 'erase', 'metrics'] as const;
export type Scope = (typeof SCOPES)[number];

/** the tenant of a single-tenant deployment, and of events appended without one */
export const DEFAULT_TENANT = 'default';

export interface Principal {
  /** the API key's id, or the JWT's `sub` */
  readonly id: string;
  readonly tenant: string;
  readonly scopes: ReadonlySet<Scope>;
}

/** what a request does to what: the scope it needs, and the resource (for the ACL hook and the audit) */
export interface Access {
  readonly action: Scope;
  readonly resource: { readonly kind: string; readonly name?: string; readonly category?: string };
}

/**
 * The ACL hook a deployment may give in logfront.config.ts: finer rules than the scopes (per stream
 * category, per projection). It runs after the scope check; false (or a reason) refuses with 403.
 */
export type Authorize = (
  principal: Principal,
  action: Scope,
  resource: Access['resource'],
) => boolean | string | Promise<boolean | string>;

export class Unauthenticated extends LogfrontError {
  readonly code = 'unauthenticated';
  readonly status = 401;
}

export class Forbidden extends LogfrontError {
  readonly code = 'forbidden';
  readonly status = 403;
}

/** a principal over its requests per minute: 429 with Retry-After */
export class RateLimited extends LogfrontError {
  readonly code = 'rate_limited';
  readonly status = 429;
  constructor(
    readonly principal: string,
    readonly perMinute: number,
    readonly retryAfterSeconds: number,
  ) {
    super(
      `${principal} made more than ${perMinute} requests in a minute; try again in ${retryAfterSeconds} s`,
    );
  }
}

/** a request whose Host header names a server this is not (DNS rebinding): 421 */
export class MisdirectedRequest extends LogfrontError {
  readonly code = 'misdirected_request';
  readonly status = 421;
}

/** the hostname of a Host header, lowercase, without its port */
export const hostnameOf = (host: string) => {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  return h.split(':')[0]!;
};

const LOOPBACK = ['localhost', '127.0.0.1', '[::1]', '::1'];

/**
 * the names a server answers to: the configured ones, else the loopback names when it listens on
 * loopback (so a page a browser loaded from elsewhere cannot reach it by DNS rebinding), else any (null)
 */
export const allowedHostnames = (
  configured: readonly string[],
  listenHost: string,
): ReadonlySet<string> | null => {
  if (configured.length) return new Set(configured.map(hostnameOf));
  return LOOPBACK.includes(listenHost.toLowerCase()) ? new Set(LOOPBACK) : null;
};

/** an API key as its file holds it: never the key, its SHA-256 */
export interface ApiKeyEntry {
  readonly id: string;
  readonly keySha256: string;
  readonly tenant: string;
  readonly scopes: readonly Scope[];
}

export const sha256Hex = (text: string) => createHash('sha256').update(text).digest('hex');

// what a tenant's name may be: core/security/names.ts holds the rule, for the erasure and appends too
export { TENANT_NAME } from './names.ts';

const HEX64 = /^[0-9a-f]{64}$/;

/** checks one entry of the API keys file; the message names what is wrong */
export const apiKeyEntry = (raw: unknown, at: string): ApiKeyEntry => {
  const o = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  if (typeof o.id !== 'string' || o.id.length === 0 || o.id.length > 200) {
    throw new Error(`${at}.id: a non-empty string of at most 200 characters`);
  }
  if (typeof o.keySha256 !== 'string' || !HEX64.test(o.keySha256)) {
    throw new Error(`${at}.keySha256: the SHA-256 of the key, 64 lowercase hex digits`);
  }
  const tenant = o.tenant ?? DEFAULT_TENANT;
  if (typeof tenant !== 'string' || !TENANT_NAME.test(tenant)) {
    throw new Error(`${at}.tenant: letters, digits, '.', '_' and '-', at most 64`);
  }
  if (!Array.isArray(o.scopes) || o.scopes.some((s) => !SCOPES.includes(s as Scope))) {
    throw new Error(`${at}.scopes: a list of ${SCOPES.join(', ')}`);
  }
  return { id: o.id, keySha256: o.keySha256, tenant, scopes: o.scopes as Scope[] };
};

/** the principal of an API key among `keys`, or undefined; compares hashes in constant time */
export const principalOfKey = (keys: readonly ApiKeyEntry[], token: string): Principal | undefined => {
  const hash = Buffer.from(sha256Hex(token), 'hex');
  let found: ApiKeyEntry | undefined;
  for (const k of keys) {
    if (timingSafeEqual(hash, Buffer.from(k.keySha256, 'hex'))) found = k;
  }
  return found && { id: found.id, tenant: found.tenant, scopes: new Set(found.scopes) };
};

/** the principal of verified JWT claims: `sub`, `tenant` (default: the default tenant), `scope` (space-separated) */
export const principalOfClaims = (claims: Record<string, unknown>): Principal => {
  if (typeof claims.sub !== 'string' || claims.sub.length === 0) {
    throw new Unauthenticated('the token has no subject (sub)');
  }
  const tenant = claims.tenant ?? DEFAULT_TENANT;
  if (typeof tenant !== 'string' || !TENANT_NAME.test(tenant)) {
    throw new Unauthenticated('the token names no valid tenant');
  }
  const scope = typeof claims.scope === 'string' ? claims.scope.split(' ') : [];
  return {
    id: claims.sub,
    tenant,
    scopes: new Set(scope.filter((s): s is Scope => SCOPES.includes(s as Scope))),
  };
};

/** the bearer token of an Authorization header, or undefined when there is none */
export const bearerToken = (authorization: string | undefined): string | undefined => {
  if (authorization === undefined) return undefined;
  const m = /^Bearer ([A-Za-z0-9._~+/=-]{1,4096})$/i.exec(authorization.trim());
  if (!m) throw new Unauthenticated('the Authorization header must be "Bearer <token>"');
  return m[1];
};
