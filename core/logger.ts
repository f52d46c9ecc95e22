/**
 * What core, projections and connectors log through: fields first, message second,
 * `logger.info({ projection }, 'started')`. app/logger.ts makes the one implementation (pino, with
 * redaction); a pino logger is a Logger as it is.
 */
export interface LogFn {
  (fields: object, message?: string): void;
  (message: string): void;
}

export interface Logger {
  readonly error: LogFn;
  readonly warn: LogFn;
  readonly info: LogFn;
  readonly debug: LogFn;
}
