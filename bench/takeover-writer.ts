// Child of bench/takeover.ts: a fresh process that builds logfront (no runners) and appends to an
// existing stream of the filled partition. Its first append takes the partition over (the sequencer
// learns the stream heads) and is timed with it; a second append to another stream shows the steady
// state. Answers the times, both results' versions and the process's RSS.
import { Writable } from 'node:stream';
import { createLogfront } from '../app/compose.ts';
import { createLogger } from '../app/logger.ts';
import { benchConfig } from './harness.ts';
import {
  childMain,
  type WriterParams,
  type WriterResult,
  type WriterTarget,
  within,
} from './takeover-child.ts';

const MiB = 1024 * 1024;
/** the sequencer's message when a takeover (or a batch) failed and it takes the partition again */
const RETRY = 'lost the partition; taking it again';

await childMain<WriterParams, WriterResult>(async (p) => {
  const config = benchConfig(p.name, p.overrides);
  // Today's sequencer retries a failed takeover up to 10 times (each a read of the whole partition, up to
  // its 60 s limit): with failFast the first failure is the answer, its error text included.
  let failed: (error: Error) => void = () => {};
  const failure = new Promise<never>((_, reject) => {
    failed = reject;
  });
  failure.catch(() => {});
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      const line = chunk.toString('utf8');
      let entry: { level?: number; msg?: string; err?: { message?: string } } = {};
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {}
      if (entry.msg === RETRY && p.failFast) {
        failed(
          new Error(
            `the takeover failed (the sequencer would take the partition again): ${entry.err?.message}`,
          ),
        );
      }
      if ((entry.level ?? 60) >= 50) process.stderr.write(line);
      done();
    },
  });
  const logger = createLogger(p.failFast ? 'debug' : config.logLevel, destination);

  const t0 = performance.now();
  const lf = await createLogfront(config, { logger });
  const startupMs = performance.now() - t0;
  const rssBeforeMiB = process.memoryUsage().rss / MiB;
  try {
    const memory = () => ({
      rssMiB: process.memoryUsage().rss / MiB,
      // maxRSS is in KiB
      peakRssMiB: process.resourceUsage().maxRSS / 1024,
      heapUsedMiB: process.memoryUsage().heapUsed / MiB,
    });
    let started = 0;
    const append = async (target: WriterTarget, orderId: string) => {
      started = performance.now();
      const r = await Promise.race([
        lf.append.appendToStream(target.stream, {
          expectedVersion: target.expected,
          events: [{ type: 'OrderShipped', data: { orderId, carrier: 'DHL' } }],
        }),
        failure,
      ]);
      const ms = performance.now() - started;
      if (r.fromVersion !== target.expected + 1 || r.toVersion !== target.expected + 1) {
        throw new Error(
          `${target.stream}: appended as versions ${r.fromVersion}..${r.toVersion}, expected ${target.expected + 1}`,
        );
      }
      return { ms, versions: [r.fromVersion, r.toVersion] as [number, number] };
    };
    const failed = (error: unknown) => (error instanceof Error ? error.message : String(error));
    let first: Awaited<ReturnType<typeof append>>;
    try {
      first = await append(p.first, 'takeover-1');
    } catch (error) {
      return {
        startupMs,
        rssBeforeMiB,
        firstMs: performance.now() - started,
        ...memory(),
        error: failed(error),
        failed: 'first',
      };
    }
    const afterFirst = memory();
    const result: WriterResult = { startupMs, rssBeforeMiB, firstMs: first.ms, ...afterFirst };
    try {
      const second = await append(p.second, 'takeover-2');
      result.secondMs = second.ms;
      result.versions = { first: first.versions, second: second.versions };
    } catch (error) {
      result.error = `second append: ${failed(error)}`;
      result.failed = 'second';
    }
    result.rssAfterSecondMiB = process.memoryUsage().rss / MiB;
    result.peakRssMiB = process.resourceUsage().maxRSS / 1024;
    return result;
  } finally {
    // a takeover still reading (failFast) need not be waited for
    await within(lf.close(), 20_000, () => undefined).catch(() => {});
  }
});
