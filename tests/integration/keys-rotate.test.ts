import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogfront, type Logfront } from '../../app/compose.ts';
import { loadConfig } from '../../app/config.ts';
import { beginDataDirRotation, KEK_FILE, NEXT_KEK_FILE } from '../../app/kek.ts';
import { createLogger } from '../../app/logger.ts';
import { createPgliteSql } from '../../connectors/embedded/pglite-sql.ts';
import type { StreamId } from '../../core/types.ts';
import { run } from '../support/cli.ts';
import { orderPlacedBy } from '../support/orders.ts';
import { services, uniqueId } from '../support/services.ts';

const emailOf = async (lf: Logfront, orderId: string) => {
  const [event] = await lf.log.readStream(`order-${orderId}` as StreamId, 1, 1);
  return (event!.data as { customerEmail: string | null }).customerEmail;
};

/** whether any file under `dir` holds `text` */
const anyFileHolds = (dir: string, text: string): boolean =>
  readdirSync(dir, { withFileTypes: true }).some((e) =>
    e.isDirectory()
      ? anyFileHolds(join(dir, e.name), text)
      : e.isFile() && readFileSync(join(dir, e.name)).includes(Buffer.from(text)),
  );

describe('logfront keys rotate: the embedded data directory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'logfront-rotate-'));
  const env = { LOGFRONT_MODE: 'embedded', LOGFRONT_DATA_DIR: dir, LOGFRONT_LOG_LEVEL: 'warn' };
  const config = loadConfig(env);
  let lf: Logfront | undefined;
  const open = async () => {
    lf = await createLogfront(config, { logger: createLogger('warn') });
    return lf;
  };
  const close = async () => {
    await lf?.close();
    lf = undefined;
  };
  afterAll(async () => {
    await close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('re-wraps every key with a new KEK: old events read with it alone, a stopped rotation finishes, audited', async () => {
    const [ada, bob] = [`ada-${uniqueId()}`, `bob-${uniqueId()}`];
    const [o1, o2] = [uniqueId(), uniqueId()];
    const first = await open();
    await first.append.appendToStream(`order-${o1}`, { events: [orderPlacedBy(o1, ada)] });
    await close();
    const oldKek = readFileSync(join(dir, KEK_FILE), 'utf8');
    const sql = await createPgliteSql(join(dir, 'pg'));
    const oldWrapped = (await sql.query<{ wrapped: string }>('SELECT wrapped FROM logfront.data_keys'))
      .rows[0]!.wrapped;
    await sql.close();
    expect(anyFileHolds(dir, oldWrapped)).toBe(true);

    // a rotation that stopped after making its new KEK: a process reads old keys and makes new ones
    expect(beginDataDirRotation(config)).toBe(true);
    const during = await open();
    expect(await emailOf(during, o1)).toBe(`${ada}@example.com`);
    await during.append.appendToStream(`order-${o2}`, { events: [orderPlacedBy(o2, bob)] });
    await close();
    const newKek = readFileSync(join(dir, NEXT_KEK_FILE), 'utf8');

    const rotated = await run(['keys', 'rotate', '--json'], env);
    expect(rotated, rotated.err).toMatchObject({ code: 0, err: '' });
    expect(JSON.parse(rotated.out)).toEqual({ rewrapped: 1, current: 1, unreadable: 0 });
    expect(existsSync(join(dir, NEXT_KEK_FILE))).toBe(false);
    expect(readFileSync(join(dir, KEK_FILE), 'utf8')).toBe(newKek);
    // neither the old KEK nor a key wrapped with it is left in the data directory's files
    expect(anyFileHolds(dir, oldKek.trim())).toBe(false);
    expect(anyFileHolds(dir, oldWrapped)).toBe(false);

    // the new KEK alone reads what the old one wrapped
    const after = await open();
    expect(await emailOf(after, o1)).toBe(`${ada}@example.com`);
    expect(await emailOf(after, o2)).toBe(`${bob}@example.com`);
    const records = (await after.audit.query({ action: 'keys.rotated', limit: 10 })).items;
    expect(records.map((r) => r.outcome)).toEqual(['started', 'success']);
    expect(records[1]).toMatchObject({
      actor: expect.stringMatching(/^cli/),
      resource: 'data-keys/logfront',
      details: { rewrapped: 1, current: 1, unreadable: 0 },
    });
    await close();

    // run again: a new KEK, every key re-wrapped again
    const again = await run(['keys', 'rotate'], env);
    expect(again).toMatchObject({ code: 0 });
    expect(again.out).toBe('re-wrapped 2 data keys with the new key-encryption key (0 were already)');
    expect(readFileSync(join(dir, KEK_FILE), 'utf8')).not.toBe(newKek);
  });

  it('refuses what it cannot do, before touching anything', async () => {
    expect(await run(['keys'], env)).toMatchObject({
      code: 2,
      err: 'logfront: keys takes rotate; see logfront keys --help',
    });
    const memory = await run(['keys', 'rotate'], {
      LOGFRONT_MODE: 'embedded',
      LOGFRONT_DATA_DIR: ':memory:',
    });
    expect(memory).toMatchObject({
      code: 2,
      err: 'logfront: an in-memory data directory keeps no data key to rotate',
    });
    const off = await run(['keys', 'rotate'], { ...env, LOGFRONT_ENCRYPTION: 'off' });
    expect(off).toMatchObject({ code: 2, err: expect.stringMatching(/LOGFRONT_ENCRYPTION=off/) });
    const previousOnly = await run(['keys', 'rotate'], {
      ...env,
      LOGFRONT_KEK_PREVIOUS: randomBytes(32).toString('base64'),
    });
    expect(previousOnly).toMatchObject({
      code: 2,
      err: expect.stringMatching(/LOGFRONT_KEK_PREVIOUS needs LOGFRONT_KEK/),
    });
    expect(existsSync(join(dir, NEXT_KEK_FILE))).toBe(false);
  });
});

describe('logfront keys rotate: Postgres, with LOGFRONT_KEK and LOGFRONT_KEK_PREVIOUS', () => {
  const id = uniqueId();
  const [oldKek, newKek] = [randomBytes(32).toString('base64'), randomBytes(32).toString('base64')];
  const env = (keys: Record<string, string>) => ({
    ...services(),
    LOGFRONT_MODE: 'services',
    LOGFRONT_TOPIC_PREFIX: `t${id}`,
    LOGFRONT_DATABASE_SCHEMA: `t_${id}`,
    LOGFRONT_LOG_LEVEL: 'warn',
    LOGFRONT_AUTH: 'none',
    LOGFRONT_KEK: '',
    ...keys,
  });
  let lf: Logfront | undefined;
  afterAll(async () => lf?.close());

  it('re-wraps the keys from the previous KEK: events appended before read with the new KEK alone', async () => {
    const ada = `ada-${uniqueId()}`;
    const o = uniqueId();
    lf = await createLogfront(loadConfig(env({ LOGFRONT_KEK: oldKek })), { logger: createLogger('warn') });
    await lf.append.appendToStream(`order-${o}`, { events: [orderPlacedBy(o, ada)] });
    await lf.close();

    const refused = await run(['keys', 'rotate'], env({ LOGFRONT_KEK: newKek }));
    expect(refused).toMatchObject({ code: 2, err: expect.stringMatching(/needs LOGFRONT_KEK_PREVIOUS/) });
    const rotated = await run(
      ['keys', 'rotate', '--json'],
      env({ LOGFRONT_KEK: newKek, LOGFRONT_KEK_PREVIOUS: oldKek }),
    );
    expect(rotated, rotated.err).toMatchObject({ code: 0 });
    expect(JSON.parse(rotated.out)).toEqual({ rewrapped: 1, current: 0, unreadable: 0 });

    lf = await createLogfront(loadConfig(env({ LOGFRONT_KEK: newKek })), { logger: createLogger('warn') });
    expect(await emailOf(lf, o)).toBe(`${ada}@example.com`);
    const records = (await lf.audit.query({ action: 'keys.rotated', limit: 10 })).items;
    expect(records.map((r) => r.outcome)).toEqual(['started', 'success']);
    await lf.close();

    // with the old KEK alone, the keys no longer open: the rotation took
    lf = await createLogfront(loadConfig(env({ LOGFRONT_KEK: oldKek })), { logger: createLogger('warn') });
    await expect(emailOf(lf, o)).rejects.toThrow(/LOGFRONT_KEK is not the key it was wrapped with/);
    // a key that opens with neither: counted, the command fails
    const lost = await run(
      ['keys', 'rotate', '--json'],
      env({ LOGFRONT_KEK: randomBytes(32).toString('base64'), LOGFRONT_KEK_PREVIOUS: oldKek }),
    );
    expect(lost).toMatchObject({ code: 1, err: expect.stringMatching(/1 data keys open with neither/) });
    expect(JSON.parse(lost.out)).toEqual({ rewrapped: 0, current: 0, unreadable: 1 });
  });
});
