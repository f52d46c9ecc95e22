import { pino } from 'pino';
import { createRedactor } from '../core/security/redaction.ts';

/** The process's logger (pino): a core Logger (core/logger.ts), and what `createLogfront({ logger })` takes. */
export type PinoLogger = pino.Logger;

// errors are plain objects once redacted (core/security/redaction.ts): pino's own serializer would retype them
const asRedacted = (error: unknown) => error;

/**
 * A logger that keeps credentials out of its lines (an `authorization` field anywhere, bearer tokens, the
 * dev key, JWTs) and logs errors without their SQL parameters or payloads. The sensitive fields of the
 * deployment's event types are added by `withRedaction`, once the catalog is known.
 */
export const createLogger = (
  level: pino.Level | 'silent',
  destination?: pino.DestinationStream,
): PinoLogger =>
  pino(
    {
      level,
      base: undefined,
      formatters: { log: createRedactor([]) },
      serializers: { err: asRedacted },
    },
    destination ?? pino.destination(2),
  );

/**
 * `logger` redacting, besides credentials, every field the event types mark sensitive, at any depth and
 * under any container (`data`, `event.data`, `events[*].data`, an error's fields…). The walk runs when a
 * line is written, never on an append or a read that logs nothing.
 */
export const withRedaction = (
  logger: PinoLogger,
  eventTypes: Iterable<{ readonly sensitive: readonly string[] }>,
): PinoLogger =>
  logger.child(
    {},
    {
      formatters: { log: createRedactor([...eventTypes].flatMap((t) => t.sensitive)) },
      serializers: { err: asRedacted },
    },
  );
