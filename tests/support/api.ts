import type { FastifyInstance } from 'fastify';
import { createLogfront, type Logfront } from '../../app/compose.ts';
import type { Config } from '../../app/config.ts';
import { createHttpServer } from '../../app/http.ts';

export interface Api {
  lf: Logfront;
  app: FastifyInstance;
  url: string;
  request(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{
    status: number;
    body: Record<string, unknown>;
    headers: Headers;
  }>;
  close(): Promise<void>;
}

/** logfront with its HTTP API on a free port, projection runners started */
export const startApi = async (config: Config, options: { runners?: boolean } = {}): Promise<Api> => {
  const lf = await createLogfront(config);
  if (options.runners !== false) await lf.startRunners();
  const app = createHttpServer(lf);
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    lf,
    app,
    url,
    request: async (method, path, body, headers = {}) => {
      const raw = typeof body === 'string' || body === undefined ? body : JSON.stringify(body);
      const response = await fetch(`${url}${path}`, {
        method,
        headers: raw === undefined ? headers : { 'content-type': 'application/json', ...headers },
        ...(raw === undefined ? {} : { body: raw }),
      });
      const text = await response.text();
      return { status: response.status, body: text ? JSON.parse(text) : {}, headers: response.headers };
    },
    close: async () => {
      await app.close();
      await lf.close();
    },
  };
};
