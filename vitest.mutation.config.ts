import { defineConfig } from 'vitest/config';

// The unit tier for `npm run mutation` (stryker.config.mjs, docs/testing.md). Left out: tests that cannot see a
// mutant, since they run the compiled CLI (plan-ailinux) or read the sources as text, which StrykerJS instruments
// (safety-source). The config set runs the config's own tests only.
const CONFIG_TESTS = [
  'tests/unit/profiles.test.ts',
  'tests/unit/steps-ailinux-branding.test.ts', // the secrets check's own tests are here
  'tests/unit/config-*.test.ts',
  'tests/unit/mutation-config*.test.ts',
];

export default defineConfig({
  test: {
    include: process.env.MUTATION_SET === 'config' ? CONFIG_TESTS : ['tests/unit/**/*.test.ts'],
    exclude: ['tests/unit/plan-ailinux.test.ts', 'tests/unit/safety-source.test.ts'],
    testTimeout: 20_000,
  },
});
