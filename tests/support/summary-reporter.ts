import type { Reporter, TestModule } from 'vitest/node';

// Prints the plain closing line CI reads: "vitest: N passed, N failed, N skipped".
export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: readonly TestModule[]) {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const m of modules) {
      for (const t of m.children.allTests()) {
        const state = t.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        else skipped++;
      }
      // a module that failed outside its tests (import error, failing hook) counts as one failure
      if (m.state() === 'failed' && ![...m.children.allTests()].some((t) => t.result().state === 'failed'))
        failed++;
    }
    process.stdout.write(`\nvitest: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}
