import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Change } from '../../core/projection.ts';
import type { DataKeyStore, FieldCipher } from '../../core/security/crypto.ts';
import {
  createErasedRows,
  createErasure,
  createSubjectRefs,
  type ErasedSubjects,
  erasedBefore,
  type Horizon,
  type SubjectProjection,
} from '../../core/security/erasure.ts';
import { MAX_SUBJECT_ID, subjectIdProblem } from '../../core/security/names.ts';
import type { EventId, RecordedEvent, StreamId } from '../../core/types.ts';

const TOPIC = 'p.events.order';

/** an event at `offset` of partition 0, in `tenant` (none: the default tenant) */
const at = (offset: bigint, tenant?: string): RecordedEvent => ({
  id: `e-${offset}` as EventId,
  stream: 'order-1' as StreamId,
  version: Number(offset),
  type: 'OrderPlaced',
  data: {},
  metadata: tenant ? { tenant } : {},
  recordedAt: '2024-01-01T00:00:00Z',
  position: { topic: TOPIC, partition: 0, offset },
});

/** the erasures' record in memory: the Postgres one is tested against Postgres and PGlite */
const memoryErased = () => {
  const horizons = new Map<string, Horizon>();
  let version = 0n;
  const erased: ErasedSubjects & { lookups: number } = {
    lookups: 0,
    record: async (ref, ends) => {
      horizons.set(ref, new Map(ends.map((p) => [`${p.topic}/${p.partition}`, p.offset])));
      version += 1n;
    },
    lookup: async (refs) => {
      erased.lookups += 1;
      return {
        version,
        horizons: new Map(refs.flatMap((r) => (horizons.has(r) ? [[r, horizons.get(r)!] as const] : []))),
      };
    },
    version: async () => version,
  };
  return erased;
};

const orders: SubjectProjection = {
  name: 'orders',
  key: 'orderId',
  subject: 'customerId',
  columns: { orderId: 'text', customerId: 'text' },
};
const totals: SubjectProjection = {
  name: 'totals',
  key: 'customerId',
  subject: 'customerId',
  columns: { customerId: 'text', n: 'integer' },
};
const placed = (orderId: string, customerId: string): Change => ({
  kind: 'upsert',
  row: { orderId, customerId },
});

const setup = () => {
  const erased = memoryErased();
  const deleted: { projection: string; generation: number; keys: string[] }[] = [];
  const rows = createErasedRows({
    refOf: async (tenant, subject) => `${tenant}/${subject}`,
    erased,
    deleteRows: async (projection, generation, rows) => {
      // the default tenant's rows by key, another tenant's as tenant/key
      const keys = rows.map((r) => (r.tenant === 'default' ? r.key : `${r.tenant}/${r.key}`));
      deleted.push({ projection: projection.name, generation, keys });
    },
  });
  const end = (offset: bigint) => [{ topic: TOPIC, partition: 0, offset }];
  return { erased, deleted, rows, end };
};

describe('an erasure covers the events before its horizon', () => {
  it('an event below the next offset of its partition at the erasure is covered; at or after it, or elsewhere, not', () => {
    const horizon: Horizon = new Map([[`${TOPIC}/0`, 10n]]);
    expect(erasedBefore(horizon, at(9n).position)).toBe(true);
    expect(erasedBefore(horizon, at(10n).position)).toBe(false);
    expect(erasedBefore(horizon, { topic: TOPIC, partition: 1, offset: 0n })).toBe(false);
    expect(erasedBefore(undefined, at(0n).position)).toBe(false);
  });
});

