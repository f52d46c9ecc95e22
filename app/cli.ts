import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createConfluentRegistry } from '../connectors/registry/confluent.ts';
import { isLogfrontError } from '../core/errors.ts';
import { createCatalog } from '../core/event-types.ts';
import { type Authenticator, clientToken, createAuthenticator, DEV_KEY_FILE, makeDevKey } from './auth.ts';
import { BulkAppendFailed, bulkAppend, parseNdjson } from './bulk-append.ts';
import { ApiError, type Client, createClient, type DeadLetterJson, type ReadQuery } from './client.ts';
import { createLogfront } from './compose.ts';
import { type Config, loadConfig } from './config.ts';
import type { Domain } from './domain.ts';
import { createHttpServer } from './http.ts';
import { createProgress, type ProgressSink, renderProgress } from './progress.ts';
import { formatTable } from './table.ts';
import { loadDomain } from './user-config.ts';

export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
  env: Record<string, string | undefined>;
  /** resolves when the process is asked to stop (SIGINT/SIGTERM); long-running commands await it */
  untilStopped: () => Promise<void>;
  /** the event types and projections (default: logfront.config.ts in `cwd`, else the sample domain) */
  domain?: Domain;
  /** where logfront.config.ts is looked for (default: process.cwd()) */
  cwd?: string;
  /** all of standard input (append --file -) */
  stdin?: () => Promise<string>;
  /** stderr when it is a terminal: progress bars are redrawn there */
  tty?: ProgressSink['tty'];
}

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

class UsageError extends Error {}

