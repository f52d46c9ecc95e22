import { randomFillSync } from 'node:crypto';
import type { EventId } from '../types.ts';

// random bytes drawn from the system in blocks, not 16 at a time (a call per id showed in profiles)
const POOL_BYTES = 16 * 256;
const pool = Buffer.allocUnsafe(POOL_BYTES);
let used = POOL_BYTES;
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** UUIDv7 (RFC 9562): 48-bit unix ms, version 7, 74 random bits. Sortable by creation time. */
export const uuidv7 = (now = Date.now()): EventId => {
  if (used === POOL_BYTES) {
    randomFillSync(pool);
    used = 0;
  }
  const r = used;
  used += 16;
  // the 48-bit time, big-endian: ms / 2^32 and ms % 2^32 are exact in doubles
  const high = Math.floor(now / 2 ** 32);
  const low = now >>> 0;
  const b = [
    (high >>> 8) & 0xff,
    high & 0xff,
    (low >>> 24) & 0xff,
    (low >>> 16) & 0xff,
    (low >>> 8) & 0xff,
    low & 0xff,
    (pool[r + 6]! & 0x0f) | 0x70,
    pool[r + 7]!,
    (pool[r + 8]! & 0x3f) | 0x80,
    pool[r + 9]!,
    pool[r + 10]!,
    pool[r + 11]!,
    pool[r + 12]!,
    pool[r + 13]!,
    pool[r + 14]!,
    pool[r + 15]!,
  ];
  const h = b.map((x) => HEX[x]);
  return `${h[0]}${h[1]}${h[2]}${h[3]}-${h[4]}${h[5]}-${h[6]}${h[7]}-${h[8]}${h[9]}-${h[10]}${h[11]}${h[12]}${h[13]}${h[14]}${h[15]}` as EventId;
};

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
