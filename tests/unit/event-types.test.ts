import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ValidationFailed } from '../../core/errors.ts';
import { createCatalog, defineEventType } from '../../core/log/event-types.ts';
import { UUID } from '../../core/log/ids.ts';
import { OrderPlaced, orderEventTypes } from '../../sample/order-events.ts';

const catalog = () => createCatalog(orderEventTypes, 'shop');

const placed = (overrides: Record<string, unknown> = {}) => ({
  orderId: 'o-1',
  customerId: 'c-1',
  customerEmail: 'ada@example.com',
  items: [{ sku: 'sku-1', qty: 2, priceCents: 150 }],
  totalCents: 300,
  ...overrides,
});

const failure = (events: readonly unknown[], basePath?: (string | number)[]): ValidationFailed => {
  try {
    catalog().prepare(events, basePath);
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationFailed);
    return error as ValidationFailed;
  }
  throw new Error('the events were accepted');
};
const failingPaths = (events: readonly unknown[]) => failure(events).issues.map((i) => i.path);

describe('defineEventType', () => {
  it('a type without options has no sensitive paths and no upcaster', () => {
    const type = defineEventType('Pinged', z.object({}));

    expect(type.name).toBe('Pinged');
    expect(type.sensitive).toEqual([]);
    expect('upcast' in type).toBe(false);
  });

  it('keeps the sensitive paths and the upcaster it is given', () => {
    const upcast = (data: unknown) => data;

    const type = defineEventType('Pinged', z.object({}), { sensitive: ['email'], upcast });

    expect(type.sensitive).toEqual(['email']);
    expect(type.upcast).toBe(upcast);
  });

  it('the sample OrderPlaced marks the customer email as personal data', () => {
    expect(OrderPlaced.sensitive).toEqual(['customerEmail']);
  });
});

