// Envelope encryption of sensitive fields (DESIGN §7) and crypto-shredding.
// A field marked sensitive in its event type is encrypted with AES-256-GCM under a data key of the
// event's (tenant, data subject); data keys are stored wrapped by the key-encryption key (KEK).
// Destroying a subject's keys makes its sensitive fields unreadable wherever the events are.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { EventCatalog, EventType } from '../log/event-types.ts';
import type { EventLog } from '../ports.ts';
import type { EventMetadata, PreparedEvent, RecordedEvent } from '../types.ts';

/** Where wrapped data keys live. Destroyed keys are gone: nothing can bring them back. */
export interface DataKeyStore {
  /** the key of (tenant, subject); stores `fresh` when there is none (concurrent callers agree on one) */
  keyFor(tenant: string, subject: string, fresh: DataKeyRecord): Promise<DataKeyRecord>;
  /** wrapped keys by id; a destroyed or unknown id is missing from the answer */
  byIds(keyIds: readonly string[]): Promise<Map<string, string>>;
  /** destroys every key of (tenant, subject); answers how many there were */
  destroy(tenant: string, subject: string): Promise<number>;
}

export interface DataKeyRecord {
  readonly keyId: string;
  /** base64 of iv ‖ ciphertext ‖ tag, the data key encrypted under the KEK */
  readonly wrapped: string;
}

export const DEFAULT_TENANT = 'default';
const PREFIX = 'lf:v1:';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** the KEK from its base64 text; exactly 32 bytes */
export const parseKek = (base64: string): Buffer => {
  const key = Buffer.from(base64, 'base64');
  if (key.length !== 32 || key.toString('base64') !== base64.trim()) {
    throw new Error('the key-encryption key must be 32 bytes, base64 (openssl rand -base64 32)');
  }
  return key;
};

const seal = (key: Buffer, plain: Buffer, aad: string) => {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad));
  const body = Buffer.concat([cipher.update(plain), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]);
};

const unseal = (key: Buffer, sealed: Buffer, aad: string) => {
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, IV_BYTES));
  decipher.setAAD(Buffer.from(aad));
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  return Buffer.concat([
    decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)),
    decipher.final(),
  ]);
};

export const wrapKey = (kek: Buffer, keyId: string, dataKey: Buffer) =>
  seal(kek, dataKey, `logfront-dek:${keyId}`).toString('base64');

export const unwrapKey = (kek: Buffer, keyId: string, wrapped: string) => {
  try {
    return unseal(kek, Buffer.from(wrapped, 'base64'), `logfront-dek:${keyId}`);
  } catch {
    throw new Error(`cannot unwrap data key ${keyId}: LOGFRONT_KEK is not the key it was wrapped with`);
  }
};

/** `lf:v1:<keyId>:<base64url(iv ‖ ciphertext ‖ tag)>`; the field's JSON value, bound to type and path */
export const encryptValue = (dataKey: Buffer, keyId: string, aad: string, value: unknown) =>
  `${PREFIX}${keyId}:${seal(dataKey, Buffer.from(JSON.stringify(value)), aad).toString('base64url')}`;

export const keyIdOf = (value: unknown): string | null => {
  if (typeof value !== 'string' || !value.startsWith(PREFIX)) return null;
  const end = value.indexOf(':', PREFIX.length);
  return end > PREFIX.length ? value.slice(PREFIX.length, end) : null;
};

export const decryptValue = (dataKey: Buffer, aad: string, token: string): unknown => {
  const sealed = Buffer.from(token.slice(token.indexOf(':', PREFIX.length) + 1), 'base64url');
  return JSON.parse(unseal(dataKey, sealed, aad).toString('utf8'));
};

const segments = (path: string) => path.split('.');
const getAt = (data: unknown, path: string): unknown =>
  segments(path).reduce<unknown>(
    (node, key) =>
      node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined,
    data,
  );
/** a copy of `data` with the value at `path` replaced (objects along the path are copied) */
const setAt = (data: unknown, path: string[], value: unknown): unknown => {
  if (path.length === 0) return value;
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return data;
  const [head, ...rest] = path as [string, ...string[]];
  if (!Object.hasOwn(data, head)) return data;
  return {
    ...(data as Record<string, unknown>),
    [head]: setAt((data as Record<string, unknown>)[head], rest, value),
  };
};

