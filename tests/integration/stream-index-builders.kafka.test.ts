// Two builders of one stream index at once (a second process with another consumer group, a deploy
// that overlaps): each batch's rows and checkpoint commit together only from where the builder saw the
// checkpoint, so the one that lost a race is fenced, reads the stored checkpoint again, and goes on.
// Every event ends up indexed once.
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogfront, type Logfront } from '../../app/compose.ts';
import { createLogger } from '../../app/logger.ts';
import { uuidv7 } from '../../core/log/ids.ts';
import type { PreparedEvent, StreamId } from '../../core/types.ts';
import { createStreamIndexer, type StreamIndexer } from '../../projections/stream-indexer.ts';
import { servicesConfig, uniqueId, waitFor } from '../support/services.ts';

const shipped = (carrier: string): PreparedEvent => ({
  id: uuidv7(),
  type: 'OrderShipped',
  data: { orderId: '1', carrier },
  metadata: {},
});

describe('two stream index builders over one index (Kafka)', () => {
  let lf: Logfront | undefined;
  let other: StreamIndexer | undefined;
  afterAll(async () => {
    await other?.stop();
    await lf?.close();
  });

  it('the builder whose checkpoint moved under it is fenced and goes on from the stored one; every event is indexed once', async () => {
    const warnings: { msg: string; err?: { type?: string } }[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        for (const line of chunk.toString().split('\n')) if (line) warnings.push(JSON.parse(line));
        done();
      },
    });
    const logger = createLogger('warn', sink);
    const config = servicesConfig({ LOGFRONT_TOPIC_PARTITIONS: '3' });
    lf = await createLogfront(config, { logger });
    const index = lf.streamIndex!.index;
    other = createStreamIndexer({
      log: lf.log,
      index,
      groupPrefix: `${config.topicPrefix}.other`,
      batchEvents: 500,
      logger,
    });
    await lf.startStreamIndex();
    await other.start();

    const fenced = () =>
      warnings.some(
        (w) => w.msg.startsWith('stream index: a batch failed') && w.err?.type === 'CheckpointFenced',
      );
    const streams: StreamId[] = [];
    let wave = 0;
    /** twelve new streams of two events, over every partition; resolves once the index has them */
    const appendWave = async () => {
      wave += 1;
      for (let i = 0; i < 12; i++) {
        const s = `order-${uniqueId()}` as StreamId;
        streams.push(s);
        await lf!.log.append(s, [shipped(`a${wave}`), shipped(`b${wave}`)], 'no_stream');
      }
      await waitFor(async () => (await lf!.streamIndexLag()) === 0, 30_000);
      await new Promise((r) => setTimeout(r, 200));
    };
    // waves until both builders have raced for a batch
    while (!fenced() && wave < 10) await appendWave();
    expect(fenced()).toBe(true);
    // the fenced builder forgot what it knew of every partition: it reads their checkpoints again
    await appendWave();
    await appendWave();

    // once both are done, each stream's two events are in the index once, at versions 1 and 2
    await waitFor(async () => (await lf!.streamIndexLag()) === 0 && (await other!.lag()).events === 0);
    const heads = await index.lookup(streams.map((stream) => ({ stream, ids: [] })));
    expect(streams.map((s) => heads.get(s)?.version)).toEqual(streams.map(() => 2));
    const topic = lf.log.topicFor('order');
    for (const s of streams.slice(0, 12)) {
      const [event] = await lf.log.readStream(s, 1, 1);
      const { events } = await index.positions(s, topic, event!.position.partition, 1, 10);
      expect(events.map((e) => [e.stream, e.version])).toEqual([
        [s, 1],
        [s, 2],
      ]);
    }
    // and what is appended later is indexed too
    const late = `order-${uniqueId()}` as StreamId;
    await lf.log.append(late, [shipped('late')], 'no_stream');
    await waitFor(
      async () => (await index.lookup([{ stream: late, ids: [] }])).get(late)?.version === 1,
      30_000,
    );
  });
});
