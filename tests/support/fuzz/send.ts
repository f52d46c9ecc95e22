// How the fuzzer talks to a server: node's http client for what it can send (with keep-alive, as a
// real client would), a bare socket for what it refuses to send (raw bytes in a path or a header,
// lying or repeated Content-Length, bare LF line ends, HTTP/1.0, …).
import http from 'node:http';
import net from 'node:net';

export interface Wire {
  method: string;
  /** the request target exactly as sent: already percent-encoded, or deliberately malformed */
  path: string;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
  /** send the body in two writes without a Content-Length (chunked transfer encoding) */
  chunked?: boolean;
  /** the whole request as bytes, written to a socket as they are (method, path, headers ignored) */
  raw?: Buffer;
  /** the request lies (it announces more body than it sends): the server may give no answer */
  mayGoUnanswered?: boolean;
}

export interface Answer {
  /** 0: no answer (see `failure`) */
  status: number;
  headers: Record<string, string>;
  body: string;
  ms: number;
  /** why there is no answer: a timeout, a reset, a closed connection */
  failure?: string;
  /** what else is known of it (for a HEAD: what the same request as a GET answered) */
  note?: string;
  /** how the request went: 'http' (node's client) or 'socket' (raw bytes) */
  via: 'http' | 'socket';
}

const flatHeaders = (headers: http.IncomingHttpHeaders) =>
  Object.fromEntries(
    Object.entries(headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : String(v ?? '')]),
  );

/** a minimal HTTP/1.x response parser over what a socket received; undefined while it is incomplete */
const parseResponse = (data: Buffer, complete: boolean): Omit<Answer, 'ms' | 'via'> | undefined => {
  let rest = data;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) return complete && rest.length ? garbled(rest) : undefined;
    const head = rest.subarray(0, end).toString('latin1').split('\r\n');
    const status = /^HTTP\/\d\.\d (\d{3})/.exec(head[0] ?? '');
    if (!status) return garbled(rest);
    const headers: Record<string, string> = {};
    for (const line of head.slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0) {
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
      }
    }
    const code = Number(status[1]);
    let body = rest.subarray(end + 4);
    // an interim answer (100 Continue) comes before the real one
    if (code >= 100 && code < 200) {
      rest = body;
      continue;
    }
    if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      if (body.length < length) return complete ? { ...cut(code, headers, body) } : undefined;
      body = body.subarray(0, length);
    } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const chunks: Buffer[] = [];
      let at = 0;
      for (;;) {
        const line = body.indexOf('\r\n', at);
        if (line < 0) return complete ? cut(code, headers, Buffer.concat(chunks)) : undefined;
        const size = Number.parseInt(body.subarray(at, line).toString('latin1'), 16);
        if (Number.isNaN(size)) return garbled(rest);
        if (size === 0) break;
        if (body.length < line + 2 + size)
          return complete ? cut(code, headers, Buffer.concat(chunks)) : undefined;
        chunks.push(body.subarray(line + 2, line + 2 + size));
        at = line + 2 + size + 2;
      }
      body = Buffer.concat(chunks);
    } else if (!complete && code !== 204 && code !== 304) {
      return undefined; // the body runs until the connection closes
    }
    return { status: code, headers, body: body.toString('utf8') };
  }
};

const garbled = (data: Buffer) => ({
  status: 0,
  headers: {},
  body: data.subarray(0, 500).toString('latin1'),
  failure: 'an answer that is not HTTP',
});
const cut = (status: number, headers: Record<string, string>, body: Buffer) => ({
  status,
  headers,
  body: body.toString('utf8'),
  failure: 'the connection closed inside the answer',
});

export interface Sender {
  send(wire: Wire, timeoutMs: number): Promise<Answer>;
  close(): void;
}

/** the request a kept-alive connection carried last, and its answer */
export interface Carried {
  wire: Wire;
  answer: Answer;
}

/**
 * `onDropped`: the server closed a kept-alive connection after answering `last` without saying so
 * (no `Connection: close`), and the next request on it failed; that request is sent again on a
 * connection of its own
 */
