import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogfront, type Logfront } from '../../app/compose.ts';
import { createLogger } from '../../app/logger.ts';
import { createPgliteSql } from '../../connectors/embedded/pglite-sql.ts';
import { contactsDomain } from '../support/contacts.ts';
import { orderPlacedBy, orderShipped } from '../support/orders.ts';
import { embeddedConfig, uniqueId } from '../support/services.ts';

/** every file under `dir` that holds `needle`, as a path relative to it */
const filesHolding = (dir: string, needle: string) => {
  const bytes = Buffer.from(needle, 'utf8');
  const hits: string[] = [];
  const walk = (path: string) => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      const child = join(path, entry.name);
      if (entry.isDirectory()) walk(child);
      else if (entry.isFile() && readFileSync(child).includes(bytes)) hits.push(relative(dir, child));
    }
  };
  walk(dir);
  return hits.sort();
};

/** the wrapped data key of a subject, read from the data directory's database (logfront closed) */
const wrappedKeyOf = async (dataDir: string, subject: string) => {
  const sql = await createPgliteSql(join(dataDir, 'pg'));
  try {
    const r = await sql.query<{ wrapped: string }>(
      'SELECT wrapped FROM logfront.data_keys WHERE subject = $1',
      [subject],
    );
    return r.rows[0]!.wrapped;
  } finally {
    await sql.close();
  }
};

describe('an erasure leaves nothing in the embedded data directory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'logfront-erase-files-'));
  let lf: Logfront | undefined;
  afterAll(async () => {
    await lf?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const open = () =>
    createLogfront(embeddedConfig({ LOGFRONT_DATA_DIR: dir }), {
      domain: contactsDomain,
      logger: createLogger('warn'),
    });

  it("no file holds the subject's wrapped key or a plaintext copy of its field after the erasure", async () => {
    const ada = `ada-${uniqueId()}`;
    const bob = `bob-${uniqueId()}`;
    const [o1, o2, o3] = [uniqueId(), uniqueId(), uniqueId()];
    lf = await open();
    await lf.startRunners();
    await lf.append.appendToStream(`order-${o1}`, { events: [orderPlacedBy(o1, ada)] });
    // a patch: the row's older version, email and all, stays behind in the table's pages
    await lf.append.appendToStream(`order-${o1}`, { events: [orderShipped(o1)] });
    await lf.append.appendToStream(`order-${o2}`, { events: [orderPlacedBy(o2, ada)] });
    const { position } = await lf.append.appendToStream(`order-${o3}`, { events: [orderPlacedBy(o3, bob)] });
    await lf.facade.get('contacts', o3, { after: position, maxStalenessMs: 10_000 });
    await lf.facade.get('contacts', o1, { consistency: 'strong', maxStalenessMs: 10_000 });
    await lf.close();
    lf = undefined;

    const wrapped = await wrappedKeyOf(dir, ada);
    const bobWrapped = await wrappedKeyOf(dir, bob);
    lf = await open();
    // runners apply batches beside the erasure (one PGlite session: a VACUUM waits for their transactions)
    await lf.startRunners();
    // what the search looks for is there to be found: the key in the heap and the WAL, the email in rows
    expect(filesHolding(dir, wrapped).length).toBeGreaterThan(0);
    expect(filesHolding(dir, `${ada}@example.com`).length).toBeGreaterThan(0);

    const busy = lf;
    const [erased] = await Promise.all([
      busy.erasure.erase(ada, { actor: 'test' }),
      ...[1, 2, 3].map(() => busy.append.appendToStream(`order-${o3}`, { events: [orderShipped(o3)] })),
    ]);
    expect(erased).toMatchObject({ keysDestroyed: 1, rowsDeleted: { orders: 2, contacts: 2 } });
    expect(filesHolding(dir, wrapped)).toEqual([]);
    expect(filesHolding(dir, `${ada}@example.com`)).toEqual([]);
    // the others' keys and rows are where they were
    expect(filesHolding(dir, bobWrapped).length).toBeGreaterThan(0);
    expect(filesHolding(dir, `${bob}@example.com`).length).toBeGreaterThan(0);
    expect((await lf.facade.get('contacts', o3)).data).toMatchObject({ email: `${bob}@example.com` });

    await lf.close();
    lf = undefined;
    expect(filesHolding(dir, wrapped)).toEqual([]);
    expect(filesHolding(dir, `${ada}@example.com`)).toEqual([]);
    // files made since the data directory was secured are its owner's alone too (parents are 0700)
    for (const path of [dir, join(dir, 'pg'), join(dir, 'pg', 'pg_wal')]) {
      expect(statSync(path).mode & 0o077, path).toBe(0);
    }
  });
});
