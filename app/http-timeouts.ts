// How long a client may take (docs/security.md "Limits"): Fastify's and Node's server options of
// LOGFRONT_HTTP_*_TIMEOUT_MS. A request that does not arrive in time is answered 408 (http.ts's
// clientErrorHandler) and its connection closed.
import type { HttpTimeouts } from './config.ts';

/**
 * Node looks for requests past their headers or request timeout only every `connectionsCheckingInterval`
 * (30 s by default): a slow client would hold its connection that much longer. At most every second here,
 * sooner for a short headers timeout; a check walks only the connections with a request under way.
 */
const checkingIntervalMs = (t: HttpTimeouts) => Math.max(50, Math.min(1000, Math.floor(t.headersMs / 2)));

/**
 * The server options of the timeouts. `requestTimeout` bounds receiving a request (its headers and body),
 * never the answer: a read waiting for `after=` has been received, so only the idle timeout (an answer
 * that sends nothing) can end it, and the config keeps that one longer than LOGFRONT_MAX_WAIT_MS.
 */
export const serverTimeouts = (t: HttpTimeouts) => ({
  requestTimeout: t.requestMs,
  connectionTimeout: t.idleMs,
  keepAliveTimeout: t.keepAliveMs,
  // Node's own options, given when it makes the server (it checks headersTimeout <= requestTimeout then)
  http: {
    headersTimeout: t.headersMs,
    requestTimeout: t.requestMs,
    connectionsCheckingInterval: checkingIntervalMs(t),
  },
});
