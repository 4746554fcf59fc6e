import { defineConfig } from 'vitest/config';

// The unit tier for `npm run mutation` (stryker.config.mjs, docs/testing.md). Left out: tests that cannot see a
// mutant, since they run the compiled CLI (plan-ailinux) or read the sources as text, which StrykerJS instruments
// (safety-source); and proc-stat, whose test of its own /proc/PID/stat expects state R, while StrykerJS runs the tests
// in a worker thread and the main thread, which that file describes, sleeps (S).
export default defineConfig({
  test: {
    include: ['tests/unit/**/*.test.ts'],
    exclude: ['tests/unit/plan-ailinux.test.ts', 'tests/unit/safety-source.test.ts', 'tests/unit/proc-stat.test.ts'],
    testTimeout: 20_000,
  },
});
