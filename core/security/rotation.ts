// Rotation of the key-encryption key (docs/security.md#rotating-the-kek): every data key is re-wrapped
// from the previous KEK to the new one. Data keys themselves do not change, so no event is re-encrypted.
// While a rotation is under way, a key is wrapped with one of the two KEKs, and a process given both
// reads either (withPreviousKek); a rotation run again finishes what a crashed one left.
import { type DataKeyRecord, type DataKeyStore, unwrapKey, wrapKey } from './crypto.ts';

/** what a rotation needs of a key store besides DataKeyStore: every key, a page at a time, and CAS */
export interface RewrappableKeys {
  /** keys in key id order, after `after` (null: from the first) */
  page(after: string | null, limit: number): Promise<DataKeyRecord[]>;
  /**
   * replaces each key's `from` with `to` where it still is `from`, all in one transaction; answers how
   * many it replaced (a key destroyed or re-wrapped meanwhile is left alone)
   */
  rewrap(entries: readonly { keyId: string; from: string; to: string }[]): Promise<number>;
}

/** the data key, when `kek` is the one `record` is wrapped with */
const openWith = (kek: Buffer, record: DataKeyRecord): Buffer | undefined => {
  try {
    return unwrapKey(kek, record.keyId, record.wrapped);
  } catch {
    return undefined;
  }
};

/**
 * The key store as a process given the new and the previous KEK sees it: a key still wrapped with the
 * previous one is answered re-wrapped with the new one (in memory; `logfront keys rotate` writes it).
 */
export const withPreviousKek = (keys: DataKeyStore, kek: Buffer, previous: Buffer): DataKeyStore => {
  const current = (record: DataKeyRecord): DataKeyRecord => {
    if (openWith(kek, record)) return record;
    const key = openWith(previous, record);
    // neither: the reader's unwrap names the problem
    return key ? { keyId: record.keyId, wrapped: wrapKey(kek, record.keyId, key) } : record;
  };
  return {
    keyFor: async (tenant, subject, fresh) => current(await keys.keyFor(tenant, subject, fresh)),
    byIds: async (keyIds) => {
      const found = await keys.byIds(keyIds);
      return new Map([...found].map(([keyId, wrapped]) => [keyId, current({ keyId, wrapped }).wrapped]));
    },
    destroy: (tenant, subject) => keys.destroy(tenant, subject),
  };
};

export interface RotationResult {
  /** keys re-wrapped from the previous KEK to the new one */
  readonly rewrapped: number;
  /** keys already wrapped with the new KEK (made since, or by an earlier run) */
  readonly current: number;
  /** keys neither KEK opens: they stay as they are, and their fields cannot be read */
  readonly unreadable: number;
}

// idempotent and resumable: a key is re-wrapped only from the previous KEK, one page per transaction, so
// a crash leaves every key wrapped with one of the two and a run again counts the done ones as current.
export const rotateDataKeys = async (deps: {
  keys: RewrappableKeys;
  kek: Buffer;
  previous: Buffer | null;
  pageSize?: number;
}): Promise<RotationResult> => {
  const counts = { rewrapped: 0, current: 0, unreadable: 0 };
  for (let after: string | null = null; ; ) {
    const page = await deps.keys.page(after, deps.pageSize ?? 500);
    if (page.length === 0) return counts;
    const entries: { keyId: string; from: string; to: string }[] = [];
    for (const record of page) {
      if (openWith(deps.kek, record)) counts.current += 1;
      else {
        const key = deps.previous ? openWith(deps.previous, record) : undefined;
        if (key)
          entries.push({
            keyId: record.keyId,
            from: record.wrapped,
            to: wrapKey(deps.kek, record.keyId, key),
          });
        else counts.unreadable += 1;
      }
    }
    counts.rewrapped += await deps.keys.rewrap(entries);
    after = page.at(-1)!.keyId;
  }
};
