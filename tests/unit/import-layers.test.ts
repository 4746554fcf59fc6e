/**
 * Imports point one way: every import in src/, machines/ and state/ (static, re-export or dynamic import()) must go
 * down the layers of docs/architecture.md ("Layers and imports"). ALLOWED below is that table; a type-only import
 * (`import type`, or every name marked `type`) may also reach what TYPES_ONLY lists, and only that. The checker is
 * also run on planted imports, so a rule that stopped matching fails here too.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SCANNED_DIRS = ['src', 'machines', 'state'];

type Layer =
  | 'cli'
  | 'engine'
  | 'inspect'
  | 'machines'
  | 'steps'
  | 'verify'
  | 'runtime'
  | 'config'
  | 'state'
  | 'types'
  | 'errors';

/** Which layer a repository path (relative, with .ts) belongs to. */
function layerOf(file: string): Layer {
  if (file.startsWith('machines/')) return 'machines';
  if (file.startsWith('state/')) return 'state';
  if (file === 'src/types.ts' || file === 'src/state-types.ts') return 'types';
  if (file === 'src/errors.ts') return 'errors';
  const dir = /^src\/([^/]+)\//.exec(file)?.[1];
  const layers: readonly string[] = ['cli', 'engine', 'inspect', 'steps', 'verify', 'runtime', 'config'];
  if (dir && layers.includes(dir)) return dir as Layer;
  throw new Error(`${file} is in no layer: add it to docs/architecture.md and to this test`);
}

/** The layers each layer may import from (a layer may always import its own modules). */
const ALLOWED: Record<Layer, readonly Layer[]> = {
  cli: ['engine', 'inspect', 'verify', 'config', 'steps', 'runtime', 'state', 'types', 'errors'],
  engine: ['machines', 'inspect', 'steps', 'runtime', 'config', 'state', 'types', 'errors'],
  inspect: ['machines', 'state', 'runtime', 'types', 'errors'],
  machines: ['types'],
  steps: ['verify', 'runtime', 'config', 'types', 'errors'],
  verify: ['runtime', 'errors'],
  runtime: ['errors'],
  config: ['errors'],
  state: ['types', 'errors'],
  types: [],
  errors: [],
};

/** What a layer may also reach with a type-only import: whole layers, or single files. */
const TYPES_ONLY: Partial<Record<Layer, readonly string[]>> = {
  inspect: ['src/steps/report.ts'],
  runtime: ['types', 'src/config/schema.ts', 'state/schema.ts'],
};

/** Packages (not node: built-ins) a layer may import, where the table names them; other layers are not checked. */
const PACKAGES: Partial<Record<Layer, readonly string[]>> = {
  machines: ['xstate'],
  state: ['lowdb', 'zod'],
  config: ['zod', 'yaml', 'leven', 'jsonc-parser'],
  types: ['zod'],
  errors: [],
};

interface Import {
  file: string;
  line: number;
  specifier: string;
  typeOnly: boolean;
  /** import(): loaded when the code runs, not when the importing module loads. */
  dynamic: boolean;
}

function listFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return listFiles(full);
    return e.name.endsWith('.ts') ? [full] : [];
  });
}

function isTypeOnlyImport(node: ts.ImportDeclaration): boolean {
  const clause = node.importClause;
  if (!clause) return false; // a side-effect import runs the module
  if (clause.isTypeOnly) return true;
  const named = clause.namedBindings;
  return (
    !clause.name &&
    named !== undefined &&
    ts.isNamedImports(named) &&
    named.elements.length > 0 &&
    named.elements.every((e) => e.isTypeOnly)
  );
}

/** Every import of a source: static imports, re-exports and import() calls. */
function importsOf(file: string, text: string): Import[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false);
  const found: Import[] = [];
  const add = (node: ts.Node, specifier: ts.Expression, typeOnly: boolean, dynamic = false) => {
    if (!ts.isStringLiteralLike(specifier)) return;
    const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
    found.push({ file, line, specifier: specifier.text, typeOnly, dynamic });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) add(node, node.moduleSpecifier, isTypeOnlyImport(node));
    else if (ts.isExportDeclaration(node) && node.moduleSpecifier) add(node, node.moduleSpecifier, node.isTypeOnly);
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0])
      add(node, node.arguments[0], false, true);
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) add(node, node.argument.literal, true);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** Why an import breaks the layers, or null when it is allowed. */
function layerViolation(imp: Import): string | null {
  const from = layerOf(imp.file);
  const where = `${imp.file}:${imp.line} imports '${imp.specifier}'`;
  if (!imp.specifier.startsWith('.')) {
    const pkg = imp.specifier.startsWith('@')
      ? imp.specifier.split('/').slice(0, 2).join('/')
      : imp.specifier.split('/')[0]!;
    const allowed = PACKAGES[from];
    if (imp.specifier.startsWith('node:') || allowed === undefined || allowed.includes(pkg)) return null;
    return `${where}: ${from} may import only ${allowed.join(', ') || 'no package'}`;
  }
  const target = path
    .relative(REPO, path.resolve(REPO, path.dirname(imp.file), imp.specifier))
    .split(path.sep)
    .join('/')
    .replace(/\.js$/, '.ts');
  const to = layerOf(target);
  if (to === from || ALLOWED[from].includes(to)) return null;
  const typesOnly = TYPES_ONLY[from] ?? [];
  if (typesOnly.includes(to) || typesOnly.includes(target))
    return imp.typeOnly ? null : `${where}: ${from} may import ${target} for types only (use import type)`;
  return `${where}: ${from} may not import ${to} (${target}); see "Layers and imports" in docs/architecture.md`;
}

