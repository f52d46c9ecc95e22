// The process LRU in front of the shared cache: pure logic, with a scripted shared cache.
import { describe, expect, it } from 'vitest';
import {
  type CacheEntry,
  createRowCache,
  decodeEntry,
  encodeEntry,
  type InvalidationListener,
  rowChecksum,
  type SharedCache,
  survivesMarks,
} from '../../core/cache.ts';

const entry = (status: string, next = 5n, generation = 1): CacheEntry => ({
  row: { orderId: '1', status },
  generation,
  checkpoints: [{ topic: 't', partition: 0, nextOffset: next, lastEventAt: null, caughtUpAt: 7 }],
});

const scripted = () => {
  const stored = new Map<string, CacheEntry>();
  let listener: InvalidationListener | undefined;
  const calls = { get: 0, put: 0, drop: 0 };
  let failing = false;
  const fail = () => {
    if (failing) throw new Error('redis down');
  };
  const shared: SharedCache = {
    get: async (_p, key, generation) => {
      calls.get += 1;
      fail();
      const e = stored.get(key);
      return e && e.generation === generation ? e : null;
    },
    put: async (_p, key, e) => {
      calls.put += 1;
      fail();
      stored.set(key, e);
      return true;
    },
    drop: async (_p, key) => {
      calls.drop += 1;
      fail();
      stored.delete(key);
    },
    invalidate: async () => {},
    bumpEpoch: async () => {},
    progress: async () => [],
    subscribe: async (l) => {
      listener = l;
      l.live(true);
      return async () => {
        listener = undefined;
      };
    },
    ping: async () => {},
    close: async () => {},
  };
  return {
    shared,
    stored,
    calls,
    setFailing: (f: boolean) => {
      failing = f;
    },
    listener: () => listener!,
  };
};

const counting = () => {
  const seen = { memory: 0, shared: 0, miss: 0, errors: [] as string[] };
  return {
    seen,
    stats: {
      hit: (tier: 'memory' | 'shared') => {
        seen[tier] += 1;
      },
      miss: () => {
        seen.miss += 1;
      },
      error: (operation: string) => {
        seen.errors.push(operation);
      },
    },
  };
};