describe('screening a batch against erasures', () => {
  it('a change that gives a row an erased subject, from an event before the erasure, deletes the row instead', async () => {
    const s = setup();
    await s.erased.record('default/ada', s.end(10n));
    const changes: Change[] = [
      placed('o1', 'ada'),
      placed('o2', 'bob'),
      placed('o3', 'ada'),
      { kind: 'patch', key: 'o4', set: { customerId: 'ada' } },
      { kind: 'patch', key: 'o5', set: { status: 'shipped' } },
      { kind: 'delete', key: 'o6' },
      placed('o7', 'ada'),
      placed('o8', 'ada'),
    ];
    const events = new Map<Change, RecordedEvent>([
      [changes[0]!, at(3n)],
      [changes[1]!, at(4n)],
      [changes[2]!, at(12n)], // after the erasure: a new key, new rows
      [changes[3]!, at(5n)],
      [changes[4]!, at(5n)],
      [changes[5]!, at(5n)],
      [changes[6]!, at(6n, 'acme')], // another tenant's ada
    ]);
    const screened = await s.rows.screen(orders, changes, (c) => events.get(c));
    expect(screened.changes).toEqual([
      { kind: 'delete', key: 'o1' },
      placed('o2', 'bob'),
      placed('o3', 'ada'),
      { kind: 'delete', key: 'o4' },
      { kind: 'patch', key: 'o5', set: { status: 'shipped' } },
      { kind: 'delete', key: 'o6' },
      placed('o7', 'ada'),
      placed('o8', 'ada'), // no event known for it: applied as it is
    ]);
    expect(await screened.settle(1)).toEqual([]);
    expect(s.deleted).toEqual([]);
  });

  it('a projection keyed by its subject: an increment of an erased subject deletes the row', async () => {
    const s = setup();
    await s.erased.record('default/ada', s.end(10n));
    const changes: Change[] = [
      { kind: 'increment', key: 'ada', by: { n: 1 } },
      { kind: 'increment', key: 'bob', by: { n: 1 } },
    ];
    const screened = await s.rows.screen(totals, changes, () => at(1n));
    expect(screened.changes).toEqual([
      { kind: 'delete', key: 'ada' },
      { kind: 'increment', key: 'bob', by: { n: 1 } },
    ]);
  });

  it('nothing that names a subject: no lookup at all', async () => {
    const s = setup();
    const changes: Change[] = [{ kind: 'delete', key: 'o1' }, placed('o2', 'ada')];
    const none = await s.rows.screen({ ...orders, subject: undefined } as SubjectProjection, changes, () =>
      at(1n),
    );
    expect(none.changes).toEqual(changes);
    expect(await none.settle(1)).toEqual([]);
    const numeric = await s.rows.screen(
      orders,
      [{ kind: 'upsert', row: { orderId: 'o', customerId: 7 } }],
      () => at(1n),
    );
    expect(numeric.changes).toHaveLength(1);
    expect(s.erased.lookups).toBe(0);
  });

  it('an erasure recorded while the batch was applied: settle deletes the rows it wrote for that subject', async () => {
    const s = setup();
    await s.erased.record('default/cyd', s.end(2n));
    const changes: Change[] = [
      placed('o1', 'ada'),
      placed('o2', 'ada'),
      placed('o3', 'bob'),
      placed('o4', 'cyd'),
    ];
    const screened = await s.rows.screen(orders, changes, () => at(1n));
    expect(screened.changes[3]).toEqual({ kind: 'delete', key: 'o4' });
    // the batch commits; meanwhile ada was erased (her rows deleted before these were written)
    await s.erased.record('default/ada', s.end(5n));
    expect(await screened.settle(3)).toEqual(['o1', 'o2']);
    expect(s.deleted).toEqual([{ projection: 'orders', generation: 3, keys: ['o1', 'o2'] }]);
    // an erasure that covers nothing of the batch: nothing to delete
    const later = await s.rows.screen(orders, [placed('o5', 'bob')], () => at(1n));
    await s.erased.record('default/dan', s.end(5n));
    expect(await later.settle(3)).toEqual([]);
    expect(s.deleted).toHaveLength(1);
  });
});

