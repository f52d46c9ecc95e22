// What a log line may carry (core/security/redaction.ts, app/logger.ts): the schemas' sensitive paths at any
// depth and under any container, credentials by their key and by their shape, errors without the
// parameters and payloads of what failed.
import { PGlite } from '@electric-sql/pglite';
import type { KafkaMessage } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, withRedaction } from '../../app/logger.ts';
import { createRecordMapper } from '../../connectors/kafka/records.ts';
import type { EventCodec } from '../../core/log/codec.ts';
import {
  createRedactor,
  errorMessage,
  REDACTED,
  valuesAt,
  withoutTokens,
  withoutValues,
} from '../../core/security/redaction.ts';

const SSN = '078-05-1120';
const redact = createRedactor(['patient.ssn', 'customerEmail', 'contacts.*.phone', 'notes']);

describe('a log object is redacted from the schemas', () => {
  it('a sensitive path is redacted under whatever container the data is in, at any depth', () => {
    const data = { patient: { ssn: SSN, ward: 'B' }, customerEmail: 'ada@example.com' };
    const out = redact({
      data,
      event: { type: 'PatientSeen', data },
      body: { events: [{ data }, { data }] },
      batch: { events: [{ event: { data } }] },
    });
    expect(JSON.stringify(out)).not.toMatch(/078-05|ada@example/);
    expect(out).toMatchObject({
      data: { patient: { ssn: REDACTED, ward: 'B' }, customerEmail: REDACTED },
      body: { events: [{ data: { patient: { ssn: REDACTED } } }, { data: { customerEmail: REDACTED } }] },
    });
  });

  it('array elements are transparent to a path, and an index or * segment matches any element', () => {
    const out = redact({ data: { contacts: [{ phone: '+44 1', kind: 'home' }, { phone: '+44 2' }] } });
    expect(out).toEqual({ data: { contacts: [{ phone: REDACTED, kind: 'home' }, { phone: REDACTED }] } });
    expect(createRedactor(['items.0.card'])({ items: [{ card: '4111' }] })).toEqual({
      items: [{ card: REDACTED }],
    });
  });

  it('a whole object marked sensitive is redacted whole; null and absent values stay what they are', () => {
    expect(redact({ notes: { text: 'private', by: 'dr' } })).toEqual({ notes: REDACTED });
    expect(redact({ data: { customerEmail: null, patient: {} } })).toEqual({
      data: { customerEmail: null, patient: {} },
    });
  });

  it('only a key path ending with the whole sensitive path is redacted', () => {
    expect(redact({ ssn: 'a', patient: { name: 'n' }, other: { ssn: 'b' } })).toEqual({
      ssn: 'a',
      patient: { name: 'n' },
      other: { ssn: 'b' },
    });
  });

  it('the object logged is not changed', () => {
    const logged = { data: { patient: { ssn: SSN } } };
    redact(logged);
    expect(logged.data.patient.ssn).toBe(SSN);
  });

  it('credentials are redacted by their key (any case) and by their shape in any string', () => {
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl';
    const dev = 'lfdev_0123456789abcdefABCDEF_-0123456';
    const out = redact({
      headers: { Authorization: 'Bearer abc', cookie: 'c=1', 'x-api-key': 'k' },
      config: { token: 't', jwtSecret: 's', secretAccessKey: 'a', password: 'p', kek: 'q', passphrase: 'f' },
      note: `sent Bearer abc.def~ then ${dev} and ${jwt}`,
    });
    expect(out).toEqual({
      headers: { Authorization: REDACTED, cookie: REDACTED, 'x-api-key': REDACTED },
      config: {
        token: REDACTED,
        jwtSecret: REDACTED,
        secretAccessKey: REDACTED,
        password: REDACTED,
        kek: REDACTED,
        passphrase: REDACTED,
      },
      note: `sent Bearer ${REDACTED} then ${REDACTED} and ${REDACTED}`,
    });
    expect(withoutTokens('postgres://logfront:s3cret@db:5432/x and mailto:ada@example.com')).toBe(
      `postgres://logfront:${REDACTED}@db:5432/x and mailto:ada@example.com`,
    );
    // a TLS client key (LOGFRONT_*_TLS_KEY_FILE), whole or cut short, under whatever key it is logged
    const pem = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----';
    expect(redact({ tls: { key: `${pem}\n`, ca: '-----BEGIN CERTIFICATE-----' } })).toEqual({
      tls: { key: `${REDACTED}\n`, ca: '-----BEGIN CERTIFICATE-----' },
    });
    expect(withoutTokens('key: -----BEGIN EC PRIVATE KEY-----\nMHcCAQEE')).toBe(`key: ${REDACTED}`);
    expect(withoutTokens('no credential here: a Bearer scheme alone')).toBe(
      `no credential here: a Bearer ${REDACTED} alone`,
    );
  });

  it('bytes are counted, dates kept, toJSON followed, cycles and deep nesting cut', () => {
    const cycle: Record<string, unknown> = { name: 'c' };
    cycle.self = cycle;
    let deep: unknown = 'leaf';
    for (let i = 0; i < 40; i++) deep = { deep };
    const at = new Date('2026-01-01T00:00:00Z');
    const out = redact({
      bytes: Buffer.from('secret bytes'),
      at,
      url: new URL('https://example.com/a'),
      cycle,
      deep,
      shared: [cycle, cycle],
      big: 12n,
    });
    expect(out.bytes).toBe('[12 bytes]');
    expect(out.at).toBe(at);
    expect(out.url).toBe('https://example.com/a');
    expect(out.cycle).toEqual({ name: 'c', self: '[circular]' });
    expect(out.shared).toEqual([
      { name: 'c', self: '[circular]' },
      { name: 'c', self: '[circular]' },
    ]);
    expect(JSON.stringify(out.deep)).toContain('[nested too deep]');
    expect(out.big).toBe(12n);
  });
});

