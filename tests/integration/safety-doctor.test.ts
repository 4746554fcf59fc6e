/**
 * `ailinux doctor` through the real CLI: it reports the session, our ancestors, host tools with
 * versions, services and disk; exits 0 when nothing blocks a build and 1 when something does
 * (a refused work dir, a live lock, a missing keyring, a tool only outside PATH, too little disk);
 * and writes nothing. The real host tools are only asked for their versions.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { skipUnlessRoot } from '../helpers/root.js';
import { cliEnv, isRoot, makeTmp, procStat, runCli } from '../fixtures/safety/harness.js';

const tmp = makeTmp('ailinux-safety-doctor-');
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface DoctorJson {
  session: { kind: string; tty: string | null };
  ancestors: Array<{ pid: number; comm: string; startTicks: number }>;
  user: { uid: number; root: boolean };
  workDir: string;
  ownership: { kind: string; reason?: string; entries?: string[] } | null;
  profile: string | null;
  build: { state: string; lock: { state: string; pid: number | null; host: string | null; alive: boolean } | null };
  tools: Array<{ name: string; path: string | null; onPath: boolean; version: string | null }>;
  services: { checked: boolean; note: string };
  disk: { freeMb: number; floorMb: number } | null;
  findings: Array<{ level: string; topic: string; message: string; fix?: string }>;
  blocked: boolean;
}

async function doctor(
  args: string[],
  env: NodeJS.ProcessEnv = cliEnv(tmp),
): Promise<{ code: number | null; report: DoctorJson; output: string }> {
  const r = await runCli(tmp, ['doctor', '--json', ...args], env);
  const json = r.output.slice(r.output.indexOf('{'));
  return { code: r.code, report: JSON.parse(json) as DoctorJson, output: r.output };
}

function config(name: string, content: object): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, JSON.stringify(content));
  return file;
}

const blocks = (r: DoctorJson) => r.findings.filter((f) => f.level === 'block');

describe('ailinux doctor', () => {
  it('reports session, ancestors, tools, services and disk; exit 0 when nothing blocks; writes nothing', async () => {
    const work = path.join(tmp, 'fresh');
    const { code, report, output } = await doctor(['-w', work, '--profile', 'minimal']);
    expect(code, output).toBe(0);
    expect(report.blocked).toBe(false);
    expect(report.session.kind).toBe('none');
    expect(report.ancestors[0]!.pid).toBe(process.pid);
    expect(report.ancestors[report.ancestors.length - 1]!.pid).toBe(1);
    expect(report.profile).toBe('minimal');
    expect(report.tools.map((t) => t.name)).toEqual(
      expect.arrayContaining(['unshare', 'debootstrap', 'mksquashfs', 'xorriso']),
    );
    expect(report.tools.find((t) => t.name === 'unshare')!.version).toMatch(/util-linux \d+\.\d+/);
    expect(report.services.note).toMatch(/not systemd: no services to check|systemctl show/);
    expect(report.disk!.freeMb).toBeGreaterThan(0);
    expect(report.user.root).toBe(isRoot);
    expect(fs.existsSync(work), 'doctor created the work dir').toBe(false);
  });

  it('prints a readable report with the verdict', async () => {
    const r = await runCli(tmp, ['doctor', '-w', path.join(tmp, 'fresh'), '--profile', 'minimal'], cliEnv(tmp));
    expect(r.code, r.output).toBe(0);
    expect(r.output).toMatch(/^session: {3}none/m);
    expect(r.output).toMatch(/^ancestors: .*\[1\]$/m);
    expect(r.output).toMatch(/^ {2}debootstrap +\//m);
    expect(r.output).toMatch(/nothing blocks a build$/m);
  });

  it('an ssh session is reported, with what SIGHUP will do', async () => {
    const { report } = await doctor(
      ['-w', path.join(tmp, 'fresh'), '--profile', 'minimal'],
      cliEnv(tmp, { SSH_CONNECTION: '192.0.2.10 50022 192.0.2.1 22' }),
    );
    expect(report.session.kind).toBe('ssh');
    expect(report.findings).toContainEqual(
      expect.objectContaining({ level: 'warn', topic: 'session', fix: 'start long builds inside tmux or screen' }),
    );
    expect(report.findings.find((f) => f.topic === 'session')!.message).toMatch(
      /SIGHUP, stops cleanly and saves its state \(exit 129\)/,
    );
  });

  it('exit 1 when the work dir is refused (/etc), naming why', async () => {
    const { code, report } = await doctor(['-w', '/etc', '--profile', 'minimal']);
    expect(code).toBe(1);
    expect(blocks(report)).toContainEqual(
      expect.objectContaining({
        topic: 'work dir',
        message: 'refusing to use /etc as the work dir: it is a system directory',
      }),
    );
  });

  it('says whose the work dir is: a new one is fine; one holding other entries blocks, naming five, as build refuses it', async () => {
    const fresh = await doctor(['-w', path.join(tmp, 'fresh'), '--profile', 'minimal']);
    expect(fresh.report.ownership).toEqual({ kind: 'missing' });
    expect(fresh.report.findings).toContainEqual(
      expect.objectContaining({
        level: 'ok',
        topic: 'work dir owner',
        message: expect.stringMatching(/does not exist yet/),
      }),
    );
    const theirs = path.join(tmp, 'theirs');
    fs.mkdirSync(path.join(theirs, 'state'), { recursive: true });
    for (const name of ['a.txt', 'b.txt', 'c.txt', 'd.txt', 'e.txt', 'f.txt'])
      fs.writeFileSync(path.join(theirs, name), 'x');
    const refused = await doctor(['-w', theirs, '--profile', 'minimal']);
    expect(refused.code).toBe(1);
    expect(refused.report.ownership).toMatchObject({ kind: 'refused', reason: 'it holds files ailinux did not make' });
    expect(blocks(refused.report)).toContainEqual({
      level: 'block',
      topic: 'work dir owner',
      message: `refusing to use ${theirs} as the work dir: it holds files ailinux did not make: a.txt, b.txt, c.txt, d.txt, e.txt and 1 more (build, resume and clean refuse it, exit 2)`,
      fix: expect.stringMatching(/use an empty or new directory/),
    });
    // doctor marks nothing
    expect(fs.readdirSync(theirs).sort()).toEqual(['a.txt', 'b.txt', 'c.txt', 'd.txt', 'e.txt', 'f.txt', 'state']);
  });

  it('exit 1 when the configured keyring is missing, or the disk floor cannot be met', async () => {
    const keyring = config('keyring.json', {
      extends: 'minimal',
      distribution: { keyring: { path: path.join(tmp, 'no-such-keyring.gpg') } },
    });
    const k = await doctor(['-w', path.join(tmp, 'fresh'), '--config', keyring]);
    expect(k.code).toBe(1);
    expect(blocks(k.report)).toContainEqual(
      expect.objectContaining({
        topic: 'keyring',
        message: `the archive keyring ${path.join(tmp, 'no-such-keyring.gpg')} does not exist on this host`,
      }),
    );
    const huge = config('disk.json', { extends: 'minimal', resources: { minFreeDiskMb: 1_000_000 } });
    const d = await doctor(['-w', path.join(tmp, 'fresh'), '--config', huge]);
    expect(d.code).toBe(1);
    expect(blocks(d.report).map((f) => f.topic)).toEqual(['disk']);
    expect(blocks(d.report)[0]!.message).toMatch(/a build would pause at once/);
  });

  it('exit 1 while another build holds the lock; a stale lock is only noted', async () => {
    const work = path.join(tmp, 'locked');
    fs.mkdirSync(path.join(work, 'state'), { recursive: true });
    // a build's work dir carries its mark (without it, doctor blocks on the work dir too, as build would refuse it)
    fs.writeFileSync(
      path.join(work, '.ailinux-work-dir'),
      JSON.stringify({ tool: 'ailinux', version: '0.1.0', id: 'locked', createdAt: '2024-01-01T00:00:00.000Z' }),
    );
    const lockFile = path.join(work, 'state', 'lock');
    const ownerFile = path.join(work, 'state', 'lock.owner');
    // holds the lock's flock (the shell's descriptor, kept by the sleep it becomes); ended in finally
    const holder = spawn('sh', ['-c', 'exec 3<>"$0" && flock -n 3 && echo locked && exec sleep 900', lockFile], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    try {
      await once(holder.stdout!, 'data');
      const lock = {
        pid: holder.pid,
        host: os.hostname(),
        startedAt: new Date().toISOString(),
        command: 'ailinux build',
        procStart: procStat(holder.pid!)!.startTicks,
      };
      fs.writeFileSync(ownerFile, JSON.stringify(lock));
      const live = await doctor(['-w', work, '--profile', 'minimal']);
      expect(live.code).toBe(1);
      expect(live.report.build.lock).toMatchObject({ state: 'held', pid: holder.pid, alive: true });
      expect(blocks(live.report)).toContainEqual(
        expect.objectContaining({ topic: 'lock', fix: 'wait for it to finish' }),
      );
      // the holder dies: the kernel frees the lock, and the owner record it left is stale
      holder.kill('SIGKILL');
      await once(holder, 'exit');
      const stale = await doctor(['-w', work, '--profile', 'minimal']);
      expect(stale.code, JSON.stringify(blocks(stale.report))).toBe(0);
      expect(stale.report.build.lock).toMatchObject({ state: 'stale', pid: holder.pid, alive: false });
      // doctor never takes over or removes a lock
      expect(JSON.parse(fs.readFileSync(ownerFile, 'utf8'))).toEqual(lock);
      // a lock from another host cannot be checked from here: it blocks, whatever its pid does on this host
      const foreignLock = JSON.stringify({ ...lock, host: 'elsewhere.invalid', procStart: lock.procStart + 1 });
      fs.writeFileSync(ownerFile, foreignLock);
      const foreign = await doctor(['-w', work, '--profile', 'minimal']);
      expect(foreign.code).toBe(1);
      expect(foreign.report.build.lock).toMatchObject({ state: 'foreign', host: 'elsewhere.invalid', alive: false });
      expect(blocks(foreign.report)).toContainEqual(
        expect.objectContaining({
          topic: 'lock',
          message: expect.stringContaining('a build on host elsewhere.invalid'),
        }),
      );
      expect(fs.readFileSync(ownerFile, 'utf8')).toBe(foreignLock);
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it.skipIf(skipUnlessRoot())('a tool found only outside PATH blocks a root build, and says where it is', async () => {
    const bare = { ...cliEnv(tmp), PATH: '/usr/bin:/bin' };
    const { code, report } = await doctor(['-w', path.join(tmp, 'fresh'), '--profile', 'minimal'], bare);
    const debootstrap = report.tools.find((t) => t.name === 'debootstrap')!;
    if (debootstrap.path === null || debootstrap.path.startsWith('/usr/bin/') || debootstrap.path.startsWith('/bin/'))
      return; // this host ships it on /usr/bin
    expect(debootstrap.onPath).toBe(false);
    expect(code).toBe(1);
    expect(blocks(report)).toContainEqual(
      expect.objectContaining({
        topic: 'tools',
        message: `debootstrap is at ${debootstrap.path}, which is not on PATH`,
      }),
    );
  });
});
