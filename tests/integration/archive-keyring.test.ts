/**
 * The real thing: the ubuntu-keyring package of noble fetched from the Ubuntu archive the ailinux profile names,
 * checked against the pinned 2012 and 2018 archive keys, exported, and then noble's InRelease verified with gpgv
 * against the exported keyring, as debootstrap verifies it. Needs the network: it skips, saying why, only when the
 * archive does not answer (the default CI run does not depend on the Ubuntu archive).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExecaRunner } from '../../src/runtime/execa-runner.js';
import {
  fetchArchiveKeyring,
  fetchedKeyringPaths,
  showKeys,
  UBUNTU_ARCHIVE_KEYS,
} from '../../src/steps/archive-keyring.js';
import { profileConfig } from '../helpers/step-context.js';

const config = profileConfig('ailinux');
const IN_RELEASE = `${config.distribution.mirror}/dists/${config.distribution.suite}/InRelease`;

let unreachable: string | null = null;
let tmp: string;

beforeAll(async () => {
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-keyring-real-')));
  try {
    const r = await fetch(IN_RELEASE, { signal: AbortSignal.timeout(15_000) });
    fs.writeFileSync(path.join(tmp, 'InRelease'), Buffer.from(await r.arrayBuffer()));
    if (!r.ok) unreachable = `${IN_RELEASE} answered HTTP ${r.status}`;
  } catch (error) {
    unreachable = `the Ubuntu archive is unreachable from here (${IN_RELEASE}: ${(error as { cause?: Error }).cause?.message ?? (error as Error).message})`;
  }
}, 30_000);

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('the Ubuntu archive keyring, fetched from the real archive', () => {
  it('holds the pinned 2012 and 2018 archive keys, and the exported keyring verifies noble InRelease', {
    timeout: 180_000,
  }, async (t) => {
    if (unreachable) t.skip(unreachable);
    const work = path.join(tmp, 'work');
    const lines: string[] = [];
    const tools = {
      runner: new ExecaRunner({ graceMs: 1000 }),
      signal: new AbortController().signal,
      tmpDir: path.join(work, 'tmp'),
    };
    const record = await fetchArchiveKeyring(tools, config, work, (l) => lines.push(l));
    console.log(lines.join('\n'));
    expect(record.package).toBe('ubuntu-keyring');
    expect(record.url).toMatch(/\/pool\/main\/u\/ubuntu-keyring\/ubuntu-keyring_.+_all\.deb$/);
    const keyring = fetchedKeyringPaths(work).keyring;
    const exported = await showKeys(tools, keyring);
    expect(exported.map((k) => [k.fingerprint, k.name])).toEqual(
      UBUNTU_ARCHIVE_KEYS.map((k) => [k.fingerprint, k.name]),
    );
    // the package also has the CD image key, which is left out
    expect(lines.join('\n')).toContain('843938DF228D22F7B3742BC0D94AA3F0EFE21092');
    const status = execFileSync('gpgv', ['--status-fd', '1', '--keyring', keyring, path.join(tmp, 'InRelease')], {
      encoding: 'utf8',
      env: { ...process.env, GNUPGHOME: path.join(work, 'tmp') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const signer = /^\[GNUPG:\] VALIDSIG ([0-9A-F]{40}) /m.exec(status)?.[1];
    console.log(`${IN_RELEASE}: signed by ${signer}`);
    expect(UBUNTU_ARCHIVE_KEYS.map((k) => k.fingerprint)).toContain(signer);
    expect(fs.readdirSync(path.join(work, 'tmp'))).toEqual([]);
  });

  it('debootstrap, as the bootstrap step runs it, takes the fetched keyring: a valid Release signature', {
    timeout: 180_000,
  }, async (t) => {
    if (unreachable) t.skip(unreachable);
    const keyring = fetchedKeyringPaths(path.join(tmp, 'work')).keyring;
    if (!fs.existsSync(keyring)) t.skip('the test before it did not fetch the keyring');
    const script = config.distribution.debootstrapScript!;
    if (!fs.existsSync('/usr/sbin/debootstrap') || !fs.existsSync(script))
      t.skip('debootstrap is not installed (bash scripts/install-host-tools.sh)');
    if (process.getuid?.() !== 0) t.skip('debootstrap needs root');
    // --print-debs: InRelease fetched and verified, Packages read, nothing unpacked (about 11 s here)
    const run = spawnSync(
      'debootstrap',
      [
        `--keyring=${keyring}`,
        '--print-debs',
        '--variant=minbase',
        config.distribution.suite,
        path.join(tmp, 'debootstrap-target'),
        config.distribution.mirror,
        script,
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    expect(run.status, run.stderr).toBe(0);
    const out = `${run.stdout}\n${run.stderr}`;
    expect(out).toMatch(
      /I: Valid Release signature \(key id (790BC7277767219C42C86F933B4FE6ACC0B21F32|F6ECB3762474EDA9D21B7022871920D1991BC93C)\)/,
    );
    expect(out).toMatch(/\bbase-files\b/);
  });
});
