// A user's own event types and projections, loaded from `logfront.config.ts` (or a file named by
// --config / LOGFRONT_CONFIG). Without one, logfront runs the sample domain.
import { randomUUID } from 'node:crypto';
import { existsSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Plugin } from 'esbuild';
import { ConfigError } from '../core/errors.ts';
import type { EventType } from '../core/log/event-types.ts';
import type { Authorize } from '../core/security/auth.ts';
import type { ProjectionDefinition } from '../projections/define.ts';
import { type Domain, sampleDomain } from './domain.ts';

/** What a `logfront.config.ts` exports by default. */
export interface LogfrontConfig {
  /** every event type the deployment accepts (spread `sampleDomain.eventTypes` to keep the sample's) */
  readonly eventTypes: readonly EventType[];
  /** the projections it runs (default: none) */
  readonly projections?: readonly ProjectionDefinition[];
  /** finer access rules than the scopes (docs/security.md): true allows, false or a reason refuses */
  readonly authorize?: Authorize;
}

/** Types a config file; returns it unchanged. */
export const defineConfig = (config: LogfrontConfig): LogfrontConfig => config;

/** The file names looked for in the working directory, in this order. */
export const CONFIG_FILES = [
  'logfront.config.ts',
  'logfront.config.mts',
  'logfront.config.js',
  'logfront.config.mjs',
];

const SDK_KEY = Symbol.for('logfront.sdk');

const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim().slice(0, 500);

const fail = (file: string, message: string): never => {
  throw new ConfigError([{ path: file, message: oneLine(message) }]);
};

/** the config file to load: the one named, else the first of CONFIG_FILES in `cwd`, else none */
export const findConfigFile = (cwd: string, named: string | undefined): string | null => {
  if (named !== undefined) {
    const file = isAbsolute(named) ? named : resolve(cwd, named);
    if (!existsSync(file) || !statSync(file).isFile()) fail(named, 'no such file');
    return file;
  }
  for (const name of CONFIG_FILES) {
    const file = join(cwd, name);
    if (existsSync(file)) return file;
  }
  return null;
};

// `import … from 'logfront'` in a config file gets this process's SDK, whether or not the
// package is installed next to the file; every other package import is left to Node.
const sdkPlugin = (exportNames: string[]): Plugin => ({
  name: 'logfront-sdk',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) =>
      args.path === 'logfront' ? { path: 'logfront', namespace: 'logfront-sdk' } : { external: true },
    );
    b.onLoad({ filter: /.*/, namespace: 'logfront-sdk' }, () => ({
      loader: 'js',
      contents: `const sdk = globalThis[Symbol.for('logfront.sdk')];\nexport const { ${exportNames.join(', ')} } = sdk;\nexport default sdk;\n`,
    }));
  },
});

const isEventType = (x: unknown): x is EventType =>
  typeof x === 'object' &&
  x !== null &&
  typeof (x as EventType).name === 'string' &&
  typeof (x as { schema?: { safeParse?: unknown } }).schema?.safeParse === 'function' &&
  Array.isArray((x as EventType).sensitive);

const isProjection = (x: unknown): x is ProjectionDefinition =>
  typeof x === 'object' &&
  x !== null &&
  typeof (x as ProjectionDefinition).name === 'string' &&
  typeof (x as ProjectionDefinition).key === 'string' &&
  typeof (x as ProjectionDefinition).on === 'object' &&
  Array.isArray((x as ProjectionDefinition).categories);

/** checks what a config file exported and turns it into a Domain */
export const domainOf = (file: string, exported: unknown): Domain => {
  const name = basename(file);
  if (typeof exported !== 'object' || exported === null) {
    return fail(name, 'the default export must be defineConfig({ eventTypes, projections })');
  }
  const {
    eventTypes,
    projections = [],
    authorize,
  } = exported as { eventTypes?: unknown; projections?: unknown; authorize?: unknown };
  if (authorize !== undefined && typeof authorize !== 'function') {
    return fail(name, 'authorize must be a function (principal, action, resource) => boolean | string');
  }
  if (!Array.isArray(eventTypes) || eventTypes.length === 0) {
    return fail(name, 'eventTypes must be a non-empty array of defineEventType(…)');
  }
  if (!Array.isArray(projections)) return fail(name, 'projections must be an array of defineProjection(…)');
  eventTypes.forEach((t, i) => {
    if (!isEventType(t))
      fail(name, `eventTypes[${i}] is not an event type; use defineEventType(name, schema)`);
  });
  projections.forEach((p, i) => {
    if (!isProjection(p)) fail(name, `projections[${i}] is not a projection; use defineProjection({…})`);
  });
  const types = new Set<string>();
  for (const t of eventTypes as EventType[]) {
    if (types.has(t.name)) fail(name, `event type ${t.name} is listed twice`);
    types.add(t.name);
  }
  const names = new Set<string>();
  for (const p of projections as ProjectionDefinition[]) {
    if (names.has(p.name)) fail(name, `projection ${p.name} is listed twice`);
    names.add(p.name);
    for (const handled of Object.keys(p.on)) {
      if (!types.has(handled)) {
        fail(name, `projection ${p.name} handles ${handled}, which is not among eventTypes`);
      }
    }
  }
  return {
    eventTypes: eventTypes as EventType[],
    projections: projections as ProjectionDefinition[],
    ...(authorize ? { authorize: authorize as Authorize } : {}),
  };
};

/** compiles and runs a config file; a broken one throws ConfigError with a one-line reason */
export const importConfigFile = async (file: string): Promise<unknown> => {
  const sdk = await import('./sdk.ts');
  (globalThis as Record<symbol, unknown>)[SDK_KEY] = sdk;
  const exportNames = Object.keys(sdk).filter((k) => /^[A-Za-z_$][\w$]*$/.test(k) && k !== 'default');
  // esbuild is loaded when there is a config file to compile, never by importing the SDK
  const { build } = await import('esbuild');
  let code: string;
  try {
    const out = await build({
      entryPoints: [file],
      bundle: true,
      write: false,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      logLevel: 'silent',
      plugins: [sdkPlugin(exportNames)],
    });
    code = out.outputFiles[0]!.text;
  } catch (error) {
    const first = (error as { errors?: { text: string; location?: { line: number; column: number } }[] })
      .errors?.[0];
    const where = first?.location ? `:${first.location.line}:${first.location.column}` : '';
    return fail(`${basename(file)}${where}`, first?.text ?? (error as Error).message);
  }
  // next to the config, so that its own package imports resolve from its node_modules
  const bundled = join(dirname(file), `.logfront.config.${randomUUID()}.mjs`);
  writeFileSync(bundled, code);
  try {
    const mod = (await import(/* @vite-ignore */ pathToFileURL(bundled).href)) as { default?: unknown };
    return mod.default;
  } catch (error) {
    return fail(basename(file), `failed to load: ${(error as Error).message ?? String(error)}`);
  } finally {
    rmSync(bundled, { force: true });
  }
};

/** The domain to run: the config file's if there is one, the sample domain otherwise. */
export const loadDomain = async (
  cwd: string,
  named: string | undefined,
): Promise<{ domain: Domain; file: string | null }> => {
  const file = findConfigFile(cwd, named);
  if (!file) return { domain: sampleDomain, file: null };
  return { domain: domainOf(file, await importConfigFile(file)), file };
};
