/** A small least-recently-used map with a time to live per entry. */
export interface Lru<V> {
  get(key: string): V | undefined;
  set(key: string, value: V): void;
  delete(key: string): void;
  clear(): void;
  readonly size: number;
}

export const createLru = <V>(capacity: number, ttlMs: number, now: () => number = Date.now): Lru<V> => {
  const entries = new Map<string, { value: V; expiresAt: number }>();
  return {
    get: (key) => {
      const e = entries.get(key);
      if (!e) return undefined;
      entries.delete(key);
      if (e.expiresAt <= now()) return undefined;
      entries.set(key, e); // most recently used last
      return e.value;
    },
    set: (key, value) => {
      if (capacity <= 0) return;
      entries.delete(key);
      entries.set(key, { value, expiresAt: now() + ttlMs });
      while (entries.size > capacity) {
        const oldest = entries.keys().next().value as string;
        entries.delete(oldest);
      }
    },
    delete: (key) => {
      entries.delete(key);
    },
    clear: () => entries.clear(),
    get size() {
      return entries.size;
    },
  };
};
