/** A fix that suggests a command is argv, rendered with the user's own --work-dir and --config. */
import { describe, expect, it } from 'vitest';
import { renderHintCommand } from '../../src/cli/hint.js';
import { renderError } from '../../src/cli/render-error.js';
import { StepError, UsageError } from '../../src/errors.js';

describe('hint commands', () => {
  it('adds the flags the user typed to an ailinux command, quoted for a shell', () => {
    expect(renderHintCommand(['ailinux', 'resume'], { workDir: '/x y', config: 'my.yaml' })).toBe(
      "ailinux resume --work-dir '/x y' --config my.yaml",
    );
    expect(renderHintCommand(['ailinux', 'resume'], {})).toBe('ailinux resume');
  });

  it('keeps flags the hint already has, and gives --config only to commands that read a config', () => {
    expect(renderHintCommand(['ailinux', 'status', '-w', 'a'], { workDir: 'b', config: 'c.yaml' })).toBe(
      'ailinux status -w a',
    );
    expect(renderHintCommand(['ailinux', 'clean'], { workDir: 'b', config: 'c.yaml' })).toBe(
      'ailinux clean --work-dir b',
    );
  });

  it('leaves other programs alone', () => {
    expect(renderHintCommand(['apt-get', 'install', 'frob'], { workDir: 'b', config: 'c.yaml' })).toBe(
      'apt-get install frob',
    );
  });

  it('an error with a hint command prints the fix and the line to paste', () => {
    const error = new UsageError('/w holds an unfinished build (failed at iso)', {
      hint: 'continue it with `ailinux resume`, or start over by adding --fresh to this command',
      hintArgv: ['ailinux', 'resume'],
    });
    expect(renderError(error, { workDir: '/w', config: 'my.yaml' }).split('\n')).toEqual([
      'ailinux: /w holds an unfinished build (failed at iso)',
      '  fix: continue it with `ailinux resume --work-dir /w --config my.yaml`, or start over by adding --fresh to this command',
      '  run: ailinux resume --work-dir /w --config my.yaml',
    ]);
    expect(renderError(new StepError('x', 'boom', { hint: 'look' }))).toBe('ailinux: boom\n  fix: look');
  });
});
