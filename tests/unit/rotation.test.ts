import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { rotateKeys } from '../../app/keys.ts';
import type { AuditInput } from '../../core/security/audit.ts';
import { type DataKeyRecord, type DataKeyStore, unwrapKey, wrapKey } from '../../core/security/crypto.ts';
import { type RewrappableKeys, rotateDataKeys, withPreviousKek } from '../../core/security/rotation.ts';

/** a key store in memory (the Postgres one is tested against Postgres and PGlite), in key id order */
const memoryKeys = (records: DataKeyRecord[]) => {
  const keys = new Map(records.map((r) => [r.keyId, r.wrapped]));
  const store: DataKeyStore & RewrappableKeys & { failAfterPages?: number; pages: number } = {
    pages: 0,
    keyFor: async (_tenant, _subject, fresh) => fresh,
    byIds: async (ids) => new Map(ids.flatMap((id) => (keys.has(id) ? [[id, keys.get(id)!] as const] : []))),
    destroy: async () => 0,
    page: async (after, limit) =>
      [...keys]
        .sort(([a], [b]) => a.localeCompare(b))
        .filter(([id]) => after === null || id > after)
        .slice(0, limit)
        .map(([keyId, wrapped]) => ({ keyId, wrapped })),
    rewrap: async (entries) => {
      store.pages += 1;
      if (store.failAfterPages !== undefined && store.pages > store.failAfterPages) {
        throw new Error('postgres is down');
      }
      let n = 0;
      for (const e of entries)
        if (keys.get(e.keyId) === e.from) {
          keys.set(e.keyId, e.to);
          n++;
        }
      return n;
    },
  };
  return { store, keys };
};

const dataKeys = Array.from({ length: 7 }, (_, i) => ({ keyId: `k${i}`, key: randomBytes(32) }));
const wrappedWith = (kek: Buffer) =>
  dataKeys.map(({ keyId, key }) => ({ keyId, wrapped: wrapKey(kek, keyId, key) }));

describe('rotating the key-encryption key', () => {
  it('re-wraps every key from the previous KEK to the new one; the data keys stay what they were', async () => {
    const [previous, kek] = [randomBytes(32), randomBytes(32)];
    const { store, keys } = memoryKeys(wrappedWith(previous));
    expect(await rotateDataKeys({ keys: store, kek, previous, pageSize: 3 })).toEqual({
      rewrapped: 7,
      current: 0,
      unreadable: 0,
    });
    for (const { keyId, key } of dataKeys)
      expect(unwrapKey(kek, keyId, keys.get(keyId)!).equals(key)).toBe(true);
    // run again: nothing left to do
    expect(await rotateDataKeys({ keys: store, kek, previous })).toEqual({
      rewrapped: 0,
      current: 7,
      unreadable: 0,
    });
  });

  it('a run that stops midway leaves every key readable with one of the two KEKs; the next run finishes', async () => {
    const [previous, kek] = [randomBytes(32), randomBytes(32)];
    const { store, keys } = memoryKeys(wrappedWith(previous));
    store.failAfterPages = 1;
    await expect(rotateDataKeys({ keys: store, kek, previous, pageSize: 3 })).rejects.toThrow(
      'postgres is down',
    );
    const reader = withPreviousKek(store, kek, previous);
    const read = await reader.byIds(dataKeys.map((k) => k.keyId));
    for (const { keyId, key } of dataKeys)
      expect(unwrapKey(kek, keyId, read.get(keyId)!).equals(key)).toBe(true);
    const opens = (k: Buffer) =>
      [...keys].filter(([keyId, wrapped]) => {
        try {
          return unwrapKey(k, keyId, wrapped).length === 32;
        } catch {
          return false;
        }
      }).length;
    expect([opens(kek), opens(previous)]).toEqual([3, 4]);
    store.failAfterPages = undefined;
    expect(await rotateDataKeys({ keys: store, kek, previous, pageSize: 3 })).toEqual({
      rewrapped: 4,
      current: 3,
      unreadable: 0,
    });
  });

  it('a key neither KEK opens is counted and left as it is; without a previous KEK nothing is re-wrapped', async () => {
    const [previous, kek, stranger] = [randomBytes(32), randomBytes(32), randomBytes(32)];
    const records = [
      ...wrappedWith(previous).slice(0, 2),
      { keyId: 'x', wrapped: wrapKey(stranger, 'x', randomBytes(32)) },
    ];
    const { store, keys } = memoryKeys(records);
    expect(await rotateDataKeys({ keys: store, kek, previous: null })).toEqual({
      rewrapped: 0,
      current: 0,
      unreadable: 3,
    });
    expect(await rotateDataKeys({ keys: store, kek, previous })).toEqual({
      rewrapped: 2,
      current: 0,
      unreadable: 1,
    });
    expect(keys.get('x')).toBe(records[2]!.wrapped);
  });
});

