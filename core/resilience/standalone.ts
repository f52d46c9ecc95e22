// The resilience layer of an adapter made on its own (a test, a tool, a probe): the same breaker and
// retry policy as the process's, counted and logged nowhere. The composition root passes the process's
// one instead (app/compose.ts), whose counts /metrics shows.

import type { Dependency } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { createResilience, type Resilience } from './resilience.ts';

const quiet = () => {};
const silent: Logger = { error: quiet, warn: quiet, info: quiet, debug: quiet };

/** a layer whose breakers count what `isFailure` says is the dependency failing */
export const standaloneResilience = (isFailure: (error: unknown) => boolean): Resilience =>
  createResilience({ logger: silent, isFailure: (_dependency: Dependency, error) => isFailure(error) });
