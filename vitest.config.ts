import path from 'node:path';
import { defineConfig } from 'vitest/config';

/**
 * The unit and integration tiers build without the network: every suite's Release is this file
 * (src/runtime/archive-release.ts). A test that reads the archive (the loopback archive) passes its own reader or
 * unsets it for the CLI it starts.
 */
const fixedRelease = { AILINUX_ARCHIVE_RELEASE_FILE: path.resolve('tests/fixtures/archive/Release') };

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['tests/unit/**/*.test.ts'],
          env: fixedRelease,
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['tests/integration/**/*.test.ts'],
          env: fixedRelease,
          testTimeout: 300_000,
          hookTimeout: 120_000,
          // real tools and whole CLI runs: one file at a time keeps timings honest on 2 cores
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['tests/e2e/**/*.test.ts'],
          testTimeout: 1_800_000,
          hookTimeout: 600_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
