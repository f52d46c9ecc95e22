// The ProjectionStore contract: every implementation (today the Postgres store over pg and over PGlite)
// passes the same suite. Each test works on projections of its own (unique names), so the tests share
// one store and one schema, and leave each other alone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointFenced, Conflict, NotFound } from '../../core/errors.ts';
import { uuidv7 } from '../../core/log/ids.ts';
import type { DeadLetterEntry, DeadLetterKind, NewDeadLetter, ProjectionStore } from '../../core/ports.ts';
import type {
  Change,
  CheckpointAdvance,
  ColumnType,
  ProjectionSpec,
  ProjectionState,
  Row,
} from '../../core/projection.ts';
import type { StreamId } from '../../core/types.ts';
import { increment, patch, remove, upsert } from '../../projections/define.ts';
import { advance } from '../support/checkpoints.ts';
import { uniqueId, waitFor } from '../support/services.ts';

export interface ProjectionStoreFixture {
  readonly store: ProjectionStore;
  /** another store over the same database, as another process opens it (with caches of its own) */
  another(): Promise<ProjectionStore>;
  /** the rebuild of `name` misses its heartbeats for longer than the 30 s that keep it alive */
  letRebuildGoQuiet(name: string): Promise<void>;
  /** closes every store the fixture opened and removes what the suite wrote */
  close(): Promise<void>;
}

const THINGS: Record<string, ColumnType> = {
  id: 'text',
  status: 'text',
  n: 'integer',
  big: 'bigint',
  ratio: 'double',
  paid: 'boolean',
  at: 'timestamptz',
  doc: 'jsonb',
  note: 'text',
};

/** a row of THINGS with every column not given null, as the store reads it back */
const full = (row: Row): Row => ({
  ...Object.fromEntries(Object.keys(THINGS).map((c) => [c, null])),
  ...row,
});

/** the event at `offset` of partition 0 of topic t could not be applied */
const poison = (offset: bigint, more: Partial<NewDeadLetter> = {}): NewDeadLetter => ({
  position: { topic: 't', partition: 0, offset },
  stream: `order-${offset}` as StreamId,
  version: 1,
  eventId: uuidv7(),
  type: 'OrderPlaced',
  kind: 'handler',
  reason: `cannot apply the event at ${offset}`,
  ...more,
});

const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

