// logfront through its SDK, in process (createLogfront from app/compose.ts, as the other benchmarks):
// appends through the append service, rows through the facade with read-your-writes (`after` the
// append's position; the projection runner applies it asynchronously), streams through the log.
import { createLogfront } from '../app/compose.ts';
import { VersionConflict } from '../core/errors.ts';
import { parseStreamId } from '../core/log/streams.ts';
import { benchConfig } from './harness.ts';
import { PeerConflict, type PeerSystem } from './peers-load.ts';

/** logfront on the services, isolated under `name` (see benchConfig); `runners` starts the projections */
export const createSdkSystem = async (name: string, options: { runners: boolean }): Promise<PeerSystem> => {
  const lf = await createLogfront(benchConfig(name));
  await lf.log.ensureTopics(['order']);
  // as `logfront serve` does: the runners, or the stream index alone
  if (options.runners) await lf.startRunners();
  else await lf.startStreamIndex();
  return {
    name: 'logfront-sdk',
    append: async (stream, expectedVersion, event) => {
      try {
        const r = await lf.append.appendToStream(stream, { expectedVersion, events: [event] });
        return { version: r.toVersion, position: r.position };
      } catch (error) {
        if (error instanceof VersionConflict) throw new PeerConflict(error.message);
        throw error;
      }
    },
    readRow: async (orderId, appended) => {
      const { data } = await lf.facade.get(
        'orders',
        orderId,
        appended.position ? { after: appended.position } : {},
      );
      return { version: Number(data.version) };
    },
    readStream: async (stream) => (await lf.log.readStream(parseStreamId(stream), 1, 100)).length,
    close: () => lf.close(),
  };
};