describe('errors are logged without their parameters and payloads', () => {
  let db: PGlite;
  beforeAll(async () => {
    db = new PGlite();
    await db.exec('CREATE TABLE people (email text PRIMARY KEY, age integer CHECK (age >= 0))');
    await db.query('INSERT INTO people VALUES ($1, 1)', ['ada@example.com']);
  });
  afterAll(() => db.close());

  const failure = async (text: string, params: unknown[]) => {
    try {
      await db.query(text, params);
    } catch (error) {
      return error as Error & Record<string, unknown>;
    }
    throw new Error('no failure');
  };

  it('a data exception keeps its SQLSTATE and words, never the value it quotes or the parameters', async () => {
    const error = await failure('SELECT $1::int', [SSN]);
    expect(error).toMatchObject({ code: '22P02', params: [SSN] });
    const out = redact({ err: error }).err as Record<string, unknown>;
    expect(out).toMatchObject({
      code: '22P02',
      severity: 'ERROR',
      message: `invalid input syntax for type integer: "${REDACTED}"`,
    });
    expect(out.stack).toMatch(/^error: invalid input syntax for type integer: "\[redacted\]"\n {4}at /);
    expect(JSON.stringify(out)).not.toContain('078-05');
    for (const field of ['params', 'query', 'queryOptions', 'where', 'detail'])
      expect(out).not.toHaveProperty(field);
  });

  it('a constraint violation keeps the names it quotes; its detail (the row, the key) is dropped', async () => {
    const duplicate = await failure('INSERT INTO people VALUES ($1, 2)', ['ada@example.com']);
    expect(duplicate.detail).toMatch(/ada@example.com/);
    const check = await failure('INSERT INTO people VALUES ($1, -1)', ['bob@example.com']);
    expect(check.detail).toMatch(/bob@example.com/);
    const out = redact({ a: duplicate, b: check });
    expect(out.a).toMatchObject({ code: '23505', message: expect.stringContaining('"people_pkey"') });
    expect(out.b).toMatchObject({ code: '23514', message: expect.stringContaining('"people_age_check"') });
    expect(JSON.stringify(out)).not.toMatch(/example\.com/);
  });

  it('JSON input Postgres could not parse is in `where`, which is dropped', async () => {
    const error = await failure('SELECT $1::jsonb', [`{"ssn": ${SSN}}`]);
    expect(String(error.where)).toContain('{"ssn": 078');
    expect(JSON.stringify(redact({ err: error }))).not.toContain('078');
  });

  it("an error's own fields are redacted like any object; its cause and aggregated errors too", () => {
    const cause = Object.assign(new Error('inner Bearer abc'), { data: { any: 'payload' } });
    const error = Object.assign(new Error('outer', { cause }), {
      code: 'E_X',
      patient: { ssn: SSN },
      rows: [{ ssn: SSN }],
      payload: 'raw',
    });
    const aggregate = new AggregateError([error, 'plain'], 'many');
    const out = redact({ err: aggregate }).err as Record<string, unknown>;
    expect(out).toMatchObject({ type: 'AggregateError', message: 'many' });
    const [first, second] = out.errors as Record<string, unknown>[];
    expect(first).toMatchObject({
      type: 'Error',
      message: 'outer',
      code: 'E_X',
      patient: { ssn: REDACTED },
      cause: { type: 'Error', message: `inner Bearer ${REDACTED}` },
    });
    expect(first).not.toHaveProperty('rows');
    expect(first).not.toHaveProperty('payload');
    expect(first!.cause).not.toHaveProperty('data');
    expect(second).toBe('plain');
  });

  it('errorMessage: class 22 values and JSON.parse snippets out, other messages as they are', () => {
    let parse: Error | undefined;
    try {
      JSON.parse(`{"ssn":"${SSN}","aaaaaaaaaaaaaaaaaaaaaaaaaaaa":x}`);
    } catch (error) {
      parse = error as Error;
    }
    expect(parse!.message).toContain('aaaa');
    expect(errorMessage(parse)).not.toMatch(/aaaa|078/);
    expect(errorMessage(parse)).toMatch(/\(not valid JSON\)$/);
    expect(errorMessage(new Error('plain words'))).toBe('plain words');
    expect(errorMessage('thrown text with Bearer abc')).toBe(`thrown text with Bearer ${REDACTED}`);
    const notPostgres = Object.assign(new Error('value "x" kept'), { code: '22P02' });
    expect(errorMessage(notPostgres)).toBe('value "x" kept');
  });
});

