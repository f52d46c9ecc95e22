import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createCatalog, defineEventType } from '../../core/log/event-types.ts';
import type { EventLog, LogBatch } from '../../core/ports.ts';
import {
  createFieldCipher,
  type DataKeyStore,
  decryptValue,
  encryptValue,
  KEY_CACHE_MS,
  keyIdOf,
  parseKek,
  subjectOf,
  unwrapKey,
  withFieldEncryption,
  withSealedFields,
  wrapKey,
} from '../../core/security/crypto.ts';
import type { EventId, PreparedEvent, RecordedEvent, StreamId } from '../../core/types.ts';

/** an in-memory key store (the Postgres one is tested against Postgres and PGlite) */
const memoryKeys = () => {
  const keys = new Map<string, { tenant: string; subject: string; wrapped: string }>();
  let lookups = 0;
  let made = 0;
  const store: DataKeyStore & { lookups: () => number; keyRequests: () => number } = {
    keyFor: async (tenant, subject, fresh) => {
      made++;
      for (const [keyId, k] of keys)
        if (k.tenant === tenant && k.subject === subject) return { keyId, wrapped: k.wrapped };
      keys.set(fresh.keyId, { tenant, subject, wrapped: fresh.wrapped });
      return fresh;
    },
    byIds: async (ids) => {
      lookups++;
      return new Map(ids.flatMap((id) => (keys.has(id) ? [[id, keys.get(id)!.wrapped] as const] : [])));
    },
    destroy: async (tenant, subject) => {
      let n = 0;
      for (const [id, k] of keys) if (k.tenant === tenant && k.subject === subject && keys.delete(id)) n++;
      return n;
    },
    lookups: () => lookups,
    keyRequests: () => made,
  };
  return store;
};

const Profile = defineEventType(
  'ProfileSet',
  z.object({
    userId: z.string(),
    contact: z.object({ email: z.email(), phone: z.string().optional() }),
    age: z.int(),
  }),
  { sensitive: ['contact.email', 'contact.phone', 'age'], subject: 'userId' },
);
const Plain = defineEventType('Noted', z.object({ text: z.string() }));
const catalog = createCatalog([Profile, Plain], 'p');
const kek = randomBytes(32);

const recorded = (
  e: { type: string; data: unknown; metadata?: object },
  stream = 'user-1',
  offset = 0n,
): RecordedEvent => ({
  id: `id-${offset}` as EventId,
  stream: stream as StreamId,
  type: e.type,
  version: 1,
  data: e.data,
  metadata: e.metadata ?? {},
  position: { topic: 't', partition: 0, offset },
  recordedAt: '2026-01-01T00:00:00.000Z',
});

const profile = (userId: string, metadata: object = {}) => ({
  type: 'ProfileSet',
  data: { userId, contact: { email: `${userId}@example.com` }, age: 42 },
  metadata,
});

