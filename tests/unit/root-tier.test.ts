/** The root-only tiers skip on a developer's host and fail in CI, where AILINUX_REQUIRE_ROOT_TIERS=1 is set. */
import { describe, expect, it } from 'vitest';
import { RequiredTierMissingError, skipUnlessRoot, skipWithout } from '../helpers/root.js';

const REQUIRED = { AILINUX_REQUIRE_ROOT_TIERS: '1' };

describe('skipUnlessRoot', () => {
  it('never skips as root, with or without the variable', () => {
    expect(skipUnlessRoot(0, {})).toBe(false);
    expect(skipUnlessRoot(0, REQUIRED)).toBe(false);
  });

  it('skips when not root and the variable is unset (or not 1)', () => {
    expect(skipUnlessRoot(65534, {})).toBe(true);
    expect(skipUnlessRoot(65534, { AILINUX_REQUIRE_ROOT_TIERS: '0' })).toBe(true);
  });

  it('fails when not root and the variable is set, naming the variable and the uid', () => {
    expect(() => skipUnlessRoot(65534, REQUIRED)).toThrow(RequiredTierMissingError);
    expect(() => skipUnlessRoot(65534, REQUIRED)).toThrow(/AILINUX_REQUIRE_ROOT_TIERS=1.*needs root.*uid 65534/);
  });
});

describe('skipWithout', () => {
  it('runs a tier that lacks nothing', () => {
    expect(skipWithout(null, REQUIRED)).toBe(false);
  });

  it('skips for a missing tool, or fails naming it under the variable', () => {
    expect(skipWithout('/usr/bin/chromium is missing', {})).toBe(true);
    expect(() => skipWithout('/usr/bin/chromium is missing', REQUIRED)).toThrow(/\/usr\/bin\/chromium is missing/);
  });
});
