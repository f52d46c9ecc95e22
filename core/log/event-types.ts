import { z } from 'zod';
import { type Issue, ValidationFailed } from '../errors.ts';
import { withSealedFields } from '../security/crypto.ts';
import { SUBJECT_ID_RULE, subjectIdProblem, TENANT_NAME, TENANT_NAME_RULE } from '../security/names.ts';
import type { EventId, EventMetadata, PreparedEvent } from '../types.ts';
import { UUID, uuidv7 } from './ids.ts';
import { unstorable, unstorableDateTime } from './storable.ts';

export interface EventType<T = unknown> {
  readonly name: string;
  readonly schema: z.ZodType<T>;
  /** data paths holding personal data (encrypted at rest once keys are configured) */
  readonly sensitive: readonly string[];
  /** data path naming the event's data subject when metadata.subject is absent (e.g. `customerId`) */
  readonly subject?: string;
  /**
   * Reads an older payload as the current shape. `schemaVersion` is the registry's version of
   * the subject the payload was written with (1 = first). Must be pure.
   */
  readonly upcast?: (data: unknown, schemaVersion: number) => unknown;
  /**
   * A top-level data field holding bytes (a Uint8Array). The log carries them as they are, next to
   * the JSON of the other fields (see `core/log/codec.ts`); JSON views show them as `{ "$base64": … }`.
   */
  readonly binary?: string;
}

export const defineEventType = <T>(
  name: string,
  schema: z.ZodType<T>,
  options: {
    sensitive?: readonly string[];
    subject?: string;
    upcast?: (data: unknown, schemaVersion: number) => unknown;
    binary?: string;
  } = {},
): EventType<T> => {
  if (options.binary !== undefined && !(schema instanceof z.ZodObject && options.binary in schema.shape)) {
    throw new Error(
      `event type ${name}: binary field "${options.binary}" must be a field of its object schema`,
    );
  }
  return {
    name,
    schema,
    sensitive: options.sensitive ?? [],
    ...(options.subject ? { subject: options.subject } : {}),
    ...(options.upcast ? { upcast: options.upcast } : {}),
    ...(options.binary ? { binary: options.binary } : {}),
  };
};

/** an event's metadata, as an append is checked against it (and the OpenAPI document shows it) */
export const EVENT_METADATA = z
  .object({
    // a tenant and a data subject an erasure can name, a tenant a token can carry (core/security/names.ts)
    tenant: z.string().regex(TENANT_NAME, TENANT_NAME_RULE),
    actor: z.string().max(200),
    subject: z.string().refine((id) => subjectIdProblem(id) === undefined, SUBJECT_ID_RULE),
    correlationId: z.string().max(200),
    causationId: z.string().max(200),
    traceparent: z.string().regex(/^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/, 'a W3C traceparent'),
    // a date every store can hold as given: from year 1 to 9999 UTC, an offset Postgres takes
    occurredAt: z.iso.datetime({ offset: true }).superRefine((t, ctx) => {
      const why = unstorableDateTime(t);
      if (why) ctx.addIssue({ code: 'custom', message: `a date-time Postgres holds as given: it ${why}` });
    }),
  })
  .partial()
  .strict();

/**
 * why the data subject an event's `subject` field names cannot be erased (core/security/names.ts), when
 * that field is its subject: the type has sensitive fields to encrypt under the subject's key, and the
 * metadata names no subject. A subject that is not text (a number) or absent falls back as subjectOf says.
 */
const subjectFieldProblem = (type: EventType, data: unknown, metadata: EventMetadata) => {
  if (!type.subject || type.sensitive.length === 0 || metadata.subject) return undefined;
  const value = type.subject
    .split('.')
    .reduce<unknown>(
      (node, key) =>
        node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined,
      data,
    );
  return typeof value === 'string' ? subjectIdProblem(value) : undefined;
};

const pathOf = (base: (string | number)[], path: readonly PropertyKey[]) =>
  [...base, ...path].map((p) => String(p)).join('.');

