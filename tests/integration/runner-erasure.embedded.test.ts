import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogfront, type Logfront } from '../../app/compose.ts';
import { createLogger } from '../../app/logger.ts';
import type { Change } from '../../core/projection.ts';
import type { ErasedRows } from '../../core/security/erasure.ts';
import type { RecordedEvent } from '../../core/types.ts';
import { createProjectionRunner } from '../../projections/runner.ts';
import { contacts } from '../support/contacts.ts';
import { orderPlacedBy } from '../support/orders.ts';
import { embeddedConfig, uniqueId, waitFor } from '../support/services.ts';

describe('the runner asks the erasures about every batch of a projection with a subject', () => {
  let lf: Logfront;
  beforeAll(async () => {
    lf = await createLogfront(embeddedConfig(), { logger: createLogger('error') });
  });
  afterAll(async () => lf?.close());

  it('applies the screened changes, settles after the commit, and a settle that fails is a warning', async () => {
    const screened: { changes: readonly Change[]; events: (RecordedEvent | undefined)[] }[] = [];
    let settles = 0;
    const erased: ErasedRows = {
      screen: async (_projection, changes, eventOf) => {
        screened.push({ changes, events: changes.map(eventOf) });
        // the first order's row is the erased subject's: deleted instead
        const out = changes.map((c) =>
          c.kind === 'upsert' && c.row.customerId === 'erased'
            ? ({ kind: 'delete', key: 'gone' } as const)
            : c,
        );
        return {
          changes: out,
          settle: async () => {
            settles += 1;
            if (settles === 1) throw new Error('postgres is down');
            return [];
          },
        };
      },
    };
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line));
        done();
      },
    });
    const [o1, o2] = [uniqueId(), uniqueId()];
    await lf.append.appendToStream(`order-${o1}`, { events: [orderPlacedBy(o1, 'erased')] });
    const runner = createProjectionRunner({
      log: lf.log,
      store: lf.store,
      definition: contacts,
      groupPrefix: `r${uniqueId()}`,
      batchEvents: 100,
      logger: createLogger('warn', sink),
      erased,
    });
    await runner.start();
    try {
      await waitFor(async () => settles >= 1);
      await lf.append.appendToStream(`order-${o2}`, { events: [orderPlacedBy(o2, 'kept')] });
      await waitFor(async () => (await lf.store.get(contacts, o2)).row);
      expect((await lf.store.get(contacts, o1)).row).toBeNull();
      expect(screened[0]!.events.map((e) => e?.stream)).toEqual([`order-${o1}`]);
      expect(lines).toContainEqual(
        expect.objectContaining({
          projection: 'contacts',
          msg: 'could not check the batch against erasures made meanwhile; erase the subject again',
        }),
      );
      expect(settles).toBeGreaterThanOrEqual(2);
    } finally {
      await runner.stop();
    }
  });
});
