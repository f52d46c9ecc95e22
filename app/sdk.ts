// The SDK: logfront in-process (append, read, run projections) and a client for a running server.
// Importing it loads no driver and no server: createLogfront imports its mode's adapters when called,
// createHttpServer loads Fastify when called (tests/integration/loaded-modules.test.ts).
import type { createHttpServer as createFastifyServer } from './http.ts';

export { z } from 'zod';
export * from '../core/errors.ts';
export type { AppendResponse, AppendService } from '../core/log/append.ts';
export { defineEventType, type EventType } from '../core/log/event-types.ts';
export type { Facade, ReadMeta, ReadOptions } from '../core/read/facade.ts';
export type { ExpectedVersion, NewEvent, RecordedEvent } from '../core/types.ts';
export { defineProjection, increment, patch, remove, upsert } from '../projections/define.ts';
export { ApiError, createClient } from './client.ts';
export { createLogfront, type Logfront } from './compose.ts';
export { type Config, loadConfig } from './config.ts';
export { type Domain, sampleDomain } from './domain.ts';
export { CONFIG_FILES, defineConfig, type LogfrontConfig } from './user-config.ts';

/** the HTTP API (Fastify) over a Logfront, not listening yet; Fastify is loaded on the first call */
export const createHttpServer = async (...args: Parameters<typeof createFastifyServer>) =>
  (await import('./http.ts')).createHttpServer(...args);
