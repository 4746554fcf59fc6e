/**
 * The output samples in the docs are what the CLI prints now (issue 13, point 6): scripts/doc-samples.ts runs its
 * fake-tools builds again (the ailinux command, as root, in a temp dir) and every marked sample in README.md and
 * docs/ must equal what it makes. On a difference the test prints a line diff; `npm run docs:samples` rewrites them.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO, docsWithSamples, lineDiff, makeSamples, rewriteSamples } from '../../scripts/doc-samples.js';
import { assertCliBuilt } from '../helpers/cli.js';
import { skipUnlessRoot } from '../helpers/root.js';

describe.skipIf(skipUnlessRoot())('the output samples in the docs', () => {
  it('are what the CLI prints now (npm run docs:samples rewrites them)', async () => {
    assertCliBuilt();
    const samples = await makeSamples();
    const docs = docsWithSamples();
    expect(docs.size).toBeGreaterThan(0);
    for (const [file, text] of docs) {
      const doc = path.relative(REPO, file);
      const rewritten = rewriteSamples(text, samples, doc);
      expect(rewritten === text, `${doc} differs from its regenerated samples:\n${lineDiff(text, rewritten)}`).toBe(
        true,
      );
    }
  }, 600_000);
});
