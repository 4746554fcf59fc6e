/**
 * `ailinux verify` (the compiled CLI, as users run it) and verifyStep on tiny REAL ISOs made by the
 * real bootloaders, iso and checksums steps: the good one passes every check, also for a normal
 * user; deliberately broken ones each fail with a precise message and exit 1; bad usage exits 2.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipTestWithout } from '../helpers/root.js';
import { StepError } from '../../src/errors.js';
import { fileDigests, RACY_WINDOW_NS } from '../../src/steps/file-digests.js';
import { verifyResultFile, verifyStep } from '../../src/steps/verify.js';
import type { VerifyReport } from '../../src/verify/types.js';
import { runCli, runCliAsNobody } from '../helpers/cli.js';
import { buildTinyIso, makeInitramfs, onPath, tinyLiveSetup, type TinyIso } from '../helpers/tiny-live.js';

const canDropRoot = process.getuid?.() === 0 && onPath('setpriv');
let skipReason: string | null =
  ['xorriso', 'mksquashfs', 'grub-mkimage', 'mkfs.vfat', 'mcopy'].find((t) => !onPath(t)) ?? null;
if (skipReason) skipReason = `${skipReason} is not installed`;
let tmp = '';
const isos: Record<string, TinyIso> = {};
const timings: string[] = [];

/** The table's rows by check name: [status, detail]. */
function table(stdout: string): Record<string, [string, string]> {
  const rows: Record<string, [string, string]> = {};
  const lines = stdout.split('\n');
  const header = lines.findIndex((l) => l.startsWith('check '));
  const statusAt = lines[header]!.indexOf('status');
  const detailAt = lines[header]!.indexOf('detail');
  for (const line of lines.slice(header + 1)) {
    if (line.trim() === '') break;
    if (line.startsWith(' ')) continue;
    rows[line.slice(0, statusAt).trim()] = [line.slice(statusAt, detailAt).trim(), line.slice(detailAt)];
  }
  return rows;
}

function failed(rows: Record<string, [string, string]>): string[] {
  return Object.entries(rows)
    .filter(([, [status]]) => status === 'FAIL')
    .map(([name]) => name);
}

/** xorriso without the UEFI El Torito entry: -e and -eltorito-alt-boot dropped, the ESP still appended. */
function withoutEfiEntry(argv: string[]): string[] {
  const out = [...argv];
  out.splice(out.indexOf('-e'), 3); // -e <interval> -no-emul-boot
  out.splice(out.indexOf('-eltorito-alt-boot'), 1);
  return out;
}

beforeAll(async () => {
  if (skipReason) return;
  const setup = tinyLiveSetup('ailinux-verify-static-');
  if ('skip' in setup) {
    skipReason = setup.skip;
    return;
  }
  tmp = setup.tmp;
  const { parts } = setup;
  const initrd = makeInitramfs(parts.busybox, parts.modules, 'static');
  const variants = {
    good: {},
    'bios-only': { iso: { uefi: false } },
    'no-efi-entry': { editIsoArgv: withoutEfiEntry },
    'no-squashfs': { withoutSquashfs: true },
    'wrong-boot': { editGrubCfg: (text: string) => text.replace(/boot=live/g, 'boot=casper') },
    'bad-checksum': {},
    'corrupted-after-hashing': {},
  };
  for (const [name, options] of Object.entries(variants)) {
    const t = performance.now();
    isos[name] = await buildTinyIso({ workDir: path.join(tmp, name), parts, initrd, ...options });
    timings.push(`build ${name}: ${(performance.now() - t).toFixed(0)} ms`);
  }
  const bad = isos['bad-checksum']!.iso;
  fs.writeFileSync(`${bad}.sha256`, `${'0'.repeat(64)}  ${path.basename(bad)}\n`);
});

