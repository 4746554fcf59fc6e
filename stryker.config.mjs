// @ts-check
/**
 * `npm run mutation` (docs/testing.md): StrykerJS on the pure modules, against the unit tier. Not part of
 * `npm test`: it is a benchmark-like run of many minutes. Two sets, one run each, chosen by MUTATION_SET:
 * - modules (default): planner, fingerprint, the machine, the steps' renderers, the verify checks and parsers,
 *   the inspect graph; every unit test that covers a mutant runs against it;
 * - config: the config schema, loader and secrets check, against the config's own unit tests. Nearly every
 *   test loads a config, so against the whole tier each of these mutants would run most of it.
 */
const set = process.env.MUTATION_SET === 'config' ? 'config' : 'modules';

const MUTATE = {
  modules: [
    'src/engine/planner.ts',
    'src/engine/fingerprint.ts',
    'machines/build-machine.ts',
    // the steps' renderers: modules that render file contents or argv and run no command
    'src/steps/boot-menu.ts',
    'src/steps/isolinux.ts',
    'src/steps/launchers.ts',
    'src/steps/live-medium.ts',
    'src/steps/config-files.ts',
    'src/steps/apt-keys.ts',
    'src/steps/calamares/*.ts',
    'src/verify/checks.ts',
    'src/verify/iso-listing.ts',
    'src/verify/grub-config.ts',
    'src/verify/magic.ts',
    'src/verify/xorriso-reports.ts',
    'src/inspect/graph.ts',
    'src/inspect/dot.ts',
    'src/inspect/marks.ts',
  ],
  config: ['src/config/schema.ts', 'src/config/load.ts', 'src/config/secrets.ts'],
};

/** The config set's tests: the config's own, and the secrets check's (in the branding step's tests). */
const CONFIG_TESTS = [
  'tests/unit/profiles.test.ts',
  'tests/unit/steps-ailinux-branding.test.ts',
  'tests/unit/config-*.test.ts',
  'tests/unit/mutation-config*.test.ts',
];

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  // related: false, since each mutant's covering tests are known; vitest's related scan of every test file costs seconds a run
  vitest: { configFile: 'vitest.mutation.config.ts', related: false },
  coverageAnalysis: 'perTest',
  // a mutant that only runs while a module loads (the zod schema's declarations) needs a fresh import of every
  // selected test file; at several seconds each, they are left out of the score (docs/testing.md)
  ignoreStatic: true,
  concurrency: 2,
  timeoutMS: 10_000,
  mutate: MUTATE[set],
  testFiles: set === 'config' ? CONFIG_TESTS : [],
  reporters: ['clear-text', 'progress', 'json'],
  jsonReporter: { fileName: `reports/mutation/${set}.json` },
  clearTextReporter: { allowEmojis: false, logTests: false },
  // docs/ stays: profiles.test.ts compares the field table in docs/profiles.md with the schema
  ignorePatterns: ['coverage', 'reports', 'ailinux-build', 'test-artifacts', 'scratch', '*.iso'],
  tempDirName: '.stryker-tmp',
};
