#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx: no build step between a clone and `npx logfront`.
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('../app/cli.ts');
await runCli();
