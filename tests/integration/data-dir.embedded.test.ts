// The embedded data directory holds the log, the rows, the wrapped data keys and the KEK: its owner's alone.
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogfront } from '../../app/compose.ts';
import { orderPlaced } from '../support/orders.ts';
import { embeddedConfig, uniqueId } from '../support/services.ts';

const modes = (dir: string): [string, string][] => {
  const out: [string, string][] = [[dir, (statSync(dir).mode & 0o777).toString(8)]];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...modes(path));
    else if (entry.isFile()) out.push([path, (statSync(path).mode & 0o777).toString(8)]);
  }
  return out;
};

describe('the embedded data directory', () => {
  const root = mkdtempSync(join(tmpdir(), 'lf-data-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('is 0700 with 0600 files, also when it was made open before', async () => {
    const dir = join(root, 'data');
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, 0o755);
    const config = embeddedConfig({ LOGFRONT_DATA_DIR: dir, LOGFRONT_KEK: '' });
    const lf = await createLogfront(config);
    const id = uniqueId();
    await lf.append.appendToStream(`order-${id}`, { events: [orderPlaced(id)] });
    await lf.close();
    // opened again: whatever was written meanwhile is closed to others too
    await (await createLogfront(config)).close();
    const all = modes(dir);
    expect(all.length).toBeGreaterThan(10);
    const open = all.filter(([path, mode]) =>
      statSync(path).isDirectory() ? mode !== '700' : mode !== '600',
    );
    expect(open).toEqual([]);
  });
});
