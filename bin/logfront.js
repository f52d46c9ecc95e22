#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx: no build step between a clone and `npx logfront`.
import { register as registerHooks } from 'node:module';
import { register } from 'tsx/esm/api';

register();
// Traces, when the standard OTEL_* variables ask for them (app/tracing.ts): the SDK starts before any
// other module loads, and ESM imports go through import-in-the-middle, so the instrumentations of the
// HTTP server, pg, ioredis and the AWS SDK see the modules they patch.
const { wantsTracing, startTracing } = await import('../app/tracing.ts');
if (wantsTracing(process.env)) {
  registerHooks('@opentelemetry/instrumentation/hook.mjs', import.meta.url);
  await startTracing(process.env);
}
const { runCli } = await import('../app/cli.ts');
await runCli();
