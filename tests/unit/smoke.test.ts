import { describe, expect, it } from 'vitest';
import { quoteArgv } from '../../src/runtime/runner.js';

describe('quoteArgv', () => {
  it('quotes what a shell would split', () => {
    expect(quoteArgv(['echo', 'a b', "it's", 'plain'])).toBe(`echo 'a b' 'it'\\''s' plain`);
  });
});