describe('keys and values', () => {
  it('a KEK is 32 bytes of base64, nothing else', () => {
    const text = kek.toString('base64');
    expect(parseKek(text).equals(kek)).toBe(true);
    expect(() => parseKek(randomBytes(16).toString('base64'))).toThrow(/32 bytes, base64/);
    expect(() => parseKek(`${text}!`)).toThrow(/32 bytes/);
    // as read from a file or an environment variable, with its line end
    expect(parseKek(` ${text}\n`).equals(kek)).toBe(true);
  });

  it('a wrapped data key opens only with its KEK and its id', () => {
    const dek = randomBytes(32);
    const wrapped = wrapKey(kek, 'k1', dek);
    expect(unwrapKey(kek, 'k1', wrapped).equals(dek)).toBe(true);
    expect(() => unwrapKey(randomBytes(32), 'k1', wrapped)).toThrow(
      /cannot unwrap data key k1: LOGFRONT_KEK/,
    );
    expect(() => unwrapKey(kek, 'k2', wrapped)).toThrow(/cannot unwrap/);
  });

  it('a value round-trips; the token names its key; it is bound to its type and path', () => {
    const dek = randomBytes(32);
    const token = encryptValue(dek, 'key_1', 'T:a', { n: 1 });
    expect(keyIdOf(token)).toBe('key_1');
    expect(decryptValue(dek, 'T:a', token)).toEqual({ n: 1 });
    expect(() => decryptValue(dek, 'T:b', token)).toThrow();
    expect(keyIdOf('plain')).toBeNull();
    expect(keyIdOf('lf:v1::x')).toBeNull();
    expect(keyIdOf(7)).toBeNull();
  });

  it('the registered schema of a sensitive field is a string (ciphertext); other fields keep theirs', () => {
    const schema = catalog.jsonSchemaOf('ProfileSet') as {
      properties: Record<string, { properties?: object }>;
    };
    expect(schema.properties.age).toEqual({ type: 'string', description: 'encrypted: sensitive' });
    expect(schema.properties.contact!.properties).toMatchObject({
      email: { type: 'string', description: 'encrypted: sensitive' },
      phone: { type: 'string', description: 'encrypted: sensitive' },
    });
    expect(schema.properties.userId).toEqual({ type: 'string' });
    expect(withSealedFields({ type: 'object' }, ['a.b'])).toEqual({ type: 'object' });
    expect(withSealedFields({ properties: { a: null } }, ['a.b'])).toEqual({ properties: { a: null } });
  });

  it('the data subject is metadata.subject, else the type’s subject field, else the stream', () => {
    expect(subjectOf(Profile, 'user-1', { userId: 'u9' }, { subject: 's1' })).toBe('s1');
    expect(subjectOf(Profile, 'user-1', { userId: 'u9' }, {})).toBe('u9');
    expect(subjectOf(Profile, 'user-1', { userId: { no: 1 } }, {})).toBe('user-1');
    expect(subjectOf(Plain, 'note-1', {}, {})).toBe('note-1');
    expect(subjectOf(Profile, 'user-1', { userId: 42 }, {})).toBe('42');
  });

  it('a subject path walks objects only: not into null, nor into a string’s own properties', () => {
    const Account = defineEventType('AccountOpened', z.object({}), { subject: 'owner.length' });
    expect(subjectOf(Account, 'account-1', { owner: { length: 'o-7' } }, {})).toBe('o-7');
    expect(subjectOf(Account, 'account-1', { owner: 'abcd' }, {})).toBe('account-1');
    expect(subjectOf(Account, 'account-1', { owner: null }, {})).toBe('account-1');
  });
});

describe('the field cipher', () => {
  it('seals only sensitive fields that are present, and opens them again', async () => {
    const cipher = createFieldCipher({ kek, keys: memoryKeys(), catalog });
    const [sealed, plain] = await cipher.seal('user-1', [
      profile('u1'),
      { type: 'Noted', data: { text: 'x' }, metadata: {} },
    ]);
    const data = sealed!.data as unknown as {
      contact: { email: string; phone?: string };
      age: string;
      userId: string;
    };
    expect(data.contact.email).toMatch(/^lf:v1:/);
    expect(data.age).toMatch(/^lf:v1:/);
    expect(data.contact).not.toHaveProperty('phone');
    expect(data.userId).toBe('u1');
    expect(plain).toEqual({ type: 'Noted', data: { text: 'x' }, metadata: {} });
    // sealing twice does not seal again
    const [twice] = await cipher.seal('user-1', [sealed!]);
    expect(twice).toEqual(sealed);
    const [opened, noted] = await cipher.open([recorded(sealed!), recorded(plain!)]);
    expect(opened!.data).toEqual(profile('u1').data);
    expect(opened!.metadata).toEqual({});
    expect(noted).toEqual(recorded(plain!));
  });

  it('after forget, the fields read as null, listed in metadata.erased; others are untouched', async () => {
    const keys = memoryKeys();
    const cipher = createFieldCipher({ kek, keys, catalog });
    const [a, b] = await cipher.seal('user-1', [
      profile('ada', { tenant: 'acme' }),
      profile('bob', { tenant: 'acme' }),
    ]);
    expect(await cipher.forget('acme', 'ada')).toBe(1);
    expect(await cipher.forget('acme', 'ada')).toBe(0);
    const [ra, rb] = await cipher.open([recorded(a!), recorded(b!)]);
    expect(ra!.data).toEqual({ userId: 'ada', contact: { email: null }, age: null });
    expect(ra!.metadata).toEqual({ tenant: 'acme', erased: ['data.contact.email', 'data.age'] });
    expect((rb!.data as { contact: { email: string } }).contact.email).toBe('bob@example.com');
  });

  it('keeps unwrapped keys for KEY_CACHE_MS, then looks them up again', async () => {
    let t = 0;
    const keys = memoryKeys();
    const writer = createFieldCipher({ kek, keys, catalog });
    const reader = createFieldCipher({ kek, keys, catalog, now: () => t });
    const [sealed] = await writer.seal('user-1', [profile('u2')]);
    await reader.open([recorded(sealed!)]);
    await reader.open([recorded(sealed!)]);
    expect(keys.lookups()).toBe(1);
    t += KEY_CACHE_MS + 1;
    await reader.open([recorded(sealed!)]);
    expect(keys.lookups()).toBe(2);
    // erased elsewhere: this reader still reads until its cache expires, then not
    await writer.forget('default', 'u2');
    expect((await reader.open([recorded(sealed!)]))[0]!.data).toMatchObject({ age: 42 });
    t += KEY_CACHE_MS + 1;
    expect((await reader.open([recorded(sealed!)]))[0]!.data).toMatchObject({ age: null });
  });

  it('two ciphers sealing for a new subject at once agree on one key', async () => {
    const keys = memoryKeys();
    const one = createFieldCipher({ kek, keys, catalog });
    const two = createFieldCipher({ kek, keys, catalog });
    const [[a], [b]] = await Promise.all([
      one.seal('u', [profile('same')]),
      two.seal('u', [profile('same')]),
    ]);
    expect(keyIdOf((a!.data as unknown as { age: string }).age)).toBe(
      keyIdOf((b!.data as unknown as { age: string }).age),
    );
    expect((await one.open([recorded(b!)]))[0]!.data).toMatchObject({ age: 42 });
  });
});

