import { describe, expect, it } from 'vitest';
import { createLru } from '../../core/read/lru.ts';

describe('LRU', () => {
  it('evicts the least recently used entry beyond its capacity', () => {
    const lru = createLru<number>(2, 1000);
    lru.set('a', 1);
    lru.set('b', 2);
    expect(lru.get('a')).toBe(1); // a is now the most recent
    lru.set('c', 3);
    expect(lru.get('b')).toBeUndefined();
    expect(lru.get('a')).toBe(1);
    expect(lru.get('c')).toBe(3);
    expect(lru.size).toBe(2);
  });

  it('forgets entries after their time to live, and on delete and clear', () => {
    let t = 0;
    const lru = createLru<string>(10, 100, () => t);
    lru.set('a', 'x');
    lru.set('b', 'y');
    t = 99;
    expect(lru.get('a')).toBe('x');
    t = 100;
    expect(lru.get('a')).toBeUndefined();
    lru.delete('b');
    expect(lru.get('b')).toBeUndefined();
    lru.set('c', 'z');
    lru.clear();
    expect(lru.size).toBe(0);
  });

  it('a capacity of 0 keeps nothing', () => {
    const lru = createLru<number>(0, 1000);
    lru.set('a', 1);
    expect(lru.get('a')).toBeUndefined();
  });
});
