/**
 * State safety through the real CLI: a truncated, corrupt, empty or foreign state file, and one
 * from a newer schema, make `resume` and `build` exit 2 with a clear message and keep a
 * byte-identical backup beside it; nothing is silently discarded. `status`, `plan`, `log` and
 * `doctor` read without writing anything (not even a backup), and need no root: they are also run
 * as user nobody. Needs root for the builds; skipped otherwise.
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipUnlessRoot } from '../helpers/root.js';
import { CLI, REPO, SAFETY_CONFIG, cliEnv, isRoot, makeTmp, runCli } from '../fixtures/safety/harness.js';

if (!isRoot) console.warn('safety-state.test.ts: skipped: it makes a build with `ailinux build`, which needs root');

let tmp = '';
let template = '';
let goodState = '';

/** Every path under dir with type, mode, size, mtime and a hash of the content. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    const st = fs.lstatSync(p);
    const head = `${path.relative(dir, p) || '.'} ${st.mode.toString(8)} ${st.size} ${st.mtimeMs}`;
    if (st.isDirectory()) {
      out.push(head);
      for (const name of fs.readdirSync(p).sort()) walk(path.join(p, name));
    } else
      out.push(`${head} ${st.isFile() ? crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex') : ''}`);
  };
  walk(dir);
  return out;
}

beforeAll(async () => {
  if (!isRoot) return;
  tmp = makeTmp('ailinux-safety-state-');
  fs.chmodSync(tmp, 0o755); // user nobody reads the work dirs too
  template = path.join(tmp, 'template');
  const r = await runCli(tmp, ['build', '--config', SAFETY_CONFIG, '-w', template], cliEnv(tmp));
  if (r.code !== 0) throw new Error(`could not make the template build: ${r.output}`);
  goodState = fs.readFileSync(path.join(template, 'state', 'state.json'), 'utf8');
}, 240_000); // a whole build: minutes on a loaded machine

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const BAD_STATES: Array<{ name: string; make: () => string; message: RegExp }> = [
  {
    name: 'a truncated state file',
    make: () => goodState.slice(0, Math.floor(goodState.length / 2)),
    message: /is not valid JSON \(truncated\?\): \d+ bytes/,
  },
  { name: 'an empty state file', make: () => '', message: /is empty \(truncated\?\)/ },
  { name: 'a state file of garbage', make: () => '\u0000\u0001garbage{', message: /is not valid JSON/ },
  {
    name: 'a state file from a newer schema',
    make: () => JSON.stringify({ ...JSON.parse(goodState), schemaVersion: 99 }),
    message: /was written by a newer ailinux \(schema 99, this ailinux reads 1\)/,
  },
  {
    name: 'a state file that is not an ailinux state',
    make: () => JSON.stringify({ hello: 'world' }),
    message: /is not an ailinux state: field schemaVersion is missing/,
  },
  {
    name: 'a state file with a broken ledger',
    make: () => JSON.stringify({ ...JSON.parse(goodState), ledger: 'gone' }),
    message: /is not a valid ailinux state: field ledger must be an object/,
  },
  {
    name: 'a state file with a ledger entry without fingerprint and material',
    make: () => {
      const state = JSON.parse(goodState) as { ledger: Record<string, Record<string, unknown>> };
      delete state.ledger['bootstrap']!['fingerprint'];
      delete state.ledger['bootstrap']!['material'];
      return JSON.stringify(state);
    },
    message: /is not a valid ailinux state: field ledger\.bootstrap\.fingerprint is missing/,
  },
  {
    name: 'a state file with a ledger entry without status, attempts and artifacts',
    make: () => {
      const state = JSON.parse(goodState) as { ledger: Record<string, Record<string, unknown>> };
      for (const field of ['status', 'attempts', 'artifacts']) delete state.ledger['packages']![field];
      return JSON.stringify(state);
    },
    message: /is not a valid ailinux state: field ledger\.packages\.status is missing/,
  },
];

function workDirWith(name: string, content: string): { work: string; stateFile: string } {
  const work = path.join(tmp, name);
  // cp -a: the layers hold overlayfs whiteouts (0:0 character devices)
  const cp = spawnSync('cp', ['-a', template, work], { encoding: 'utf8' });
  if (cp.status !== 0) throw new Error(`cp -a failed: ${cp.stderr}`);
  const stateFile = path.join(work, 'state', 'state.json');
  fs.writeFileSync(stateFile, content);
  return { work, stateFile };
}

describe.skipIf(skipUnlessRoot())('state safety through the CLI', () => {
  BAD_STATES.forEach((bad, i) => {
    for (const command of ['resume', 'build'] as const) {
      it(`${command} refuses ${bad.name} with exit 2 and keeps a backup beside it`, async () => {
        const content = bad.make();
        const { work, stateFile } = workDirWith(`bad-${i}-${command}`, content);
        const before = snapshot(work);
        const args = command === 'build' ? ['build', '--config', SAFETY_CONFIG, '-w', work] : ['resume', '-w', work];
        const r = await runCli(tmp, args, cliEnv(tmp));
        expect(r.code, r.output).toBe(2);
        expect(r.output).toContain(`state file ${stateFile}`);
        expect(r.output).toMatch(bad.message);
        const kept = /a copy was kept as (\S+\.bad-\d{8}T\d{6}(-\d+)?)/.exec(r.output)?.[1];
        expect(kept, r.output).toBeDefined();
        expect(path.dirname(kept!)).toBe(path.dirname(stateFile));
        expect(fs.readFileSync(kept!, 'utf8'), 'the backup holds the refused bytes').toBe(content);
        expect(fs.readFileSync(stateFile, 'utf8'), 'the original is untouched').toBe(content);
        // the fix carries the -w and --config that were typed (no quoting needed for these paths)
        const typed = command === 'build' ? ` --config ${SAFETY_CONFIG}` : '';
        expect(r.output).toContain(
          `fix: inspect it, or run \`ailinux build --work-dir ${work}${typed} --fresh\` to start over (the backup is kept)`,
        );
        // nothing else changed: backups (all of the refused bytes) are the only new files, the lock is free again
        const backups = fs.readdirSync(path.dirname(stateFile)).filter((n) => n.startsWith('state.json.bad-'));
        expect(backups).toHaveLength(1);
        for (const b of backups) expect(fs.readFileSync(path.join(path.dirname(stateFile), b), 'utf8')).toBe(content);
        const after = snapshot(work).filter((l) => !l.startsWith('state/state.json.bad-'));
        expect(
          after.filter((l) => !l.startsWith('state ')),
          'only backups were added',
        ).toEqual(before.filter((l) => !l.startsWith('state ')));
        // the flock file stays (removing it would let two takers lock two inodes); its owner record goes on release
        expect(fs.existsSync(path.join(work, 'state', 'lock.owner'))).toBe(false);
      });
    }
  });

  it('status, plan, log and doctor read a corrupt state without writing anything, not even a backup', async () => {
    const { work, stateFile } = workDirWith('bad-readers', goodState.slice(0, 100));
    const before = snapshot(work);
    const status = await runCli(tmp, ['status', '-w', work], cliEnv(tmp));
    expect(status.code, status.output).toBe(2);
    expect(status.output).toContain(
      `state file ${stateFile} is not valid JSON (truncated?): 100 bytes; no backup was written (this command only reads)`,
    );
    const plan = await runCli(tmp, ['plan', '-w', work], cliEnv(tmp));
    expect(plan.code, plan.output).toBe(2);
    expect(plan.output).toMatch(/no backup was written/);
    const log = await runCli(tmp, ['log', 'packages', '-w', work], cliEnv(tmp));
    expect(log.code, log.output).toBe(0);
    const doctor = await runCli(tmp, ['doctor', '-w', work, '--profile', 'minimal'], cliEnv(tmp));
    expect(doctor.code, doctor.output).toBe(1);
    expect(doctor.output).toMatch(/BLOCK state: state file .* is not valid JSON/);
    expect(snapshot(work)).toEqual(before);
  });

  it('status, plan, log and doctor need no root and write nothing: run as user nobody on a finished build', () => {
    const before = snapshot(template);
    const asNobody = (args: string[]) =>
      spawnSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, CLI, ...args], {
        cwd: REPO,
        env: cliEnv(tmp),
        encoding: 'utf8',
        timeout: 60_000,
      });
    const status = asNobody(['status', '--json', '-w', template]);
    expect(status.status, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ outcome: 'succeeded' });
    const plan = asNobody(['plan', '-w', template]);
    expect(plan.status, plan.stderr).toBe(0);
    expect(plan.stdout).toMatch(/0 step\(s\) to run/);
    const log = asNobody(['log', 'bootstrap', '-w', template]);
    expect(log.status, log.stderr).toBe(0);
    const doctor = asNobody(['doctor', '--json', '-w', template]);
    expect([0, 1], doctor.stderr).toContain(doctor.status);
    const report = JSON.parse(doctor.stdout) as {
      user: { uid: number; root: boolean };
      findings: Array<{ level: string; topic: string; message: string }>;
    };
    expect(report.user).toMatchObject({ root: false });
    expect(report.findings).toContainEqual(expect.objectContaining({ level: 'warn', topic: 'root' }));
    expect(snapshot(template)).toEqual(before);
  });
});
