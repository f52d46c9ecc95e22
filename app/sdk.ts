// The SDK: logfront in-process (append, read, run projections) and a client for a running server.

export { z } from 'zod';
export type { AppendResponse, AppendService } from '../core/append.ts';
export { type Config, loadConfig } from '../core/config.ts';
export * from '../core/errors.ts';
export { defineEventType, type EventType } from '../core/event-types.ts';
export type { Facade, ReadMeta, ReadOptions } from '../core/facade.ts';
export type { ExpectedVersion, NewEvent, RecordedEvent } from '../core/types.ts';
export { defineProjection, increment, patch, remove, upsert } from '../projections/define.ts';
export { ApiError, createClient } from './client.ts';
export { createLogfront, type Logfront } from './compose.ts';
export { type Domain, sampleDomain } from './domain.ts';
export { createHttpServer } from './http.ts';
export { CONFIG_FILES, defineConfig, type LogfrontConfig } from './user-config.ts';
