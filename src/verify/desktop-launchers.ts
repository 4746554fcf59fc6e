/**
 * Nothing on the desktop points to a missing application or icon: reads the rootfs the way Plasma and the file
 * manager will at the first login and checks every pinned launcher of the panel, every launcher on the desktop, and
 * every icon they name against the installed .desktop files, programs and icon themes.
 *
 * The panel: plasmashell builds it at the first login from the look-and-feel's layout script
 * (kdeglobals [KDE] LookAndFeelPackage, default org.kde.breeze.desktop:
 * contents/layouts/org.kde.plasma.desktop-layout.js, else the shell's contents/layout.js). Those load layout templates
 * by id (loadTemplate), found under share/plasma/layout-templates/ in the XDG data dirs, /usr/local/share before
 * /usr/share. A task manager the scripts add pins the launchers the script writes to its "launchers" key, or, with
 * none written, the default of that key in the task manager's config (main.xml): applications the image may not have.
 *
 * Pure over a read-only view of the rootfs: the merged view of the build's layers, or a plain directory.
 */
import { findInLayers, isFileInLayers, namesInLayersDir, readLayerFile, type RootfsLayers } from '../runtime/layers.js';
import type { CheckResult } from './types.js';

/** A read-only view of a root file system; paths are relative to its root, symlinks resolve inside it. */
export interface RootView {
  /** The names in a directory, or null when it is none. */
  list(rel: string): string[] | null;
  /** A regular file's text, or null when there is none. */
  read(rel: string): string | null;
  isFile(rel: string): boolean;
  /** Whether there is anything at rel (a symlink is not followed; an overlayfs whiteout is nothing). */
  exists(rel: string): boolean;
}

/** The merged rootfs of a build's layers (overlayfs whiteouts honoured), read from the host without mounting. */
export function layersView(layers: RootfsLayers): RootView {
  return {
    list: (rel) => namesInLayersDir(layers, rel),
    read: (rel) => readLayerFile(layers, rel),
    isFile: (rel) => isFileInLayers(layers, rel),
    exists: (rel) => findInLayers(layers, rel) !== null,
  };
}

/** A plain directory holding a root file system. */
export function dirView(root: string): RootView {
  return layersView({ own: null, below: [root], mountPoint: root });
}

/** The XDG data dirs in their default order: /usr/local/share first. */
const DATA_DIRS = ['usr/local/share', 'usr/share'];
const BIN_DIRS = ['usr/local/sbin', 'usr/local/bin', 'usr/sbin', 'usr/bin', 'sbin', 'bin'];
const ICON_EXTENSIONS = ['png', 'svg', 'svgz', 'xpm'];
export const DEFAULT_LOOK_AND_FEEL = 'org.kde.breeze.desktop';
/** Plasma's icon theme when kdeglobals names none; hicolor is every theme's last fallback. */
export const DEFAULT_ICON_THEME = 'breeze';
const TASK_MANAGERS = ['org.kde.plasma.icontasks', 'org.kde.plasma.taskmanager'];

/** A key of a group of an INI-style file (.desktop, kdeglobals, index.theme): the first one, unlocalised. */
export function iniValue(text: string, group: string, key: string): string | null {
  let inGroup = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('[')) {
      inGroup = line === `[${group}]`;
      continue;
    }
    if (!inGroup) continue;
    const eq = line.indexOf('=');
    if (eq > 0 && line.slice(0, eq).trim() === key) return line.slice(eq + 1).trim();
  }
  return null;
}