describe('row cache (LRU in front of the shared cache)', () => {
  it('a stored row is served from the process LRU; another generation is a miss', async () => {
    const s = scripted();
    const c = counting();
    const cache = await createRowCache({ shared: s.shared, lruEntries: 10, lruTtlMs: 1000, stats: c.stats });
    await cache.store('orders', '1', entry('placed'), cache.begin());
    expect((await cache.lookup('orders', '1', 1))?.tier).toBe('memory');
    expect(s.calls.get).toBe(0);
    expect(await cache.lookup('orders', '1', 2)).toBeNull();
    expect(c.seen).toMatchObject({ memory: 1, miss: 1 });
    await cache.close();
  });

  it('an invalidation drops the process copy; the next lookup asks the shared cache', async () => {
    const s = scripted();
    const cache = await createRowCache({ shared: s.shared, lruEntries: 10, lruTtlMs: 1000 });
    await cache.store('orders', '1', entry('placed'), cache.begin());
    s.listener().invalidated('orders', ['1']);
    expect((await cache.lookup('orders', '1', 1))?.tier).toBe('shared');
    expect((await cache.lookup('orders', '1', 1))?.tier).toBe('memory');
  });

  it('no process copy of a read that began before an invalidation of its key', async () => {
    const s = scripted();
    const cache = await createRowCache({ shared: s.shared, lruEntries: 10, lruTtlMs: 1000 });
    const begun = cache.begin();
    s.listener().invalidated('orders', ['1']); // arrives while the store read is in flight
    await cache.store('orders', '1', entry('old'), begun);
    expect((await cache.lookup('orders', '1', 1))?.tier).toBe('shared'); // not memory
    // a read that began after it is kept
    await cache.store('orders', '1', entry('new', 6n), cache.begin());
    expect((await cache.lookup('orders', '1', 1))?.tier).toBe('memory');
  });

  it('while invalidations may be missed (subscription down) the LRU is emptied and not used', async () => {
    const s = scripted();
    const cache = await createRowCache({ shared: s.shared, lruEntries: 10, lruTtlMs: 1000 });
    await cache.store('orders', '1', entry('placed'), cache.begin());
    s.listener().live(false);
    expect((await cache.lookup('orders', '1', 1))?.tier).toBe('shared');
    expect((await cache.lookup('orders', '1', 1))?.tier).toBe('shared');
    s.listener().live(true);
    expect((await cache.lookup('orders', '1', 1))?.tier).toBe('shared');
    expect((await cache.lookup('orders', '1', 1))?.tier).toBe('memory');
  });

  it('a failing shared cache is a miss and a skipped store, counted, never an error', async () => {
    const s = scripted();
    const c = counting();
    const cache = await createRowCache({ shared: s.shared, lruEntries: 10, lruTtlMs: 1000, stats: c.stats });
    s.setFailing(true);
    await cache.store('orders', '1', entry('placed'), cache.begin());
    expect(await cache.lookup('orders', '1', 1)).toBeNull();
    await cache.repair('orders', '1', entry('placed'), cache.begin());
    expect(c.seen.errors).toEqual(['put', 'get', 'drop']);
    s.setFailing(false);
    expect(await cache.lookup('orders', '1', 1)).toBeNull();
  });

  it('repair forgets the key everywhere and stores the store row (or nothing)', async () => {
    const s = scripted();
    const cache = await createRowCache({ shared: s.shared, lruEntries: 10, lruTtlMs: 1000 });
    await cache.store('orders', '1', entry('wrong'), cache.begin());
    await cache.repair('orders', '1', entry('right', 6n), cache.begin());
    expect(s.stored.get('1')?.row.status).toBe('right');
    expect((await cache.lookup('orders', '1', 1))?.entry.row.status).toBe('right');
    await cache.repair('orders', '1', null, cache.begin());
    expect(s.stored.has('1')).toBe(false);
    expect(await cache.lookup('orders', '1', 1)).toBeNull();
  });

  it('forgets old invalidation sequence numbers in one step when there are many', async () => {
    const s = scripted();
    const cache = await createRowCache({ shared: s.shared, lruEntries: 10, lruTtlMs: 1000 });
    const begun = cache.begin();
    s.listener().invalidated(
      'orders',
      Array.from({ length: 100_001 }, (_, i) => `k${i}`),
    );
    await cache.store('orders', '1', entry('placed'), begun); // began before the floor: no copy
    expect((await cache.lookup('orders', '1', 1))?.tier).toBe('shared');
  });
});

describe('cache entries', () => {
  it('encode and decode to the same entry', () => {
    const e: CacheEntry = {
      row: { a: 1, b: 'x', c: null },
      generation: 3,
      checkpoints: [
        {
          topic: 't',
          partition: 2,
          nextOffset: 9007199254740993n,
          lastEventAt: '2026-01-01T00:00:00.000Z',
          caughtUpAt: null,
        },
      ],
    };
    expect(decodeEntry(encodeEntry(e))).toEqual(e);
  });

  it('a checksum does not depend on key order and does depend on values', () => {
    expect(rowChecksum({ a: 1, b: { c: [1, 2], d: 'x' } })).toBe(
      rowChecksum({ b: { d: 'x', c: [1, 2] }, a: 1 }),
    );
    expect(rowChecksum({ a: 1 })).not.toBe(rowChecksum({ a: 2 }));
    expect(rowChecksum({ a: 1, u: undefined })).toBe(rowChecksum({ a: 1 }));
  });

  it('survives marks only when every marked position is applied', () => {
    const e = entry('x', 5n);
    expect(survivesMarks(e, new Map([['t/0', 4n]]))).toBe(true);
    expect(survivesMarks(e, new Map([['t/0', 5n]]))).toBe(false);
    expect(survivesMarks(e, new Map([['t/1', 0n]]))).toBe(false);
  });
});