export const createSender = (
  baseUrl: string,
  concurrency: number,
  onDropped: (last: Carried) => void = () => {},
): Sender => {
  const { hostname, port } = new URL(baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const carried = new WeakMap<object, Carried>();

  const viaSocket = (raw: Buffer, timeoutMs: number) =>
    new Promise<Answer>((resolve) => {
      const started = performance.now();
      const chunks: Buffer[] = [];
      let settled = false;
      const socket = net.connect({ host: hostname, port: Number(port) });
      const settle = (failure?: string) => {
        if (settled) return;
        settled = true;
        socket.destroy();
        const answer = parseResponse(Buffer.concat(chunks), true) ?? {
          status: 0,
          headers: {},
          body: '',
          failure: failure ?? 'the server closed the connection without an answer',
        };
        resolve({ ...answer, ms: performance.now() - started, via: 'socket' });
      };
      socket.setTimeout(timeoutMs, () => settle(`no answer within ${timeoutMs} ms`));
      socket.on('connect', () => socket.write(raw));
      socket.on('data', (chunk) => {
        chunks.push(chunk);
        const answer = parseResponse(Buffer.concat(chunks), false);
        if (answer) settle();
      });
      socket.on('error', (error) => settle(`socket error: ${error.message}`));
      socket.on('close', () => settle());
    });

  /** the request as bytes, for what node's client refuses to send */
  const rawOf = (wire: Wire) => {
    const body = wire.body === undefined ? Buffer.alloc(0) : Buffer.from(wire.body);
    const headers = Object.entries(wire.headers ?? {}).flatMap(([k, v]) =>
      (Array.isArray(v) ? v : [v]).map((x) => `${k}: ${x}\r\n`),
    );
    const names = Object.keys(wire.headers ?? {}).map((k) => k.toLowerCase());
    const head =
      `${wire.method} ${wire.path} HTTP/1.1\r\n` +
      (names.includes('host') ? '' : `host: ${hostname}:${port}\r\n`) +
      headers.join('') +
      (names.includes('content-length') || !body.length ? '' : `content-length: ${body.length}\r\n`) +
      'connection: close\r\n\r\n';
    return Buffer.concat([Buffer.from(head, 'utf8'), body]);
  };

  const viaHttp = (wire: Wire, timeoutMs: number, fresh = false): Promise<Answer> =>
    new Promise<Answer>((resolve) => {
      const started = performance.now();
      let settled = false;
      let socket: object | undefined;
      let before: Carried | undefined;
      const settle = (answer: Omit<Answer, 'ms' | 'via'>) => {
        if (settled) return;
        settled = true;
        const done = { ...answer, ms: performance.now() - started, via: 'http' as const };
        if (socket) carried.set(socket, { wire, answer: done });
        resolve(done);
      };
      let request: http.ClientRequest;
      try {
        request = http.request(
          {
            host: hostname,
            port,
            method: wire.method,
            path: wire.path,
            headers: wire.headers,
            agent: fresh ? false : agent,
            setHost: !Object.keys(wire.headers ?? {}).some((k) => k.toLowerCase() === 'host'),
          },
          (response) => {
            const headers = flatHeaders(response.headers);
            // a subscription would stream for ever: its status and headers are the answer
            if ((headers['content-type'] ?? '').startsWith('text/event-stream')) {
              settle({ status: response.statusCode ?? 0, headers, body: '' });
              response.destroy();
              return;
            }
            const chunks: Buffer[] = [];
            response.on('data', (c: Buffer) => chunks.push(c));
            response.on('end', () =>
              settle({
                status: response.statusCode ?? 0,
                headers,
                body: Buffer.concat(chunks).toString('utf8'),
              }),
            );
            response.on('error', (error) =>
              settle({
                status: response.statusCode ?? 0,
                headers,
                body: Buffer.concat(chunks).toString('utf8'),
                failure: `the answer broke off: ${error.message}`,
              }),
            );
          },
        );
      } catch {
        // node's client will not send this (a raw byte in the path or a header): the socket will
        viaSocket(rawOf(wire), timeoutMs).then(resolve);
        settled = true;
        return;
      }
      request.setTimeout(timeoutMs, () => {
        request.destroy(new Error(`no answer within ${timeoutMs} ms`));
      });
      request.on('socket', (s) => {
        socket = s;
        before = carried.get(s);
      });
      request.on('error', (error: NodeJS.ErrnoException) => {
        // a kept-alive connection the server closed after its last answer (node's docs: send again):
        // the request never reached the server, so it goes again, once, on a connection of its own
        if (before && error.code === 'ECONNRESET' && !settled) {
          settled = true;
          onDropped(before);
          viaHttp(wire, timeoutMs, true).then(resolve);
          return;
        }
        settle({
          status: 0,
          headers: {},
          body: '',
          failure: `${error.message} (${error.code ?? 'no code'})`,
        });
      });
      if (wire.body === undefined) request.end();
      else if (wire.chunked) {
        const body = Buffer.from(wire.body);
        request.write(body.subarray(0, body.length >> 1));
        request.end(body.subarray(body.length >> 1));
      } else request.end(wire.body);
    });

  return {
    // one that lies about its length may never be answered: it is given up on after 1.5 s
    send: (wire, timeoutMs) =>
      wire.raw
        ? viaSocket(wire.raw, wire.mayGoUnanswered ? Math.min(timeoutMs, 1500) : timeoutMs)
        : viaHttp(wire, timeoutMs),
    close: () => agent.destroy(),
  };
};