const HELP: Record<string, string> = {
  '': `logfront — an event-sourced, stream-first data platform

Usage: logfront <command> [options]

Commands:
  demo                      run the embedded demo: append sample orders, read them back, exit
  dev [--data DIR] [--reset] [--port N] [--config FILE]
                            the embedded default as a server (no services needed)
  serve [--config FILE]     the HTTP API and projection runners against real services
  append <stream> <type> --data <json> [--expected-version N] [--id UUID]
  append [<stream>] --file FILE|- [--batch N]
                            bulk append of NDJSON events, with a progress bar
  get <projection> <key> [--max-staleness-ms N] [--after TOKEN] [--consistency strong] [--on-stale serve]
  list <projection> [--filter COLUMN=VALUE]… [--limit N] [--cursor C] [freshness options as get]
                            one page of rows (keyset pages; --cursor continues)
  projections               projection status: generation, state, lag, staleness, dead letters
  rebuild <projection>      blue/green rebuild with a progress bar
  dead-letters list <projection> [--state S] [--limit N] [--cursor C]
  dead-letters retry|skip <projection> <id>
  dead-letters skip <projection>
                            list a projection's dead letters, retry one after a fix, skip one;
                            skip without an id resumes a halted projection past the event it halted on
  schemas register|check    register the event schemas / check their compatibility without registering
  erase <subjectId> [--tenant T]
                            GDPR erase of a data subject: its sensitive fields become unreadable, its rows go
  infra up|down|status      start, stop, show the local real services (no Docker)

Every command takes --help; demo, append, get, projections, rebuild, dead-letters, erase, schemas and infra status take --json.
Client commands talk to LOGFRONT_URL (default http://127.0.0.1:7070).
dev, serve and schemas load your event types and projections from ./logfront.config.ts (or --config FILE,
LOGFRONT_CONFIG); without one they use the sample order domain. See docs/writing-projections.md.`,
  demo: 'Usage: logfront demo [--json]\n\nStarts logfront embedded (PGlite, in-process registry) on a free port, appends sample orders over HTTP,\nreads them back through the facade, prints them and exits 0.',
  dev: 'Usage: logfront dev [--data DIR] [--reset] [--port N] [--config FILE]\n\nRuns the embedded default as a long-running server. Data is kept in DIR (default ./.logfront);\n--reset deletes it first. Event types and projections come from ./logfront.config.ts (or --config FILE,\nLOGFRONT_CONFIG); without one, the sample order domain.',
  serve:
    'Usage: logfront serve [--config FILE]\n\nRuns the HTTP API and the projection runners against the services named by the environment\n(LOGFRONT_KAFKA_BROKERS, LOGFRONT_SCHEMA_REGISTRY_URL, LOGFRONT_DATABASE_URL, …). See docs/configuration.md.\nEvent types and projections come from ./logfront.config.ts (or --config FILE); see docs/writing-projections.md.',
  append:
    'Usage: logfront append <stream> <type> --data <json> [--expected-version N|no_stream|stream_exists|any] [--id UUID] [--json]\n       logfront append [<stream>] --file FILE|- [--batch N] [--json]\n\nAppends one event to a stream. With --file, appends NDJSON events from FILE (- for stdin), one\n{"stream", "type", "data", "id"?, "metadata"?} per line (lines without "stream" go to <stream>), in batches of\nat most N events per stream (default 100), four streams at a time, each stream in file order. Every line is\nparsed before anything is sent. A progress bar is drawn on a terminal (plain lines every 2 s otherwise, none\nwith --json). A refused batch stops the run, naming its line; batches before it stay appended. Give lines an\n"id" to make a re-run append nothing twice.',
  list: 'Usage: logfront list <projection> [--filter COLUMN=VALUE]… [--limit N] [--cursor C] [--max-staleness-ms N] [--after TOKEN] [--consistency strong] [--on-stale error|serve] [--json]\n\nReads one page of rows through the facade, ordered by key; equality filters on columns. Prints the\ncursor of the next page, if any: pass it as --cursor.',
  get: 'Usage: logfront get <projection> <key> [--max-staleness-ms N] [--after TOKEN] [--consistency strong] [--on-stale error|serve] [--json]\n\nReads one row through the facade.',
  rebuild:
    'Usage: logfront rebuild <projection> [--json]\n\nStarts a blue/green rebuild on the server and follows it with a progress bar (events/s, ETA) until\nthe new generation is active. The old generation serves reads until the switch.',
  schemas:
    "Usage: logfront schemas register|check [--json] [--config FILE]\n\nregister: registers every event type's JSON Schema under <prefix>.<EventType>, BACKWARD compatibility.\ncheck: asks the registry whether each schema is BACKWARD compatible with the registered one, without\nregistering; exits 1 naming each incompatible subject and why. Needs LOGFRONT_SCHEMA_REGISTRY_URL.",
  erase:
    'Usage: logfront erase <subjectId> [--tenant T] [--json]\n\nErases a data subject (GDPR) on the server: its data keys are destroyed, so the sensitive fields of its\nevents read as null everywhere (the log, dead letters, rebuilds), and the rows of projections that declare a\nsubject column are deleted. Written to the audit log as object.deleted. Tenant default: default. See docs/erasure.md.',
  'dead-letters':
    'Usage: logfront dead-letters list <projection> [--state pending|retried|skipped] [--limit N] [--cursor C] [--json]\n       logfront dead-letters retry <projection> <id> [--json]\n       logfront dead-letters skip <projection> [<id>] [--json]\n\nlist: one page of the dead letters of a projection, oldest first (--cursor continues).\nretry: applies the event again with the projection as the server runs it now (after a fix), exactly once;\nexits 1 naming the reason when it still fails (the letter stays pending).\nskip: marks the letter skipped; without an id, resumes a halted projection past the event it halted on.\nSee docs/runbooks.md#dead-letters.',
  projections:
    'Usage: logfront projections [--json]\n\nShows every projection with its generation, state, lag, staleness and dead letters.',
  infra:
    'Usage: logfront infra up|down|status [service…] [--json]\n\nStarts, stops or shows the local real services (Kafka, Schema Registry, Postgres, Redis, S3, Toxiproxy),\ninstalled from package registries, on 127.0.0.1. See docs/infra.md.',
};

const serveUntilStopped = async (
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
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.http.port;
  for (const line of banner(`http://${config.http.host}:${port}`)) io.out(line);
  await io.untilStopped();
  await app.close();
  await lf.close();
  return 0;
};