afterAll(() => {
  if (timings.length > 0) console.log(`verify-static timings:\n  ${timings.join('\n  ')}`);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

async function verify(args: string[], name: string) {
  const t = performance.now();
  const r = await runCli(['verify', ...args]);
  timings.push(`ailinux verify ${name}: ${(performance.now() - t).toFixed(0)} ms`);
  return r;
}

describe('ailinux verify on tiny real ISOs', () => {
  it('the good ISO passes every check (exit 0), in a table and as JSON', async (t) => {
    skipTestWithout(t, skipReason);
    const iso = isos['good']!.iso;
    const r = await verify([iso], 'good');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const rows = table(r.stdout);
    expect(Object.keys(rows)).toEqual([
      'El Torito BIOS entry',
      'El Torito UEFI entry',
      'MBR/GPT hybrid layout',
      'GRUB config',
      'kernel',
      'initrd',
      'squashfs',
      'boot parameter',
      'checksum file',
    ]);
    expect(Object.values(rows).map(([s]) => s)).toEqual(Array(9).fill('ok'));
    expect(rows['El Torito UEFI entry']![1]).toMatch(
      /^hidden image at LBA \d+ = GPT partition 2, FAT 1\.0 MiB, with \/EFI\/BOOT\/BOOTX64\.EFI$/,
    );
    expect(rows['kernel']![1]).toMatch(/^\/live\/vmlinuz \(\d+\.\d MiB, bzImage\)$/);
    expect(rows['initrd']![1]).toMatch(/^\/live\/initrd\.img \(\d+\.\d MiB, gzip\)$/);
    expect(rows['boot parameter']![1]).toBe(
      'boot=live on 3 linux lines, matching the live system in /live (live-boot)',
    );
    expect(r.stdout).toMatch(/^PASS: 9 checks passed in \d+\.\d s$/m);

    const json = await runCli(['verify', '--json', iso]);
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout) as VerifyReport;
    expect(report).toMatchObject({
      iso,
      ok: true,
      volumeId: 'AILINUX_MINIMAL',
      liveSystem: 'live-boot',
      size: fs.statSync(iso).size,
    });
    expect(report.sha256).toBe(fs.readFileSync(`${iso}.sha256`, 'utf8').split(' ')[0]);
  });

  it('works as a normal user (no root needed)', async (t) => {
    skipTestWithout(t, skipReason);
    skipTestWithout(t, canDropRoot ? null : 'it needs root and setpriv to run as nobody');
    const r = await runCliAsNobody(['verify', isos['good']!.iso]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(failed(table(r.stdout))).toEqual([]);
  });

  it('no EFI entry (xorriso without -e): only the UEFI row fails, and says what the catalog holds', async (t) => {
    skipTestWithout(t, skipReason);
    const r = await verify([isos['no-efi-entry']!.iso], 'no-efi-entry');
    expect(r.code, r.stdout).toBe(1);
    const rows = table(r.stdout);
    expect(failed(rows)).toEqual(['El Torito UEFI entry']);
    expect(rows['El Torito UEFI entry']![1]).toBe(
      'no UEFI El Torito entry: the ISO has 1 entry: BIOS /boot/grub/bios.img',
    );
    expect(r.stdout).toMatch(/^FAIL: 1 of 9 checks failed \(El Torito UEFI entry\) in /m);
  });

  it('a BIOS-only build checked as if UEFI were required fails the UEFI entry and the layout; --no-uefi accepts it', async (t) => {
    skipTestWithout(t, skipReason);
    const iso = isos['bios-only']!.iso;
    const r = await verify([iso], 'bios-only');
    expect(r.code).toBe(1);
    const rows = table(r.stdout);
    expect(failed(rows)).toEqual(['El Torito UEFI entry', 'MBR/GPT hybrid layout']);
    expect(rows['El Torito UEFI entry']![1]).toBe(
      'no UEFI El Torito entry: the ISO has 1 entry: BIOS /boot/grub/bios.img',
    );
    expect(rows['MBR/GPT hybrid layout']![1]).toBe(
      'no GPT and no EFI system partition (type 0xef) in the MBR: written to a USB stick it would not boot on UEFI (system area: MBR grub2-mbr cyl-align-off)',
    );
    const relaxed = await runCli(['verify', '--no-uefi', iso]);
    expect(relaxed.code, relaxed.stdout).toBe(0);
    expect(table(relaxed.stdout)['El Torito UEFI entry']).toEqual(['skipped', 'not required']);
  });

  it('a missing squashfs fails the squashfs row with what /live holds', async (t) => {
    skipTestWithout(t, skipReason);
    const r = await verify([isos['no-squashfs']!.iso], 'no-squashfs');
    expect(r.code).toBe(1);
    const rows = table(r.stdout);
    expect(failed(rows)).toEqual(['squashfs']);
    expect(rows['squashfs']![1]).toBe('/live/filesystem.squashfs is not on the ISO (/live holds: initrd.img, vmlinuz)');
  });

  it('boot=casper on a /live layout fails the boot parameter row', async (t) => {
    skipTestWithout(t, skipReason);
    const r = await verify([isos['wrong-boot']!.iso], 'wrong-boot');
    expect(r.code).toBe(1);
    const rows = table(r.stdout);
    expect(failed(rows)).toEqual(['boot parameter']);
    expect(rows['boot parameter']![1]).toBe(
      'the GRUB config says boot=casper, which looks in /casper, and there is no /casper on the ISO, but the live system is in /live (live-boot needs boot=live)',
    );
  });

  it('a checksum mismatch fails with both hashes; no checksum file is "missing" unless --require-checksum; .md5 is the fallback', async (t) => {
    skipTestWithout(t, skipReason);
    const iso = isos['bad-checksum']!.iso;
    const r = await verify([iso], 'bad-checksum');
    expect(r.code).toBe(1);
    const rows = table(r.stdout);
    expect(failed(rows)).toEqual(['checksum file']);
    const actual = crypto.createHash('sha256').update(fs.readFileSync(iso)).digest('hex');
    expect(rows['checksum file']![1]).toBe(
      `ailinux-minimal-amd64.iso.sha256 says ${'0'.repeat(64)}, but the ISO's sha256 is ${actual}`,
    );

    fs.rmSync(`${iso}.sha256`);
    const md5 = await runCli(['verify', iso]);
    expect(md5.code).toBe(0);
    expect(table(md5.stdout)['checksum file']![1]).toMatch(
      /^ailinux-minimal-amd64\.iso\.md5 matches \(md5 [0-9a-f]{16}…\)$/,
    );
    fs.writeFileSync(`${iso}.md5`, `${'f'.repeat(32)}  ailinux-minimal-amd64.iso\n`);
    expect((await runCli(['verify', iso])).code).toBe(1);

    fs.rmSync(`${iso}.md5`);
    const missing = await runCli(['verify', iso]);
    expect(missing.code, missing.stdout).toBe(0);
    expect(table(missing.stdout)['checksum file']).toEqual([
      'missing',
      'no ailinux-minimal-amd64.iso.sha256 or ailinux-minimal-amd64.iso.md5 beside the ISO (not required; --require-checksum makes this a failure)',
    ]);
    expect(missing.stdout).toMatch(/^PASS: 8 checks passed \(1 missing\) in /m);
    const required = await runCli(['verify', '--require-checksum', iso]);
    expect(required.code).toBe(1);
    expect(table(required.stdout)['checksum file']).toEqual([
      'FAIL',
      'no ailinux-minimal-amd64.iso.sha256 or ailinux-minimal-amd64.iso.md5 beside the ISO',
    ]);
  });

  it('bad usage exits 2: no such file, not an ISO, a bad option, --boot that boots nothing', async (t) => {
    skipTestWithout(t, skipReason);
    const missing = await runCli(['verify', path.join(tmp, 'nope.iso')]);
    expect([missing.code, missing.stderr]).toEqual([
      2,
      `ailinux: ${path.join(tmp, 'nope.iso')} does not exist\n  fix: give the path of an .iso file\n`,
    ]);
    const notIso = await runCli(['verify', `${isos['good']!.iso}.sha256`]);
    expect(notIso.code).toBe(2);
    expect(notIso.stderr).toContain('is not an ISO 9660 image (no CD001 volume descriptor at 32 KiB)');
    expect((await runCli(['verify', '--timeout', '0', isos['good']!.iso])).code).toBe(2);
    expect((await runCli(['verify'])).code).toBe(2);
    const nothing = await runCli(['verify', '--boot', '--no-bios', isos['good']!.iso]);
    expect([nothing.code, nothing.stderr.split('\n')[0]]).toEqual([
      2,
      'ailinux: --boot with --no-bios and without --uefi boots nothing',
    ]);
  });
});

describe('verifyStep on tiny real ISOs (static checks; the build requires the checksum)', () => {
  it('passes the good ISO, records it, verifies the record, and undo removes only the record', async (t) => {
    skipTestWithout(t, skipReason);
    const { ctx } = isos['good']!;
    const t0 = performance.now();
    const artifacts = await verifyStep.run(ctx);
    timings.push(`verifyStep good: ${(performance.now() - t0).toFixed(0)} ms`);
    expect(artifacts.map((a) => a.path)).toEqual(['output/ailinux-minimal-amd64.verify.json']);
    await verifyStep.verify(ctx);
    const report = JSON.parse(fs.readFileSync(verifyResultFile(ctx.config, ctx.paths), 'utf8')) as VerifyReport;
    // this work dir has an ISO but no rootfs layers: the launcher check says it did not run, every other check passes
    expect(report.checks.filter((c) => c.status !== 'ok').map((c) => [c.id, c.status, c.detail])).toEqual([
      [
        'desktop-launchers',
        'skipped',
        'not run: the rootfs layers are not in the work dir (removed since they were built)',
      ],
    ]);
    expect(report.checks.map((c) => c.id)).toContain('volume-id');
    await verifyStep.undo(ctx);
    expect(fs.readdirSync(ctx.paths.outputDir).sort()).toEqual([
      'ailinux-minimal-amd64.iso',
      'ailinux-minimal-amd64.iso.md5',
      'ailinux-minimal-amd64.iso.sha256',
    ]);
  });

  it("trusts the iso step's one read of an unchanged ISO, and fails one corrupted in place after it", async (t) => {
    skipTestWithout(t, skipReason);
    const { ctx, iso } = isos['corrupted-after-hashing']!;
    // as in a build: the iso step read the ISO once (here after the racy window, as a real ISO's read ends after it)
    await new Promise((r) => setTimeout(r, Number(RACY_WINDOW_NS / 1_000_000n) + 50));
    fileDigests.clear();
    await fileDigests.digests(iso, ['sha256', 'md5']);
    const before = { ...fileDigests.stats };
    await verifyStep.run(ctx);
    // what was read is the step's own result file, for its artifact record: not the ISO
    const resultBytes = fs.statSync(verifyResultFile(ctx.config, ctx.paths)).size;
    expect(fileDigests.stats.bytes - before.bytes).toBe(resultBytes);
    expect(fileDigests.stats.hits - before.hits).toBe(1);
    await verifyStep.undo(ctx);

    // one byte in the middle of the image, the size and the mtime put back: only the ctime tells
    const st = fs.statSync(iso);
    const fd = fs.openSync(iso, 'r+');
    const at = Math.floor(st.size / 2);
    const one = Buffer.alloc(1);
    fs.readSync(fd, one, 0, 1, at);
    one[0] = one[0]! ^ 0xff;
    fs.writeSync(fd, one, 0, 1, at);
    fs.closeSync(fd);
    fs.utimesSync(iso, st.atime, st.mtime);
    const error = await verifyStep.run(ctx).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StepError);
    expect((error as StepError).message).toMatch(
      /failed verification: .*checksum file: ailinux-minimal-amd64\.iso\.sha256 says [0-9a-f]{64}, but the ISO's sha256 is [0-9a-f]{64}/,
    );
    expect(fileDigests.stats.bytes - before.bytes).toBe(resultBytes + st.size);
    // and `ailinux verify`, another process, reads the whole ISO
    const cli = await runCli(['verify', iso]);
    expect(cli.code).toBe(1);
  });

  it('fails the step with a precise StepError for each broken ISO', async (t) => {
    skipTestWithout(t, skipReason);
    const expected: Record<string, string> = {
      'no-efi-entry': 'El Torito UEFI entry: no UEFI El Torito entry: the ISO has 1 entry: BIOS /boot/grub/bios.img',
      'no-squashfs': 'squashfs: /live/filesystem.squashfs is not on the ISO (/live holds: initrd.img, vmlinuz)',
      'wrong-boot':
        'boot parameter: the GRUB config says boot=casper, but the live system is live-boot (boot=live, /live)',
      'bad-checksum':
        "checksum file: ailinux-minimal-amd64.iso.sha256 says 0000000000000000000000000000000000000000000000000000000000000000, but the ISO's sha256 is",
    };
    // the bad-checksum test above removed its files: write the wrong one again
    const bad = isos['bad-checksum']!.iso;
    fs.writeFileSync(`${bad}.sha256`, `${'0'.repeat(64)}  ${path.basename(bad)}\n`);
    for (const [name, message] of Object.entries(expected)) {
      const { ctx } = isos[name]!;
      const error = await verifyStep.run(ctx).catch((e: unknown) => e);
      expect(error, name).toBeInstanceOf(StepError);
      expect((error as StepError).message, name).toContain(`ailinux-minimal-amd64.iso failed verification: ${message}`);
      expect(fs.existsSync(verifyResultFile(ctx.config, ctx.paths)), name).toBe(false);
    }
  });
});
