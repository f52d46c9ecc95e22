import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type Domain, sampleDomain } from '../../app/domain.ts';
import { defineEventType } from '../../core/log/event-types.ts';
import { cli } from '../support/cli.ts';
import { services, uniqueId } from '../support/services.ts';

const withShipped = (schema: z.ZodType): Domain => ({
  ...sampleDomain,
  eventTypes: sampleDomain.eventTypes.map((t) =>
    t.name === 'OrderShipped' ? defineEventType('OrderShipped', schema) : t,
  ),
});

const schemas = (verb: string, prefix: string, options: { domain?: Domain; json?: boolean } = {}) =>
  cli(
    ['schemas', verb, ...(options.json ? ['--json'] : [])],
    { LOGFRONT_SCHEMA_REGISTRY_URL: services().LOGFRONT_SCHEMA_REGISTRY_URL, LOGFRONT_TOPIC_PREFIX: prefix },
    options.domain,
  ).done;

describe('logfront schemas', () => {
  it('register registers every event type under <prefix>.<EventType>; registering again changes nothing', async () => {
    const prefix = `t${uniqueId()}`;
    const first = await schemas('register', prefix, { json: true });
    expect(first.code, first.err).toBe(0);
    const subjects = (JSON.parse(first.out) as { subjects: { subject: string; id: number }[] }).subjects;
    expect(subjects.map((s) => s.subject)).toEqual([
      `${prefix}.OrderPlaced`,
      `${prefix}.OrderShipped`,
      `${prefix}.OrderCancelled`,
    ]);
    const again = await schemas('register', prefix, { json: true });
    expect(JSON.parse(again.out).subjects).toEqual(subjects);
  });

  it('check passes when an optional field is added and fails, naming subject and reason, when a field is removed', async () => {
    const prefix = `t${uniqueId()}`;
    expect((await schemas('register', prefix)).code).toBe(0);

    const added = withShipped(
      z
        .object({ orderId: z.string().min(1), carrier: z.string().min(1), note: z.string().optional() })
        .strict(),
    );
    const ok = await schemas('check', prefix, { domain: added });
    expect(ok.code, ok.err).toBe(0);
    expect(ok.out).toMatch(new RegExp(`${prefix}\\.OrderShipped\\s+true`));

    const removed = withShipped(z.object({ orderId: z.string().min(1) }).strict());
    const broken = await schemas('check', prefix, { domain: removed });
    expect(broken.code).toBe(1);
    expect(broken.err).toMatch(
      new RegExp(`^logfront: ${prefix}\\.OrderShipped is not BACKWARD compatible: .*carrier`),
    );
    // check registers nothing: the removal is still incompatible with the first version
    const still = await schemas('check', prefix, { domain: removed });
    expect(still.code).toBe(1);
  });

  it('bad use exits 2 with a reason', async () => {
    expect((await cli(['schemas', 'frobnicate'], {}).done).code).toBe(2);
    const noRegistry = await cli(['schemas', 'check'], {}).done;
    expect(noRegistry).toMatchObject({ code: 2 });
    expect(noRegistry.err).toMatch(/LOGFRONT_SCHEMA_REGISTRY_URL/);
  });
});