const SAMPLE_ORDERS = [
  { orderId: 'A-1001', customerId: 'c-ada', items: [{ sku: 'book', qty: 2, priceCents: 1500 }] },
  { orderId: 'A-1002', customerId: 'c-bob', items: [{ sku: 'pen', qty: 10, priceCents: 120 }] },
  {
    orderId: 'A-1003',
    customerId: 'c-ada',
    items: [
      { sku: 'lamp', qty: 1, priceCents: 4999 },
      { sku: 'bulb', qty: 3, priceCents: 299 },
    ],
  },
  { orderId: 'A-1004', customerId: 'c-cyd', items: [{ sku: 'mug', qty: 4, priceCents: 850 }] },
  { orderId: 'A-1005', customerId: 'c-dan', items: [{ sku: 'desk', qty: 1, priceCents: 24900 }] },
];

/** the demo's authentication: its own key, nothing from the environment */
const tokensOnly = {
  mode: 'tokens',
  apiKeysFile: undefined,
  jwtSecret: undefined,
  jwksFile: undefined,
} as const;

const demo = async (io: Io, json: boolean) => {
  const config = loadConfig({
    ...io.env,
    LOGFRONT_MODE: 'embedded',
    LOGFRONT_DATA_DIR: ':memory:',
    LOGFRONT_PORT: '0',
    LOGFRONT_LOG_LEVEL: io.env.LOGFRONT_LOG_LEVEL ?? 'warn',
  });
  const started = Date.now();
  const lf = await createLogfront(config);
  await lf.startRunners();
  const key = makeDevKey(undefined);
  const app = createHttpServer(lf, { authenticator: createAuthenticator(tokensOnly, [key.entry]) });
  try {
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const client = createClient(url, key.token);
    const positions: string[] = [];
    for (const o of SAMPLE_ORDERS) {
      const totalCents = o.items.reduce((n, i) => n + i.qty * i.priceCents, 0);
      const placed = await client.append(
        `order-${o.orderId}`,
        [{ type: 'OrderPlaced', data: { ...o, customerEmail: `${o.customerId}@example.com`, totalCents } }],
        'no_stream',
      );
      positions.push(placed.position);
    }
    positions.push(
      (
        await client.append(
          'order-A-1002',
          [{ type: 'OrderShipped', data: { orderId: 'A-1002', carrier: 'DHL' } }],
          1,
        )
      ).position,
    );
    positions.push(
      (
        await client.append(
          'order-A-1004',
          [{ type: 'OrderCancelled', data: { orderId: 'A-1004', reason: 'changed mind' } }],
          1,
        )
      ).position,
    );
    const rows = [];
    for (const o of SAMPLE_ORDERS) {
      const stream = `order-${o.orderId}`;
      const after = positions[SAMPLE_ORDERS.indexOf(o)];
      // read-your-writes: wait for the append's position, at most 5 s
      const r = await client.get('orders', o.orderId, { after: after!, maxStalenessMs: 5000 });
      rows.push({ stream, ...r.data, source: r.meta.source, stalenessMs: r.meta.stalenessMs });
    }
    const last = await client.get('orders', 'A-1004', { after: positions.at(-1)!, maxStalenessMs: 5000 });
    rows[3] = { ...rows[3], ...last.data };
    if (json) io.out(JSON.stringify({ orders: rows }));
    else {
      io.out(`logfront demo — embedded log and projections (PGlite), API at ${url}`);
      io.out(
        `appended ${positions.length} events to ${SAMPLE_ORDERS.length} streams; read back through the facade:\n`,
      );
      io.out(
        formatTable(rows, [
          'orderId',
          'customerId',
          'status',
          'itemCount',
          'totalCents',
          'version',
          'source',
          'stalenessMs',
        ]),
      );
      io.out(
        `\ndone in ${Date.now() - started} ms. Next: npx logfront dev, then see docs/getting-started.md`,
      );
    }
    return 0;
  } finally {
    await app.close();
    await lf.close();
  }
};

