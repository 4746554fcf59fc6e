/**
 * The real CLI (bin/ailinux, on pipes as a script sees it) finds ./ailinux.config.yaml where it runs and says so on
 * stderr, prints `ailinux config` with where each value came from (secrets masked), and refuses a field that no step
 * of the config's steps reads, for build too, before anything is written (issue 10, points 7 and 9).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { assertCliBuilt, runCli } from '../helpers/cli.js';
import { skipUnlessRoot } from '../helpers/root.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-discovery-cli-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;

function dirWith(files: Record<string, string>): string {
  const dir = path.join(tmp, `d${n++}`);
  fs.mkdirSync(dir);
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}

const env = { ...process.env, NO_COLOR: '1' };
const KIOSK = 'extends: minimal\nhostname: kiosk\nliveUser: { name: kiosk, password: "kiosk-secret-9" }\n';

describe('config discovery and ailinux config, through bin/ailinux', () => {
  assertCliBuilt();

  it('ailinux config finds ./ailinux.config.yaml, names it once, and prints where each value came from', async () => {
    const dir = dirWith({ 'ailinux.config.yaml': KIOSK });
    const r = await runCli(['config'], { cwd: dir, env });
    expect(r.code, r.stderr).toBe(0);
    // the table's first line names the found file; the `using` line other commands print would say it twice
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain(
      `config file: ${path.join(dir, 'ailinux.config.yaml')} (found in the current directory)`,
    );
    expect(r.stdout).toMatch(/^FIELD +FROM +VALUE$/m);
    expect(r.stdout).toMatch(/^hostname +\.\/ailinux\.config\.yaml +kiosk$/m);
    expect(r.stdout).toMatch(/^iso\.volumeLabel +profile minimal +AILINUX_MINIMAL$/m);
    expect(r.stdout).toMatch(/^installer\.swap +default +file$/m);
    expect(r.stdout).toMatch(/^liveUser\.password +\.\/ailinux\.config\.yaml +\(secret, not shown\)$/m);
    expect(r.output).not.toContain('kiosk-secret-9');
    // a pipe gets no escape sequences
    expect(r.stdout).not.toContain('\u001b');
  });

  it('ailinux config --json gives the same for scripts', async () => {
    const dir = dirWith({ 'ailinux.config.yml': KIOSK });
    const r = await runCli(['config', '--json'], { cwd: dir, env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout);
    expect(out.configFile).toBe(path.join(dir, 'ailinux.config.yml'));
    expect(out.discovered).toBe(true);
    const sources = Object.fromEntries(out.fields.map((f: { field: string; source: string }) => [f.field, f.source]));
    expect(sources).toMatchObject({ hostname: 'file', name: 'profile', 'installer.swap': 'default' });
    expect(r.stdout).not.toContain('kiosk-secret-9');
  });

  it('plan uses the config found here when the work dir has no build; two configs are refused, naming them', async () => {
    const dir = dirWith({ 'ailinux.config.json': JSON.stringify({ extends: 'minimal', name: 'found-here' }) });
    const r = await runCli(['plan', '-w', path.join(dir, 'w')], { cwd: dir, env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('using ./ailinux.config.json\n');
    expect(r.stdout).toMatch(/^plan for profile found-here in /);

    fs.writeFileSync(path.join(dir, 'ailinux.config.yaml'), 'extends: minimal\n');
    const two = await runCli(['config'], { cwd: dir, env });
    expect(two.code).toBe(2);
    expect(two.stdout).toBe('');
    expect(two.stderr).toContain(
      `ailinux: ${dir} holds more than one config file (ailinux.config.yaml, ailinux.config.json); ailinux cannot tell which one to use`,
    );
  });

  it('a field no step of the steps reads is refused with exit 2, naming the step and the fix', async () => {
    const dir = dirWith({
      'ailinux.config.yaml':
        'extends: minimal\nhelper:\n  name: motd\n  title: Motd\n  files: [{ source: motd, destination: /etc/motd, mode: "0644" }]\n',
      motd: 'hello\n',
    });
    const r = await runCli(['plan', '-w', path.join(dir, 'w')], { cwd: dir, env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('using ./ailinux.config.yaml\n');
    expect(r.stderr).toContain(
      'ailinux: helper.files is used by step "branding", which this config\'s steps do not include',
    );
    expect(r.stderr).toContain('  fix: add "branding" to steps, or remove helper.files');
    expect(fs.readdirSync(dir).sort()).toEqual(['ailinux.config.yaml', 'motd']);
  });

  it.skipIf(skipUnlessRoot())('build finds the config too, and refuses it before anything is written', async () => {
    const dir = dirWith({
      'ailinux.config.yaml': 'extends: minimal\ninstaller: { filesystem: btrfs }\n',
    });
    const r = await runCli(['build', '-w', path.join(dir, 'w'), '--progress=plain'], { cwd: dir, env });
    expect(r.code, r.output).toBe(2);
    expect(r.stderr).toContain('using ./ailinux.config.yaml');
    expect(r.stderr).toContain('installer.filesystem is used by step "installer"');
    expect(fs.existsSync(path.join(dir, 'w'))).toBe(false);
  });
});