describe('the field cipher’s keys and shortcuts', () => {
  const Order = defineEventType('OrderNoted', z.object({ items: z.array(z.string()) }), {
    sensitive: ['items.0'],
  });
  const withOrder = createCatalog([Profile, Plain, Order], 'p');

  it('seals with the key it keeps for the subject, asking the store again only after KEY_CACHE_MS', async () => {
    let t = 0;
    const keys = memoryKeys();
    const cipher = createFieldCipher({ kek, keys, catalog, now: () => t });
    await cipher.seal('user-1', [profile('u1')]);
    await cipher.seal('user-1', [profile('u1')]);
    expect(keys.keyRequests()).toBe(1);
    t += KEY_CACHE_MS;
    await cipher.seal('user-1', [profile('u1')]);
    expect(keys.keyRequests()).toBe(2);
  });

  it('opens what it sealed itself without a key lookup', async () => {
    const keys = memoryKeys();
    const cipher = createFieldCipher({ kek, keys, catalog });
    const [sealed] = await cipher.seal('user-1', [profile('u1')]);
    expect((await cipher.open([recorded(sealed!)]))[0]!.data).toEqual(profile('u1').data);
    expect(keys.lookups()).toBe(0);
  });

  it('a key read exactly KEY_CACHE_MS ago is looked up again', async () => {
    let t = 0;
    const keys = memoryKeys();
    const [sealed] = await createFieldCipher({ kek, keys, catalog }).seal('user-1', [profile('u1')]);
    const reader = createFieldCipher({ kek, keys, catalog, now: () => t });
    await reader.open([recorded(sealed!)]);
    t += KEY_CACHE_MS - 1;
    await reader.open([recorded(sealed!)]);
    expect(keys.lookups()).toBe(1);
    t += 1;
    await reader.open([recorded(sealed!)]);
    expect(keys.lookups()).toBe(2);
  });

  it('after forget, sealing for the subject makes a new key', async () => {
    const keys = memoryKeys();
    const cipher = createFieldCipher({ kek, keys, catalog });
    const ageKey = (e: { data: unknown } | undefined) => keyIdOf((e!.data as { age: string }).age);
    const [before] = await cipher.seal('user-1', [profile('u1')]);
    await cipher.forget('default', 'u1');
    const [after] = await cipher.seal('user-1', [profile('u1')]);
    expect(ageKey(after)).not.toBe(ageKey(before));
    expect(keys.keyRequests()).toBe(2);
  });

  it('a destroyed key is remembered as gone: opening again asks nothing', async () => {
    const keys = memoryKeys();
    const cipher = createFieldCipher({ kek, keys, catalog });
    const [sealed] = await cipher.seal('user-1', [profile('u1')]);
    await cipher.forget('default', 'u1');
    await cipher.open([recorded(sealed!)]);
    const [again] = await cipher.open([recorded(sealed!)]);
    expect(again!.data).toMatchObject({ age: null });
    expect(keys.lookups()).toBe(1);
  });

  it('events with nothing to seal or open are passed on as they are, with no key made or looked up', async () => {
    const keys = memoryKeys();
    const cipher = createFieldCipher({ kek, keys, catalog: withOrder });
    const events = [
      { type: 'Noted', data: { text: 'x' }, metadata: {} },
      { type: 'Unknown', data: { age: 1 }, metadata: {} },
      { type: 'ProfileSet', data: { userId: 'u1', contact: { email: null }, age: null }, metadata: {} },
    ];
    const sealed = await cipher.seal('user-1', events);
    for (const [i, e] of sealed.entries()) expect(e).toBe(events[i]);
    expect(keys.keyRequests()).toBe(0);
    const read = events.map((e) => recorded(e));
    const opened = await cipher.open(read);
    for (const [i, e] of opened.entries()) expect(e).toBe(read[i]);
    expect(keys.lookups()).toBe(0);
  });

  it('a sensitive path through an array is not sealed: only object fields are', async () => {
    const cipher = createFieldCipher({ kek, keys: memoryKeys(), catalog: withOrder });
    const [sealed] = await cipher.seal('order-1', [
      { type: 'OrderNoted', data: { items: ['a', 'b'] }, metadata: {} },
    ]);
    expect(sealed!.data).toEqual({ items: ['a', 'b'] });
  });
});

