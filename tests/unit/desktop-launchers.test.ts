/** The launcher and icon check over small fake rootfs trees, and the panel layout ailinux writes for it to read. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { StepError } from '../../src/errors.js';
import { PANEL_LAYOUT_FILE, renderPanelLayout, writePanelLayout } from '../../src/steps/panel-layout.js';
import {
  checkDesktopLaunchers,
  desktopLaunchersCheck,
  dirView,
  execProgram,
  layersView,
  mainXmlLaunchers,
  parseLayoutScript,
} from '../../src/verify/desktop-launchers.js';

let root: string;

function put(rel: string, text: string, mode = 0o644): void {
  const file = path.join(root, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text, { mode });
}

function app(id: string, exec: string, icon: string | null): void {
  put(
    `usr/share/applications/${id}`,
    `[Desktop Entry]\nType=Application\nName=${id}\nExec=${exec}\n${icon ? `Icon=${icon}\n` : ''}`,
  );
}

const LNF = 'usr/share/plasma/look-and-feel/org.kde.breeze.desktop/contents/layouts/org.kde.plasma.desktop-layout.js';
const TEMPLATE = 'usr/share/plasma/layout-templates/org.kde.plasma.desktop.defaultPanel/contents/layout.js';
const MAIN_XML = 'usr/share/plasma/plasmoids/org.kde.plasma.taskmanager/contents/config/main.xml';

/** A Plasma image as Ubuntu ships it: breeze look-and-feel, the default panel template, breeze and hicolor icons. */
function plasmaTree(): void {
  put(LNF, 'loadTemplate("org.kde.plasma.desktop.defaultPanel")\n');
  put(
    TEMPLATE,
    'var panel = new Panel\npanel.addWidget("org.kde.plasma.kickoff")\npanel.addWidget("org.kde.plasma.icontasks")\n',
  );
  put(
    MAIN_XML,
    '<kcfg><group name="General">\n<entry name="launchers" type="StringList">\n<label>x</label>\n' +
      '<default>applications:systemsettings.desktop,applications:org.kde.discover.desktop,preferred://filemanager</default>\n</entry></group></kcfg>\n',
  );
  put('usr/share/icons/breeze/index.theme', '[Icon Theme]\nName=Breeze\nInherits=hicolor\nDirectories=apps/48\n');
  put('usr/share/icons/hicolor/index.theme', '[Icon Theme]\nName=Hicolor\nDirectories=48x48/apps\n');
  put('usr/share/icons/breeze/apps/48/system-file-manager.svg', '<svg/>');
  put('usr/share/icons/hicolor/48x48/apps/org.kde.konsole.png', 'png');
  put('usr/bin/dolphin', '', 0o755);
  put('usr/bin/konsole', '', 0o755);
  app('org.kde.dolphin.desktop', 'dolphin %u', 'system-file-manager');
  put(
    'usr/share/applications/org.kde.dolphin.desktop',
    '[Desktop Entry]\nType=Application\nExec=dolphin %u\nIcon=system-file-manager\nMimeType=inode/directory;\n',
  );
  app('org.kde.konsole.desktop', 'konsole', 'org.kde.konsole');
}

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'ailinux-launchers-'));
});
afterEach(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

describe('the panel, as plasmashell builds it at the first login', () => {
  it("reads the task manager's default launchers when the layout pins none, and names each missing application", () => {
    plasmaTree();
    const r = checkDesktopLaunchers(dirView(root));
    expect(r.layoutScripts).toEqual([`/${LNF}`, `/${TEMPLATE}`]);
    expect(r.findings.map((f) => [f.launcher, f.desktopFile])).toEqual([
      ['applications:systemsettings.desktop', null],
      ['applications:org.kde.discover.desktop', null],
      ['preferred://filemanager', 'usr/share/applications/org.kde.dolphin.desktop'],
    ]);
    expect(r.problems).toHaveLength(2);
    expect(r.problems[0]).toContain('launcher applications:systemsettings.desktop points to a missing application');
    expect(r.problems[0]).toContain(`/${MAIN_XML}`);
    expect(r.problems[1]).toContain('applications:org.kde.discover.desktop');
  });

  it('takes the template under /usr/local/share over the packaged one, and its pinned launchers', () => {
    plasmaTree();
    put(
      'usr/local/share/plasma/layout-templates/org.kde.plasma.desktop.defaultPanel/contents/layout.js',
      'var tasks = panel.addWidget("org.kde.plasma.icontasks")\ntasks.currentConfigGroup = ["General"]\n' +
        'tasks.writeConfig("launchers", ["applications:org.kde.dolphin.desktop", "applications:org.kde.konsole.desktop"])\n',
    );
    const r = checkDesktopLaunchers(dirView(root));
    expect(r.layoutScripts.at(-1)).toBe(
      '/usr/local/share/plasma/layout-templates/org.kde.plasma.desktop.defaultPanel/contents/layout.js',
    );
    expect(r.problems).toEqual([]);
    expect(r.findings.map((f) => f.iconFile)).toEqual([
      'usr/share/icons/breeze/apps/48/system-file-manager.svg',
      // breeze has no konsole icon: found in hicolor, which breeze inherits
      'usr/share/icons/hicolor/48x48/apps/org.kde.konsole.png',
    ]);
  });

  it('reports a pinned launcher that is missing and an icon that is in no theme, each by name', () => {
    plasmaTree();
    app('org.kde.kate.desktop', 'konsole', 'kate-icon-nobody-ships');
    put(
      TEMPLATE,
      'var tasks = panel.addWidget("org.kde.plasma.icontasks")\n' +
        'tasks.writeConfig("launchers", ["applications:org.kde.dolphin.desktop", "applications:org.kde.gone.desktop", "applications:org.kde.kate.desktop"])\n',
    );
    const r = checkDesktopLaunchers(dirView(root));
    expect(r.problems).toHaveLength(2);
    expect(r.problems[0]).toMatch(
      /launcher applications:org\.kde\.gone\.desktop points to a missing application \(no org\.kde\.gone\.desktop in \/usr\/share\/applications\)/,
    );
    expect(r.problems[1]).toMatch(
      /launcher applications:org\.kde\.kate\.desktop has the icon kate-icon-nobody-ships, which is in none of the icon themes breeze, hicolor nor \/usr\/share\/pixmaps/,
    );
    const row = desktopLaunchersCheck(dirView(root));
    expect(row.status).toBe('fail');
    expect(row.detail).toContain('org.kde.gone.desktop');
    expect(row.detail).toContain('kate-icon-nobody-ships');
  });

  it('a missing layout template is reported by its id', () => {
    put(LNF, 'loadTemplate("org.example.nothere")\n');
    expect(checkDesktopLaunchers(dirView(root)).problems).toEqual([
      `/${LNF} loads the layout template org.example.nothere, which is not in the image`,
    ]);
  });
});

describe('the launchers on the desktop', () => {
  it("checks /etc/skel/Desktop and the live user's desktop: the program each runs and its icon", () => {
    plasmaTree();
    put('usr/share/pixmaps/ailinux.png', 'png');
    put('usr/bin/sudo', '', 0o755);
    put('usr/local/bin/ailinux-helper', '', 0o755);
    const entry = (exec: string, icon: string) =>
      `[Desktop Entry]\nType=Application\nName=x\nExec=${exec}\nIcon=${icon}\nTerminal=false\n`;
    put('etc/skel/Desktop/ailinux-helper.desktop', entry('/usr/local/bin/ailinux-helper', 'ailinux'), 0o755);
    put('home/ailinux/Desktop/install-ailinux.desktop', entry('sudo -E calamares', 'calamares'), 0o755);
    const r = checkDesktopLaunchers(dirView(root), { homes: ['home/ailinux'] });
    const desktop = r.findings.filter((f) => f.source.startsWith('desktop'));
    expect(desktop.map((f) => [f.launcher, f.program, f.iconFile])).toEqual([
      ['ailinux-helper.desktop', 'usr/local/bin/ailinux-helper', 'usr/share/pixmaps/ailinux.png'],
      ['install-ailinux.desktop', null, null],
    ]);
    const install = r.problems.filter((p) => p.includes('install-ailinux.desktop'));
    expect(install).toEqual([
      'desktop /home/ailinux/Desktop: launcher install-ailinux.desktop runs calamares, which is not in the image (/home/ailinux/Desktop/install-ailinux.desktop)',
      'desktop /home/ailinux/Desktop: launcher install-ailinux.desktop has the icon calamares, which is in none of the icon themes breeze, hicolor nor /usr/share/pixmaps',
    ]);
  });

  it('an image without a desktop passes with nothing to check; a missing rootfs is skipped', () => {
    put('usr/bin/sh', '', 0o755);
    expect(desktopLaunchersCheck(dirView(root))).toMatchObject({ status: 'ok' });
    expect(desktopLaunchersCheck(dirView(path.join(root, 'nothing'))).status).toBe('skipped');
  });
});

describe('the pieces', () => {
  it('reads launchers from a layout script, not from its comments, and from main.xml', () => {
    const js = [
      '// tasks.writeConfig("launchers", ["applications:commented.desktop"])',
      'var t = panel.addWidget("org.kde.plasma.taskmanager")',
      '/* loadTemplate("x") */',
      't.writeConfig("launchers", "applications:a.desktop,file:///opt/b.desktop")',
    ].join('\n');
    expect(parseLayoutScript(js)).toEqual({
      templates: [],
      addsTaskManager: true,
      launchers: ['applications:a.desktop', 'file:///opt/b.desktop'],
    });
    expect(mainXmlLaunchers('<entry name="launchers" type="StringList"><default>a,b</default></entry>')).toEqual([
      'a',
      'b',
    ]);
  });

  it('finds the program behind env, sudo and pkexec', () => {
    expect(execProgram('sudo -E calamares')).toBe('calamares');
    expect(execProgram('env A=1 /usr/bin/x --y')).toBe('/usr/bin/x');
    expect(execProgram('pkexec "/usr/bin/q"')).toBe('/usr/bin/q');
  });
});

describe('the panel layout ailinux writes (panel.launchers)', () => {
  const config = () => loadConfig({ profile: 'ailinux' }).config;

  function layers() {
    const upper = path.join(root, 'layer', 'upper');
    fs.mkdirSync(upper, { recursive: true });
    return {
      own: { stepId: 'identity', dir: path.join(root, 'layer'), upper, work: null },
      below: [path.join(root, 'rootfs')],
      mountPoint: path.join(root, 'mnt'),
    };
  }

  it("the ailinux profile's panel pins only applications the check finds, and the check reads what was written", () => {
    const c = config();
    expect(c.panel.launchers.length).toBeGreaterThan(0);
    const saved = root;
    root = path.join(saved, 'rootfs');
    plasmaTree();
    put('usr/share/plasma/shells/org.kde.plasma.desktop/metadata.json', '{}');
    for (const id of c.panel.launchers) app(id, 'konsole', 'org.kde.konsole');
    root = saved;
    const l = layers();
    expect(writePanelLayout('identity', c, l)).toEqual([
      '/usr/local/share/plasma/layout-templates/org.kde.plasma.desktop.defaultPanel/metadata.json',
      `/${PANEL_LAYOUT_FILE}`,
    ]);
    const r = checkDesktopLaunchers(layersView({ ...l, own: null, below: [l.own.upper, ...l.below] }));
    expect(r.layoutScripts.at(-1)).toBe(`/${PANEL_LAYOUT_FILE}`);
    expect(r.findings.map((f) => f.launcher)).toEqual(c.panel.launchers.map((id) => `applications:${id}`));
    expect(r.problems).toEqual([]);
    expect(parseLayoutScript(renderPanelLayout(c)).launchers).toEqual(
      c.panel.launchers.map((id) => `applications:${id}`),
    );
  });

  it('refuses a launcher the image lacks, by name, and writes nothing', () => {
    const c = config();
    const saved = root;
    root = path.join(saved, 'rootfs');
    put('usr/share/plasma/shells/org.kde.plasma.desktop/metadata.json', '{}');
    app('org.kde.dolphin.desktop', 'dolphin', 'x');
    root = saved;
    const l = layers();
    let error: unknown;
    try {
      writePanelLayout('identity', c, l);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(StepError);
    expect((error as StepError).message).toContain('org.kde.konsole.desktop');
    expect((error as StepError).message).not.toContain('org.kde.dolphin.desktop,');
    expect(fs.readdirSync(l.own.upper)).toEqual([]);
  });
});
