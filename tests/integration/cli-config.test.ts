/** The real CLI on bad configs and arguments: exit 2, the field named, and nothing written. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { skipUnlessRoot } from '../helpers/root.js';
import { runCli } from '../helpers/cli.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-cfg-'));

function configFile(name: string, content: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, content);
  return file;
}

const cases: Array<{ name: string; file: string; content: string; expect: RegExp[] }> = [
  {
    name: 'shell characters in a package name',
    file: 'a.json',
    content: JSON.stringify({ extends: 'minimal', packages: { extra: ['vim; rm -rf /'] } }),
    expect: [/packages\.extra\.0/, /vim; rm -rf/, /Debian package name/],
  },
  {
    name: 'a bad host name',
    file: 'b.yaml',
    content: 'extends: minimal\nhostname: "bad_host!"\n',
    expect: [/hostname/, /RFC 1123/],
  },
  {
    name: 'an unknown field',
    file: 'c.json',
    content: JSON.stringify({ extends: 'minimal', hostnmae: 'x' }),
    expect: [/hostnmae: no such field; did you mean "hostname"\?/],
  },
  {
    name: 'a negative retry count',
    file: 'd.json',
    content: JSON.stringify({ extends: 'minimal', retry: { maxAttempts: -1 } }),
    expect: [/retry\.maxAttempts/, />= 1/],
  },
  {
    name: 'a wrong type',
    file: 'e.json',
    content: JSON.stringify({ extends: 'minimal', iso: { bios: 'yes' } }),
    expect: [/iso\.bios: expected boolean, got string "yes"/],
  },
  { name: 'an empty file', file: 'f.yaml', content: '', expect: [/is empty/] },
  {
    name: 'invalid JSON',
    file: 'g.json',
    content: '{"extends": "minimal",\n "hostname": live}',
    expect: [
      /g\.json cannot be parsed at line 2, column 14: Unexpected token 'l'\n {2}2 \| {2}"hostname": live\}\n {4}\| {14}\^/,
    ],
  },
  {
    name: 'invalid YAML',
    file: 'g.yaml',
    content: 'extends: minimal\nhostname: "live\n',
    expect: [
      /g\.yaml cannot be parsed at line 2, column 16: Missing closing "quote\n {2}2 \| hostname: "live\n {4}\| {16}\^/,
    ],
  },
  {
    name: 'a misspelt step',
    file: 'k.json',
    content: JSON.stringify({ extends: 'minimal', steps: ['preflight', 'bootstrap', 'pakages'] }),
    expect: [/unknown step "pakages"; did you mean "packages"\?/],
  },
  {
    name: 'a YAML alias bomb',
    file: 'h.yaml',
    content: `a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n`,
    expect: [/cannot be parsed/],
  },
  {
    name: 'an unknown profile',
    file: 'i.json',
    content: JSON.stringify({ extends: 'gentoo' }),
    expect: [/unknown profile "gentoo"/, /ailinux, minimal/],
  },
  {
    name: 'a mirror with shell characters',
    file: 'j.json',
    content: JSON.stringify({ extends: 'minimal', distribution: { mirror: 'http://x/$(reboot)' } }),
    expect: [/distribution\.mirror/],
  },
];

describe.skipIf(skipUnlessRoot())('bad config at the edge', () => {
  for (const c of cases) {
    it(`refuses ${c.name} with exit 2 and writes nothing`, async () => {
      const work = path.join(dir, `work-${c.file}`);
      const r = await runCli(['build', '--config', configFile(c.file, c.content), '-w', work]);
      expect(r.code, r.stderr).toBe(2);
      for (const re of c.expect) expect(r.stderr).toMatch(re);
      expect(fs.existsSync(work)).toBe(false);
    });
  }

  it('refuses / as the work dir', async () => {
    const r = await runCli(['build', '--profile', 'minimal', '-w', '/']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/refusing to use \/ as the work dir/);
  });

  it('refuses a resume with nothing to resume and writes nothing', async () => {
    const work = path.join(dir, 'nothing');
    const r = await runCli(['resume', '-w', work]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no build to resume/);
    expect(fs.existsSync(work)).toBe(false);
  });

  it('an unknown command or option, or no command at all, is a usage error', async () => {
    const bare = await runCli([]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/^Usage: ailinux /);
    expect((await runCli(['frobnicate'])).code).toBe(2);
    expect((await runCli(['build', '--no-such-option'])).code).toBe(2);
  });

  it("each command's --help lists its own exit codes (tests/unit/cli-help.test.ts checks each list)", async () => {
    for (const cmd of ['build', 'resume', 'status', 'plan', 'clean', 'log']) {
      const r = await runCli([cmd, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout.includes('130  interrupted by SIGINT'), cmd).toBe(cmd === 'build' || cmd === 'resume');
    }
  });
});