describe('screening keeps to the tenant of each change', () => {
  it("another tenant's erasure of the same subject id covers only that tenant's rows, now and when settled", async () => {
    const s = setup();
    await s.erased.record('acme/ada', s.end(10n));
    const changes: Change[] = [
      { ...placed('o1', 'ada'), tenant: 'acme' },
      placed('o2', 'ada'), // the default tenant's ada: not erased
      { ...placed('o3', 'bob'), tenant: 'acme' },
    ];
    const events = new Map<Change, RecordedEvent>([
      [changes[0]!, at(3n, 'acme')],
      [changes[1]!, at(4n)],
      [changes[2]!, at(5n, 'acme')],
    ]);
    const screened = await s.rows.screen(orders, changes, (c) => events.get(c));
    expect(screened.changes).toEqual([
      { kind: 'delete', key: 'o1', tenant: 'acme' },
      placed('o2', 'ada'),
      { ...placed('o3', 'bob'), tenant: 'acme' },
    ]);
    // bob of acme is erased meanwhile: settle deletes acme's o3, by tenant and key
    await s.erased.record('acme/bob', s.end(10n));
    expect(await screened.settle(2)).toEqual(['acme\u0000o3']);
    expect(s.deleted).toEqual([{ projection: 'orders', generation: 2, keys: ['acme/o3'] }]);
  });
});

describe('the names of erased subjects', () => {
  const memoryKeys = (): DataKeyStore & { calls: number } => {
    const keys = new Map<string, { keyId: string; wrapped: string }>();
    const store = {
      calls: 0,
      keyFor: async (tenant: string, subject: string, fresh: { keyId: string; wrapped: string }) => {
        store.calls += 1;
        if (store.calls === 1) throw new Error('postgres is down');
        const k = `${tenant}\u0000${subject}`;
        if (!keys.has(k)) keys.set(k, fresh);
        return keys.get(k)!;
      },
      byIds: async () => new Map<string, string>(),
      destroy: async () => 0,
    };
    return store;
  };

  it('an HMAC of tenant and subject under a key of the key store, the same for every process that shares it', async () => {
    const kek = randomBytes(32);
    const keys = memoryKeys();
    const mine = createSubjectRefs(keys, kek);
    await expect(mine('default', 'ada')).rejects.toThrow('postgres is down');
    const ref = await mine('default', 'ada');
    expect(ref).toMatch(/^hmac:[0-9a-f]{32}$/);
    expect(ref).not.toContain('ada');
    expect(await mine('default', 'ada')).toBe(ref);
    expect(await mine('acme', 'ada')).not.toBe(ref);
    // a tenant's name holds no newline (names.ts): `<tenant>\n<subject>` is unambiguous
    expect(await mine('default', 'ada\n')).not.toBe(ref);
    // another process: the key it finds stored, unwrapped with the KEK
    expect(await createSubjectRefs(keys, kek)('default', 'ada')).toBe(ref);
    expect(keys.calls).toBe(3);
  });
});

describe('an erasure: keys, record, rows, purge, in that order', () => {
  it('records the subject before deleting rows and purges the subject projections even when nothing was found', async () => {
    const steps: string[] = [];
    const erasure = createErasure({
      cipher: {
        forget: async () => {
          steps.push('keys');
          return 0;
        },
      } as unknown as FieldCipher,
      projections: [{ name: 'orders', subject: 'customerId' }, { name: 'plain' }],
      deleteRows: async (projection) => {
        steps.push(`rows ${projection}`);
        return 0;
      },
      audit: { subjectRef: () => 'hmac:x', record: async () => {}, offer: () => {} },
      remember: async (tenant, subject) => {
        steps.push(`remember ${tenant} ${subject}`);
      },
      purge: async (projections) => {
        steps.push(`purge ${projections.join(',')}`);
      },
    });
    expect(await erasure.erase('\tada', { actor: 'ops', tenant: 'acme' })).toMatchObject({
      keysDestroyed: 0,
    });
    expect(steps).toEqual(['keys', 'remember acme \tada', 'rows orders', 'purge orders']);
  });

  it('one rule for subject ids, the append path and the erasure alike', () => {
    expect(subjectIdProblem('\t a\u001f')).toBeUndefined();
    expect(subjectIdProblem('x'.repeat(MAX_SUBJECT_ID))).toBeUndefined();
    expect(subjectIdProblem('')).toMatch(/^1 to 300 characters/);
    expect(subjectIdProblem('x'.repeat(MAX_SUBJECT_ID + 1))).toMatch(/^1 to 300 characters/);
    expect(subjectIdProblem('a\u0000')).toMatch(/NUL/);
    expect(subjectIdProblem('a\ud800')).toMatch(/surrogate/);
  });
});