const runInfra = (args: string[], io: Io) =>
  new Promise<number>((resolve) => {
    const child = spawn('bash', [join(ROOT, 'infra', 'infra.sh'), ...args], {
      env: { ...io.env } as NodeJS.ProcessEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (d: Buffer) => {
      for (const line of d.toString('utf8').split('\n')) if (line) io.out(line);
    });
    child.stderr.on('data', (d: Buffer) => {
      for (const line of d.toString('utf8').split('\n')) if (line) io.err(line);
    });
    child.on('error', (e) => {
      io.err(`logfront: cannot run infra/infra.sh: ${e.message}`);
      resolve(1);
    });
    child.on('close', (code) => resolve(code ?? 1));
  });

/** `orders → g2 [########------------] 40% 12,000/30,000 events, 8,000 events/s, ETA 2 s` */
export const progressLine = (
  name: string,
  generation: number,
  applied: number,
  total: number,
  elapsedMs: number,
) => renderProgress({ label: `${name} → g${generation}`, done: applied, total, elapsedMs });

const BULK_BATCH_BYTES = 512 * 1024;

/** append --file: NDJSON events from a file or stdin, in batches per stream, with a progress bar */
const appendFile = async (
  io: Io,
  client: Client,
  file: string,
  stream: string | undefined,
  options: { json: boolean; batch: number },
) => {
  const source = file === '-' ? 'stdin' : file;
  let text: string;
  try {
    text = file === '-' ? await (io.stdin ?? (() => Promise.resolve('')))() : readFileSync(file, 'utf8');
  } catch (error) {
    throw new BulkAppendFailed(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
  const events = parseNdjson(text, source, stream);
  const progress = createProgress(options.json ? {} : { tty: io.tty, line: io.err }, {
    label: source,
    total: events.length,
  });
  let r: Awaited<ReturnType<typeof bulkAppend>>;
  try {
    r = await bulkAppend(client, events, {
      batchEvents: options.batch,
      batchBytes: BULK_BATCH_BYTES,
      concurrency: 4,
      progress,
    });
  } catch (error) {
    if (error instanceof BulkAppendFailed) throw new BulkAppendFailed(`${source}: ${error.message}`);
    throw error;
  }
  const rate = r.seconds > 0 ? Math.round(r.events / r.seconds) : r.events;
  io.out(
    options.json
      ? JSON.stringify(r)
      : `appended ${r.events.toLocaleString('en-US')} events to ${r.streams} streams in ${r.batches} batches, ${r.seconds} s (${rate.toLocaleString('en-US')} events/s)`,
  );
  return 0;
};

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

const parseValue = (raw: string) => {
  if (/^\d+$/.test(raw)) return Number(raw);
  return raw;
};

export const main = async (argv: string[], io: Io): Promise<number> => {
  const [command = '', ...rest] = argv;
  if (command === '' || command === '--help' || command === '-h' || command === 'help') {
    io.out(HELP['']!);
    return command === '' ? 2 : 0;
  }
  if (!(command in HELP)) {
    io.err(`logfront: unknown command "${command}"; run logfront --help`);
    return 2;
  }
  try {
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      strict: true,
      options: {
        help: { type: 'boolean', short: 'h' },
        json: { type: 'boolean' },
        data: { type: 'string' },
        reset: { type: 'boolean' },
        port: { type: 'string' },
        id: { type: 'string' },
        'expected-version': { type: 'string' },
        'max-staleness-ms': { type: 'string' },
        filter: { type: 'string', multiple: true },
        limit: { type: 'string' },
        cursor: { type: 'string' },
        after: { type: 'string' },
        consistency: { type: 'string' },
        'on-stale': { type: 'string' },
        url: { type: 'string' },
        config: { type: 'string' },
        file: { type: 'string', short: 'f' },
        tenant: { type: 'string' },
        batch: { type: 'string' },
        state: { type: 'string' },
      },
    });
    if (values.help) {
      io.out(HELP[command]!);
      return 0;
    }
    const json = values.json === true;
    const config = () => loadConfig({ ...io.env, ...(values.url ? { LOGFRONT_URL: values.url } : {}) });
    const client = () => {
      const c = config();
      return createClient(c.http.url, clientToken(c));
    };
    // the user's logfront.config.ts (--config, LOGFRONT_CONFIG), else the sample domain
    const domain = async (cfg: Config) =>
      io.domain
        ? { domain: io.domain, file: null }
        : await loadDomain(io.cwd ?? process.cwd(), values.config ?? cfg.configFile);
    const need = (n: number, what: string) => {
      if (positionals.length !== n)
        throw new UsageError(`${command} takes ${what}; see logfront ${command} --help`);
    };
    // the read options of get and list, as the server takes them (it checks their values)
    const readQuery = (): ReadQuery => {
      const max = values['max-staleness-ms'];
      if (max !== undefined && !/^\d+$/.test(max))
        throw new UsageError('--max-staleness-ms takes a whole number of ms');
      return {
        ...(max !== undefined ? { maxStalenessMs: Number(max) } : {}),
        ...(values.after ? { after: values.after } : {}),
        ...(values.consistency ? { consistency: values.consistency as ReadQuery['consistency'] } : {}),
        ...(values['on-stale'] ? { onStale: values['on-stale'] as ReadQuery['onStale'] } : {}),
      };
    };
    switch (command) {
      case 'demo':
        need(0, 'no arguments');
        return await demo(io, json);
      case 'dev': {
        need(0, 'no arguments');
        const dataDir = values.data ?? io.env.LOGFRONT_DATA_DIR ?? './.logfront';
        if (values.reset) rmSync(dataDir, { recursive: true, force: true });
        const cfg = loadConfig({
          ...io.env,
          LOGFRONT_MODE: 'embedded',
          LOGFRONT_DATA_DIR: dataDir,
          ...(values.port ? { LOGFRONT_PORT: values.port } : {}),
        });
        const user = await domain(cfg);
        // with no authentication configured, dev makes a key of its own: every scope, the default tenant
        mkdirSync(dataDir, { recursive: true, mode: 0o700 });
        const key = cfg.auth.mode === 'none' ? undefined : makeDevKey(dataDir);
        const authenticator =
          cfg.auth.mode === 'none'
            ? createAuthenticator(cfg.auth)
            : createAuthenticator({ ...cfg.auth, mode: 'tokens' }, key ? [key.entry] : []);
        return await serveUntilStopped(
          cfg,
          user.domain,
          io,
          (url) => [
            `logfront dev — embedded, data in ${dataDir}${values.reset ? ' (reset)' : ''}`,
            `listening on ${url}`,
            ...(key
              ? [`dev key: ${key.token}`, `  (the CLI reads it from ${join(dataDir, DEV_KEY_FILE)})`]
              : []),
            ...(user.file
              ? userDomainHints(user.file, user.domain, url, key?.token)
              : sampleHints(url, key?.token)),
          ],
          authenticator,
        );
      }
      case 'serve': {
        need(0, 'no arguments');
        const cfg = loadConfig({ ...io.env, LOGFRONT_MODE: 'services' });
        const user = await domain(cfg);
        return await serveUntilStopped(cfg, user.domain, io, (url) => [
          `logfront serving on ${url}${user.file ? ` with ${user.file}` : ''}`,
        ]);
      }
      case 'append': {
        if (values.file !== undefined) {
          if (positionals.length > 1 || values.data !== undefined || values['expected-version'] || values.id)
            throw new UsageError(
              'append --file takes at most a <stream> (the default for lines without one)',
            );
          const batch = values.batch ?? '100';
          if (!/^\d+$/.test(batch) || Number(batch) < 1 || Number(batch) > 100_000)
            throw new UsageError('--batch takes a whole number of events from 1 to 100000');
          return await appendFile(io, client(), values.file, positionals[0], {
            json,
            batch: Number(batch),
          });
        }
        need(2, '<stream> <type>');
        if (values.data === undefined) throw new UsageError('append needs --data <json>');
        let data: unknown;
        try {
          data = JSON.parse(values.data);
        } catch {
          throw new UsageError('--data is not valid JSON');
        }
        const event: Record<string, unknown> = { type: positionals[1], data };
        if (values.id) event.id = values.id;
        const expected = values['expected-version'];
        const r = await client().append(
          positionals[0]!,
          [event],
          expected === undefined ? undefined : parseValue(expected),
        );
        io.out(
          json
            ? JSON.stringify(r)
            : `appended ${r.stream} v${r.fromVersion}..v${r.toVersion} at ${r.position}`,
        );
        return 0;
      }
      case 'get': {
        need(2, '<projection> <key>');
        const r = await client().get(positionals[0]!, positionals[1]!, readQuery());
        if (json) io.out(JSON.stringify(r));
        else {
          io.out(formatTable([r.data]));
          io.out(
            `\nsource ${r.meta.source}, staleness ${r.meta.stalenessMs} ms${r.meta.stale ? ' (stale)' : ''}`,
          );
        }
        return 0;
      }
      case 'list': {
        need(1, '<projection>');
        if (values.limit !== undefined && !/^\d+$/.test(values.limit))
          throw new UsageError('--limit takes a whole number of rows');
        const filters: Record<string, string> = {};
        for (const f of values.filter ?? []) {
          const eq = f.indexOf('=');
          if (eq < 1) throw new UsageError(`--filter takes COLUMN=VALUE, got "${f.slice(0, 80)}"`);
          filters[f.slice(0, eq)] = f.slice(eq + 1);
        }
        const r = await client().list(positionals[0]!, {
          ...readQuery(),
          ...(values.limit !== undefined ? { limit: Number(values.limit) } : {}),
          ...(values.cursor ? { cursor: values.cursor } : {}),
          filters,
        });
        if (json) io.out(JSON.stringify(r));
        else {
          io.out(r.items.length ? formatTable(r.items) : '(no rows)');
          io.out(
            `\n${r.items.length} rows, staleness ${String(r.meta.stalenessMs)} ms${r.meta.stale ? ' (stale)' : ''}${r.next ? `\nnext page: --cursor ${r.next}` : ''}`,
          );
        }
        return 0;
      }
      case 'projections': {
        need(0, 'no arguments');
        const r = await client().projections();
        io.out(
          json
            ? JSON.stringify(r)
            : formatTable(r.projections, [
                'name',
                'generation',
                'state',
                'lagEvents',
                'stalenessMs',
                'deadLettered',
              ]),
        );
        return 0;
      }
      case 'rebuild': {
        need(1, '<projection>');
        const api = client();
        const name = positionals[0]!;
        const started = await api.rebuild(name);
        const t0 = Date.now();
        // a bar redrawn on a terminal, a line per poll otherwise, nothing with --json
        const progress = createProgress(json ? {} : { tty: io.tty, line: io.out }, {
          label: `${name} → g${started.generation}`,
          total: 0,
          everyMs: 0,
        });
        for (;;) {
          await new Promise((r) => setTimeout(r, 500));
          const p = (await api.projections()).projections.find((x) => x.name === name)!;
          const r = p.rebuilding as { generation: number; appliedEvents: number; totalEvents: number } | null;
          if (r && r.generation === started.generation) {
            progress.update(r.appliedEvents, r.totalEvents);
            continue;
          }
          progress.finish();
          if (p.generation === started.generation) {
            const seconds = ((Date.now() - t0) / 1000).toFixed(1);
            io.out(
              json
                ? JSON.stringify({ ...started, seconds: Number(seconds) })
                : `${name}: generation ${started.generation} is active (${seconds} s)`,
            );
            return 0;
          }
          throw new Error(
            `the rebuild of ${name} stopped before the switch${p.lastError ? `: ${p.lastError}` : ''}`,
          );
        }
      }
      case 'dead-letters': {
        const [verb, projection, id] = positionals;
        const api = client();
        const show = (l: DeadLetterJson) =>
          json
            ? JSON.stringify(l)
            : `dead letter ${l.id} of ${l.projection}: ${l.state} (${l.type} ${l.stream}@${l.version})`;
        if (verb === 'list' && positionals.length === 2) {
          const r = await api.deadLetters(projection!, {
            ...(values.limit !== undefined ? { limit: Number(values.limit) } : {}),
            ...(values.cursor ? { cursor: values.cursor } : {}),
            ...(values.state ? { state: values.state } : {}),
          });
          if (json) io.out(JSON.stringify(r));
          else {
            io.out(
              r.items.length
                ? formatTable(r.items as unknown as Record<string, unknown>[], [
                    'id',
                    'state',
                    'kind',
                    'type',
                    'stream',
                    'version',
                    'recordedAt',
                    'reason',
                  ])
                : '(no dead letters)',
            );
            if (r.next) io.out(`next page: --cursor ${r.next}`);
          }
          return 0;
        }
        if ((verb === 'retry' || verb === 'skip') && positionals.length === 3) {
          io.out(show((await api.resolveDeadLetter(projection!, id!, verb)).deadLetter));
          return 0;
        }
        if (verb === 'skip' && positionals.length === 2) {
          const r = await api.resume(projection!);
          io.out(json ? JSON.stringify(r) : `${r.name} resumed past ${show(r.skipped)}`);
          return 0;
        }
        throw new UsageError(
          'dead-letters takes list <projection>, retry <projection> <id> or skip <projection> [<id>]',
        );
      }
      case 'erase': {
        need(1, '<subjectId>');
        const r = await client().erase(positionals[0]!, values.tenant);
        const rows = Object.entries(r.rowsDeleted)
          .map(([p, n]) => `${n} ${p} rows`)
          .join(', ');
        io.out(
          json
            ? JSON.stringify(r)
            : `erased subject ${r.subjectId} (tenant ${r.tenant}): ${r.keysDestroyed} data keys destroyed${rows ? `, ${rows} deleted` : ''}`,
        );
        return 0;
      }
      case 'schemas': {
        const [verb] = positionals;
        if (positionals.length !== 1 || (verb !== 'register' && verb !== 'check')) {
          throw new UsageError('schemas takes register or check');
        }
        const cfg = config();
        if (!cfg.schemaRegistryUrl) throw new UsageError('schemas needs LOGFRONT_SCHEMA_REGISTRY_URL');
        const registry = createConfluentRegistry(cfg.schemaRegistryUrl);
        const catalog = createCatalog((await domain(cfg)).domain.eventTypes, cfg.topicPrefix);
        const rows: Record<string, unknown>[] = [];
        for (const type of catalog.types.keys()) {
          const subject = catalog.subjectOf(type);
          const schema = catalog.jsonSchemaOf(type);
          if (verb === 'register') rows.push({ subject, id: await registry.register(subject, schema) });
          else {
            const r = await registry.check(subject, schema);
            rows.push({ subject, compatible: r.compatible, reasons: r.messages.join('; ') });
          }
        }
        io.out(json ? JSON.stringify({ subjects: rows }) : formatTable(rows));
        const broken = rows.filter((r) => r.compatible === false);
        for (const b of broken) io.err(`logfront: ${b.subject} is not BACKWARD compatible: ${b.reasons}`);
        return broken.length ? 1 : 0;
      }
      case 'infra': {
        const [verb, ...services] = positionals;
        if (!verb || !['up', 'down', 'status'].includes(verb))
          throw new UsageError('infra takes up, down or status');
        return await runInfra([verb, ...services, ...(json && verb === 'status' ? ['--json'] : [])], io);
      }
    }
    return 2;
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`logfront: ${(error as Error).message}`);
      return 2;
    }
    if (error instanceof ApiError) {
      io.err(`logfront: ${error.code}: ${error.message}`);
      return 1;
    }
    if (error instanceof BulkAppendFailed) {
      io.err(`logfront: ${error.message}`);
      return 1;
    }
    if (isLogfrontError(error)) {
      io.err(`logfront: ${error.code}: ${error.message}`);
      return 1;
    }
    io.err(`logfront: ${(error as Error).message ?? String(error)}`);
    return 1;
  }
};

export const runCli = async () => {
  // a reader that stops early (`| head`) is not an error
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') process.exit(0);
      throw error;
    });
  }
  let stop: () => void = () => {};
  const stopped = new Promise<void>((resolve) => {
    stop = resolve;
  });
  process.once('SIGINT', () => stop());
  process.once('SIGTERM', () => stop());
  const code = await main(process.argv.slice(2), {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    env: process.env,
    untilStopped: () => stopped,
    stdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
    tty: process.stderr.isTTY
      ? { write: (text) => process.stderr.write(text), columns: process.stderr.columns }
      : undefined,
  });
  process.exit(code);
};