function quotedStrings(text: string): string[] {
  return [...text.matchAll(/"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'/g)].map((m) => m[1] ?? m[2] ?? '');
}

/** What a layout script does that matters here: the templates it loads, the task managers it adds, the launchers it pins. */
export interface LayoutScript {
  templates: string[];
  addsTaskManager: boolean;
  /** The launchers written to a task manager's "launchers" key, or null when the script writes none. */
  launchers: string[] | null;
}

/** JavaScript without its comments; strings (a file:/// URL in one) are kept whole. */
export function withoutComments(js: string): string {
  let out = '';
  let i = 0;
  while (i < js.length) {
    const c = js[i]!;
    if (c === '"' || c === "'" || c === '`') {
      let j = i + 1;
      while (j < js.length && js[j] !== c) j += js[j] === '\\' ? 2 : 1;
      out += js.slice(i, j + 1);
      i = j + 1;
    } else if (js.startsWith('//', i)) {
      const end = js.indexOf('\n', i);
      i = end < 0 ? js.length : end;
    } else if (js.startsWith('/*', i)) {
      const end = js.indexOf('*/', i + 2);
      i = end < 0 ? js.length : end + 2;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

export function parseLayoutScript(js: string): LayoutScript {
  // comments out, so a commented-out widget or launcher list does not count
  const code = withoutComments(js);
  const templates = [...code.matchAll(/loadTemplate\(\s*["']([^"']+)["']\s*\)/g)].map((m) => m[1]!);
  const addsTaskManager = TASK_MANAGERS.some((id) =>
    new RegExp(`addWidget\\(\\s*["']${id.replace(/\./g, '\\.')}["']`).test(code),
  );
  let launchers: string[] | null = null;
  for (const m of code.matchAll(/writeConfig\(\s*["']launchers["']\s*,\s*(\[[^\]]*\]|"[^"]*"|'[^']*')\s*\)/g)) {
    // a string is a comma-separated list, as KConfig stores a StringList
    const value = m[1]!;
    const items = value.startsWith('[') ? quotedStrings(value) : quotedStrings(value).flatMap((s) => s.split(','));
    launchers = [...(launchers ?? []), ...items.map((s) => s.trim()).filter(Boolean)];
  }
  return { templates, addsTaskManager, launchers };
}

/** The default of the task manager's "launchers" key in its config schema (main.xml). */
export function mainXmlLaunchers(xml: string): string[] | null {
  const m = /<entry\s+name="launchers"[^>]*>[\s\S]*?<default>([^<]*)<\/default>/.exec(xml);
  if (!m) return null;
  return m[1]!
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Where a pinned launcher, desktop launcher or icon was found to point (a relative path in the rootfs). */
export interface LauncherFinding {
  /** Where it is referenced: the layout script and launcher, or the desktop file. */
  source: string;
  /** The launcher as written ("applications:org.kde.dolphin.desktop", or a desktop file's path). */
  launcher: string;
  /** The .desktop file it resolves to, or null when it is missing. */
  desktopFile: string | null;
  /** The program its Exec= starts, as found, or null. */
  program: string | null;
  icon: string | null;
  /** Where the icon was found, or null when it is missing (or the entry names none). */
  iconFile: string | null;
}

export interface LauncherReport {
  /** The layout scripts read, in order (the look-and-feel's or the shell's, then the templates it loads). */
  layoutScripts: string[];
  /** The icon themes looked in, in order. */
  iconThemes: string[];
  findings: LauncherFinding[];
  /** One line per problem, naming the launcher or icon and where it is referenced. */
  problems: string[];
}

function firstFile(view: RootView, rels: readonly string[]): string | null {
  for (const rel of rels) if (view.isFile(rel)) return rel;
  return null;
}

/** The data-dir file (share/<rel>) plasma and KService find first. */
function dataFile(view: RootView, rel: string): string | null {
  return firstFile(
    view,
    DATA_DIRS.map((d) => `${d}/${rel}`),
  );
}

/** The layout scripts plasmashell runs for a new desktop: the look-and-feel's (else the shell's), then its templates. */
function layoutScripts(view: RootView, problems: string[]): Array<{ rel: string; script: LayoutScript }> {
  const kdeglobals = view.read('etc/xdg/kdeglobals') ?? '';
  const lnf = iniValue(kdeglobals, 'KDE', 'LookAndFeelPackage') || DEFAULT_LOOK_AND_FEEL;
  const first =
    dataFile(view, `plasma/look-and-feel/${lnf}/contents/layouts/org.kde.plasma.desktop-layout.js`) ??
    dataFile(view, 'plasma/shells/org.kde.plasma.desktop/contents/layout.js');
  if (first === null) return [];
  const out: Array<{ rel: string; script: LayoutScript }> = [];
  const queue = [first];
  while (queue.length > 0 && out.length < 20) {
    const rel = queue.shift()!;
    if (out.some((s) => s.rel === rel)) continue;
    const script = parseLayoutScript(view.read(rel) ?? '');
    out.push({ rel, script });
    for (const id of script.templates) {
      // plasmashell takes the look-and-feel's own copy of a template first, then the data dirs' (loadTemplate)
      const template =
        dataFile(view, `plasma/look-and-feel/${lnf}/contents/layouts/${id}/contents/layout.js`) ??
        dataFile(view, `plasma/layout-templates/${id}/contents/layout.js`);
      if (template === null) problems.push(`/${rel} loads the layout template ${id}, which is not in the image`);
      else queue.push(template);
    }
  }
  return out;
}

/** The program of an Exec= line: env assignments, env, sudo and pkexec (with their options) skipped. */
export function execProgram(exec: string): string | null {
  const words = exec.split(/\s+/).filter(Boolean);
  let i = 0;
  while (i < words.length) {
    const w = words[i]!;
    if (w === 'env' || /^[A-Za-z_][A-Za-z0-9_]*=/.test(w)) i++;
    else if (w === 'sudo' || w === 'pkexec') {
      i++;
      while (i < words.length && words[i]!.startsWith('-')) i++;
    } else break;
  }
  const word = words[i];
  return word ? word.replace(/^["']|["']$/g, '') : null;
}

function findProgram(view: RootView, program: string): string | null {
  if (program.startsWith('/')) return view.isFile(program.slice(1)) ? program.slice(1) : null;
  if (program.includes('/')) return null;
  return firstFile(
    view,
    BIN_DIRS.map((d) => `${d}/${program}`),
  );
}

/** Icon lookup as the icon theme spec describes it: the theme and what it inherits, hicolor, then pixmaps. */
export class IconIndex {
  readonly themes: string[];
  private readonly dirsOf = new Map<string, string[]>();
  private readonly names = new Map<string, Map<string, string[]>>();

  constructor(
    private readonly view: RootView,
    theme: string,
  ) {
    const chain: string[] = [];
    const visit = (name: string): void => {
      if (chain.includes(name) || chain.length > 10) return;
      const index = view.read(`usr/share/icons/${name}/index.theme`);
      if (index === null) return;
      chain.push(name);
      for (const parent of (iniValue(index, 'Icon Theme', 'Inherits') ?? '').split(',')) {
        if (parent.trim()) visit(parent.trim());
      }
    };
    visit(theme);
    visit('hicolor');
    this.themes = chain;
  }

  private themeNames(theme: string): Map<string, string[]> {
    let map = this.names.get(theme);
    if (map) return map;
    map = new Map();
    const index = this.view.read(`usr/share/icons/${theme}/index.theme`) ?? '';
    const dirs = [
      ...(iniValue(index, 'Icon Theme', 'Directories') ?? '').split(','),
      ...(iniValue(index, 'Icon Theme', 'ScaledDirectories') ?? '').split(','),
    ]
      .map((d) => d.trim())
      .filter(Boolean);
    this.dirsOf.set(theme, dirs);
    for (const dir of dirs) {
      const rel = `usr/share/icons/${theme}/${dir}`;
      for (const file of this.view.list(rel) ?? []) {
        const dot = file.lastIndexOf('.');
        if (dot <= 0 || !ICON_EXTENSIONS.includes(file.slice(dot + 1))) continue;
        const name = file.slice(0, dot);
        map.set(name, [...(map.get(name) ?? []), `${rel}/${file}`]);
      }
    }
    this.names.set(theme, map);
    return map;
  }

  /** Where the icon is, or null: an absolute path, a name in the themes, or a file in /usr/share/pixmaps. */
  find(icon: string): string | null {
    if (icon.startsWith('/')) return this.view.isFile(icon.slice(1)) ? icon.slice(1) : null;
    for (const theme of this.themes) {
      const found = firstFile(this.view, this.themeNames(theme).get(icon) ?? []);
      if (found) return found;
    }
    const hasExt = ICON_EXTENSIONS.some((e) => icon.endsWith(`.${e}`));
    const names = hasExt ? [icon] : ICON_EXTENSIONS.map((e) => `${icon}.${e}`);
    return firstFile(this.view, [
      ...names.map((n) => `usr/share/pixmaps/${n}`),
      ...names.map((n) => `usr/share/icons/${n}`),
    ]);
  }
}

/** The installed applications that handle a MIME type (what preferred:// launchers fall back to). */
function handlerOf(view: RootView, mime: string): string | null {
  for (const dir of DATA_DIRS) {
    const rel = `${dir}/applications`;
    for (const name of view.list(rel) ?? []) {
      if (!name.endsWith('.desktop')) continue;
      const text = view.read(`${rel}/${name}`);
      if (text === null) continue;
      const types = (iniValue(text, 'Desktop Entry', 'MimeType') ?? '').split(';');
      if (types.includes(mime)) return `${rel}/${name}`;
    }
  }
  return null;
}

const PREFERRED: Record<string, string> = {
  'preferred://browser': 'x-scheme-handler/http',
  'preferred://filemanager': 'inode/directory',
};

/** The .desktop file a pinned launcher means, or null (with why) when the image has none. */
function resolvePinned(view: RootView, launcher: string): { file: string | null; why: string } {
  if (launcher.startsWith('applications:')) {
    const id = launcher.slice('applications:'.length);
    return { file: dataFile(view, `applications/${id}`), why: `no ${id} in /usr/share/applications` };
  }
  if (launcher.startsWith('file://')) {
    const rel = decodeURIComponent(launcher.slice('file://'.length)).replace(/^\/+/, '');
    return { file: view.isFile(rel) ? rel : null, why: `no file /${rel}` };
  }
  const mime = PREFERRED[launcher];
  if (mime) return { file: handlerOf(view, mime), why: `no installed application handles ${mime}` };
  return { file: null, why: 'not a launcher this check can resolve (applications:, file:// or preferred://)' };
}

/** Checks one desktop entry: its program and its icon. */
function checkEntry(
  view: RootView,
  icons: IconIndex,
  source: string,
  launcher: string,
  desktopFile: string | null,
  problems: string[],
  missingWhy: string,
): LauncherFinding {
  const finding: LauncherFinding = { source, launcher, desktopFile, program: null, icon: null, iconFile: null };
  if (desktopFile === null) {
    problems.push(`${source}: launcher ${launcher} points to a missing application (${missingWhy})`);
    return finding;
  }
  const text = view.read(desktopFile) ?? '';
  const exec = iniValue(text, 'Desktop Entry', 'Exec');
  const program = exec ? execProgram(exec) : null;
  if (program) {
    finding.program = findProgram(view, program);
    if (finding.program === null)
      problems.push(`${source}: launcher ${launcher} runs ${program}, which is not in the image (/${desktopFile})`);
  } else if ((iniValue(text, 'Desktop Entry', 'Type') ?? 'Application') === 'Application') {
    problems.push(`${source}: launcher ${launcher} has no Exec= line (/${desktopFile})`);
  }
  const icon = iniValue(text, 'Desktop Entry', 'Icon');
  finding.icon = icon || null;
  if (!icon) {
    problems.push(`${source}: launcher ${launcher} names no icon (/${desktopFile}): it shows blank`);
  } else {
    finding.iconFile = icons.find(icon);
    if (finding.iconFile === null) {
      problems.push(
        `${source}: launcher ${launcher} has the icon ${icon}, which is in none of the icon themes ${icons.themes.join(', ')} nor /usr/share/pixmaps`,
      );
    }
  }
  return finding;
}

/**
 * Every pinned launcher of the panel Plasma builds at the first login, every launcher in /etc/skel/Desktop and in the
 * desktops of the homes given, and the icon of each: each problem names the launcher or icon and where it is.
 */
export function checkDesktopLaunchers(view: RootView, options: { homes?: readonly string[] } = {}): LauncherReport {
  const problems: string[] = [];
  const kdeglobals = view.read('etc/xdg/kdeglobals') ?? '';
  const icons = new IconIndex(view, iniValue(kdeglobals, 'Icons', 'Theme') || DEFAULT_ICON_THEME);
  const findings: LauncherFinding[] = [];
  const scripts = layoutScripts(view, problems);
  for (const { rel, script } of scripts) {
    let launchers = script.launchers;
    let source = `/${rel}`;
    if (launchers === null && script.addsTaskManager) {
      const xml = dataFile(view, 'plasma/plasmoids/org.kde.plasma.taskmanager/contents/config/main.xml');
      launchers = xml ? (mainXmlLaunchers(view.read(xml) ?? '') ?? []) : [];
      source = `/${rel} (the task manager's default launchers, /${xml})`;
    }
    for (const launcher of launchers ?? []) {
      const { file, why } = resolvePinned(view, launcher);
      findings.push(checkEntry(view, icons, `panel ${source}`, launcher, file, problems, why));
    }
  }
  for (const dir of [
    'etc/skel/Desktop',
    ...(options.homes ?? []).map((h) => `${h.replace(/^\/+|\/+$/g, '')}/Desktop`),
  ]) {
    for (const name of view.list(dir) ?? []) {
      if (!name.endsWith('.desktop')) continue;
      const rel = `${dir}/${name}`;
      // an overlayfs whiteout: deleted in a later layer
      if (!view.exists(rel)) continue;
      const file = view.isFile(rel) ? rel : null;
      findings.push(
        checkEntry(view, icons, `desktop /${dir}`, name, file, problems, `/${rel} is no file or a broken link`),
      );
    }
  }
  return { layoutScripts: scripts.map((s) => `/${s.rel}`), iconThemes: icons.themes, findings, problems };
}

/** The verify table's row for the rootfs: ok with the counts, fail with every problem on its own line. */
export function desktopLaunchersCheck(view: RootView, options: { homes?: readonly string[] } = {}): CheckResult {
  const name = 'launchers and icons (rootfs)';
  if (!view.exists('usr')) {
    return {
      id: 'desktop-launchers',
      name,
      status: 'skipped',
      detail: 'not run: the rootfs layers are not in the work dir (removed since they were built)',
    };
  }
  const report = checkDesktopLaunchers(view, options);
  const pinned = report.findings.filter((f) => f.source.startsWith('panel ')).length;
  const desktop = report.findings.length - pinned;
  const icons = report.findings.filter((f) => f.iconFile !== null).length;
  if (report.problems.length > 0) {
    return {
      id: 'desktop-launchers',
      name,
      status: 'fail',
      detail: `${report.problems.length} launcher(s) or icon(s) point to nothing in the image:\n${report.problems.join('\n')}`,
    };
  }
  const layout =
    report.layoutScripts.length > 0 ? `panel from ${report.layoutScripts.at(-1)}` : 'no Plasma panel layout';
  return {
    id: 'desktop-launchers',
    name,
    status: 'ok',
    detail: `${pinned} pinned launcher(s), ${desktop} desktop launcher(s), ${icons} icon(s) found in the image (${layout}; icon themes ${report.iconThemes.join(', ') || 'none'})`,
  };
}
