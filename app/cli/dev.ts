import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createAuthenticator, DEV_KEY_FILE, makeDevKey } from '../auth.ts';
import { loadConfig } from '../config.ts';
import type { Domain } from '../domain.ts';
import { serveUntilStopped } from './serve.ts';
import { configOption, defineCommand, need, userDomain } from './shared.ts';

const bearer = (token: string | undefined) => (token ? ` -H "authorization: Bearer ${token}"` : '');

const sampleHints = (url: string, token?: string) => [
  'try:',
  `  curl -X POST ${url}/v1/streams/order-1/events${bearer(token)} -H 'content-type: application/json' \\`,
  `    -d '{"events":[{"type":"OrderPlaced","data":{"orderId":"1","customerId":"c1","customerEmail":"c1@example.com","items":[{"sku":"book","qty":1,"priceCents":1500}],"totalCents":1500}}]}'`,
  `  curl${bearer(token)} '${url}/v1/projections/orders/rows/1?maxStalenessMs=1000'`,
];

const userDomainHints = (file: string, d: Domain, url: string, token?: string) => [
  `config: ${file}`,
  `event types: ${d.eventTypes.map((t) => t.name).join(', ')}`,
  `projections: ${d.projections.map((p) => p.name).join(', ') || '(none)'}`,
  `try: curl${bearer(token)} ${url}/v1/projections`,
];

export const dev = defineCommand({
  name: 'dev',
  usage: ['dev [--data DIR] [--reset] [--port N] [--config FILE]'],
  does: 'the embedded default as a server (no services needed)',
  help: 'Usage: logfront dev [--data DIR] [--reset] [--port N] [--config FILE]\n\nRuns the embedded default as a long-running server. Data is kept in DIR (default ./.logfront);\n--reset deletes it first. Event types and projections come from ./logfront.config.ts (or --config FILE,\nLOGFRONT_CONFIG); without one, the sample order domain.',
  options: {
    data: { type: 'string' },
    reset: { type: 'boolean' },
    port: { type: 'string' },
    ...configOption,
  },
  run: async ({ values, positionals }, io) => {
    need('dev', positionals, 0, 'no arguments');
    const dataDir = values.data ?? io.env.LOGFRONT_DATA_DIR ?? './.logfront';
    if (values.reset) rmSync(dataDir, { recursive: true, force: true });
    const config = loadConfig({
      ...io.env,
      LOGFRONT_MODE: 'embedded',
      LOGFRONT_DATA_DIR: dataDir,
      ...(values.port ? { LOGFRONT_PORT: values.port } : {}),
    });
    const user = await userDomain(io, config, values.config);
    // with no authentication configured, dev makes a key of its own: every scope, the default tenant
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const key = config.auth.mode === 'none' ? undefined : makeDevKey(dataDir);
    const authenticator = key
      ? createAuthenticator({ ...config.auth, mode: 'tokens' }, [key.entry])
      : createAuthenticator(config.auth);
    return await serveUntilStopped(
      config,
      user.domain,
      io,
      (url) => [
        `logfront dev — embedded, data in ${dataDir}${values.reset ? ' (reset)' : ''}`,
        `listening on ${url}`,
        ...(key ? [`dev key: ${key.token}`, `  (the CLI reads it from ${join(dataDir, DEV_KEY_FILE)})`] : []),
        ...(user.file
          ? userDomainHints(user.file, user.domain, url, key?.token)
          : sampleHints(url, key?.token)),
      ],
      authenticator,
    );
  },
});