export interface EventCatalog {
  readonly types: ReadonlyMap<string, EventType>;
  get(name: string): EventType | undefined;
  /** the subject a type is registered under */
  subjectOf(name: string): string;
  jsonSchemaOf(name: string): object;
  /** checks every event; throws ValidationFailed listing every failing path of every event */
  prepare(events: readonly unknown[], basePath?: (string | number)[]): PreparedEvent[];
}

export const createCatalog = (types: readonly EventType[], subjectPrefix: string): EventCatalog => {
  const byName = new Map(types.map((t) => [t.name, t]));
  if (byName.size !== types.length) throw new Error('event type names must be unique');
  const jsonSchemas = new Map<string, object>();
  return {
    types: byName,
    get: (name) => byName.get(name),
    subjectOf: (name) => `${subjectPrefix}.${name}`,
    jsonSchemaOf: (name) => {
      const type = byName.get(name);
      if (!type) throw new Error(`unknown event type ${name}`);
      let schema = jsonSchemas.get(name);
      if (!schema) {
        // a binary field travels beside the JSON, which the registered schema describes
        const described = type.binary
          ? (type.schema as unknown as z.ZodObject).omit({ [type.binary]: true } as Record<string, true>)
          : type.schema;
        schema = withSealedFields(
          z.toJSONSchema(described, { target: 'draft-7', io: 'input' }) as object,
          type.sensitive,
        );
        jsonSchemas.set(name, schema);
      }
      return schema;
    },
    prepare: (events, basePath = ['events']) => {
      const issues: Issue[] = [];
      const prepared: PreparedEvent[] = [];
      events.forEach((raw, index) => {
        const at = [...basePath, index];
        if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
          issues.push({ path: pathOf(at, []), message: 'expected an object with type and data' });
          return;
        }
        const event = raw as Record<string, unknown>;
        const unknownKeys = Object.keys(event).filter((k) => !['id', 'type', 'data', 'metadata'].includes(k));
        for (const k of unknownKeys) issues.push({ path: pathOf(at, [k]), message: 'unknown field' });
        let id: EventId | undefined;
        if (event.id !== undefined) {
          if (typeof event.id !== 'string' || !UUID.test(event.id)) {
            issues.push({ path: pathOf(at, ['id']), message: 'expected a UUID' });
          } else id = event.id.toLowerCase() as EventId;
        }
        // what no store can hold is refused here, never appended (a projection's database would refuse it)
        const unfit = [
          ...unstorable(event.data, [...at, 'data']),
          ...unstorable(event.metadata, [...at, 'metadata']),
        ];
        for (const u of unfit) issues.push({ path: pathOf(u.path, []), message: u.message });
        if (unfit.length) return;
        let metadata: EventMetadata = {};
        if (event.metadata !== undefined) {
          const m = EVENT_METADATA.safeParse(event.metadata);
          if (m.success) metadata = m.data;
          else
            for (const i of m.error.issues)
              issues.push({ path: pathOf([...at, 'metadata'], i.path), message: i.message });
        }
        if (typeof event.type !== 'string') {
          issues.push({ path: pathOf(at, ['type']), message: 'expected the event type name' });
          return;
        }
        const type = byName.get(event.type);
        if (!type) {
          issues.push({
            path: pathOf(at, ['type']),
            message: `unknown event type "${event.type.slice(0, 100)}"; known: ${[...byName.keys()].join(', ')}`,
          });
          return;
        }
        const data = type.schema.safeParse(event.data);
        if (!data.success) {
          for (const i of data.error.issues)
            issues.push({ path: pathOf([...at, 'data'], i.path), message: i.message });
          return;
        }
        const subject = subjectFieldProblem(type, data.data, metadata);
        if (subject) {
          issues.push({ path: pathOf([...at, 'data'], type.subject!.split('.')), message: subject });
          return;
        }
        prepared.push(
          id === undefined
            ? { id: uuidv7(), type: type.name, data: data.data, metadata, freshId: true }
            : { id, type: type.name, data: data.data, metadata },
        );
      });
      if (issues.length) throw new ValidationFailed('events failed validation', issues);
      return prepared;
    },
  };
};
