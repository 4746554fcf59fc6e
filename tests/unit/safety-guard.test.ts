/**
 * The signal guard: every signal goes through sendSignal, which refuses init, broadcast targets,
 * this process, its group, its ancestors and their groups, look-alike processes with a build
 * tool's name, and reused pids; it lets through only a runner's own group and a leftover verified
 * by marker or start time, and journals each. Run as user nobody (tests/fixtures/safety/guard-check.mjs)
 * so that even a broken guard could not reach a process of another user.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const FIXTURE = path.join(REPO, 'tests', 'fixtures', 'safety', 'guard-check.mjs');

interface Attempt {
  label: string;
  target: number | null;
  refused: boolean;
  code?: string;
  message?: string;
  journalGrew?: boolean;
}
interface Signal {
  target: number;
  signal: string;
  reason: string;
  authority: string;
  delivered: boolean;
}
interface GuardResult {
  uid: number;
  ancestors: number[];
  refusals: Attempt[];
  allowed: {
    runner: { outcome: string; signals: Signal[] };
    reap: { killed: number[]; leftover: number; leftoverAlive: boolean; lookalikeAlive: boolean; signals: Signal[] };
  };
  sentinelsAlive: Record<string, boolean>;
  journal: Signal[];
  refusalCount: number;
  fixtureError?: string;
}

function runGuardCheck(): GuardResult {
  const node = [process.execPath, '--import', 'tsx', FIXTURE];
  const argv =
    process.getuid?.() === 0 ? ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', ...node] : node;
  const r = spawnSync(argv[0]!, argv.slice(1), { cwd: REPO, encoding: 'utf8', timeout: 180_000 });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as GuardResult;
}

describe('signal guard', () => {
  const result = runGuardCheck();

  it('ran unprivileged and completed', () => {
    expect(result.fixtureError).toBeUndefined();
    expect(result.uid).not.toBe(0);
  });

  it('refuses init, broadcast targets, this process, its group, every ancestor and their groups', () => {
    const labels = result.refusals.map((r) => r.label);
    expect(labels).toEqual(
      expect.arrayContaining([
        'init',
        'our own group (0)',
        'every process (-1)',
        'this process',
        'our own process group',
        'not a number',
        'not an integer',
      ]),
    );
    expect(result.ancestors.length).toBeGreaterThan(0);
    for (const pid of result.ancestors) expect(labels).toContain(`ancestor ${pid}`);
    for (const r of result.refusals) {
      expect(r.refused, `${r.label}: ${r.message ?? r.code}`).toBe(true);
      expect(r.code).toBe('UNSAFE');
      expect(r.journalGrew, `${r.label} must not be journalled`).toBe(false);
    }
    expect(result.refusalCount).toBe(result.refusals.length);
  });

  it('refuses look-alike processes with a build tool name, reused pids, and groups no longer ours', () => {
    const byLabel = new Map(result.refusals.map((r) => [r.label, r]));
    for (const label of [
      'a sentinel named debootstrap in our group',
      'a sentinel named apt-get leading its own group',
      'the group of that sentinel',
      'a registered group whose leader pid was reused',
      'a runner group after the command ended',
      'a leftover after the reap (no longer vouched for)',
    ]) {
      expect(byLabel.get(label)?.refused, label).toBe(true);
    }
    expect(byLabel.get('a registered group whose leader pid was reused')!.message).toMatch(/reused/);
    expect(result.sentinelsAlive).toEqual({ sameGroup: true, ownGroup: true, lookalike: true });
  });

  it("lets a runner end its own command's group, and journals it", () => {
    expect(result.allowed.runner.outcome).toBe('timed out');
    expect(result.allowed.runner.signals.length).toBeGreaterThan(0);
    for (const s of result.allowed.runner.signals) {
      expect(s.target).toBeLessThan(0);
      expect(s.authority).toBe('runner-group');
      expect(s.reason).toMatch(/command group this runner started|grace period/);
    }
  });

  it('ends a leftover carrying the work dir marker, never a look-alike with another marker or a stale start time', () => {
    const reap = result.allowed.reap;
    expect(reap.killed).toEqual([reap.leftover]);
    expect(reap.leftoverAlive).toBe(false);
    expect(reap.lookalikeAlive).toBe(true);
    expect(reap.signals.length).toBeGreaterThan(0);
    for (const s of reap.signals) {
      expect(['orphan-process', 'orphan-group']).toContain(s.authority);
      expect(Math.abs(s.target)).toBe(reap.leftover);
    }
  });

  it('journals every signal sent, and none reached an ancestor', () => {
    expect(result.journal.length).toBe(result.allowed.runner.signals.length + result.allowed.reap.signals.length);
    for (const s of result.journal) {
      expect(result.ancestors).not.toContain(Math.abs(s.target));
      expect(['runner-group', 'orphan-process', 'orphan-group']).toContain(s.authority);
    }
  });
});
