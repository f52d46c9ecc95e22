import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globalSetup: ['tests/support/global-setup.ts'],
    // `npm run test:unit` runs the first alone (no services); `npm test` runs every one
    projects: ['unit', 'integration', 'contract', 'golden', 'chaos'].map((name) => ({
      extends: true,
      test: { name, include: [`tests/${name}/**/*.test.ts`] },
    })),
    testTimeout: 60_000,
    hookTimeout: 180_000,
    pool: 'forks',
    maxWorkers: 3,
    reporters: ['default', './tests/support/summary-reporter.ts'],
    coverage: {
      provider: 'v8',
      // a run with a failed test still writes its coverage (and the gates it misses), to fix both at once
      reportOnFailure: true,
      include: [
        'core/**/*.ts',
        'projections/**/*.ts',
        'connectors/**/*.ts',
        'app/**/*.ts',
        'schemas/**/*.ts',
        'sample/**/*.ts',
      ],
      reporter: ['text-summary', 'json-summary', 'json', 'text'],
      thresholds: {
        perFile: true,
        lines: 85,
        branches: 80,
        'connectors/**/*.ts': { lines: 95, branches: 90 },
      },
    },
  },
});
