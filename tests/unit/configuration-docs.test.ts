import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ENV_SCHEMA } from '../../app/config.ts';

const docs = readFileSync(
  join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'configuration.md'),
  'utf8',
);

describe('docs/configuration.md', () => {
  it('documents every variable the config accepts', () => {
    const undocumented = Object.keys(ENV_SCHEMA.shape).filter((name) => !docs.includes(`\`${name}\``));
    expect(undocumented).toEqual([]);
  });
});