describe('createCatalog', () => {
  it('knows each type by name', () => {
    const c = catalog();

    expect([...c.types.keys()]).toEqual(['OrderPlaced', 'OrderShipped', 'OrderCancelled']);
    expect(c.get('OrderPlaced')).toBe(OrderPlaced);
    expect(c.get('OrderRefunded')).toBeUndefined();
  });

  it('two types with the same name are refused', () => {
    const again = defineEventType('OrderPlaced', z.object({ other: z.string() }));

    expect(() => createCatalog([...orderEventTypes, again], 'shop')).toThrow(
      'event type names must be unique',
    );
  });

  it('a type is registered under <prefix>.<name>', () => {
    expect(catalog().subjectOf('OrderShipped')).toBe('shop.OrderShipped');
    expect(createCatalog(orderEventTypes, 'test-42').subjectOf('OrderPlaced')).toBe('test-42.OrderPlaced');
  });

  describe('jsonSchemaOf', () => {
    it('describes a type as a draft-07 JSON Schema of its input', () => {
      const schema = catalog().jsonSchemaOf('OrderShipped');

      expect(schema).toEqual({
        $schema: 'http://json-schema.org/draft-07/schema#',
        type: 'object',
        properties: {
          orderId: { type: 'string', minLength: 1 },
          carrier: { type: 'string', minLength: 1 },
        },
        required: ['orderId', 'carrier'],
        additionalProperties: false,
      });
    });

    it('describes nested arrays and integers', () => {
      const schema = catalog().jsonSchemaOf('OrderPlaced') as {
        required: string[];
        properties: {
          items: { type: string; minItems: number; items: { required: string[]; properties: object } };
        };
      };

      expect(schema.required).toEqual(['orderId', 'customerId', 'customerEmail', 'items', 'totalCents']);
      expect(schema.properties.items.type).toBe('array');
      expect(schema.properties.items.minItems).toBe(1);
      expect(schema.properties.items.items.required).toEqual(['sku', 'qty', 'priceCents']);
      expect(schema.properties.items.items.properties).toMatchObject({
        qty: { type: 'integer', minimum: 1 },
      });
    });

    it('describes the input of a schema with defaults: a defaulted field is optional', () => {
      const c = createCatalog(
        [defineEventType('Tagged', z.object({ tag: z.string(), weight: z.number().default(1) }))],
        'p',
      );

      expect((c.jsonSchemaOf('Tagged') as { required: string[] }).required).toEqual(['tag']);
    });

    it('is computed once per type and then served from the cache', () => {
      const c = catalog();

      const first = c.jsonSchemaOf('OrderPlaced');

      expect(c.jsonSchemaOf('OrderPlaced')).toBe(first);
      expect(c.jsonSchemaOf('OrderShipped')).not.toBe(first);
    });

    it('an unknown type has no schema', () => {
      expect(() => catalog().jsonSchemaOf('OrderRefunded')).toThrow('unknown event type OrderRefunded');
    });
  });

  describe('prepare', () => {
    it('given valid events, returns them checked, in order, with ids and empty metadata', () => {
      const prepared = catalog().prepare([
        { type: 'OrderPlaced', data: placed() },
        { type: 'OrderShipped', data: { orderId: 'o-1', carrier: 'DHL' } },
      ]);

      expect(prepared.map((e) => [e.type, e.data, e.metadata])).toEqual([
        ['OrderPlaced', placed(), {}],
        ['OrderShipped', { orderId: 'o-1', carrier: 'DHL' }, {}],
      ]);
      for (const e of prepared) {
        expect(e.id).toMatch(UUID);
        expect(e.id[14]).toBe('7');
      }
      expect(prepared[0]!.id).not.toBe(prepared[1]!.id);
    });

    it('no events prepare to none', () => {
      expect(catalog().prepare([])).toEqual([]);
    });

    it('an id the producer gives is kept, lower-cased', () => {
      const id = '0190F2A4-7B1C-7D3E-8F00-123456789ABC';

      const [event] = catalog().prepare([{ id, type: 'OrderShipped', data: { orderId: 'o', carrier: 'c' } }]);

      expect(event!.id).toBe(id.toLowerCase());
    });

    it('the data is what the schema parses to: defaults filled in', () => {
      const c = createCatalog([defineEventType('Tagged', z.object({ weight: z.number().default(1) }))], 'p');

      expect(c.prepare([{ type: 'Tagged', data: {} }])[0]!.data).toEqual({ weight: 1 });
    });

    it('metadata is checked and kept', () => {
      const metadata = {
        tenant: 't-1',
        actor: 'user-7',
        subject: 'c-1',
        correlationId: 'corr',
        causationId: 'cause',
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        occurredAt: '2025-01-02T03:04:05.678+01:00',
      };

      const [event] = catalog().prepare([
        { type: 'OrderShipped', data: { orderId: 'o', carrier: 'c' }, metadata },
      ]);

      expect(event!.metadata).toEqual(metadata);
    });

    it('a data subject an erasure could not name is refused: by metadata.subject or by the subject field', () => {
      const long = 'c'.repeat(301);
      expect(failure([{ type: 'OrderPlaced', data: placed({ customerId: long }) }]).issues).toEqual([
        {
          path: 'events.0.data.customerId',
          message: '1 to 300 characters a store can hold (no NUL, no lone surrogate)',
        },
      ]);
      expect(failingPaths([{ type: 'OrderPlaced', data: placed(), metadata: { subject: long } }])).toEqual([
        'events.0.metadata.subject',
      ]);
      expect(failingPaths([{ type: 'OrderPlaced', data: placed(), metadata: { subject: '' } }])).toEqual([
        'events.0.metadata.subject',
      ]);
      // metadata.subject names the subject: the field is only data then; control characters are fine
      const odd = '\t'.repeat(300);
      const [byMetadata, byField] = catalog().prepare([
        { type: 'OrderPlaced', data: placed({ customerId: long }), metadata: { subject: odd } },
        { type: 'OrderPlaced', data: placed({ customerId: odd }) },
      ]);
      expect(byMetadata!.metadata.subject).toBe(odd);
      expect((byField!.data as { customerId: string }).customerId).toBe(odd);
      // a type with nothing sensitive has no key to make: its subject field is not a subject id
      const plain = createCatalog(
        [defineEventType('Seen', z.object({ who: z.string() }), { subject: 'who' })],
        'p',
      );
      expect(plain.prepare([{ type: 'Seen', data: { who: long } }])).toHaveLength(1);
      const nested = createCatalog(
        [
          defineEventType('Met', z.object({ p: z.object({ id: z.string() }), s: z.string() }), {
            subject: 'p.id',
            sensitive: ['s'],
          }),
        ],
        'p',
      );
      expect(() => nested.prepare([{ type: 'Met', data: { p: { id: long }, s: 'x' } }])).toThrow(
        /events\.0\.data\.p\.id/,
      );
    });

    it('collects every failing path across every event, not just the first', () => {
      const error = failure([
        {
          type: 'OrderPlaced',
          data: placed({
            customerEmail: 'not-an-email',
            items: [
              { sku: 'a', qty: 0, priceCents: 1 },
              { sku: '', qty: 1.5, priceCents: -1 },
            ],
          }),
        },
        { type: 'OrderShipped', data: { orderId: 'o' } },
        { type: 'OrderCancelled', data: { orderId: 'o', reason: 'r' } },
        { type: 'OrderRefunded', data: {} },
      ]);

      expect(error.issues.map((i) => i.path)).toEqual([
        'events.0.data.customerEmail',
        'events.0.data.items.0.qty',
        'events.0.data.items.1.sku',
        'events.0.data.items.1.qty',
        'events.0.data.items.1.priceCents',
        'events.1.data.carrier',
        'events.3.type',
      ]);
      expect(error.message).toMatch(/^events failed validation: events\.0\.data\.customerEmail: /);
      expect(error.status).toBe(400);
    });

    it('an unknown type is named along with the known ones', () => {
      const error = failure([{ type: 'OrderRefunded', data: {} }]);

      expect(error.issues).toEqual([
        {
          path: 'events.0.type',
          message: 'unknown event type "OrderRefunded"; known: OrderPlaced, OrderShipped, OrderCancelled',
        },
      ]);
    });

    it('a very long unknown type name is cut to 100 characters in the message', () => {
      const message = failure([{ type: 'X'.repeat(500), data: {} }]).issues[0]!.message;

      expect(message).toContain(`"${'X'.repeat(100)}"`);
      expect(message).not.toContain('X'.repeat(101));
    });

    it('a missing or non-string type asks for the event type name', () => {
      const error = failure([{ data: {} }, { type: 7, data: {} }]);

      expect(error.issues).toEqual([
        { path: 'events.0.type', message: 'expected the event type name' },
        { path: 'events.1.type', message: 'expected the event type name' },
      ]);
    });

    it('an event that is not an object is refused as a whole', () => {
      expect(failingPaths([null, 'OrderPlaced', [1], 5])).toEqual([
        'events.0',
        'events.1',
        'events.2',
        'events.3',
      ]);
      expect(failure([null]).issues[0]!.message).toBe('expected an object with type and data');
    });

    it('a field beside id, type, data and metadata is unknown', () => {
      const error = failure([
        { type: 'OrderShipped', data: { orderId: 'o', carrier: 'c' }, stream: 'order-1', version: 2 },
      ]);

      expect(error.issues).toEqual([
        { path: 'events.0.stream', message: 'unknown field' },
        { path: 'events.0.version', message: 'unknown field' },
      ]);
    });

    it('an unknown field in the data is reported at the data', () => {
      const error = failure([{ type: 'OrderShipped', data: { orderId: 'o', carrier: 'c', note: 'x' } }]);

      expect(error.issues).toHaveLength(1);
      expect(error.issues[0]!.path).toBe('events.0.data');
      expect(error.issues[0]!.message).toContain('note');
    });

    it('missing data is reported at the data', () => {
      expect(failingPaths([{ type: 'OrderShipped' }])).toEqual(['events.0.data']);
    });

    const badIds: [string, unknown][] = [
      ['a number', 42],
      ['a non-UUID string', 'evt-1'],
      ['an empty string', ''],
      ['a UUID without dashes', '0190f2a47b1c7d3e8f00123456789abc'],
    ];
    for (const [what, id] of badIds) {
      it(`an id that is ${what} is not a UUID`, () => {
        expect(failure([{ id, type: 'OrderShipped', data: { orderId: 'o', carrier: 'c' } }]).issues).toEqual([
          { path: 'events.0.id', message: 'expected a UUID' },
        ]);
      });
    }

    it('a tenant is a name an erasure can give: not empty, no spaces or control characters', () => {
      for (const tenant of ['', 'a b', 'a\nb', '-x', 'x'.repeat(65), 'ä']) {
        const error = failure([
          { type: 'OrderShipped', data: { orderId: 'o', carrier: 'c' }, metadata: { tenant } },
        ]);
        expect(error.issues.map((i) => i.path)).toEqual(['events.0.metadata.tenant']);
      }
    });

    it('every bad metadata field is reported under metadata', () => {
      const error = failure([
        {
          type: 'OrderShipped',
          data: { orderId: 'o', carrier: 'c' },
          metadata: {
            tenant: 1,
            actor: 'a'.repeat(201),
            traceparent: '00-abc',
            occurredAt: 'yesterday',
            color: 'red',
          },
        },
      ]);

      expect(error.issues.map((i) => i.path)).toEqual([
        'events.0.metadata.tenant',
        'events.0.metadata.actor',
        'events.0.metadata.traceparent',
        'events.0.metadata.occurredAt',
        'events.0.metadata',
      ]);
      expect(error.issues[2]!.message).toBe('a W3C traceparent');
      expect(error.issues[4]!.message).toContain('color');
    });

    it('an occurredAt without a time zone offset is refused, a Z one is fine', () => {
      expect(
        failingPaths([
          {
            type: 'OrderShipped',
            data: { orderId: 'o', carrier: 'c' },
            metadata: { occurredAt: '2025-01-02T03:04:05' },
          },
        ]),
      ).toEqual(['events.0.metadata.occurredAt']);
      expect(
        catalog().prepare([
          {
            type: 'OrderShipped',
            data: { orderId: 'o', carrier: 'c' },
            metadata: { occurredAt: '2025-01-02T03:04:05Z' },
          },
        ])[0]!.metadata,
      ).toEqual({ occurredAt: '2025-01-02T03:04:05Z' });
    });

    it('metadata that is not an object is reported at metadata', () => {
      expect(
        failingPaths([{ type: 'OrderShipped', data: { orderId: 'o', carrier: 'c' }, metadata: 'm' }]),
      ).toEqual(['events.0.metadata']);
    });

    it('the envelope problems of one event are all reported together with its data problems', () => {
      expect(
        failingPaths([
          {
            id: 'x',
            type: 'OrderShipped',
            data: { orderId: '', carrier: 'c' },
            metadata: { tenant: 1 },
            extra: true,
          },
        ]),
      ).toEqual(['events.0.extra', 'events.0.id', 'events.0.metadata.tenant', 'events.0.data.orderId']);
    });

    it('one bad event fails the whole batch: nothing is prepared', () => {
      const c = catalog();
      expect(() =>
        c.prepare([{ type: 'OrderShipped', data: { orderId: 'o', carrier: 'c' } }, { type: 'OrderShipped' }]),
      ).toThrow(ValidationFailed);
    });

    it('paths start from the base path the caller gives', () => {
      const error = failure([{ type: 'OrderShipped', data: { orderId: 'o' } }], ['body', 'append', 2]);

      expect(error.issues.map((i) => i.path)).toEqual(['body.append.2.0.data.carrier']);
    });
  });
});
