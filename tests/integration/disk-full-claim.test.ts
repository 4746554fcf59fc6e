/**
 * A full disk before the build's machine runs (issue 9: ENOSPC anywhere pauses): writing the work dir's mark, or
 * the lock's owner record, pauses with exit 75 and says what filled and what to do, leaving no empty mark and no
 * empty owner record (before, the mark's temp file stayed behind, empty, and clean said "cannot write", exit 2).
 * clean --all, whose work is to free space, holds the lock without its owner record and frees the disk. The real
 * CLI on small full tmpfs mounts in a private mount namespace (tests/fixtures/safety/disk-full-claim.mjs), never the
 * host's. Needs root; `npm run build` first.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { skipUnlessRoot } from '../helpers/root.js';
import { cliEnv, hostMountinfo, makeTmp, REPO } from '../fixtures/safety/harness.js';

const FIXTURE = path.join(REPO, 'tests', 'fixtures', 'safety', 'disk-full-claim.mjs');
const MARKER = '.ailinux-work-dir';

interface Run {
  code: number;
  output: string;
  left: string[] | null;
}

const tmp = makeTmp('ailinux-disk-full-claim-');
afterAll(() => {
  if (!hostMountinfo().includes(tmp)) fs.rmSync(tmp, { recursive: true, force: true });
});

describe.skipIf(skipUnlessRoot())('a full disk while claiming the work dir or taking the lock', () => {
  it('the mark or the lock owner cannot be written: exit 75, what filled and the fix, nothing half written; clean --all frees the disk', {
    timeout: 600_000,
  }, () => {
    const before = hostMountinfo();
    const base = fs.mkdtempSync(path.join(tmp, 'ns-'));
    const r = spawnSync(
      'unshare',
      ['--mount', '--propagation', 'private', '--fork', '--', process.execPath, FIXTURE, base],
      {
        cwd: REPO,
        env: { ...cliEnv(tmp), SAFETY_HOST_MNTNS: fs.readlinkSync('/proc/self/ns/mnt') },
        encoding: 'utf8',
        timeout: 570_000,
      },
    );
    expect(r.status, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
      mark: Run & { top: string[] };
      owner: Run;
      clean: Run & { freeBytes: number };
      fixtureError?: string;
      umountError?: string;
    };
    expect(result.fixtureError).toBeUndefined();
    expect(result.umountError).toBeUndefined();

    const { mark, owner, clean } = result;
    const markWork = path.join(base, 'mark', 'w');
    expect(mark.code, mark.output).toBe(75);
    expect(mark.output).toBe(
      `build paused: disk: no space left on device while marking the work dir ${markWork} (${MARKER}); free some space where ${markWork} lies\n` +
        `the build did not start, so there is nothing to resume; once there is room, run it again: ailinux build --profile minimal -w ${markWork}\n`,
    );
    // the work dir it made is gone again, and no temp mark is left
    expect(mark.left).toBeNull();
    expect(mark.top).toEqual(['ballast']);

    const ownerWork = path.join(base, 'owner', 'w');
    expect(owner.code, owner.output).toBe(75);
    expect(owner.output).toMatch(
      new RegExp(
        `^build paused: disk: no space left on device while writing the lock's owner record ${ownerWork}/state/lock\\.owner; free some space where ${ownerWork} lies\nthe build did not start, so there is nothing to resume; once there is room, run it again: ailinux build --profile minimal -w ${ownerWork}\n`,
      ),
    );
    expect(owner.output).not.toMatch(/internal error|ENOSPC/);
    // the mark fitted; the lock file is the empty flock file it always is, and no owner record or its temp is left
    expect(owner.left).toEqual([MARKER, 'state', 'state/lock', 'tmp']);

    expect(clean.code, clean.output).toBe(0);
    expect(clean.output).toMatch(
      /warning: the lock's owner record .*\/state\/lock\.owner cannot be written: no space left on device; holding the lock without it/,
    );
    expect(clean.output).toMatch(/removed: layers\/, tmp\/, state\/, \.ailinux-work-dir/);
    expect(clean.left).toEqual([]);
    expect(clean.freeBytes).toBeGreaterThan(1_000_000);
    expect(hostMountinfo()).toBe(before);
  });
});
