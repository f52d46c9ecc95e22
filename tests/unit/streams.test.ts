import { describe, expect, it } from 'vitest';
import { ValidationFailed } from '../../core/errors.ts';
import { categoriesOf, categoryOf, parseStreamId, topicFor } from '../../core/log/streams.ts';

const rejection = (raw: string, path?: string): ValidationFailed => {
  try {
    parseStreamId(raw, path);
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationFailed);
    return error as ValidationFailed;
  }
  throw new Error(`stream id ${JSON.stringify(raw)} was accepted`);
};

describe('parseStreamId', () => {
  const valid = [
    'order-1',
    'order-0190f2a4-7b1c-7d3e-8f00-123456789abc',
    'Order_Line2-a.b:c_d-e',
    'x-y',
    `${'c'.repeat(64)}-1`,
    `order-${'i'.repeat(200)}`,
  ];
  for (const raw of valid) {
    it(`accepts "${raw.length > 40 ? `${raw.slice(0, 30)}…` : raw}" as a stream id, unchanged`, () => {
      expect(parseStreamId(raw)).toBe(raw);
    });
  }

  const invalid: Record<string, string> = {
    'an empty string': '',
    'a category with no id': 'order',
    'a category and a dash but no id': 'order-',
    'an id with no category': '-1',
    'a category starting with a digit': '1order-1',
    'a category starting with an underscore': '_order-1',
    'a category with a dot': 'or.der-1',
    'a category of 65 characters': `${'c'.repeat(65)}-1`,
    'an id of 201 characters': `order-${'i'.repeat(201)}`,
    'an id with a slash': 'order-a/b',
    'an id with a space': 'order-a b',
    'an id with non-ASCII letters': 'order-ü',
    'a trailing newline': 'order-1\n',
    'a leading space': ' order-1',
  };
  for (const [what, raw] of Object.entries(invalid)) {
    it(`rejects ${what}`, () => {
      const error = rejection(raw);

      expect(error.code).toBe('validation_failed');
      expect(error.issues).toHaveLength(1);
      expect(error.issues[0]?.path).toBe('stream');
    });
  }

  it('the rejection quotes the value and states the expected shape', () => {
    const error = rejection('no dash here');

    expect(error.message).toMatch(/^invalid stream id: stream: "no dash here" is not <category>-<id>/);
    expect(error.issues[0]?.message).toContain('category [A-Za-z][A-Za-z0-9_]{0,63}');
    expect(error.issues[0]?.message).toContain('id [A-Za-z0-9._:-]{1,200}');
  });

  it('the rejection names the path the caller gives', () => {
    expect(rejection('bad', 'events.3.stream').issues[0]?.path).toBe('events.3.stream');
  });

  it('a very long bad value is quoted only up to 80 characters', () => {
    const error = rejection(`${'x'.repeat(100)} oops`);

    expect(error.issues[0]?.message.startsWith(`"${'x'.repeat(80)}" is not`)).toBe(true);
  });
});

describe('categoryOf', () => {
  it('the category is everything before the first dash', () => {
    expect(categoryOf('order-1')).toBe('order');
  });

  it('dashes inside the id stay with the id', () => {
    expect(categoryOf('order-0190f2a4-7b1c-7d3e')).toBe('order');
  });

  it('a name without a dash is its own category', () => {
    expect(categoryOf('order')).toBe('order');
  });

  it('works on a parsed stream id', () => {
    expect(categoryOf(parseStreamId('Cart_2-abc'))).toBe('Cart_2');
  });
});

describe('topicFor', () => {
  it('a category gets the topic <prefix>.events.<category>', () => {
    expect(topicFor('logfront', 'order')).toBe('logfront.events.order');
  });

  it('the prefix separates tenants of the same cluster', () => {
    expect(topicFor('test-1a2b', 'order')).not.toBe(topicFor('test-3c4d', 'order'));
  });
});

describe('categoriesOf', () => {
  it("names the categories of the prefix's event topics, and nothing else", () => {
    const topics = [
      'shop.events.order',
      'shop.events.blob',
      'shop.events.',
      'shop.deadletters.orders',
      'shop2.events.order',
      'other.events.order',
      '__consumer_offsets',
    ];
    expect(categoriesOf('shop', topics)).toEqual(['order', 'blob']);
    expect(categoriesOf('shop', [])).toEqual([]);
  });
});
