// The process LRU in front of the shared cache: pure logic, with a scripted shared cache.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Checkpoint } from '../../core/projection.ts';
import {
  appliedOf,
  type CacheEntry,
  createRowCache,
  decodeEntry,
  encodeEntry,
  type InvalidationListener,
  newestTouches,
  rowChecksum,
  type SharedCache,
  storedIsAhead,
  survivesMarks,
} from '../../core/read/cache.ts';

const entry = (status: string, next = 5n, generation = 1): CacheEntry => ({
  row: { orderId: '1', status },
  generation,
  checkpoints: [{ topic: 't', partition: 0, nextOffset: next, lastEventAt: null, caughtUpAt: 7 }],
});

const scripted = (options: { live?: boolean } = {}) => {
  const stored = new Map<string, CacheEntry>();
  let listener: InvalidationListener | undefined;
  const calls = { get: 0, put: 0, drop: 0, unsubscribe: 0 };
  let failing = false;
  const fail = () => {
    if (failing) throw new Error('redis down');
  };
  const shared: SharedCache = {
    get: async (p, key, generation) => {
      calls.get += 1;
      fail();
      const e = stored.get(`${p}/${key}`);
      return e && e.generation === generation ? e : null;
    },
    put: async (p, key, e) => {
      calls.put += 1;
      fail();
      stored.set(`${p}/${key}`, e);
      return true;
    },
    drop: async (p, key) => {
      calls.drop += 1;
      fail();
      stored.delete(`${p}/${key}`);
    },
    invalidate: async () => {},
    bumpEpoch: async () => {},
    progress: async () => [],
    subscribe: async (l) => {
      listener = l;
      if (options.live !== false) l.live(true);
      return async () => {
        calls.unsubscribe += 1;
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

  it('a row found in the shared cache is counted as a shared hit, then kept in the LRU', async () => {
    const s = scripted();
    const c = counting();
    s.stored.set('orders/1', entry('placed'));
    const cache = await createRowCache({ shared: s.shared, lruEntries: 10, lruTtlMs: 1000, stats: c.stats });
    expect((await cache.lookup('orders', '1', 1))?.tier).toBe('shared');
    expect((await cache.lookup('orders', '1', 1))?.tier).toBe('memory');
    expect(c.seen).toEqual({ memory: 1, shared: 1, miss: 0, errors: [] });
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
    expect(s.stored.get('orders/1')?.row.status).toBe('right');
    expect((await cache.lookup('orders', '1', 1))?.entry.row.status).toBe('right');
    await cache.repair('orders', '1', null, cache.begin());
    expect(s.stored.has('orders/1')).toBe(false);
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

  it('a read begun before the subscription dropped is stored nowhere: the shared cache may have lost its marks', async () => {
    const s = scripted();
    const cache = await createRowCache({ shared: s.shared, lruEntries: 10, lruTtlMs: 1000 });
    const before = cache.begin();
    s.listener().live(false); // Redis restarted (empty, maybe): marks that superseded this read are gone
    s.listener().live(true);
    await cache.store('orders', '1', entry('old'), before);
    expect(s.calls.put).toBe(0);
    expect(await cache.lookup('orders', '1', 1)).toBeNull();
    await cache.store('orders', '1', entry('new'), cache.begin()); // a read begun since: stored
    expect(s.stored.get('orders/1')?.row.status).toBe('new');
  });

  it('up to 100,000 invalidated keys are remembered one by one: a read of another key keeps its copy', async () => {
    const s = scripted();
    const cache = await createRowCache({ shared: s.shared, lruEntries: 10, lruTtlMs: 1000 });
    const begun = cache.begin();
    s.listener().invalidated(
      'orders',
      Array.from({ length: 100_000 }, (_, i) => `k${i}`),
    );
    await cache.store('orders', '1', entry('placed'), begun);
    expect((await cache.lookup('orders', '1', 1))?.tier).toBe('memory');
  });

  it('an invalidation of one key does not keep a read of another key, begun before it, out of the LRU', async () => {
    const s = scripted();
    const cache = await createRowCache({ shared: s.shared, lruEntries: 10, lruTtlMs: 1000 });
    const begun = cache.begin();
    s.listener().invalidated('orders', ['2']);
    await cache.store('orders', '1', entry('placed'), begun);
    expect((await cache.lookup('orders', '1', 1))?.tier).toBe('memory');
  });

  it('keys and projections have copies of their own in the LRU', async () => {
    const s = scripted();
    const cache = await createRowCache({ shared: s.shared, lruEntries: 10, lruTtlMs: 1000 });
    await cache.store('orders', '1', entry('one'), cache.begin());
    await cache.store('orders', '2', entry('two'), cache.begin());
    await cache.store('carts', '1', entry('cart'), cache.begin());
    expect((await cache.lookup('orders', '1', 1))?.entry.row.status).toBe('one');
    expect((await cache.lookup('orders', '2', 1))?.entry.row.status).toBe('two');
    expect((await cache.lookup('carts', '1', 1))?.entry.row.status).toBe('cart');
    expect(s.calls.get).toBe(0);
    // an invalidation names its projection: the other's copy stays
    s.listener().invalidated('carts', ['1']);
    expect((await cache.lookup('orders', '1', 1))?.tier).toBe('memory');
    expect((await cache.lookup('carts', '1', 1))?.tier).toBe('shared');
  });

  it('until the subscription is live, nothing is kept in the LRU', async () => {
    const s = scripted({ live: false });
    const cache = await createRowCache({ shared: s.shared, lruEntries: 10, lruTtlMs: 1000 });
    await cache.store('orders', '1', entry('placed'), cache.begin());
    expect((await cache.lookup('orders', '1', 1))?.tier).toBe('shared');
    expect((await cache.lookup('orders', '1', 1))?.tier).toBe('shared');
  });

  it('without stats, a failing shared cache is still a miss and a skipped store', async () => {
    const s = scripted();
    const cache = await createRowCache({ shared: s.shared, lruEntries: 10, lruTtlMs: 1000 });
    s.setFailing(true);
    await cache.store('orders', '1', entry('placed'), cache.begin());
    expect(await cache.lookup('orders', '1', 1)).toBeNull();
    await cache.repair('orders', '1', entry('placed'), cache.begin());
    expect(s.calls).toMatchObject({ put: 1, get: 1, drop: 1 });
  });

  it('a repair whose drop fails stores nothing', async () => {
    const s = scripted();
    const c = counting();
    const cache = await createRowCache({ shared: s.shared, lruEntries: 10, lruTtlMs: 1000, stats: c.stats });
    s.shared.drop = async () => {
      throw new Error('redis down');
    };
    await cache.repair('orders', '1', entry('right'), cache.begin());
    expect(c.seen.errors).toEqual(['drop']);
    expect(s.calls.put).toBe(0);
  });

  it('close unsubscribes and empties the LRU', async () => {
    const s = scripted();
    const cache = await createRowCache({ shared: s.shared, lruEntries: 10, lruTtlMs: 1000 });
    await cache.store('orders', '1', entry('placed'), cache.begin());
    await cache.close();
    expect(s.calls.unsubscribe).toBe(1);
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

  it("carry another tenant's row with its tenant; the default tenant's as before, without one", () => {
    const e: CacheEntry = { row: { a: 1 }, tenant: 'acme', generation: 1, checkpoints: [] };
    expect(decodeEntry(encodeEntry(e))).toEqual(e);
    const plain: CacheEntry = { row: { a: 1 }, generation: 1, checkpoints: [] };
    expect(JSON.parse(encodeEntry(plain))).not.toHaveProperty('t');
    expect(decodeEntry(encodeEntry(plain))).toEqual(plain);
  });

  it('a checksum does not depend on key order and does depend on values', () => {
    expect(rowChecksum({ a: 1, b: { c: [1, 2], d: 'x' } })).toBe(
      rowChecksum({ b: { d: 'x', c: [1, 2] }, a: 1 }),
    );
    expect(rowChecksum({ a: 1 })).not.toBe(rowChecksum({ a: 2 }));
    expect(rowChecksum({ a: 1, u: undefined })).toBe(rowChecksum({ a: 1 }));
  });

  it('a checksum is the SHA-256 of the row as JSON with sorted keys, whatever process computes it', () => {
    const sha = (text: string) => createHash('sha256').update(text).digest('base64url');
    expect(rowChecksum({ b: [1, 'x', null, { d: true, c: 2 }], a: { z: null }, u: undefined })).toBe(
      sha('{"a":{"z":null},"b":[1,"x",null,{"c":2,"d":true}]}'),
    );
    // an undefined array item is null, as in JSON
    expect(rowChecksum({ a: [undefined] })).toBe(sha('{"a":[null]}'));
    expect(rowChecksum({})).toBe(sha('{}'));
  });

  it('a checksum tells an array from an object with index keys, and arrays by their items', () => {
    expect(rowChecksum({ a: [1] })).not.toBe(rowChecksum({ a: { 0: 1 } }));
    expect(rowChecksum({ a: [1, 23] })).not.toBe(rowChecksum({ a: [12, 3] }));
    expect(rowChecksum({ a: [1] })).not.toBe(rowChecksum({ a: [2] }));
  });

  it('survives marks only when every marked position is applied', () => {
    const e = entry('x', 5n);
    expect(survivesMarks(e, new Map([['t/0', 4n]]))).toBe(true);
    expect(survivesMarks(e, new Map([['t/0', 5n]]))).toBe(false);
    expect(survivesMarks(e, new Map([['t/1', 0n]]))).toBe(false);
  });
});

describe('the decisions of the shared caches', () => {
  const at = (partition: number, nextOffset: bigint, topic = 't'): Checkpoint => ({
    topic,
    partition,
    nextOffset,
    lastEventAt: null,
    caughtUpAt: null,
  });
  const read = (...checkpoints: Checkpoint[]): CacheEntry => ({
    row: { id: '1' },
    generation: 1,
    checkpoints,
  });

  it('applied maps each partition of the checkpoints to its next offset', () => {
    expect(appliedOf([at(0, 5n), at(1, 0n), at(0, 2n, 'u')])).toEqual(
      new Map([
        ['t/0', 5n],
        ['t/1', 0n],
        ['u/0', 2n],
      ]),
    );
  });

  it('no marks: any entry survives', () => {
    expect(survivesMarks(read(), new Map())).toBe(true);
    expect(survivesMarks(read(at(0, 0n)), new Map())).toBe(true);
  });

  it('an entry survives several marks only when it has applied each one', () => {
    const e = read(at(0, 5n), at(1, 9n));
    expect(
      survivesMarks(
        e,
        new Map([
          ['t/0', 4n],
          ['t/1', 8n],
        ]),
      ),
    ).toBe(true);
    expect(
      survivesMarks(
        e,
        new Map([
          ['t/0', 4n],
          ['t/1', 9n],
        ]),
      ),
    ).toBe(false);
    expect(
      survivesMarks(
        e,
        new Map([
          ['t/0', 5n],
          ['t/1', 8n],
        ]),
      ),
    ).toBe(false);
  });

  it('a stored entry ahead in one partition and behind in none is kept over an older read', () => {
    expect(storedIsAhead(read(at(0, 6n), at(1, 3n)), read(at(0, 5n), at(1, 3n)))).toBe(true);
  });

  it('a stored entry at the same place as the read, or behind it somewhere, is replaced', () => {
    expect(storedIsAhead(read(at(0, 5n)), read(at(0, 5n)))).toBe(false);
    expect(storedIsAhead(read(at(0, 4n)), read(at(0, 5n)))).toBe(false);
    expect(storedIsAhead(read(at(0, 6n), at(1, 2n)), read(at(0, 5n), at(1, 3n)))).toBe(false);
    expect(storedIsAhead(read(), read(at(0, 5n)))).toBe(false);
  });

  it('a stored entry with a partition the read has not seen is ahead in it, even at offset 0', () => {
    expect(storedIsAhead(read(at(0, 5n), at(1, 0n)), read(at(0, 5n)))).toBe(true);
  });

  it('the touches of a batch mark each key with the newest offset of each partition', () => {
    const touch = (key: string, partition: number, offset: bigint, topic = 't') => ({
      key,
      topic,
      partition,
      offset,
    });
    const marks = newestTouches([
      touch('a', 0, 7n),
      touch('b', 0, 3n),
      touch('a', 0, 9n),
      touch('a', 1, 0n),
      touch('a', 0, 4n),
      touch('b', 0, 3n, 'u'),
    ]);
    expect(marks).toEqual(
      new Map([
        [
          'a',
          new Map([
            ['t/0', 9n],
            ['t/1', 0n],
          ]),
        ],
        [
          'b',
          new Map([
            ['t/0', 3n],
            ['u/0', 3n],
          ]),
        ],
      ]),
    );
    expect(newestTouches([])).toEqual(new Map());
  });
});
