import { DEFAULT_TENANT } from '../../core/security/auth.ts';
import { cliActor } from '../audit.ts';
import { createLogfront } from '../compose.ts';
import { loadConfig } from '../config.ts';
import { beginDataDirRotation, finishDataDirRotation, requireKek } from '../kek.ts';
import { createLogger } from '../logger.ts';
import { defineCommand, jsonOption, print, UsageError } from './shared.ts';

const HELP = `Usage: logfront keys rotate [--json]

Re-wraps every data key with a new key-encryption key (KEK). The data keys do not change: no event is
re-encrypted, and what they encrypt reads the same. Recorded in the audit log as keys.rotated.

With real services (or LOGFRONT_KEK set): LOGFRONT_KEK is the new KEK, LOGFRONT_KEK_PREVIOUS the one the keys
are wrapped with now. Give every process both first (they read keys wrapped with either), run this, then
drop LOGFRONT_KEK_PREVIOUS.
Embedded without LOGFRONT_KEK (stop logfront dev first): makes a new KEK in <data dir>/kek.next, re-wraps
with it, then makes it <data dir>/kek; the old wrapped copies are removed from the data directory's files.

Safe to run again: a run that stopped midway leaves every key readable with one of the two KEKs, and the
next run finishes it. Exits 1 when a key opens with neither. See docs/security.md#rotating-the-kek.`;

export const keys = defineCommand({
  name: 'keys',
  usage: ['keys rotate'],
  does: 're-wrap the data keys under a new key-encryption key',
  help: HELP,
  options: { ...jsonOption },
  run: async ({ values, positionals }, io) => {
    if (positionals.length !== 1 || positionals[0] !== 'rotate') {
      throw new UsageError('keys takes rotate; see logfront keys --help');
    }
    const config = loadConfig(io.env);
    requireKek(config);
    if (!config.encryption) {
      throw new UsageError(
        'LOGFRONT_ENCRYPTION=off: sensitive fields are not encrypted, no data key to rotate',
      );
    }
    if (config.mode === 'embedded' && config.dataDir === ':memory:' && !config.kek) {
      throw new UsageError('an in-memory data directory keeps no data key to rotate');
    }
    if (config.kekPrevious && !config.kek) {
      throw new UsageError('LOGFRONT_KEK_PREVIOUS needs LOGFRONT_KEK, the new key-encryption key');
    }
    const inDataDir = beginDataDirRotation(config);
    if (!inDataDir && !config.kekPrevious) {
      throw new UsageError(
        'keys rotate needs LOGFRONT_KEK_PREVIOUS, the key-encryption key the data keys are wrapped with now (LOGFRONT_KEK is the new one)',
      );
    }
    const lf = await createLogfront(config, { logger: createLogger('warn') });
    let result: Awaited<ReturnType<typeof lf.rotateKeys>>;
    try {
      result = await lf.rotateKeys({ actor: cliActor(), tenant: DEFAULT_TENANT, traceId: null });
    } finally {
      await lf.close();
    }
    if (result.unreadable) {
      print(io, values.json, result, () => `re-wrapped ${result.rewrapped} data keys`);
      io.err(
        `logfront: ${result.unreadable} data keys open with neither the new nor the previous key-encryption key; the rotation is not finished`,
      );
      return 1;
    }
    if (inDataDir) finishDataDirRotation(config);
    print(
      io,
      values.json,
      result,
      () =>
        `re-wrapped ${result.rewrapped} data keys with the new key-encryption key (${result.current} were already)`,
    );
    return 0;
  },
});
