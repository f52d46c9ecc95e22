// biome-ignore lint/style/noRestrictedImports: until issue 12's follow-up "Logger interface in core, pino in app"
import { pino } from 'pino';

/** Structured logger (pino). Fields first, message second: logger.info({ projection }, 'started'). */
export type Logger = pino.Logger;

export const createLogger = (level: pino.Level | 'silent', destination?: pino.DestinationStream): Logger =>
  pino(
    {
      level,
      base: undefined,
      redact: {
        paths: ['*.customerEmail', 'data.customerEmail', 'headers.authorization'],
        censor: '[redacted]',
      },
    },
    destination ?? pino.destination(2),
  );
