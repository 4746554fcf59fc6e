import { describe, expect, it } from 'vitest';
import { valueAt } from '../../src/config/value-at.js';

const config = {
  iso: { bios: true, label: null, volume: undefined },
  packages: { extra: ['vim', 'curl'] },
  'a.b': { c: 1 },
  zero: 0,
};

describe('valueAt', () => {
  it('reads a dotted path and the same path as parts', () => {
    expect(valueAt(config, 'iso.bios')).toBe(true);
    expect(valueAt(config, ['iso', 'bios'])).toBe(true);
    expect(valueAt(config, 'iso')).toBe(config.iso);
    expect(valueAt(config, 'zero')).toBe(0);
  });

  it('indexes arrays by their position', () => {
    expect(valueAt(config, 'packages.extra.1')).toBe('curl');
    expect(valueAt(config, ['packages', 'extra', '0'])).toBe('vim');
    expect(valueAt(config, 'packages.extra.2')).toBeUndefined();
  });

  it('keeps null, and reads a missing field and one set to undefined alike', () => {
    expect(valueAt(config, 'iso.label')).toBeNull();
    expect(valueAt(config, 'iso.volume')).toBeUndefined();
    expect(valueAt(config, 'iso.nope')).toBeUndefined();
  });

  it('is undefined past null, a scalar or a missing object, without throwing', () => {
    expect(valueAt(config, 'iso.label.x')).toBeUndefined();
    expect(valueAt(config, 'iso.bios.x')).toBeUndefined();
    expect(valueAt(config, 'nope.deeper.still')).toBeUndefined();
    expect(valueAt(null, 'iso')).toBeUndefined();
    expect(valueAt('text', ['length'])).toBeUndefined();
  });

  it('takes a key with a dot in it only as a part', () => {
    expect(valueAt(config, ['a.b', 'c'])).toBe(1);
    expect(valueAt(config, 'a.b.c')).toBeUndefined();
  });

  it('is the root for no parts', () => {
    expect(valueAt(config, [])).toBe(config);
  });
});
