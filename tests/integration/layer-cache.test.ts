/**
 * Issue 11, point 3: every layer step's layer in the shared cache by its fingerprint (src/steps/layer-cache.ts). A
 * small overlay upper layer, as a build's overlay mounts leave them, goes through the real tar round trip: a
 * whiteout (a 0/0 character device), an opaque directory (trusted.overlay.opaque), a file with a capability
 * (setcap, security.capability), a device node, a file and a directory owned by a user that is not root, a symlink,
 * a hard link. A second work dir takes the layer from the cache without running the step, every entry's type, mode,
 * owner, device number, link, content and xattrs the same but /etc/resolv.conf, which is the host's again; a
 * tampered tar is dropped and the step runs again.
 * Needs root (mknod, trusted xattrs, chown); skipped otherwise.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DebCache } from '../../src/runtime/deb-cache.js';
import { ExecaRunner } from '../../src/runtime/execa-runner.js';
import { keepVerifiedLayer, runOrRestoreLayer } from '../../src/steps/layer-cache.js';
import { prepareLayer } from '../../src/steps/layer-step.js';
import { packagesStep } from '../../src/steps/packages.js';
import type { StepContext, StepDef } from '../../src/steps/types.js';
import { skipUnlessRoot } from '../helpers/root.js';
import { makeWorkDir, profileConfig, removeWorkDir, stepContext } from '../helpers/step-context.js';

const FP = 'd'.repeat(64);
const KEY = { vendor: 'debian', suite: 'bookworm', arch: 'amd64' };
const made: string[] = [];

afterEach(() => {
  for (const dir of made.splice(0)) removeWorkDir(dir);
});

/** Every entry under dir: path, type, mode, owner, device number, size, link target, content hash, xattrs (hex). */
const SNAPSHOT = `
import hashlib, os, stat, sys
root = sys.argv[1]
out = []
for base, dirs, files in os.walk(root):
    for name in sorted(dirs + files):
        p = os.path.join(base, name)
        st = os.lstat(p)
        line = [os.path.relpath(p, root), oct(st.st_mode), str(st.st_uid), str(st.st_gid)]
        if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            line.append('dev %d:%d' % (os.major(st.st_rdev), os.minor(st.st_rdev)))
        if stat.S_ISLNK(st.st_mode):
            line.append('-> ' + os.readlink(p))
        if stat.S_ISREG(st.st_mode):
            line.append('nlink %d sha256 %s' % (st.st_nlink, hashlib.sha256(open(p, 'rb').read()).hexdigest()))
        for x in sorted(os.listxattr(p, follow_symlinks=False)):
            line.append('%s=%s' % (x, os.getxattr(p, x, follow_symlinks=False).hex()))
        out.append(' '.join(line))
print('\\n'.join(sorted(out)))
`;

function snapshot(dir: string): string {
  return execFileSync('python3', ['-c', SNAPSHOT, dir], { encoding: 'utf8' });
}

/** The layer a packages step would leave: what overlayfs and dpkg write into an upper dir. */
function fillLayer(upper: string): void {
  const sh = (script: string) => execFileSync('sh', ['-euc', script, 'sh', upper]);
  sh(`
    cd "$1"
    mkdir -p usr/bin etc/gone-dir home/live dev var/lib
    printf 'ping' > usr/bin/ping && chmod 0755 usr/bin/ping
    setcap cap_net_raw+ep usr/bin/ping
    mknod etc/deleted-file c 0 0
    printf 'kept' > etc/gone-dir/new && chmod 0600 etc/gone-dir/new
    python3 -c 'import os, sys; os.setxattr(sys.argv[1], "trusted.overlay.opaque", b"y")' etc/gone-dir
    mknod dev/null-copy c 1 3 && chmod 0666 dev/null-copy
    printf 'profile' > home/live/.profile
    chown -R 1000:1000 home/live && chmod 0700 home/live
    printf 'x' > var/lib/a && ln var/lib/a var/lib/b
    ln -s ../usr/bin/ping etc/ping-link
    printf 'nameserver 192.0.2.1\n' > etc/resolv.conf
  `);
}

function contextIn(cache: DebCache): StepContext & { infos: string[] } {
  const workDir = makeWorkDir('layer-cache-');
  made.push(workDir);
  const config = profileConfig('minimal');
  return {
    ...stepContext({ config, workDir, stepId: 'packages' }),
    runner: new ExecaRunner(),
    debs: { cache, key: KEY },
    fingerprint: FP,
  };
}

