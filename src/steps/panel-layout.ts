/**
 * The Plasma panel as a file in the image: plasmashell builds the panel at the first login from the look-and-feel's
 * layout script, which loads the layout template org.kde.plasma.desktop.defaultPanel. Its task manager, with no
 * launchers written, pins the defaults of its config (System Settings, Discover, the preferred file manager and
 * browser): applications a lean image may not have, shown as blank icons. ailinux writes that template with the
 * launchers of panel.launchers under /usr/local/share, which the XDG data dirs put before /usr/share: the packaged
 * template stays untouched (an upgrade does not bring the old panel back) and the installed system gets the same.
 */
import type { BuildConfig } from '../config/schema.js';
import { StepError } from '../errors.js';
import { findInLayers, writeLayerFile, type RootfsLayers } from '../runtime/layers.js';

export const PANEL_TEMPLATE_ID = 'org.kde.plasma.desktop.defaultPanel';
export const PANEL_TEMPLATE_DIR = `usr/local/share/plasma/layout-templates/${PANEL_TEMPLATE_ID}`;
export const PANEL_LAYOUT_FILE = `${PANEL_TEMPLATE_DIR}/contents/layout.js`;
export const PANEL_METADATA_FILE = `${PANEL_TEMPLATE_DIR}/metadata.json`;
/** The Plasma desktop shell: without it there is no panel to lay out. */
const PLASMA_SHELL = 'usr/share/plasma/shells/org.kde.plasma.desktop';

/** The launcher URL plasma's task manager stores for an installed application. */
export function launcherUrl(desktopId: string): string {
  return `applications:${desktopId}`;
}

/** Plasma's default panel (kickoff, pager, task manager, system tray, clock, show desktop) with these pinned launchers. */
export function renderPanelLayout(config: BuildConfig): string {
  const launchers = config.panel.launchers.map((id) => JSON.stringify(launcherUrl(id)));
  return [
    `// The ${config.branding.productName.replace(/[\r\n]/g, ' ')} panel, written by ailinux from panel.launchers: Plasma's`,
    '// default panel, with pinned launchers for applications that are in the image.',
    'var panel = new Panel',
    '// an icons-only task manager fits 2.5 grid units, rounded down to an even number',
    'panel.height = 2 * Math.floor(gridUnit * 2.5 / 2)',
    '',
    'var kickoff = panel.addWidget("org.kde.plasma.kickoff")',
    'kickoff.currentConfigGroup = ["Shortcuts"]',
    'kickoff.writeConfig("global", "Alt+F1")',
    '',
    'panel.addWidget("org.kde.plasma.pager")',
    'var tasks = panel.addWidget("org.kde.plasma.icontasks")',
    'tasks.currentConfigGroup = ["General"]',
    `tasks.writeConfig("launchers", [${launchers.join(', ')}])`,
    'panel.addWidget("org.kde.plasma.marginsseparator")',
    'panel.addWidget("org.kde.plasma.systemtray")',
    'panel.addWidget("org.kde.plasma.digitalclock")',
    'panel.addWidget("org.kde.plasma.showdesktop")',
    '',
  ].join('\n');
}

/** The template's metadata: plasmashell's loadTemplate takes a template only with the panel containment category. */
export function renderPanelMetadata(config: BuildConfig): string {
  const product = config.branding.productName;
  const metadata = {
    KPlugin: {
      Id: PANEL_TEMPLATE_ID,
      Name: `${product} Panel`,
      Description: `${product}'s default panel: application launcher, task manager with its pinned applications, system tray`,
      License: 'LGPLv2+',
      ServiceTypes: ['Plasma/LayoutTemplate'],
    },
    'X-Plasma-ContainmentCategories': ['panel'],
    'X-Plasma-Shell': 'plasmashell',
  };
  return `${JSON.stringify(metadata, null, 4)}\n`;
}

/** The .desktop files of the launchers the image lacks (looked up as KService does: /usr/local/share, /usr/share). */
export function missingLaunchers(layers: RootfsLayers, launchers: readonly string[]): string[] {
  return launchers.filter(
    (id) =>
      findInLayers(layers, `usr/local/share/applications/${id}`) === null &&
      findInLayers(layers, `usr/share/applications/${id}`) === null,
  );
}

/**
 * Writes the panel template when panel.launchers names any and the image has Plasma (without it, says so and writes
 * nothing); refuses a launcher whose application is not installed, by name. Returns the files written.
 */
export function writePanelLayout(
  step: string,
  config: BuildConfig,
  layers: RootfsLayers,
  log: (line: string) => void = () => {},
): string[] {
  const launchers = config.panel.launchers;
  if (launchers.length === 0) return [];
  if (findInLayers(layers, PLASMA_SHELL) === null) {
    // a profile of another desktop that keeps the ailinux default: there is no Plasma panel to lay out
    log(`panel.launchers: the image has no Plasma desktop (/${PLASMA_SHELL}), so no panel layout is written`);
    return [];
  }
  const missing = missingLaunchers(layers, launchers);
  if (missing.length > 0) {
    throw new StepError(
      step,
      `panel.launchers pins ${missing.join(', ')}, which the image does not have in /usr/share/applications: the panel would show a blank icon for each`,
      { hint: 'add the package that ships each one to packages.apps, or remove it from panel.launchers' },
    );
  }
  writeLayerFile(layers, PANEL_METADATA_FILE, renderPanelMetadata(config), 0o644);
  writeLayerFile(layers, PANEL_LAYOUT_FILE, renderPanelLayout(config), 0o644);
  return [`/${PANEL_METADATA_FILE}`, `/${PANEL_LAYOUT_FILE}`];
}