/**
 * The JSON Schema the log's payloads follow: a sensitive field holds ciphertext, a string, whatever its
 * plain shape (zod's checks of it run before encryption). Relaxing a field is BACKWARD compatible.
 */
export const withSealedFields = (schema: object, sensitive: readonly string[]): object => {
  const seal = (node: unknown, path: string[]): unknown => {
    if (path.length === 0) return { type: 'string', description: 'encrypted: sensitive' };
    const props = (node as { properties?: Record<string, unknown> } | null)?.properties;
    const [head, ...rest] = path as [string, ...string[]];
    if (!props || !Object.hasOwn(props, head)) return node;
    return { ...(node as object), properties: { ...props, [head]: seal(props[head], rest) } };
  };
  return sensitive.reduce<object>((s, p) => seal(s, segments(p)) as object, schema);
};

/** The data subject of an event: metadata.subject, else the type's subject field, else the stream. */
export const subjectOf = (type: EventType, stream: string, data: unknown, metadata: EventMetadata) => {
  if (metadata.subject) return metadata.subject;
  const fromData = type.subject ? getAt(data, type.subject) : undefined;
  return typeof fromData === 'string' || typeof fromData === 'number' ? String(fromData) : stream;
};

export interface FieldCipher {
  /** encrypts the sensitive fields of events about to be appended to `stream` */
  seal<E extends { type: string; data: unknown; metadata: EventMetadata }>(
    stream: string,
    events: readonly E[],
  ): Promise<E[]>;
  /** decrypts; a field whose key was destroyed reads as null and is listed in `metadata.erased` */
  open(events: readonly RecordedEvent[]): Promise<RecordedEvent[]>;
  /** destroys the keys of (tenant, subject); answers how many */
  forget(tenant: string, subject: string): Promise<number>;
  /** the data key of (tenant, subject), made on first use: a subject's blobs are sealed under it too */
  subjectKey(tenant: string, subject: string): Promise<{ keyId: string; key: Buffer }>;
  /** a data key by id; null once it was destroyed (its subject erased) */
  keyById(keyId: string): Promise<Buffer | null>;
}

// Unwrapped keys are kept in memory this long: another process may still read a subject's fields for up
// to this long after it was erased elsewhere (the erasing process forgets at once).
export const KEY_CACHE_MS = 30_000;

