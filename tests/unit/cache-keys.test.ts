// Redis Cluster runs a script only when all its keys hash to one slot (CROSSSLOT otherwise): every key
// the cache's scripts are given carries the projection's hash tag.
import { describe, expect, it } from 'vitest';
import { cacheKeys, scriptKeys } from '../../connectors/redis/cache.ts';

/** CRC16/XMODEM, as Redis Cluster computes it */
const crc16 = (text: string) => {
  let crc = 0;
  for (const byte of Buffer.from(text)) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
};

/** the cluster slot of a key: the CRC16 of its hash tag (the first non-empty `{…}`), or of the whole key */
const slotOf = (key: string) => {
  const open = key.indexOf('{');
  const close = open < 0 ? -1 : key.indexOf('}', open + 1);
  const hashed = close > open + 1 ? key.slice(open + 1, close) : key;
  return crc16(hashed) % 16384;
};

describe('cache keys in a Redis Cluster', () => {
  it('computes slots as Redis does', () => {
    expect(crc16('123456789')).toBe(0x31c3); // the check value Redis Cluster's specification gives
    expect(slotOf('{user1000}.following')).toBe(slotOf('{user1000}.followers'));
    expect(slotOf('foo{}{bar}')).toBe(crc16('foo{}{bar}') % 16384);
  });

  const prefix = 'lf:';
  const rows = ['k', 'order-42', 'acme\u0000order-7', 'with}brace', 'with{brace}', ''];

  it('gives each script keys of one slot: the projection’s', () => {
    const scripts = scriptKeys(prefix);
    const keys = cacheKeys(prefix);
    for (const projection of ['orders', 'customer_totals']) {
      const slot = slotOf(keys.epoch(projection));
      for (const row of rows) {
        for (const script of [scripts.get, scripts.put, scripts.mark]) {
          expect(script(projection, row).map(slotOf)).toEqual(script(projection, row).map(() => slot));
        }
      }
      // the invalidation pipeline's progress is the projection's too
      expect(slotOf(keys.progress(projection))).toBe(slot);
    }
  });

  it('keeps the documented layout', () => {
    const keys = cacheKeys(prefix);
    expect([
      keys.entry('orders', 'k'),
      keys.mark('orders', 'k'),
      keys.epoch('orders'),
      keys.progress('orders'),
      keys.channel,
    ]).toEqual([
      'lf:{orders}:c:k',
      'lf:{orders}:m:k',
      'lf:{orders}:epoch',
      'lf:{orders}:progress',
      'lf:invalidations',
    ]);
  });
});
