import type { AddressInfo } from 'node:net';
import { type Authenticator, createAuthenticator } from '../auth.ts';
import { createLogfront } from '../compose.ts';
import { type Config, loadConfig } from '../config.ts';
import type { Domain } from '../domain.ts';
import { createHttpServer } from '../http.ts';
import { stopTracing } from '../tracing.ts';
import { configOption, defineCommand, type Io, need, userDomain } from './shared.ts';

/** runs the API (and the runners, when configured) until the process is asked to stop; dev and serve */
export const serveUntilStopped = async (
  config: Config,
  domain: Domain,
  io: Io,
  banner: (url: string) => string[],
  authenticator: Authenticator = createAuthenticator(config.auth),
) => {
  const lf = await createLogfront(config, { domain });
  if (authenticator.mode === 'none') {
    lf.logger.warn('LOGFRONT_AUTH=none: anyone who reaches the port may append, read, rebuild and erase');
  }
  if (config.runners) await lf.startRunners();
  else if (config.streamIndex) await lf.startStreamIndex();
  const app = createHttpServer(lf, { authenticator });
  await app.listen({ host: config.http.host, port: config.http.port });
  // listening on a host and port (never a pipe), the server's address is an AddressInfo
  const { port } = app.server.address() as AddressInfo;
  for (const line of banner(`http://${config.http.host}:${port}`)) io.out(line);
  await io.untilStopped();
  await app.close();
  await lf.close();
  await stopTracing();
  return 0;
};

export const serve = defineCommand({
  name: 'serve',
  usage: ['serve [--config FILE]'],
  does: 'the HTTP API and projection runners against real services',
  help: 'Usage: logfront serve [--config FILE]\n\nRuns the HTTP API and the projection runners against the services named by the environment\n(LOGFRONT_KAFKA_BROKERS, LOGFRONT_SCHEMA_REGISTRY_URL, LOGFRONT_DATABASE_URL, …). See docs/configuration.md.\nEvent types and projections come from ./logfront.config.ts (or --config FILE); see docs/writing-projections.md.',
  options: { ...configOption },
  run: async ({ values, positionals }, io) => {
    need('serve', positionals, 0, 'no arguments');
    const config = loadConfig({ ...io.env, LOGFRONT_MODE: 'services' });
    const user = await userDomain(io, config, values.config);
    return await serveUntilStopped(config, user.domain, io, (url) => [
      `logfront serving on ${url}${user.file ? ` with ${user.file}` : ''}`,
    ]);
  },
});