describe('reading keys while a rotation is under way', () => {
  it('a key wrapped with the previous KEK is answered wrapped with the new one; one neither opens as it is', async () => {
    const [previous, kek] = [randomBytes(32), randomBytes(32)];
    const key = randomBytes(32);
    const records = [
      { keyId: 'old', wrapped: wrapKey(previous, 'old', key) },
      { keyId: 'new', wrapped: wrapKey(kek, 'new', key) },
      { keyId: 'lost', wrapped: wrapKey(randomBytes(32), 'lost', key) },
    ];
    const { store } = memoryKeys(records);
    const reader = withPreviousKek(store, kek, previous);
    const read = await reader.byIds(['old', 'new', 'lost', 'gone']);
    expect(unwrapKey(kek, 'old', read.get('old')!).equals(key)).toBe(true);
    expect(read.get('new')).toBe(records[1]!.wrapped);
    expect(read.get('lost')).toBe(records[2]!.wrapped);
    expect(read.has('gone')).toBe(false);
    const made = await reader.keyFor('t', 's', records[0]!);
    expect(unwrapKey(kek, 'old', made.wrapped).equals(key)).toBe(true);
    expect(await reader.destroy('t', 's')).toBe(0);
  });
});

describe('a rotation as logfront runs it: audited, purged', () => {
  const by = { actor: 'cli:ops', tenant: 'default', traceId: null };
  const trail = (failRecord = false) => {
    const recorded: AuditInput[] = [];
    const offered: AuditInput[] = [];
    return {
      recorded,
      offered,
      audit: {
        record: async (...entries: AuditInput[]) => {
          if (failRecord) throw new Error('kafka is down');
          recorded.push(...entries);
        },
        offer: (entry: AuditInput) => {
          offered.push(entry);
        },
      },
    };
  };

  it('records started before any key is re-wrapped, then the outcome; purges the old copies', async () => {
    const [previous, kek] = [randomBytes(32), randomBytes(32)];
    const { store } = memoryKeys([...wrappedWith(previous).slice(0, 1), { keyId: 'x', wrapped: 'bad' }]);
    const t = trail();
    const purged: string[][] = [];
    const result = await rotateKeys({
      kek,
      previous,
      keys: store,
      audit: t.audit,
      by,
      schema: 'shop',
      purge: async (p) => {
        purged.push([...p]);
      },
    });
    expect(result).toEqual({ rewrapped: 1, current: 0, unreadable: 1 });
    expect(purged).toEqual([[]]);
    expect(t.recorded).toEqual([
      { ...by, action: 'keys.rotated', resource: 'data-keys/shop', outcome: 'started' },
      {
        ...by,
        action: 'keys.rotated',
        resource: 'data-keys/shop',
        outcome: 'failure',
        reason: '1 data keys open with neither the new nor the previous KEK',
        details: result,
      },
    ]);
  });

  it('an audit log that cannot take the request: nothing is re-wrapped; a failing store is recorded as a failure', async () => {
    const [previous, kek] = [randomBytes(32), randomBytes(32)];
    const { store, keys } = memoryKeys(wrappedWith(previous));
    const before = new Map(keys);
    await expect(
      rotateKeys({ kek, previous, keys: store, audit: trail(true).audit, by, schema: 's' }),
    ).rejects.toThrow('kafka is down');
    expect(keys).toEqual(before);
    store.failAfterPages = 0;
    const t = trail();
    await expect(rotateKeys({ kek, previous, keys: store, audit: t.audit, by, schema: 's' })).rejects.toThrow(
      'postgres is down',
    );
    expect(t.offered).toEqual([
      {
        ...by,
        action: 'keys.rotated',
        resource: 'data-keys/s',
        outcome: 'failure',
        reason: 'postgres is down',
      },
    ]);
    store.failAfterPages = undefined;
    expect(await rotateKeys({ kek, previous, keys: store, audit: t.audit, by, schema: 's' })).toMatchObject({
      rewrapped: 7,
    });
    expect(t.recorded.at(-1)).toMatchObject({ outcome: 'success', details: { rewrapped: 7 } });
  });

  it('without a KEK (LOGFRONT_ENCRYPTION=off) there is nothing to rotate, said so', async () => {
    await expect(
      rotateKeys({
        kek: null,
        previous: null,
        keys: memoryKeys([]).store,
        audit: trail().audit,
        by,
        schema: 's',
      }),
    ).rejects.toThrow(/LOGFRONT_ENCRYPTION: off: sensitive fields are not encrypted/);
  });
});
