import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// What Stryker runs for each mutant: the unit project alone (pure logic, no service, no global setup).
export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    name: 'unit',
    include: ['tests/unit/**/*.test.ts'],
    testTimeout: 60_000,
  },
});