let scanned: Import[] | null = null;

function repoImports(): Import[] {
  scanned ??= SCANNED_DIRS.flatMap((dir) =>
    listFiles(path.join(REPO, dir)).flatMap((full) =>
      importsOf(path.relative(REPO, full).split(path.sep).join('/'), fs.readFileSync(full, 'utf8')),
    ),
  );
  return scanned;
}

/** The modules a file loads when it is imported: the closure of its value imports. */
function loadedBy(entry: string, imports: readonly Import[]): Set<string> {
  const byFile = new Map<string, string[]>();
  for (const imp of imports) {
    if (imp.typeOnly || imp.dynamic || !imp.specifier.startsWith('.')) continue;
    const target = path.posix.normalize(path.posix.join(path.posix.dirname(imp.file), imp.specifier));
    byFile.set(imp.file, [...(byFile.get(imp.file) ?? []), target.replace(/\.js$/, '.ts')]);
  }
  const seen = new Set<string>();
  const walk = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const next of byFile.get(file) ?? []) walk(next);
  };
  walk(entry);
  return seen;
}

describe('imports point one way', () => {
  it('every import in src/, machines/ and state/ goes down the layers', () => {
    const imports = repoImports();
    expect(imports.length).toBeGreaterThan(300);
    expect(imports.map(layerViolation).filter((v) => v !== null)).toEqual([]);
  });

  it('the allowed edges have no cycle, so the layers have an order', () => {
    const visiting = new Set<Layer>();
    const done = new Set<Layer>();
    const cycleFrom = (layer: Layer, trail: Layer[]): Layer[] | null => {
      if (visiting.has(layer)) return [...trail, layer];
      if (done.has(layer)) return null;
      visiting.add(layer);
      for (const next of ALLOWED[layer]) {
        const cycle = cycleFrom(next, [...trail, layer]);
        if (cycle) return cycle;
      }
      visiting.delete(layer);
      done.add(layer);
      return null;
    };
    for (const layer of Object.keys(ALLOWED) as Layer[]) expect(cycleFrom(layer, [])).toBeNull();
  });

  it('no engine module loads the inspect renderers before the report runs, and plan loads none', () => {
    const imports = repoImports();
    const engine = [...new Set(imports.map((i) => i.file))].filter((f) => f.startsWith('src/engine/'));
    expect(engine).toContain('src/engine/steps.ts');
    for (const entry of [...engine, 'src/cli/commands/plan.ts']) {
      const loaded = [...loadedBy(entry, imports)].filter((f) => f.startsWith('src/inspect/'));
      expect(loaded, entry).toEqual([]);
    }
    // the planted form of what src/engine/build.ts did before: a static import of the report renderer
    const planted = importsOf('src/engine/x.ts', "import { renderReportHtml } from '../inspect/report-html.js';");
    expect([...loadedBy('src/engine/x.ts', planted)]).toContain('src/inspect/report-html.ts');
    const lazy = importsOf('src/engine/x.ts', "const m = () => import('../inspect/report-html.js');");
    expect([...loadedBy('src/engine/x.ts', lazy)]).toEqual(['src/engine/x.ts']);
  });

  it('catches planted imports that point up, and value imports where only types may go', () => {
    const plant = (file: string, line: string) => importsOf(file, line).map(layerViolation);
    expect(plant('src/runtime/x.ts', "import { BuildSession } from '../engine/build.js';")).toEqual([
      expect.stringMatching(/runtime may not import engine/),
    ]);
    expect(plant('src/verify/x.ts', "import { isoStep } from '../steps/iso.js';")).toEqual([
      expect.stringMatching(/verify may not import steps/),
    ]);
    expect(plant('src/steps/x.ts', "const m = await import('../inspect/report-html.js');")).toEqual([
      expect.stringMatching(/steps may not import inspect/),
    ]);
    expect(plant('machines/x.ts', "export { StateStore } from '../state/store.js';")).toEqual([
      expect.stringMatching(/machines may not import state/),
    ]);
    expect(plant('state/x.ts', "import { execa } from 'execa';")).toEqual([
      expect.stringMatching(/state may import only lowdb, zod/),
    ]);
    expect(plant('src/inspect/x.ts', "import { reportStep } from '../steps/report.js';")).toEqual([
      expect.stringMatching(/for types only/),
    ]);
    expect(plant('src/runtime/x.ts', "import { configSchema, type BuildConfig } from '../config/schema.js';")).toEqual([
      expect.stringMatching(/for types only/),
    ]);
    expect(plant('src/inspect/x.ts', "import type { BuildReport } from '../steps/report.js';")).toEqual([null]);
    expect(plant('src/runtime/x.ts', "import { type BuildConfig } from '../config/schema.js';")).toEqual([null]);
    expect(plant('src/engine/x.ts', "import { renderSvg } from '../inspect/svg.js';")).toEqual([null]);
    expect(() => plant('src/newdir/x.ts', "import { x } from '../errors.js';")).toThrow(/is in no layer/);
  });
});
