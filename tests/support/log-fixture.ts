import { createLogfront, type Logfront } from '../../app/compose.ts';
import type { Config } from '../../app/config.ts';
import type { LogFixture } from '../contract/event-log.features.ts';

/** the log of a Logfront built from `config`, restarted by building a new one over the same storage */
export const logfrontFixture = async (config: Config, afterClose?: () => void): Promise<LogFixture> => {
  let lf: Logfront = await createLogfront(config);
  return {
    log: lf.log,
    restart: async () => {
      await lf.close();
      lf = await createLogfront(config);
      return lf.log;
    },
    close: async () => {
      await lf.close();
      afterClose?.();
    },
  };
};
