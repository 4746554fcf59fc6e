/**
 * Static safety rules over the shipped code (src/, machines/, state/, libexec/, bin/): the original
 * build script logged users out with pkill, killall, fuser -k and kill of processes found by name.
 * Here no file may name those tools or run `kill` as a command; process.kill may appear only in
 * src/runtime/process-groups.ts, where every signal but the signal-0 probe goes through the one
 * guarded function, sendSignal; no `.kill()` of a child bypasses it; only the runner spawns
 * commands, each in its own group with execa's own killing turned off; and services are only read.
 * The rules are also run on planted violations, so a rule that stopped matching fails here too.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SCANNED_DIRS = ['src', 'machines', 'state', 'libexec', 'bin'];
const GUARD_MODULE = 'src/runtime/process-groups.ts';
const GUARD_FUNCTION = 'sendSignal';
const RUNNER_MODULE = 'src/runtime/execa-runner.ts';
/** The one other module that may import node:child_process, and only spawnSync: the lock's flock, without execa. */
const SYNC_SPAWN_MODULE = 'src/runtime/spawn-sync.ts';
const SYNC_SPAWN_IMPORT = "import { spawnSync } from 'node:child_process';";
const SERVICE_QUERY_MODULE = 'src/runtime/host-check.ts';

const FORBIDDEN_TOOLS = /\b(pkill|killall|fuser)\b/;
/** A string that is, or starts, a kill command line: 'kill', '/bin/kill -9 …', 'sh -c "…; kill …"'. */
const KILL_COMMAND_STRING =
  /^\s*(\/(usr\/)?s?bin\/)?kill(\s|$)|[;&|]\s*kill\b|\$\(\s*kill\b|\b(xargs|exec|sudo|command|nohup|timeout\s+\S+)\s+kill\b/;
/** kill in command position of a shell line (comments stripped). */
const SHELL_KILL =
  /(^|[;&|({`]|\$\(|\b(then|do|else|exec|xargs|sudo|command|builtin|nohup))\s*(\/(usr\/)?s?bin\/)?kill\b/;
const SERVICE_ACTIONS = new Set([
  'start',
  'stop',
  'restart',
  'reload',
  'try-restart',
  'reload-or-restart',
  'try-reload-or-restart',
  'isolate',
  'kill',
  'mask',
  'unmask',
  'enable',
  'disable',
  'daemon-reload',
  'daemon-reexec',
  'reboot',
  'poweroff',
  'halt',
]);

interface Violation {
  file: string;
  line: number;
  rule: string;
  text: string;
}

function listFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? listFiles(p) : e.isFile() ? [p] : [];
  });
}

function isScript(file: string, text: string): boolean {
  return /\.(ts|mts|cts|js|mjs|cjs)$/.test(file) || /^#!.*\bnode\b/.test(text);
}

function isShell(text: string): boolean {
  return /^#!.*\b(ba|da|z)?sh\b/.test(text);
}

/** Every rule, for one file's text; `rel` is its path from the repo root. */
export function scanText(rel: string, text: string): Violation[] {
  const out: Violation[] = [];
  const lineOf = (offset: number) => text.slice(0, offset).split('\n').length;
  const push = (offset: number, rule: string, snippet: string) =>
    out.push({ file: rel, line: lineOf(offset), rule, text: snippet.trim().slice(0, 120) });

  // pkill, killall and fuser are never named, not even in a comment.
  const tools = new RegExp(FORBIDDEN_TOOLS.source, 'g');
  for (const m of text.matchAll(tools))
    push(m.index ?? 0, `names ${m[1]}`, text.slice(m.index ?? 0, (m.index ?? 0) + 60));

  if (isScript(rel, text)) scanScript(rel, text, push);
  else if (isShell(text)) {
    text.split('\n').forEach((raw, i) => {
      const code = raw.replace(/(^|\s)#.*$/, '');
      if (SHELL_KILL.test(code)) out.push({ file: rel, line: i + 1, rule: 'runs kill as a command', text: raw.trim() });
      if (/\bsystemctl\b|\bservice\s+\S+\s+(start|stop|restart)|\binvoke-rc\.d\b/.test(code))
        out.push({ file: rel, line: i + 1, rule: 'touches host services', text: raw.trim() });
    });
  }
  return out;
}

function scanScript(rel: string, text: string, push: (offset: number, rule: string, snippet: string) => void): void {
  const source = ts.createSourceFile(
    rel,
    text,
    ts.ScriptTarget.Latest,
    true,
    rel.endsWith('.ts') ? ts.ScriptKind.TS : ts.ScriptKind.JS,
  );
  const isGuardModule = rel === GUARD_MODULE;
  const snippet = (node: ts.Node) => node.getText(source).split('\n')[0]!;
  const insideGuard = (node: ts.Node): boolean => {
    for (let n: ts.Node | undefined = node.parent; n; n = n.parent) {
      if (ts.isFunctionDeclaration(n) && n.name?.text === GUARD_FUNCTION) return true;
    }
    return false;
  };
  const isProcess = (e: ts.Expression) => ts.isIdentifier(e) && e.text === 'process';
  const propName = (n: ts.PropertyAccessExpression | ts.ElementAccessExpression) =>
    ts.isPropertyAccessExpression(n)
      ? n.name.text
      : ts.isStringLiteralLike(n.argumentExpression)
        ? n.argumentExpression.text
        : null;

  const visit = (node: ts.Node): void => {
    const at = node.getStart(source);
    if (
      ts.isStringLiteralLike(node) ||
      ts.isTemplateHead(node) ||
      ts.isTemplateMiddle(node) ||
      ts.isTemplateTail(node)
    ) {
      const value = node.text;
      if (KILL_COMMAND_STRING.test(value)) push(at, 'runs kill as a command', snippet(node));
      if (value === 'service' || value === 'invoke-rc.d' || value === 'telinit' || value === 'shutdown')
        push(at, 'runs a service manager', snippet(node));
      if (value === 'systemctl' && rel !== SERVICE_QUERY_MODULE)
        push(at, `runs systemctl outside ${SERVICE_QUERY_MODULE}`, snippet(node));
      if (rel === SERVICE_QUERY_MODULE && SERVICE_ACTIONS.has(value))
        push(at, 'a systemctl action that changes a service', snippet(node));
    }
    if ((ts.isPropertyAccessExpression(node) || ts.isElementAccessExpression(node)) && propName(node) === 'kill') {
      if (isProcess(node.expression)) {
        if (!isGuardModule) push(at, `process.kill outside ${GUARD_MODULE}`, snippet(node.parent ?? node));
        else {
          const call = node.parent;
          const probe =
            call &&
            ts.isCallExpression(call) &&
            call.arguments.length === 2 &&
            call.arguments[1]!.getText(source) === '0';
          if (!probe && !insideGuard(node))
            push(at, `process.kill with a real signal outside ${GUARD_FUNCTION}()`, snippet(call ?? node));
        }
      } else {
        push(at, '.kill() of a child bypasses the signal guard', snippet(node.parent ?? node));
      }
    }
    // const { kill } = process; import { kill } from 'node:process'
    if (ts.isBindingElement(node) && (node.propertyName ?? node.name).getText(source) === 'kill') {
      const decl = node.parent.parent;
      if (ts.isVariableDeclaration(decl) && decl.initializer && isProcess(decl.initializer))
        push(at, 'process.kill taken out of process', snippet(decl));
    }
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const from = node.moduleSpecifier.text;
      if (/^(node:)?process$/.test(from) && /\bkill\b/.test(node.importClause?.getText(source) ?? ''))
        push(at, 'imports kill from process', snippet(node));
      const syncSpawn = rel === SYNC_SPAWN_MODULE && node.getText(source) === SYNC_SPAWN_IMPORT;
      if ((/^(node:)?child_process$/.test(from) || from === 'execa') && rel !== RUNNER_MODULE && !syncSpawn)
        push(at, `spawns commands outside ${RUNNER_MODULE} (the one Runner port)`, snippet(node));
    }
    if (
      ts.isCallExpression(node) &&
      ts.isIdentifier(node.expression) &&
      node.expression.text === 'require' &&
      node.arguments[0] &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      if (/^(node:)?child_process$|^execa$/.test(node.arguments[0].text) && rel !== RUNNER_MODULE)
        push(at, `spawns commands outside ${RUNNER_MODULE}`, snippet(node));
    }
    // execa must not signal on its own: own group, no timeout/cancel/kill options, no cleanup or force-kill.
    if (
      ts.isCallExpression(node) &&
      ts.isIdentifier(node.expression) &&
      /^execa(Sync|Node)?$/.test(node.expression.text)
    ) {
      const options = node.arguments.find(ts.isObjectLiteralExpression);
      const elements: readonly ts.ObjectLiteralElementLike[] = options?.properties ?? [];
      const assignments = elements.filter((p): p is ts.PropertyAssignment => ts.isPropertyAssignment(p));
      const props = new Map(assignments.map((p) => [p.name.getText(source), p.initializer.getText(source)]));
      if (props.get('detached') !== 'true')
        push(at, 'execa without detached: true (its own process group)', snippet(node));
      if (props.get('cleanup') !== 'false')
        push(at, 'execa without cleanup: false (execa would signal by pid on exit)', snippet(node));
      if (props.get('forceKillAfterDelay') !== 'false')
        push(at, 'execa without forceKillAfterDelay: false', snippet(node));
      for (const banned of ['timeout', 'cancelSignal', 'killSignal'])
        if (props.has(banned)) push(at, `execa option ${banned} makes execa signal the child itself`, snippet(node));
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
}

function scanRepo(): { files: string[]; violations: Violation[] } {
  const files = SCANNED_DIRS.flatMap((d) => listFiles(path.join(REPO, d)));
  const violations = files.flatMap((f) => scanText(path.relative(REPO, f), fs.readFileSync(f, 'utf8')));
  return { files, violations };
}

describe('safety source rules', () => {
  it('no shipped file runs pkill, killall, fuser or kill, or signals outside the one guarded function', () => {
    const { files, violations } = scanRepo();
    expect(files.length).toBeGreaterThan(40);
    expect(files.map((f) => path.relative(REPO, f))).toEqual(
      expect.arrayContaining([
        GUARD_MODULE,
        RUNNER_MODULE,
        SYNC_SPAWN_MODULE,
        'libexec/ailinux-ns-run',
        'bin/ailinux.js',
      ]),
    );
    expect(violations.map((v) => `${v.file}:${v.line}: ${v.rule}: ${v.text}`)).toEqual([]);
  });

  it('the guarded module sends real signals only from sendSignal, and probes only with signal 0', () => {
    const text = fs.readFileSync(path.join(REPO, GUARD_MODULE), 'utf8');
    const calls = [...text.matchAll(/process\.kill\(([^)]*)\)/g)].map((m) => m[1]!.trim());
    expect(
      calls.filter((args) => !/,\s*0$/.test(args)),
      'process.kill calls with a real signal',
    ).toEqual(['target, signal']);
    expect(text).toMatch(
      /export function sendSignal\(target: number, signal: NodeJS\.Signals, reason[^)]*\): boolean \{\n\s+const authority = authoriseSignal\(target, signal\);/,
    );
  });

  describe('each rule catches a planted violation', () => {
    const planted: Array<[string, string, string, RegExp]> = [
      ['pkill in a TS string', 'src/x.ts', "await runner.run(['pkill', '-f', 'debootstrap']);", /names pkill/],
      ['killall in a comment', 'src/x.ts', '// then killall debootstrap\nexport {};', /names killall/],
      ['fuser -km in a shell script', 'libexec/x', '#!/bin/bash\nfuser -km "$dir"\n', /names fuser/],
      ['kill as argv[0]', 'src/x.ts', "await runner.run(['kill', '-9', String(pid)]);", /runs kill as a command/],
      ['/bin/kill as argv[0]', 'state/x.ts', "run(['/bin/kill', '-TERM', '1']);", /runs kill as a command/],
      [
        'kill in a shell string',
        'machines/x.ts',
        "run(['sh', '-c', 'pgrep apt | xargs kill']);",
        /runs kill as a command/,
      ],
      ['kill in a shell script', 'libexec/x', '#!/bin/bash\nset -u\nkill -9 "$pid"\n', /runs kill as a command/],
      ['kill after && in a shell script', 'bin/x', '#!/bin/sh\ntrue && kill $!\n', /runs kill as a command/],
      [
        'process.kill outside the guard module',
        'src/engine/x.ts',
        'process.kill(pid, "SIGTERM");',
        /process\.kill outside/,
      ],
      [
        'process["kill"] outside the guard module',
        'src/cli/x.ts',
        "process['kill'](pid, 'SIGTERM');",
        /process\.kill outside/,
      ],
      [
        'process.kill outside sendSignal in the guard module',
        GUARD_MODULE,
        'export function endAll(pid: number) { process.kill(-pid, "SIGKILL"); }',
        /outside sendSignal/,
      ],
      ['kill destructured from process', 'src/x.ts', 'const { kill } = process;', /taken out of process/],
      ['child.kill()', 'src/x.ts', "child.kill('SIGTERM');", /bypasses the signal guard/],
      [
        'child_process outside the runner',
        'src/steps/x.ts',
        "import { spawn } from 'node:child_process';",
        /spawns commands outside/,
      ],
      ['execa outside the runner', 'src/steps/x.ts', "import { execa } from 'execa';", /spawns commands outside/],
      [
        'spawn beside spawnSync in the sync module',
        SYNC_SPAWN_MODULE,
        "import { spawn, spawnSync } from 'node:child_process';",
        /spawns commands outside/,
      ],
      ['spawnSync outside the sync module', 'src/x.ts', SYNC_SPAWN_IMPORT, /spawns commands outside/],
      [
        'execa with a timeout',
        RUNNER_MODULE,
        "execa('x', [], { detached: true, cleanup: false, forceKillAfterDelay: false, timeout: 5 });",
        /option timeout/,
      ],
      [
        'execa without its own group',
        RUNNER_MODULE,
        "execa('x', [], { cleanup: false, forceKillAfterDelay: false });",
        /detached: true/,
      ],
      [
        'systemctl restart',
        SERVICE_QUERY_MODULE,
        "runner.run(['systemctl', 'restart', 'NetworkManager']);",
        /changes a service/,
      ],
      [
        'systemctl outside host-check',
        'src/steps/x.ts',
        "runner.run(['systemctl', 'show', 'x']);",
        /outside src\/runtime\/host-check/,
      ],
      ['service … stop', 'src/x.ts', "runner.run(['service', 'gdm', 'stop']);", /service manager/],
      ['systemctl in a shell script', 'libexec/x', '#!/bin/bash\nsystemctl stop gdm\n', /touches host services/],
    ];
    for (const [name, file, text, rule] of planted) {
      it(name, () => {
        const found = scanText(file, text);
        expect(found.map((v) => v.rule).join('; ')).toMatch(rule);
      });
    }

    it('prose and the signal-0 probe are not flagged', () => {
      const ok = [
        [
          'src/a.ts',
          '// a kill mid-removal must not leave checkpoints\nconst m = `${signal}: press Ctrl-C again to kill at once`;\nprocess.kill(target, 0);',
        ],
        ['libexec/b', '#!/bin/bash\n# never kill anything here\necho "skill level"\n'],
      ] as const;
      expect(scanText(ok[0][0], ok[0][1]).filter((v) => !/outside src\/runtime\/process-groups/.test(v.rule))).toEqual(
        [],
      );
      expect(scanText(GUARD_MODULE, 'process.kill(target, 0);')).toEqual([]);
      expect(scanText(ok[1][0], ok[1][1])).toEqual([]);
    });
  });
});