export const projectionStoreContract = (name: string, open: () => Promise<ProjectionStoreFixture>) => {
  describe(`ProjectionStore contract: ${name}`, () => {
    let fixture: ProjectionStoreFixture;
    let store: ProjectionStore;
    beforeAll(async () => {
      fixture = await open();
      store = fixture.store;
    });
    afterAll(async () => fixture?.close());

    const projectionName = () => `p_${uniqueId()}`;
    /** a projection of its own for a test, prepared in generation 1 */
    const given = async (columns: Record<string, ColumnType> = THINGS, key = 'id') => {
      const spec: ProjectionSpec = { name: projectionName(), key, columns };
      await store.prepare(spec, 1);
      return spec;
    };
    const rowsOf = async (spec: ProjectionSpec) =>
      Object.fromEntries(
        (await store.list(spec, { filters: {}, limit: 1000, afterKey: null })).rows.map((r) => [
          String(r[spec.key]),
          r,
        ]),
      );
    const offsetsOf = async (name: string, generation = 1) =>
      (await store.checkpoints(name, generation)).map((c) => [c.topic, c.partition, c.nextOffset]);
    const lettersOf = async (name: string, state?: DeadLetterEntry['state']) =>
      store.deadLetters(name, { limit: 1000, ...(state ? { state } : {}) });
    const stateOf = async (name: string) => (await store.status(name))?.state;

    describe('generations and bookkeeping', () => {
      it('a projection that never ran has no generation, no status, no checkpoints, no letters, and reads as empty', async () => {
        const spec: ProjectionSpec = { name: projectionName(), key: 'id', columns: THINGS };
        expect(await store.activeGeneration(spec.name)).toBeNull();
        expect(await store.status(spec.name)).toBeNull();
        expect(await store.checkpoints(spec.name, 1)).toEqual([]);
        expect(await store.deadLetters(spec.name, { limit: 10 })).toEqual([]);
        expect(await store.deadLetter(spec.name, '1')).toBeNull();
        const never = { generation: 0, checkpoints: [], liveness: { state: 'idle', heartbeatAt: null } };
        expect(await store.get(spec, 'a')).toEqual({ row: null, tenant: null, ...never });
        expect(await store.list(spec, { filters: {}, limit: 10, afterKey: null })).toEqual({
          rows: [],
          tenants: [],
          ...never,
        });
      });

      it('prepare makes its generation the active one, idle with nothing applied; preparing again changes nothing', async () => {
        const spec = await given();
        expect(await store.activeGeneration(spec.name)).toBe(1);
        expect(await store.status(spec.name)).toEqual({
          name: spec.name,
          generation: 1,
          state: 'idle',
          heartbeatAt: null,
          checkpoints: [],
          deadLettered: 0,
          lastError: null,
          building: null,
        });
        await store.applyBatch(spec, 1, [upsert({ id: 'a', n: 1 })], advance(null, 1n));
        await store.prepare(spec, 1); // a second process starting, or a restart
        expect(await store.activeGeneration(spec.name)).toBe(1);
        expect(await rowsOf(spec)).toEqual({ a: full({ id: 'a', n: 1 }) });
        expect(await offsetsOf(spec.name)).toEqual([['t', 0, 1n]]);
      });

      it('setState sets the state of the active generation, keeps the heartbeat unless given one, and reads report both', async () => {
        const spec = await given();
        const beat = Date.parse('2026-05-01T10:00:00.123Z');
        await store.setState(spec.name, 1, 'running', beat);
        expect(await store.status(spec.name)).toMatchObject({ state: 'running', heartbeatAt: beat });
        expect((await store.get(spec, 'a')).liveness).toEqual({ state: 'running', heartbeatAt: beat });
        await store.setState(spec.name, 1, 'stopped');
        expect(await store.status(spec.name)).toMatchObject({ state: 'stopped', heartbeatAt: beat });
        const listed = await store.list(spec, { filters: {}, limit: 1, afterKey: null });
        expect(listed.liveness).toEqual({ state: 'stopped', heartbeatAt: beat });
        // a runner of a generation that is not active (a rebuild, a stale process) does not set it
        await store.setState(spec.name, 2, 'halted', beat + 1000);
        expect(await store.status(spec.name)).toMatchObject({ state: 'stopped', heartbeatAt: beat });
        for (const state of ['idle', 'running', 'stopped', 'halted', 'rebuilding'] as ProjectionState[]) {
          await store.setState(spec.name, 1, state);
          expect(await stateOf(spec.name)).toBe(state);
        }
      });

      it('answers a ping', async () => {
        await expect(store.ping()).resolves.toBeUndefined();
      });
    });

    describe('batches', () => {
      it('upserts write whole rows (the last one of a key wins), every column type read back as written', async () => {
        const spec = await given();
        const row = {
          id: 'a',
          status: 'placed',
          n: -7,
          big: '9007199254740993', // past 2^53: int8 reads back as a string
          ratio: 0.25,
          paid: true,
          at: '2026-03-01T10:00:00.123Z',
          doc: { items: [{ sku: 'x', qty: 2 }], note: null },
          note: 'ünïcødé ✓',
        };
        await store.applyBatch(
          spec,
          1,
          [upsert({ id: 'a', status: 'draft' }), upsert(row), upsert({ id: 'b', status: 'placed' })],
          advance(null, 3n),
        );
        expect(await rowsOf(spec)).toEqual({ a: row, b: full({ id: 'b', status: 'placed' }) });
        expect((await store.get(spec, 'a')).row).toEqual(row);
        // an upsert replaces the whole row: columns it does not give are null
        await store.applyBatch(spec, 1, [upsert({ id: 'a', status: 'paid' })], advance(3n, 4n));
        expect((await store.get(spec, 'a')).row).toEqual(full({ id: 'a', status: 'paid' }));
      });

      it('patches set their columns on the stored row and leave the others exactly; a patch of no row is dropped', async () => {
        const spec = await given();
        await store.applyBatch(
          spec,
          1,
          [upsert({ id: 'a', status: 'placed', n: 1, note: 'x', paid: false })],
          advance(null, 1n),
        );
        await store.applyBatch(
          spec,
          1,
          [
            patch('a', { status: 'shipped', note: undefined }),
            patch('a', { n: 2, id: 'not the key' }),
            patch('nobody', { status: 'ghost' }),
            upsert({ id: 'b', status: 'placed', n: 0 }),
            patch('b', { status: 'paid', doc: { at: 1 } }),
          ],
          advance(1n, 2n),
        );
        expect(await rowsOf(spec)).toEqual({
          a: full({ id: 'a', status: 'shipped', n: 2, paid: false }),
          b: full({ id: 'b', status: 'paid', n: 0, doc: { at: 1 } }),
        });
      });

      it('increments add to the stored row and create a missing one from the key and the deltas; deletes remove', async () => {
        const spec = await given();
        await store.applyBatch(
          spec,
          1,
          [upsert({ id: 'a', status: 'placed', n: 2 }), upsert({ id: 'b', n: 1 })],
          advance(null, 2n),
        );
        await store.applyBatch(
          spec,
          1,
          [
            increment('a', { n: 5 }),
            patch('a', { status: 'counted' }),
            increment('a', { ratio: 0.5 }),
            increment('c', { n: 1 }),
            remove('b'),
            upsert({ id: 'd', n: 10 }),
            increment('d', { n: -3 }),
            increment('e', { n: 1 }),
            remove('e'),
            increment('e', { n: 4 }),
          ],
          advance(2n, 12n),
        );
        expect(await rowsOf(spec)).toEqual({
          a: full({ id: 'a', status: 'counted', n: 7, ratio: 0.5 }),
          c: full({ id: 'c', n: 1 }),
          d: full({ id: 'd', n: 7 }),
          e: full({ id: 'e', n: 4 }),
        });
        expect((await store.get(spec, 'b')).row).toBeNull();
      });

      it('a batch moves its checkpoint only from where it stands; a batch from elsewhere is fenced and writes nothing', async () => {
        const spec = await given();
        await store.applyBatch(spec, 1, [upsert({ id: 'a', status: 'placed', n: 1 })], advance(null, 3n));
        await store.applyBatch(spec, 1, [increment('c', { n: 1 })], advance(3n, 5n));
        const before = await rowsOf(spec);
        const attempts: [string, Change[], CheckpointAdvance][] = [
          [
            'behind',
            [upsert({ id: 'z', n: 1 }), patch('a', { status: 'lost' }), remove('c')],
            advance(3n, 9n),
          ],
          ['ahead', [upsert({ id: 'z', n: 1 })], advance(7n, 9n)],
          ['as if new', [increment('a', { n: 100 }), upsert({ id: 'z' })], advance(null, 9n)],
          ['with increments', [increment('c', { n: 100 })], advance(4n, 9n)],
          ['checkpoint only', [], advance(2n, 9n)],
        ];
        for (const [what, changes, a] of attempts) {
          const error = await store.applyBatch(spec, 1, changes, a).catch((e: unknown) => e);
          expect(error, what).toBeInstanceOf(CheckpointFenced);
          expect(error).toMatchObject({ code: 'checkpoint_fenced', status: 409 });
        }
        expect(await rowsOf(spec)).toEqual(before);
        expect(await offsetsOf(spec.name)).toEqual([['t', 0, 5n]]);
        // a partition with no checkpoint yet cannot be moved from one
        await expect(
          store.applyBatch(spec, 1, [upsert({ id: 'y' })], advance(5n, 6n, { partition: 1 })),
        ).rejects.toBeInstanceOf(CheckpointFenced);
        expect((await store.get(spec, 'y')).row).toBeNull();
      });

      it('checkpoints are kept per topic and partition, in order, with the last event time and the caught-up time', async () => {
        const spec = await given();
        const lastEventAt = '2026-03-01T10:00:00.123Z';
        const caughtUpAt = Date.parse('2026-03-01T10:00:01.456Z');
        await store.applyBatch(spec, 1, [], advance(null, 4n, { topic: 'u', partition: 0 }));
        await store.applyBatch(
          spec,
          1,
          [upsert({ id: 'a' })],
          advance(null, 7n, { partition: 2, lastEventAt, caughtUpAt }),
        );
        await store.applyBatch(spec, 1, [], advance(null, 0n, { partition: 0 }));
        expect(await store.checkpoints(spec.name, 1)).toEqual([
          { topic: 't', partition: 0, nextOffset: 0n, lastEventAt: null, caughtUpAt: null },
          { topic: 't', partition: 2, nextOffset: 7n, lastEventAt, caughtUpAt },
          { topic: 'u', partition: 0, nextOffset: 4n, lastEventAt: null, caughtUpAt: null },
        ]);
        // past 2^53: offsets are bigints all the way
        await store.applyBatch(spec, 1, [], advance(4n, 2n ** 62n, { topic: 'u' }));
        expect((await store.checkpoints(spec.name, 1)).at(-1)!.nextOffset).toBe(2n ** 62n);
        expect(await store.checkpoints(spec.name, 2)).toEqual([]);
        expect((await store.status(spec.name))?.checkpoints).toEqual(await store.checkpoints(spec.name, 1));
        expect((await store.get(spec, 'a')).checkpoints).toEqual(await store.checkpoints(spec.name, 1));
      });

      it('a batch given again (redelivered after a crash) is fenced: every change lands exactly once', async () => {
        const spec = await given();
        const first: [Change[], CheckpointAdvance] = [
          [upsert({ id: 'a', n: 1 }), increment('a', { n: 1 }), increment('b', { n: 1 })],
          advance(null, 3n),
        ];
        const second: [Change[], CheckpointAdvance] = [
          [increment('a', { n: 10 }), increment('b', { n: 10 }), patch('a', { note: 'second' })],
          advance(3n, 6n),
        ];
        await store.applyBatch(spec, 1, ...first);
        await expect(store.applyBatch(spec, 1, ...first)).rejects.toBeInstanceOf(CheckpointFenced);
        await store.applyBatch(spec, 1, ...second);
        await expect(store.applyBatch(spec, 1, ...first)).rejects.toBeInstanceOf(CheckpointFenced);
        await expect(store.applyBatch(spec, 1, ...second)).rejects.toBeInstanceOf(CheckpointFenced);
        expect(await rowsOf(spec)).toEqual({
          a: full({ id: 'a', n: 12, note: 'second' }),
          b: full({ id: 'b', n: 11 }),
        });
        expect(await offsetsOf(spec.name)).toEqual([['t', 0, 6n]]);
      });

      it('a batch the database refuses (a value outside its column) writes nothing and leaves the checkpoint', async () => {
        const spec = await given();
        await store.applyBatch(spec, 1, [upsert({ id: 'a', n: 1 })], advance(null, 1n));
        const refused = [
          [upsert({ id: 'b', n: 2 }), upsert({ id: 'c', n: 3_000_000_000 })],
          [increment('a', { n: 1 }), upsert({ id: 'c', n: 3_000_000_000 })],
          [patch('a', { n: 3_000_000_000 }), upsert({ id: 'b' })],
        ];
        for (const changes of refused) {
          await expect(store.applyBatch(spec, 1, changes, advance(1n, 2n))).rejects.toThrow();
        }
        expect(await rowsOf(spec)).toEqual({ a: full({ id: 'a', n: 1 }) });
        expect(await offsetsOf(spec.name)).toEqual([['t', 0, 1n]]);
        // an upsert without a text key is refused before anything is written
        await expect(store.applyBatch(spec, 1, [upsert({ n: 1 })], advance(1n, 2n))).rejects.toThrow(/key/);
        expect(await offsetsOf(spec.name)).toEqual([['t', 0, 1n]]);
      });

      it('increments of one row by batches of different partitions applied at once are all kept, also of a row none has made yet', async () => {
        const spec = await given();
        const partitions = Array.from({ length: 8 }, (_, p) => p);
        const rounds = 10;
        // each round, every partition's batch increments a row that does not exist yet: all of them
        // read it as missing unless the store holds them off one another
        for (let round = 0; round < rounds; round++) {
          await Promise.all(
            partitions.map((p) =>
              store.applyBatch(
                spec,
                1,
                [
                  increment(`new${round}`, { n: 1 }),
                  increment('shared', { n: 1, ratio: 0.5 }),
                  increment(`own${p}`, { n: p }),
                ],
                advance(round === 0 ? null : BigInt(round), BigInt(round + 1), { partition: p }),
              ),
            ),
          );
        }
        const rows = await rowsOf(spec);
        for (let round = 0; round < rounds; round++) {
          expect(rows[`new${round}`]).toEqual(full({ id: `new${round}`, n: partitions.length }));
        }
        expect(rows.shared).toEqual(full({ id: 'shared', n: rounds * 8, ratio: rounds * 4 }));
        for (const p of partitions) expect(rows[`own${p}`]).toEqual(full({ id: `own${p}`, n: rounds * p }));
        expect((await store.checkpoints(spec.name, 1)).map((c) => [c.partition, c.nextOffset])).toEqual(
          partitions.map((p) => [p, BigInt(rounds)]),
        );
      });

      it('columns named t, p, r, key, value and SQL words are written, patched, incremented, filtered and read', async () => {
        const columns: Record<string, ColumnType> = {
          key: 'text',
          t: 'text',
          p: 'text',
          r: 'integer',
          value: 'jsonb',
          order: 'text',
          select: 'integer',
          camelCase: 'text',
          active_generation: 'integer',
        };
        const spec = await given(columns, 'key');
        const none = Object.fromEntries(Object.keys(columns).map((c) => [c, null]));
        await store.applyBatch(
          spec,
          1,
          [
            upsert({
              key: 'a',
              t: 'one',
              p: 'x',
              r: 1,
              value: { v: 1 },
              order: 'o',
              select: 2,
              camelCase: 'C',
            }),
            upsert({ key: 'b', t: 'two', active_generation: 9 }),
          ],
          advance(null, 2n),
        );
        await store.applyBatch(
          spec,
          1,
          [
            patch('a', { t: 'patched', value: { v: 2 } }),
            patch('b', { p: 'y', order: 'late' }),
            increment('a', { r: 2, select: 1 }),
            increment('c', { r: 5 }),
          ],
          advance(2n, 6n),
        );
        expect(await rowsOf(spec)).toEqual({
          a: {
            ...none,
            key: 'a',
            t: 'patched',
            p: 'x',
            r: 3,
            value: { v: 2 },
            order: 'o',
            select: 3,
            camelCase: 'C',
          },
          b: { ...none, key: 'b', t: 'two', p: 'y', order: 'late', active_generation: 9 },
          c: { ...none, key: 'c', r: 5 },
        });
        const read = await store.get(spec, 'b');
        expect(read.row).toMatchObject({ active_generation: 9 });
        expect(read.generation).toBe(1);
        const filtered = await store.list(spec, {
          filters: { t: 'patched', r: '3' },
          limit: 10,
          afterKey: null,
        });
        expect(filtered.rows.map((r) => r.key)).toEqual(['a']);
        const paged = await store.list(spec, { filters: { p: 'y' }, limit: 10, afterKey: 'a' });
        expect(paged.rows.map((r) => r.key)).toEqual(['b']);
      });
    });

    describe('dead letters', () => {
      it('skip: a letter is recorded with its checkpoint advance past the event, in one transaction', async () => {
        const spec = await given();
        await store.applyBatch(spec, 1, [upsert({ id: 'a' })], advance(null, 4n));
        await store.setState(spec.name, 1, 'running', Date.now());
        const letter = poison(4n, { stream: 'order-7' as StreamId, version: 3, kind: 'column' });
        const before = Date.now();
        await store.recordDeadLetter(spec.name, 1, letter, advance(4n, 5n));
        expect(await offsetsOf(spec.name)).toEqual([['t', 0, 5n]]);
        const status = await store.status(spec.name);
        expect(status).toMatchObject({ state: 'running', deadLettered: 1, lastError: letter.reason });
        const letters = await lettersOf(spec.name);
        expect(letters).toEqual([
          {
            ...letter,
            id: expect.stringMatching(/^[1-9][0-9]*$/),
            projection: spec.name,
            generation: 1,
            state: 'pending',
            recordedAt: expect.any(String),
            resolvedAt: null,
          },
        ]);
        expect(Date.parse(letters[0]!.recordedAt)).toBeGreaterThan(before - 60_000);
        expect(new Date(letters[0]!.recordedAt).toISOString()).toBe(letters[0]!.recordedAt);
        expect(await store.deadLetter(spec.name, letters[0]!.id)).toEqual(letters[0]);

        // a skip whose checkpoint moved meanwhile is fenced: no letter, no count
        await expect(
          store.recordDeadLetter(spec.name, 1, poison(5n), advance(4n, 6n)),
        ).rejects.toBeInstanceOf(CheckpointFenced);
        expect(await lettersOf(spec.name)).toHaveLength(1);
        expect((await store.status(spec.name))?.deadLettered).toBe(1);
        expect(await offsetsOf(spec.name)).toEqual([['t', 0, 5n]]);
      });

      it('halt: a letter without an advance halts the projection with its reason and leaves the checkpoint', async () => {
        const spec = await given();
        await store.applyBatch(spec, 1, [upsert({ id: 'a' })], advance(null, 2n));
        await store.setState(spec.name, 1, 'running', Date.now());
        const letter = poison(2n, { kind: 'rows' });
        await store.recordDeadLetter(spec.name, 1, letter, null);
        expect(await store.status(spec.name)).toMatchObject({
          state: 'halted',
          deadLettered: 1,
          lastError: letter.reason,
          checkpoints: [{ topic: 't', partition: 0, nextOffset: 2n }],
        });
        expect((await store.get(spec, 'a')).liveness.state).toBe('halted');
        expect((await lettersOf(spec.name)).map((l) => [l.position.offset, l.kind, l.state])).toEqual([
          [2n, 'rows', 'pending'],
        ]);
      });

      it('the same event recorded again (a redelivered batch) is one letter, counted once; another generation has its own', async () => {
        const spec = await given();
        await store.applyBatch(spec, 1, [], advance(null, 3n));
        const letter = poison(3n);
        await store.recordDeadLetter(spec.name, 1, letter, null);
        await store.recordDeadLetter(spec.name, 1, { ...letter, reason: 'told again' }, null);
        const letters = await lettersOf(spec.name);
        expect(letters.map((l) => [l.position.offset, l.reason])).toEqual([[3n, letter.reason]]);
        expect((await store.status(spec.name))?.deadLettered).toBe(1);
        expect(
          (await store.deadLetterCounts()).filter((c) => c.projection === spec.name).map((c) => c.count),
        ).toEqual([1]);

        // a rebuild meeting the same event keeps a letter of its own, and does not halt the active generation
        await store.setState(spec.name, 1, 'running');
        const g = await store.beginRebuild(spec);
        await store.recordDeadLetter(spec.name, g, letter, null);
        expect((await lettersOf(spec.name)).map((l) => l.generation)).toEqual([1, g]);
        expect(await stateOf(spec.name)).toBe('running');
        await store.abandonRebuild(spec.name, g);
        await store.dropGeneration(spec, g);
      });

      it('a reason is kept to 2000 characters', async () => {
        const spec = await given();
        const reason = `${'why '.repeat(1000)}end`;
        await store.recordDeadLetter(spec.name, 1, poison(0n, { reason }), null);
        const [letter] = await lettersOf(spec.name);
        expect(letter!.reason).toBe(reason.slice(0, 2000));
        expect((await store.status(spec.name))?.lastError).toBe(reason.slice(0, 2000));
      });

      it('letters are listed in the order recorded, in pages after an id, by state; one is found by its id', async () => {
        const spec = await given();
        const other = await given();
        await store.applyBatch(spec, 1, [], advance(null, 0n));
        await store.applyBatch(other, 1, [], advance(null, 0n));
        for (let i = 0n; i < 5n; i++) {
          await store.recordDeadLetter(spec.name, 1, poison(i), advance(i, i + 1n));
          await store.recordDeadLetter(other.name, 1, poison(i), advance(i, i + 1n));
        }
        const all = await lettersOf(spec.name);
        expect(all.map((l) => l.position.offset)).toEqual([0n, 1n, 2n, 3n, 4n]);
        expect(all.every((l) => l.projection === spec.name)).toBe(true);
        const ids = all.map((l) => BigInt(l.id));
        expect([...ids].sort((a, b) => (a < b ? -1 : 1))).toEqual(ids);

        const pages: bigint[][] = [];
        let after: string | undefined;
        for (;;) {
          const page = await store.deadLetters(spec.name, { limit: 2, ...(after ? { after } : {}) });
          if (!page.length) break;
          expect(page.length).toBeLessThanOrEqual(2);
          pages.push(page.map((l) => l.position.offset));
          after = page.at(-1)!.id;
        }
        expect(pages).toEqual([[0n, 1n], [2n, 3n], [4n]]);

        await store.resolveDeadLetter(spec, all[1]!.id, 'skipped', []);
        await store.resolveDeadLetter(spec, all[3]!.id, 'retried', []);
        const offsets = async (state: DeadLetterEntry['state'], from?: string) =>
          (await store.deadLetters(spec.name, { limit: 10, state, ...(from ? { after: from } : {}) })).map(
            (l) => l.position.offset,
          );
        expect(await offsets('pending')).toEqual([0n, 2n, 4n]);
        expect(await offsets('pending', all[0]!.id)).toEqual([2n, 4n]);
        expect(await offsets('skipped')).toEqual([1n]);
        expect(await offsets('retried')).toEqual([3n]);
        expect(await offsets('retried', all[3]!.id)).toEqual([]);
        expect(
          (await store.deadLetters(spec.name, { limit: 1, state: 'pending', after: all[0]!.id })).map(
            (l) => l.position.offset,
          ),
        ).toEqual([2n]);

        expect(await store.deadLetter(spec.name, all[2]!.id)).toEqual(all[2]);
        // an id is a letter of one projection only
        const theirs = (await lettersOf(other.name))[0]!;
        expect(await store.deadLetter(spec.name, theirs.id)).toBeNull();
        expect(await store.deadLetter(other.name, theirs.id)).toEqual(theirs);
        expect(await store.deadLetter(spec.name, '999999999999')).toBeNull();
      });

      it('deadLetterCounts counts the letters per projection, kind and state', async () => {
        const a = await given();
        const b = await given();
        await store.applyBatch(a, 1, [], advance(null, 0n));
        const kinds: DeadLetterKind[] = ['handler', 'handler', 'column', 'decode', 'upcast'];
        const letters = kinds.map((kind, i) => poison(BigInt(i), { kind }));
        for (const [i, letter] of letters.entries()) {
          await store.recordDeadLetter(a.name, 1, letter, advance(BigInt(i), BigInt(i) + 1n));
        }
        await store.recordDeadLetter(b.name, 1, poison(0n, { kind: 'rows' }), null);
        await store.recordDeadLetter(b.name, 1, poison(0n, { kind: 'rows' }), null); // again: one letter
        const [first] = await lettersOf(a.name);
        await store.resolveDeadLetter(a, first!.id, 'skipped', []);
        const counts = (await store.deadLetterCounts())
          .filter((c) => c.projection === a.name || c.projection === b.name)
          .map((c) => `${c.projection === a.name ? 'a' : 'b'} ${c.kind} ${c.state} ${c.count}`)
          .sort();
        expect(counts).toEqual([
          'a column pending 1',
          'a decode pending 1',
          'a handler pending 1',
          'a handler skipped 1',
          'a upcast pending 1',
          'b rows pending 1',
        ]);
      });
    });

    describe('resolving dead letters', () => {
      /** a skipping projection past a letter at offset 1 (rows a and b applied around it) */
      const skipped = async () => {
        const spec = await given();
        await store.applyBatch(spec, 1, [upsert({ id: 'a', n: 1 })], advance(null, 1n));
        await store.recordDeadLetter(spec.name, 1, poison(1n), advance(1n, 2n));
        await store.applyBatch(spec, 1, [upsert({ id: 'b', n: 1 })], advance(2n, 3n));
        await store.setState(spec.name, 1, 'running');
        const [letter] = await lettersOf(spec.name);
        return { spec, letter: letter! };
      };

      it('retry applies the changes once and marks the letter retried; a second resolve is a Conflict and changes nothing', async () => {
        const { spec, letter } = await skipped();
        const changes = [
          increment('a', { n: 10 }),
          upsert({ id: 'c', note: 'retried' }),
          patch('b', { n: 5 }),
        ];
        const resolved = await store.resolveDeadLetter(spec, letter.id, 'retried', changes);
        expect(resolved).toEqual({ ...letter, state: 'retried', resolvedAt: expect.any(String) });
        expect(new Date(resolved.resolvedAt!).toISOString()).toBe(resolved.resolvedAt);
        expect(await store.deadLetter(spec.name, letter.id)).toEqual(resolved);
        const rows = {
          a: full({ id: 'a', n: 11 }),
          b: full({ id: 'b', n: 5 }),
          c: full({ id: 'c', note: 'retried' }),
        };
        expect(await rowsOf(spec)).toEqual(rows);
        // the projection had gone past the letter: its checkpoint and state stay
        expect(await offsetsOf(spec.name)).toEqual([['t', 0, 3n]]);
        expect(await stateOf(spec.name)).toBe('running');

        for (const resolution of ['retried', 'skipped'] as const) {
          const error = await store
            .resolveDeadLetter(spec, letter.id, resolution, changes)
            .catch((e: unknown) => e);
          expect(error).toBeInstanceOf(Conflict);
          expect(error).toMatchObject({ code: 'conflict', status: 409 });
        }
        expect(await rowsOf(spec)).toEqual(rows);
        expect(await store.deadLetter(spec.name, letter.id)).toEqual(resolved);
      });

      it('skip marks the letter skipped and applies nothing', async () => {
        const { spec, letter } = await skipped();
        const before = await rowsOf(spec);
        const resolved = await store.resolveDeadLetter(spec, letter.id, 'skipped', []);
        expect(resolved).toMatchObject({ id: letter.id, state: 'skipped', resolvedAt: expect.any(String) });
        expect(await rowsOf(spec)).toEqual(before);
        await expect(store.resolveDeadLetter(spec, letter.id, 'retried', [])).rejects.toBeInstanceOf(
          Conflict,
        );
      });

      it('two resolves of one letter at once: one wins, the other is a Conflict, and the changes land once', async () => {
        const { spec, letter } = await skipped();
        const results = await Promise.allSettled(
          [0, 1, 2].map(() =>
            store.resolveDeadLetter(spec, letter.id, 'retried', [increment('a', { n: 10 })]),
          ),
        );
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        const refused = results.filter((r) => r.status === 'rejected');
        expect(refused).toHaveLength(2);
        for (const r of refused) expect(r.reason).toBeInstanceOf(Conflict);
        expect((await store.get(spec, 'a')).row?.n).toBe(11);
      });

      it('an unknown letter, or a letter of another projection, is NotFound', async () => {
        const { spec, letter } = await skipped();
        const other = await given();
        const error = await store
          .resolveDeadLetter(spec, '999999999999', 'skipped', [])
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(NotFound);
        expect(error).toMatchObject({ code: 'not_found', status: 404 });
        await expect(store.resolveDeadLetter(other, letter.id, 'skipped', [])).rejects.toBeInstanceOf(
          NotFound,
        );
        expect((await store.deadLetter(spec.name, letter.id))?.state).toBe('pending');
      });

      it('a letter of a generation that is not active is a Conflict: neither a rebuild’s nor one a switch left behind', async () => {
        const { spec, letter } = await skipped();
        const g = await store.beginRebuild(spec);
        await store.applyBatch(spec, g, [], advance(null, 1n));
        await store.recordDeadLetter(spec.name, g, poison(1n), advance(1n, 2n));
        const building = (await lettersOf(spec.name)).find((l) => l.generation === g)!;
        await expect(
          store.resolveDeadLetter(spec, building.id, 'retried', [upsert({ id: 'x' })]),
        ).rejects.toBeInstanceOf(Conflict);
        expect(await store.switchGeneration(spec.name, g)).toBe(1);
        await expect(
          store.resolveDeadLetter(spec, letter.id, 'retried', [upsert({ id: 'x' })]),
        ).rejects.toBeInstanceOf(Conflict);
        expect((await store.deadLetter(spec.name, letter.id))?.state).toBe('pending');
        // the letter of the generation now active resolves
        await store.resolveDeadLetter(spec, building.id, 'retried', [upsert({ id: 'x' })]);
        expect((await store.get(spec, 'x')).row).toEqual(full({ id: 'x' }));
      });

      it('resolving the letter a halted projection halted on moves its checkpoint past the event and runs it again', async () => {
        for (const resolution of ['retried', 'skipped'] as const) {
          const spec = await given();
          await store.applyBatch(spec, 1, [upsert({ id: 'a', n: 1 })], advance(null, 3n));
          await store.setState(spec.name, 1, 'running');
          await store.recordDeadLetter(spec.name, 1, poison(3n), null);
          expect(await stateOf(spec.name)).toBe('halted');
          const [letter] = await lettersOf(spec.name);
          const changes = resolution === 'retried' ? [increment('a', { n: 1 })] : [];
          await store.resolveDeadLetter(spec, letter!.id, resolution, changes);
          expect(await store.status(spec.name), resolution).toMatchObject({
            state: 'running',
            lastError: null,
            checkpoints: [{ topic: 't', partition: 0, nextOffset: 4n }],
          });
          expect((await store.get(spec, 'a')).row?.n).toBe(resolution === 'retried' ? 2 : 1);
        }
      });

      it('a projection halted on the first event of a partition (no checkpoint yet) resumes after it', async () => {
        const spec = await given();
        await store.setState(spec.name, 1, 'running');
        await store.recordDeadLetter(
          spec.name,
          1,
          poison(0n, { position: { topic: 't', partition: 3, offset: 0n } }),
          null,
        );
        const [letter] = await lettersOf(spec.name);
        await store.resolveDeadLetter(spec, letter!.id, 'retried', [upsert({ id: 'first' })]);
        expect(await offsetsOf(spec.name)).toEqual([['t', 3, 1n]]);
        expect(await stateOf(spec.name)).toBe('running');
        expect((await store.get(spec, 'first')).row).toEqual(full({ id: 'first' }));
      });

      it('resolving an earlier letter does not resume a projection halted on a later event', async () => {
        const spec = await given();
        await store.applyBatch(spec, 1, [], advance(null, 1n));
        await store.recordDeadLetter(spec.name, 1, poison(1n), advance(1n, 2n)); // skipped by a runner
        await store.applyBatch(spec, 1, [], advance(2n, 5n));
        await store.recordDeadLetter(spec.name, 1, poison(5n), null); // then halted on
        const [earlier, later] = await lettersOf(spec.name);
        await store.resolveDeadLetter(spec, earlier!.id, 'skipped', []);
        expect(await store.status(spec.name)).toMatchObject({
          state: 'halted',
          checkpoints: [{ nextOffset: 5n }],
        });
        await store.resolveDeadLetter(spec, later!.id, 'skipped', []);
        expect(await store.status(spec.name)).toMatchObject({
          state: 'running',
          checkpoints: [{ nextOffset: 6n }],
        });
      });
    });

    describe('rebuilds', () => {
      it('a rebuild of a projection that never ran is NotFound', async () => {
        const spec: ProjectionSpec = { name: projectionName(), key: 'id', columns: THINGS };
        await expect(store.beginRebuild(spec)).rejects.toBeInstanceOf(NotFound);
      });

      it('a rebuild builds a new generation beside the active one, which serves until the switch; then the old one is dropped', async () => {
        const spec = await given();
        await store.applyBatch(spec, 1, [upsert({ id: 'old', n: 1 })], advance(null, 1n));
        const g = await store.beginRebuild(spec);
        expect(g).toBe(2);
        expect(await store.activeGeneration(spec.name)).toBe(1);
        expect((await store.status(spec.name))?.building).toEqual({ generation: 2, checkpoints: [] });
        await store.applyBatch(spec, 2, [upsert({ id: 'new', n: 2 })], advance(null, 9n));
        expect((await store.status(spec.name))?.building).toEqual({
          generation: 2,
          checkpoints: (await store.checkpoints(spec.name, 2)).slice(),
        });
        expect(await offsetsOf(spec.name, 2)).toEqual([['t', 0, 9n]]);
        // the active generation keeps serving, its checkpoints its own
        const before = await store.get(spec, 'old');
        expect(before).toMatchObject({
          row: { id: 'old' },
          generation: 1,
          checkpoints: [{ nextOffset: 1n }],
        });
        expect((await store.get(spec, 'new')).row).toBeNull();

        await expect(store.switchGeneration(spec.name, 2)).resolves.toBe(1);
        expect(await store.activeGeneration(spec.name)).toBe(2);
        expect(await store.status(spec.name)).toMatchObject({ generation: 2, building: null });
        expect(await store.get(spec, 'new')).toMatchObject({
          row: { id: 'new', n: 2 },
          generation: 2,
          checkpoints: [{ nextOffset: 9n }],
        });
        expect((await store.get(spec, 'old')).row).toBeNull();
        // the replaced generation stays readable until it is dropped
        expect(await offsetsOf(spec.name, 1)).toEqual([['t', 0, 1n]]);
        await store.dropGeneration(spec, 1);
        expect(await store.checkpoints(spec.name, 1)).toEqual([]);
        expect(await rowsOf(spec)).toEqual({ new: full({ id: 'new', n: 2 }) });
        // what is active cannot be switched to again; a generation never begun cannot be switched to
        await expect(store.switchGeneration(spec.name, 2)).rejects.toBeInstanceOf(Conflict);
        await expect(store.switchGeneration(spec.name, 7)).rejects.toBeInstanceOf(Conflict);
        expect(await store.beginRebuild(spec)).toBe(3);
      });

      it('a second rebuild while one is alive is a Conflict; its heartbeat keeps it alive; once it goes quiet another may begin', async () => {
        const spec = await given();
        const g = await store.beginRebuild(spec);
        const error = await store.beginRebuild(spec).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(Conflict);
        expect(error).toMatchObject({ code: 'conflict', status: 409 });

        await fixture.letRebuildGoQuiet(spec.name);
        await store.rebuildHeartbeat(spec.name, g); // alive again
        await expect(store.beginRebuild(spec)).rejects.toBeInstanceOf(Conflict);

        await fixture.letRebuildGoQuiet(spec.name);
        const next = await store.beginRebuild(spec);
        expect(next).toBeGreaterThan(g);
        expect((await store.status(spec.name))?.building?.generation).toBe(next);
        // the quiet one can neither switch, nor revive, nor give up the one that replaced it
        await expect(store.switchGeneration(spec.name, g)).rejects.toBeInstanceOf(Conflict);
        await store.rebuildHeartbeat(spec.name, g);
        await store.abandonRebuild(spec.name, g);
        expect((await store.status(spec.name))?.building?.generation).toBe(next);
        await expect(store.beginRebuild(spec)).rejects.toBeInstanceOf(Conflict);
        expect(await store.switchGeneration(spec.name, next)).toBe(1);
      });

      it('two rebuilds begun at once: one begins, the other is a Conflict', async () => {
        const spec = await given();
        const results = await Promise.allSettled([store.beginRebuild(spec), store.beginRebuild(spec)]);
        expect(results.filter((r) => r.status === 'fulfilled').map((r) => r.value)).toEqual([2]);
        const [refused] = results.filter((r) => r.status === 'rejected');
        expect(refused?.reason).toBeInstanceOf(Conflict);
      });

      it('an abandoned rebuild can no longer switch; the next one begins at once, from nothing', async () => {
        const spec = await given();
        await store.applyBatch(spec, 1, [upsert({ id: 'a', n: 1 })], advance(null, 1n));
        const g = await store.beginRebuild(spec);
        await store.applyBatch(spec, g, [upsert({ id: 'half', n: 1 })], advance(null, 5n));
        await store.abandonRebuild(spec.name, g);
        expect((await store.status(spec.name))?.building).toBeNull();
        await expect(store.switchGeneration(spec.name, g)).rejects.toBeInstanceOf(Conflict);
        expect(await store.activeGeneration(spec.name)).toBe(1);
        await store.dropGeneration(spec, g);
        expect(await store.checkpoints(spec.name, g)).toEqual([]);

        const next = await store.beginRebuild(spec);
        expect(await store.checkpoints(spec.name, next)).toEqual([]);
        await store.switchGeneration(spec.name, next);
        expect(await rowsOf(spec)).toEqual({});
      });

      it('a rebuild given up while halted leaves its letter to its own generation: a later generation neither lists it as its own nor applies it again', async () => {
        const spec = await given();
        await store.applyBatch(spec, 1, [increment('a', { n: 1 })], advance(null, 1n));
        const g = await store.beginRebuild(spec);
        await store.applyBatch(spec, g, [], advance(null, 0n));
        const letter = poison(0n);
        await store.recordDeadLetter(spec.name, g, letter, null); // the rebuild halts on it …
        await store.abandonRebuild(spec.name, g); // … and is given up
        await store.dropGeneration(spec, g);

        // after a fix, the next rebuild applies the event itself
        const next = await store.beginRebuild(spec);
        await store.applyBatch(spec, next, [increment('a', { n: 1 })], advance(null, 1n));
        await store.switchGeneration(spec.name, next);
        const letters = await lettersOf(spec.name);
        expect(letters.map((l) => [l.eventId, l.generation])).toEqual([[letter.eventId, g]]);
        expect(letters.filter((l) => l.generation === next)).toEqual([]);
        // so resolving the given-up rebuild's letter cannot apply the event a second time
        await expect(
          store.resolveDeadLetter(spec, letters[0]!.id, 'retried', [increment('a', { n: 1 })]),
        ).rejects.toBeInstanceOf(Conflict);
        expect((await store.get(spec, 'a')).row?.n).toBe(1);
      });

      it('a rebuild given up without its tables dropped (a crash in between) leaves nothing to the next one', async () => {
        for (const wrote of [false, true]) {
          const spec = await given({ id: 'text', n: 'integer' });
          const g = await store.beginRebuild(spec);
          if (wrote) await store.applyBatch(spec, g, [upsert({ id: 'half', n: 1 })], advance(null, 5n));
          await store.abandonRebuild(spec.name, g);
          // the next rebuild comes with a new column, the reason for rebuilding
          const wider: ProjectionSpec = { ...spec, columns: { ...spec.columns, added: 'text' } };
          const next = await store.beginRebuild(wider);
          expect(await store.checkpoints(spec.name, next), `wrote: ${wrote}`).toEqual([]);
          await store.applyBatch(wider, next, [upsert({ id: 'a', n: 1, added: 'new' })], advance(null, 1n));
          await store.switchGeneration(spec.name, next);
          expect(await rowsOf(wider), `wrote: ${wrote}`).toEqual({ a: { id: 'a', n: 1, added: 'new' } });
          expect(await offsetsOf(spec.name, next)).toEqual([['t', 0, 1n]]);
        }
      });
    });

    describe('reads', () => {
      it('list pages by key in byte order (keyset): every row once, also when rows are added before the cursor', async () => {
        const spec = await given();
        const keys = ['b', 'a', 'B', 'a b', 'Z', 'é', '10', '9', 'aa', 'A', '_', 'z~'];
        await store.applyBatch(
          spec,
          1,
          keys.map((id, i) => upsert({ id, n: i })),
          advance(null, BigInt(keys.length)),
        );
        const seen: string[] = [];
        let afterKey: string | null = null;
        for (let page = 0; ; page++) {
          const r = await store.list(spec, { filters: {}, limit: 5, afterKey });
          expect(r.rows.length).toBeLessThanOrEqual(5);
          if (page === 0) {
            // rows added before the cursor (and one after it) while the pages are read
            await store.applyBatch(
              spec,
              1,
              [upsert({ id: '0' }), upsert({ id: 'zzz' })],
              advance(BigInt(keys.length), BigInt(keys.length) + 2n),
            );
          }
          if (!r.rows.length) break;
          seen.push(...r.rows.map((row) => String(row.id)));
          afterKey = String(r.rows.at(-1)!.id);
        }
        // '0' sorts before the first page's end and is not seen; 'zzz' after it is
        expect(seen).toEqual([...keys, 'zzz'].sort(byteOrder));
        expect(await store.list(spec, { filters: {}, limit: 2, afterKey: 'z~' })).toMatchObject({
          rows: [{ id: 'é' }],
          generation: 1,
        });
      });

      it('list filters on any column by its text, with pages', async () => {
        const spec = await given();
        await store.applyBatch(
          spec,
          1,
          [
            upsert({ id: 'a', status: 'placed', n: 2, paid: true }),
            upsert({ id: 'b', status: 'placed', n: 3, paid: false }),
            upsert({ id: 'c', status: 'shipped', n: 2, paid: true }),
            upsert({ id: 'd', status: 'placed', n: 2, paid: true }),
            upsert({ id: 'e', status: 'placed ', n: 2 }),
          ],
          advance(null, 5n),
        );
        const ids = async (filters: Record<string, string>, afterKey: string | null = null, limit = 10) =>
          (await store.list(spec, { filters, limit, afterKey })).rows.map((r) => r.id);
        expect(await ids({ status: 'placed' })).toEqual(['a', 'b', 'd']);
        expect(await ids({ n: '2' })).toEqual(['a', 'c', 'd', 'e']);
        expect(await ids({ paid: 'true', status: 'placed' })).toEqual(['a', 'd']);
        expect(await ids({ status: 'placed', n: '2' }, 'a')).toEqual(['d']);
        expect(await ids({ status: 'placed' }, null, 2)).toEqual(['a', 'b']);
        expect(await ids({ status: 'cancelled' })).toEqual([]);
        expect(await ids({ id: 'c' })).toEqual(['c']);
      });

      it('a read reports the row and the checkpoints of one snapshot, while batches commit beside it', async () => {
        const spec = await given({ id: 'text', n: 'integer' });
        const batches = 40;
        let writing = true;
        const writer = (async () => {
          try {
            for (let i = 1; i <= batches; i++) {
              // row x holds the number of the batch that wrote it; the checkpoint moves to that number
              await store.applyBatch(
                spec,
                1,
                [upsert({ id: 'x', n: i }), increment('y', { n: 1 })],
                advance(i === 1 ? null : BigInt(i - 1), BigInt(i)),
              );
            }
          } finally {
            writing = false;
          }
        })();
        const torn: string[] = [];
        let reads = 0;
        const reader = async () => {
          while (writing) {
            const one = await store.get(spec, 'x');
            const offset = one.checkpoints[0]?.nextOffset ?? 0n;
            if (BigInt((one.row?.n as number | undefined) ?? 0) !== offset)
              torn.push(`get: n=${one.row?.n} at ${offset}`);
            const all = await store.list(spec, { filters: {}, limit: 10, afterKey: null });
            const at = all.checkpoints[0]?.nextOffset ?? 0n;
            for (const row of all.rows) {
              if (BigInt(row.n as number) !== at) torn.push(`list: ${row.id}=${row.n} at ${at}`);
            }
            reads += 1;
          }
        };
        await Promise.all([writer, reader(), reader()]);
        expect(torn).toEqual([]);
        expect(reads).toBeGreaterThan(0);
        expect(await rowsOf(spec)).toEqual({ x: { id: 'x', n: batches }, y: { id: 'y', n: batches } });
      });

      it('a read follows a rebuild to the generation now active, also when the one it read last is dropped', async () => {
        const spec = await given({ id: 'text', status: 'text' });
        const other = await fixture.another(); // another process, same database
        await store.applyBatch(spec, 1, [upsert({ id: 'a', status: 'g1' })], advance(null, 1n));
        expect((await store.get(spec, 'a')).row?.status).toBe('g1');

        // a switch: the generation this store read last is no longer active (its table still there)
        const g2 = await other.beginRebuild(spec);
        await other.applyBatch(spec, g2, [upsert({ id: 'a', status: 'g2' })], advance(null, 5n));
        await other.switchGeneration(spec.name, g2);
        const read = await store.get(spec, 'a');
        expect(read.generation).toBe(g2);
        expect(read.row?.status).toBe('g2');
        expect(read.checkpoints.map((c) => c.nextOffset)).toEqual([5n]);

        // another switch, and the table this store read last is dropped
        const g3 = await other.beginRebuild(spec);
        await other.applyBatch(spec, g3, [upsert({ id: 'b', status: 'g3' })], advance(null, 7n));
        await other.switchGeneration(spec.name, g3);
        await other.dropGeneration(spec, g2);
        const listed = await store.list(spec, { filters: {}, limit: 10, afterKey: null });
        expect(listed.generation).toBe(g3);
        expect(listed.rows.map((r) => r.id)).toEqual(['b']);
        expect((await store.get(spec, 'zzz')).row).toBeNull();
        expect(await store.activeGeneration(spec.name)).toBe(g3);
      });

      it('column names starting with __lf_ are refused by reads, not misread', async () => {
        const spec = await given({ id: 'text', n: 'integer' });
        const reserved: ProjectionSpec = { ...spec, columns: { ...spec.columns, __lf_x: 'text' } };
        await expect(store.get(reserved, 'a')).rejects.toThrow(/reserved/);
        await expect(store.list(reserved, { filters: {}, limit: 1, afterKey: null })).rejects.toThrow(
          /reserved/,
        );
      });
    });

    describe('tenants', () => {
      /** a change of the tenant's rows, as the runner makes it from an event of that tenant */
      const of = (tenant: string, change: Change): Change => ({ ...change, tenant });
      /** every row, as `<tenant>/<key>` → row */
      const everyRow = async (spec: ProjectionSpec) => {
        const r = await store.list(spec, { filters: {}, limit: 1000, afterKey: null });
        return Object.fromEntries(r.rows.map((row, i) => [`${r.tenants[i]}/${row[spec.key]}`, row]));
      };

      it('the same key is a row per tenant: upserts, patches, increments and deletes change their own tenant’s row only', async () => {
        const spec = await given({ id: 'text', status: 'text', n: 'integer' });
        await store.applyBatch(
          spec,
          1,
          [
            upsert({ id: 'a', status: 'placed', n: 1 }),
            of('acme', upsert({ id: 'a', status: 'acme', n: 10 })),
            of('acme', patch('a', { status: 'acme shipped' })),
            increment('c', { n: 1 }),
            of('acme', increment('c', { n: 5 })),
            of('globex', upsert({ id: 'd', status: 'globex' })),
          ],
          advance(null, 6n),
        );
        expect(await everyRow(spec)).toEqual({
          'acme/a': { id: 'a', status: 'acme shipped', n: 10 },
          'default/a': { id: 'a', status: 'placed', n: 1 },
          'acme/c': { id: 'c', status: null, n: 5 },
          'default/c': { id: 'c', status: null, n: 1 },
          'globex/d': { id: 'd', status: 'globex', n: null },
        });
        // a batch of patches, increments (read from the table) and deletes, each of its own tenant
        await store.applyBatch(
          spec,
          1,
          [
            patch('a', { status: 'shipped' }),
            of('acme', increment('a', { n: 1 })),
            of('globex', patch('a', { status: 'no globex row a' })),
            of('acme', remove('c')),
            increment('c', { n: 2 }),
            of('acme', remove('d')),
            of('globex', increment('d', { n: 3 })),
          ],
          advance(6n, 13n),
        );
        expect(await everyRow(spec)).toEqual({
          'acme/a': { id: 'a', status: 'acme shipped', n: 11 },
          'default/a': { id: 'a', status: 'shipped', n: 1 },
          'default/c': { id: 'c', status: null, n: 3 },
          'globex/d': { id: 'd', status: 'globex', n: 3 },
        });
      });

      it('a read with a tenant finds that tenant’s row only; without one, the default tenant’s, else the first other by name', async () => {
        const spec = await given({ id: 'text', status: 'text' });
        await store.applyBatch(
          spec,
          1,
          [
            of('globex', upsert({ id: 'a', status: 'globex' })),
            of('acme', upsert({ id: 'a', status: 'acme' })),
            upsert({ id: 'b', status: 'default' }),
            of('acme', upsert({ id: 'b', status: 'acme' })),
          ],
          advance(null, 4n),
        );
        expect(await store.get(spec, 'a', 'globex')).toMatchObject({
          row: { status: 'globex' },
          tenant: 'globex',
        });
        expect(await store.get(spec, 'a', 'default')).toMatchObject({ row: null, tenant: null });
        expect(await store.get(spec, 'a')).toMatchObject({ row: { status: 'acme' }, tenant: 'acme' });
        expect(await store.get(spec, 'b')).toMatchObject({ row: { status: 'default' }, tenant: 'default' });
        expect(await store.get(spec, 'b', 'acme')).toMatchObject({ row: { id: 'b', status: 'acme' } });
        expect((await store.get(spec, 'b', 'acme')).row).not.toHaveProperty('__lf_tenant');
        expect(await store.get(spec, 'b', 'initech')).toMatchObject({ row: null, tenant: null });
      });

      it('a list with a tenant pages that tenant’s rows by key, filters included; without one, every tenant’s by key then tenant', async () => {
        const spec = await given({ id: 'text', status: 'text' });
        const tenants = ['default', 'acme', 'globex'];
        const keys = ['k1', 'k2', 'k3', 'k4'];
        await store.applyBatch(
          spec,
          1,
          tenants.flatMap((t) => keys.map((id, i) => of(t, upsert({ id, status: i % 2 ? 'odd' : 'even' })))),
          advance(null, 12n),
        );
        const page = (query: Partial<Parameters<ProjectionStore['list']>[1]>) =>
          store.list(spec, { filters: {}, limit: 2, afterKey: null, ...query });
        const acme = await page({ tenant: 'acme', limit: 3 });
        expect(acme.rows.map((r) => r.id)).toEqual(['k1', 'k2', 'k3']);
        expect(acme.tenants).toEqual(['acme', 'acme', 'acme']);
        expect((await page({ tenant: 'acme', afterKey: 'k3' })).rows.map((r) => r.id)).toEqual(['k4']);
        expect(
          (await page({ tenant: 'globex', filters: { status: 'odd' }, limit: 10 })).rows.map((r) => r.id),
        ).toEqual(['k2', 'k4']);
        expect((await page({ tenant: 'initech' })).rows).toEqual([]);
        // every tenant's rows, each once, in pages that end between two tenants of one key
        const seen: string[] = [];
        let after: { afterKey: string | null; afterTenant?: string } = { afterKey: null };
        for (;;) {
          const r = await page({ ...after, limit: 5 });
          if (!r.rows.length) break;
          seen.push(...r.rows.map((row, i) => `${row.id}/${r.tenants[i]}`));
          after = { afterKey: String(r.rows.at(-1)!.id), afterTenant: r.tenants.at(-1)! };
        }
        expect(seen).toEqual(keys.flatMap((k) => ['acme', 'default', 'globex'].map((t) => `${k}/${t}`)));
        // a page after a key without a tenant is after the default tenant's row of that key
        expect((await page({ afterKey: 'k2', limit: 2 })).tenants).toEqual(['globex', 'acme']);
      });
    });

    describe('checkpoint notifications', () => {
      /** listens, keeping each notification with the checkpoints read right after it */
      const listen = async (name: string, generation = 1) => {
        const heard: { projection: string; offsets: Promise<bigint[]> }[] = [];
        const unsubscribe = await store.onCheckpoint((projection) => {
          heard.push({
            projection,
            offsets: store.checkpoints(name, generation).then((cs) => cs.map((c) => c.nextOffset)),
          });
        });
        const of = (projection: string) => heard.filter((h) => h.projection === projection);
        return { heard, of, unsubscribe };
      };

      it('a committed batch is told to listeners by its projection name, once it can be read', async () => {
        const spec = await given();
        const { of, unsubscribe } = await listen(spec.name);
        try {
          await store.applyBatch(spec, 1, [upsert({ id: 'a' })], advance(null, 3n));
          await waitFor(async () => of(spec.name).length >= 1, 10_000);
          await store.applyBatch(spec, 1, [increment('a', { n: 1 })], advance(3n, 7n));
          await waitFor(async () => of(spec.name).length >= 2, 10_000);
          const seen = await Promise.all(of(spec.name).map((h) => h.offsets));
          // each notification comes after its commit: a read it starts sees that batch's checkpoint
          expect(seen[0]![0]).toBeGreaterThanOrEqual(3n);
          expect(seen[1]).toEqual([7n]);
        } finally {
          await unsubscribe();
        }
      });

      it('a fenced batch tells no one; a dead letter, a resolve that resumes, a rebuild switch do', async () => {
        const spec = await given();
        const marker = await given();
        const { heard, of, unsubscribe } = await listen(spec.name);
        let marks = 0;
        // notifications come in commit order: once the marker's is heard, any before it has been too
        const mark = async () => {
          marks += 1;
          await store.applyBatch(
            marker,
            1,
            [],
            advance(marks === 1 ? null : BigInt(marks - 1), BigInt(marks)),
          );
          await waitFor(async () => of(marker.name).length >= marks, 10_000);
        };
        try {
          await store.applyBatch(spec, 1, [], advance(null, 2n));
          await waitFor(async () => of(spec.name).length === 1, 10_000);
          await expect(store.applyBatch(spec, 1, [upsert({ id: 'a' })], advance(1n, 3n))).rejects.toThrow();
          await expect(store.recordDeadLetter(spec.name, 1, poison(2n), advance(1n, 3n))).rejects.toThrow();
          await mark();
          expect(of(spec.name)).toHaveLength(1);

          await store.recordDeadLetter(spec.name, 1, poison(2n), null); // halt
          await waitFor(async () => of(spec.name).length === 2, 10_000);
          const [letter] = await lettersOf(spec.name);
          await store.resolveDeadLetter(spec, letter!.id, 'skipped', []);
          await waitFor(async () => of(spec.name).length === 3, 10_000);
          expect(await of(spec.name)[2]!.offsets).toEqual([3n]);
          await store.recordDeadLetter(spec.name, 1, poison(3n), advance(3n, 4n)); // skip
          await waitFor(async () => of(spec.name).length === 4, 10_000);
          expect(await of(spec.name)[3]!.offsets).toEqual([4n]);
          const g = await store.beginRebuild(spec);
          await store.switchGeneration(spec.name, g);
          await waitFor(async () => of(spec.name).length === 5, 10_000);
          await mark();
          expect(heard.map((h) => h.projection).filter((p) => p === spec.name)).toHaveLength(5);
        } finally {
          await unsubscribe();
        }
      });

      it('after unsubscribing a listener hears nothing more', async () => {
        const spec = await given();
        const gone = await listen(spec.name);
        await gone.unsubscribe();
        const stays = await listen(spec.name);
        try {
          await store.applyBatch(spec, 1, [], advance(null, 1n));
          await waitFor(async () => stays.of(spec.name).length === 1, 10_000);
          expect(gone.heard).toEqual([]);
        } finally {
          await stays.unsubscribe();
        }
      });
    });
  });
};