describe('the log with field encryption', () => {
  const fakeLog = () => {
    const appended: PreparedEvent[] = [];
    const dead: { projection: string; event: RecordedEvent; reason: string }[] = [];
    let onBatch: ((b: LogBatch) => Promise<void>) | undefined;
    const toRecorded = () => appended.map((e, i) => recorded(e, 'user-1', BigInt(i)));
    const log = {
      append: async (stream: StreamId, events: readonly PreparedEvent[]) => {
        appended.push(...events);
        return {
          stream,
          fromVersion: 1,
          toVersion: events.length,
          position: { topic: 't', partition: 0, offset: 0n },
        };
      },
      readStream: async () => toRecorded(),
      subscribe: async (o: { onBatch: (b: LogBatch) => Promise<void> }) => {
        onBatch = o.onBatch;
        return { stop: async () => {} };
      },
      deadLetter: async (projection: string, event: RecordedEvent, reason: string) => {
        dead.push({ projection, event, reason });
      },
      deadLetters: async () =>
        dead.map((d) => ({ projection: d.projection, reason: d.reason, event: d.event })),
    } as unknown as EventLog;
    return {
      log,
      appended,
      dead,
      deliver: () =>
        onBatch!({
          topic: 't',
          partition: 0,
          events: toRecorded(),
          nextOffset: 9n,
          highWatermark: 9n,
          fetchedAt: 0,
        }),
    };
  };

  it('appends ciphertext, reads, delivers and dead-letters plaintext to its users and ciphertext to the log', async () => {
    const fake = fakeLog();
    const log = withFieldEncryption(fake.log, createFieldCipher({ kek, keys: memoryKeys(), catalog }));
    await log.append('user-1' as StreamId, [{ id: 'a' as EventId, ...profile('u3') }], 'any');
    expect(JSON.stringify(fake.appended)).not.toContain('u3@example.com');
    expect((await log.readStream('user-1' as StreamId, 1, 10))[0]!.data).toEqual(profile('u3').data);

    const seen: RecordedEvent[] = [];
    await log.subscribe({
      groupId: 'g',
      topics: ['t'],
      startAt: async () => undefined,
      onBatch: async (b) => {
        seen.push(...b.events);
      },
    });
    await fake.deliver();
    expect(seen[0]!.data).toEqual(profile('u3').data);

    // a delivered event goes to dead letters as the log had it; one the log never gave out is sealed again
    await log.deadLetter('p', seen[0]!, 'boom');
    await log.deadLetter('p', recorded(profile('u4'), 'user-1', 7n), 'boom');
    expect(JSON.stringify(fake.dead.map((d) => d.event.data))).not.toMatch(/u[34]@example\.com/);
    expect(fake.dead[0]!.event).toEqual(recorded(fake.appended[0]!, 'user-1', 0n));
    const letters = await log.deadLetters('p', 10);
    expect(letters.map((l) => (l.event.data as { contact: { email: string } }).contact.email)).toEqual([
      'u3@example.com',
      'u4@example.com',
    ]);
  });
});