/** A cache of its own, and a packages step whose run fills its layer (fillLayer) and counts how often it ran. */
function countingPackagesStep(): { cache: DebCache; step: StepDef; runs: () => number } {
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'layer-cache-dir-'));
  made.push(cacheDir);
  const cache = DebCache.open({ dir: cacheDir, source: 'env' }, { maxBytes: 1024 ** 3 });
  let count = 0;
  const step: StepDef = {
    ...packagesStep,
    run: async (ctx) => {
      count++;
      prepareLayer(ctx);
      fillLayer(ctx.layers.own!.upper);
      return [];
    },
  };
  return { cache, step, runs: () => count };
}

describe.skipIf(skipUnlessRoot())('a layer through the shared cache', () => {
  it('comes out of the tar as it went in (whiteout, opaque dir, capability, device, owners); a tampered one is rebuilt', async () => {
    const { cache, step, runs } = countingPackagesStep();

    const first = contextIn(cache);
    await runOrRestoreLayer(step, first);
    expect(runs()).toBe(1);
    await keepVerifiedLayer(step, first);
    expect(first.infos.join('\n')).toContain(
      `packages layer kept in the deb cache by the step's fingerprint dddddddddddd`,
    );
    const tar = path.join(cache.keyDir(KEY), `packages-${FP}.layer.tar`);
    expect(fs.statSync(tar).mode & 0o777).toBe(0o600);
    const want = snapshot(first.layers.own!.upper);
    // the tree really has what the round trip must keep
    expect(want).toMatch(/^etc\/deleted-file 0o20\d+ 0 0 dev 0:0$/m);
    expect(want).toMatch(/^etc\/gone-dir 0o40755 0 0 trusted\.overlay\.opaque=79$/m);
    expect(want).toMatch(/^usr\/bin\/ping 0o100755 0 0 nlink 1 sha256 \w+ security\.capability=\w+$/m);
    expect(want).toMatch(/^dev\/null-copy 0o20666 0 0 dev 1:3$/m);
    expect(want).toMatch(/^home\/live 0o40700 1000 1000$/m);
    expect(want).toMatch(/^var\/lib\/b 0o100644 0 0 nlink 2 /m);

    const second = contextIn(cache);
    await runOrRestoreLayer(step, second);
    expect(runs()).toBe(1);
    expect(second.infos.join('\n')).toMatch(
      /packages layer from the deb cache by the step's fingerprint dddddddddddd: .*sha256 checked/,
    );
    const withoutResolv = (text: string) => text.replace(/^etc\/resolv\.conf .*\n/m, '');
    expect(withoutResolv(snapshot(second.layers.own!.upper))).toBe(withoutResolv(want));
    // the one host file of a layer before chroot-cleanup: this host's now, as the step's run would write it
    const host = fs.existsSync('/etc/resolv.conf') ? fs.readFileSync('/etc/resolv.conf', 'utf8') : '';
    expect(fs.readFileSync(path.join(second.layers.own!.upper, 'etc/resolv.conf'), 'utf8')).toBe(host);
    // already kept: not written again
    const mtime = fs.statSync(tar).mtimeMs;
    await keepVerifiedLayer(step, second);
    expect(fs.statSync(tar).mtimeMs).toBe(mtime);

    // one byte changed in the cache: not trusted, removed, and the step runs
    const bytes = fs.readFileSync(tar);
    bytes.writeUInt8(bytes.readUInt8(600) ^ 1, 600);
    fs.writeFileSync(tar, bytes);
    const third = contextIn(cache);
    await runOrRestoreLayer(step, third);
    expect(runs()).toBe(2);
    expect(fs.existsSync(tar)).toBe(false);
    expect(snapshot(third.layers.own!.upper)).toBe(want);
  });

  it('a step the engine says may not share its layer neither takes nor keeps one', async () => {
    const { cache, step, runs } = countingPackagesStep();
    const first = contextIn(cache);
    await runOrRestoreLayer(step, first);
    await keepVerifiedLayer(step, first);
    const second = { ...contextIn(cache), unsharedLayer: 'a secret in the chain' };
    await runOrRestoreLayer(step, second);
    expect(runs()).toBe(2);
    const third = { ...contextIn(cache), fingerprint: 'e'.repeat(64), unsharedLayer: 'a secret in the chain' };
    await runOrRestoreLayer(step, third);
    await keepVerifiedLayer(step, third);
    expect(third.infos).toContain('packages layer not kept in the shared cache: a secret in the chain');
    expect(cache.hasLayer(KEY, 'packages', 'e'.repeat(64))).toBe(false);
  });
});