export const createFieldCipher = (deps: {
  kek: Buffer;
  keys: DataKeyStore;
  catalog: EventCatalog;
  now?: () => number;
}): FieldCipher => {
  const now = deps.now ?? Date.now;
  const bySubject = new Map<string, { keyId: string; key: Buffer; at: number }>();
  const byId = new Map<string, { key: Buffer; at: number } | null>();
  const fresh = (at: number) => at > now() - KEY_CACHE_MS;

  const sealingKey = async (tenant: string, subject: string) => {
    const cacheKey = `${tenant}\u0000${subject}`;
    const cached = bySubject.get(cacheKey);
    if (cached && fresh(cached.at)) return cached;
    const keyId = randomBytes(12).toString('base64url');
    const candidate = randomBytes(32);
    const stored = await deps.keys.keyFor(tenant, subject, {
      keyId,
      wrapped: wrapKey(deps.kek, keyId, candidate),
    });
    // Stryker disable next-line ConditionalExpression: equivalent (only slower), unwrapping our own record gives the candidate
    const key = stored.keyId === keyId ? candidate : unwrapKey(deps.kek, stored.keyId, stored.wrapped);
    const entry = { keyId: stored.keyId, key, at: now() };
    bySubject.set(cacheKey, entry);
    byId.set(stored.keyId, { key, at: entry.at });
    return entry;
  };

  // Stryker disable next-line ArrayDeclaration: equivalent, a path no event has is skipped like no path
  const sensitiveOf = (type: string) => deps.catalog.get(type)?.sensitive ?? [];

  return {
    seal: async (stream, events) => {
      const out = [];
      for (const event of events) {
        const type = deps.catalog.get(event.type);
        // Stryker disable next-line ArrayDeclaration: equivalent, a path no event has is skipped like no path
        const paths = type?.sensitive ?? [];
        const present = paths.filter((p) => {
          const v = getAt(event.data, p);
          return v !== undefined && v !== null && keyIdOf(v) === null;
        });
        if (!type || present.length === 0) {
          out.push(event);
          continue;
        }
        const tenant = event.metadata.tenant ?? DEFAULT_TENANT;
        const { keyId, key } = await sealingKey(tenant, subjectOf(type, stream, event.data, event.metadata));
        let data = event.data;
        for (const p of present) {
          data = setAt(
            data,
            segments(p),
            encryptValue(key, keyId, `${event.type}:${p}`, getAt(event.data, p)),
          );
        }
        out.push({ ...event, data });
      }
      return out;
    },
    open: async (events) => {
      // one lookup for the keys of the whole batch that are not in memory
      const wanted = new Set<string>();
      for (const e of events) {
        for (const p of sensitiveOf(e.type)) {
          const id = keyIdOf(getAt(e.data, p));
          if (id === null) continue;
          const cached = byId.get(id);
          if (cached === undefined || (cached !== null && !fresh(cached.at))) wanted.add(id);
        }
      }
      if (wanted.size) {
        const found = await deps.keys.byIds([...wanted]);
        for (const id of wanted) {
          const wrapped = found.get(id);
          byId.set(id, wrapped === undefined ? null : { key: unwrapKey(deps.kek, id, wrapped), at: now() });
        }
      }
      return events.map((e) => {
        const paths = sensitiveOf(e.type);
        // Stryker disable next-line ConditionalExpression: equivalent (a shortcut), with no path `data` stays e.data and e is returned below
        if (paths.length === 0) return e;
        let data = e.data;
        const erased: string[] = [];
        for (const p of paths) {
          const token = getAt(e.data, p);
          const id = keyIdOf(token);
          if (id === null) continue;
          const entry = byId.get(id);
          if (entry)
            data = setAt(data, segments(p), decryptValue(entry.key, `${e.type}:${p}`, token as string));
          else {
            data = setAt(data, segments(p), null);
            erased.push(`data.${p}`);
          }
        }
        if (data === e.data) return e;
        return erased.length ? { ...e, data, metadata: { ...e.metadata, erased } } : { ...e, data };
      });
    },
    forget: async (tenant, subject) => {
      const destroyed = await deps.keys.destroy(tenant, subject);
      bySubject.delete(`${tenant}\u0000${subject}`);
      // keys looked up by id do not say whose they are: forget every cached one
      byId.clear();
      return destroyed;
    },
    subjectKey: async (tenant, subject) => {
      const { keyId, key } = await sealingKey(tenant, subject);
      return { keyId, key };
    },
    keyById: async (keyId) => {
      const cached = byId.get(keyId);
      // a destroyed key never comes back: its absence is kept
      if (cached === null || (cached && fresh(cached.at))) return cached?.key ?? null;
      const wrapped = (await deps.keys.byIds([keyId])).get(keyId);
      const entry = wrapped === undefined ? null : { key: unwrapKey(deps.kek, keyId, wrapped), at: now() };
      byId.set(keyId, entry);
      return entry?.key ?? null;
    },
  };
};

/**
 * The log with sensitive fields encrypted on the way in and decrypted on the way out. The log
 * underneath (Kafka, the embedded table) and the dead-letter topics only ever see ciphertext.
 */
export const withFieldEncryption = (log: EventLog, cipher: FieldCipher): EventLog => {
  // what the log handed out, by the decrypted copy: dead letters go back as they came
  const originals = new WeakMap<RecordedEvent, RecordedEvent>();
  const open = async (events: readonly RecordedEvent[]) => {
    const opened = await cipher.open(events);
    opened.forEach((o, i) => {
      // Stryker disable next-line ConditionalExpression: equivalent, sealing an event the cipher left as it was gives it back
      if (o !== events[i]) originals.set(o, events[i]!);
    });
    return opened;
  };
  return {
    ...log,
    append: async (stream, events, expected, options) =>
      log.append(stream, await cipher.seal<PreparedEvent>(stream, events), expected, options),
    readStream: async (stream, fromVersion, limit) => open(await log.readStream(stream, fromVersion, limit)),
    subscribe: (options) =>
      log.subscribe({
        ...options,
        onBatch: async (batch) => options.onBatch({ ...batch, events: await open(batch.events) }),
      }),
    deadLetter: async (projection, event, reason) => {
      const original = originals.get(event) ?? (await cipher.seal(event.stream, [event]))[0]!;
      return log.deadLetter(projection, original, reason);
    },
    deadLetters: async (projection, limit) => {
      const letters = await log.deadLetters(projection, limit);
      const opened = await open(letters.map((l) => l.event));
      return letters.map((l, i) => ({ ...l, event: opened[i]! }));
    },
  };
};