describe('a record that cannot be decoded says why without quoting it', () => {
  it('a metadata header that is not JSON: the event is undecodable, its reason has none of the header', async () => {
    const codec = { decode: async () => ({}) } as unknown as EventCodec;
    const message = {
      key: Buffer.from('patient-1'),
      value: Buffer.from('{}'),
      offset: '7',
      timestamp: '1767225600000',
      attributes: 0,
      headers: {
        ce_id: Buffer.from('00000000-0000-7000-8000-000000000001'),
        ce_type: Buffer.from('PatientSeen'),
        lf_stream_version: Buffer.from('1'),
        lf_metadata: Buffer.from(`{"subject":"${SSN}", "aaaaaaaaaaaaaaaaaaaaaaaaaaaa": x}`),
      },
    } as unknown as KafkaMessage;
    const { events } = await createRecordMapper(codec).toEvents('t.events.patient', 0, [message]);
    expect(events[0]!.undecodable).toMatchObject({ kind: 'decode' });
    expect(events[0]!.undecodable!.reason).toMatch(/^its metadata header is not JSON: .*\(not valid JSON\)$/);
    expect(events[0]!.undecodable!.reason).not.toMatch(/078|aaaa/);
  });
});

describe('the values of sensitive fields are taken out of free text', () => {
  const data = {
    patient: { ssn: SSN, name: 'Ada "the" Lovelace', sex: 'F', age: 36 },
    contacts: [{ phone: '+44 20 7946 0000' }, { phone: '+44 20 7946 0001' }],
  };

  it('valuesAt finds strings and numbers, through arrays and inside objects', () => {
    expect(valuesAt(data, ['patient.ssn', 'contacts.phone', 'missing.path', 'patient.age'])).toEqual([
      SSN,
      '+44 20 7946 0000',
      '+44 20 7946 0001',
      '36',
    ]);
    expect(valuesAt(data, ['patient'])).toEqual([SSN, 'Ada "the" Lovelace', 'F', '36']);
    expect(valuesAt(null, ['patient.ssn'])).toEqual([]);
  });

  it('withoutValues replaces them as they are and JSON-escaped; a short one only where it stands alone', () => {
    const values = valuesAt(data, ['patient']);
    expect(
      withoutValues(
        `patient ${SSN} named ${JSON.stringify(data.patient.name)}, F, aged 36 (FIFA 1936)`,
        values,
      ),
    ).toBe(`patient ${REDACTED} named "${REDACTED}", ${REDACTED}, aged ${REDACTED} (FIFA 1936)`);
    expect(withoutValues('nothing to take', [])).toBe('nothing to take');
  });
});

describe('the logger', () => {
  const capture = (level: 'info' | 'debug' = 'info') => {
    const lines: Record<string, unknown>[] = [];
    return { lines, logger: createLogger(level, { write: (l: string) => void lines.push(JSON.parse(l)) }) };
  };

  it('redacts credentials by itself, and the catalog’s sensitive paths once given them', () => {
    const { lines, logger } = capture();
    logger.info({ headers: { authorization: 'Bearer a' }, data: { patient: { ssn: SSN } } }, 'before');
    const redacting = withRedaction(logger, [{ sensitive: ['patient.ssn'] }, { sensitive: [] }]);
    redacting.info({ data: { patient: { ssn: SSN } } }, 'after');
    expect(lines[0]).toMatchObject({ headers: { authorization: REDACTED }, data: { patient: { ssn: SSN } } });
    expect(lines[1]).toMatchObject({ data: { patient: { ssn: REDACTED } }, msg: 'after' });
  });

  it('children inherit the redaction, whatever their options; errors keep their type and stack', () => {
    const { lines, logger } = capture();
    const redacting = withRedaction(logger, [{ sensitive: ['patient.ssn'] }]);
    const audit = redacting.child({}, { level: 'info' });
    const request = audit.child({ reqId: 'r1' }, { serializers: { req: (r: unknown) => r } });
    request.error({ err: Object.assign(new RangeError('bad'), { patient: { ssn: SSN } }) }, 'failed');
    expect(lines[0]).toMatchObject({
      reqId: 'r1',
      err: { type: 'RangeError', message: 'bad', patient: { ssn: REDACTED } },
      msg: 'failed',
    });
    expect(String((lines[0]!.err as { stack: string }).stack)).toMatch(/^RangeError: bad\n {4}at /);
  });

  it('a line that is not written is not walked', () => {
    const { lines, logger } = capture();
    let walked = false;
    const probe = {
      get data() {
        walked = true;
        return {};
      },
    };
    withRedaction(logger, [{ sensitive: ['x'] }]).debug(probe, 'not at info');
    expect(walked).toBe(false);
    expect(lines).toEqual([]);
  });
});
