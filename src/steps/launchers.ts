/** Desktop launchers (freedesktop .desktop files): the installer's and the helper application's. */
import type { BuildConfig } from '../config/schema.js';

export interface Launcher {
  /** File name, e.g. install-ailinux.desktop. */
  file: string;
  text: string;
}

export function renderDesktopEntry(e: {
  name: string;
  comment: string;
  exec: string;
  icon?: string | undefined;
  terminal: boolean;
}): string {
  const clean = (s: string) => s.replace(/[\u0000-\u001f\u007f]/g, ' ');
  return [
    '[Desktop Entry]',
    'Type=Application',
    'Version=1.0',
    `Name=${clean(e.name)}`,
    ...(e.comment ? [`Comment=${clean(e.comment)}`] : []),
    `Exec=${clean(e.exec)}`,
    ...(e.icon ? [`Icon=${clean(e.icon)}`] : []),
    `Terminal=${e.terminal ? 'true' : 'false'}`,
    'Categories=System;',
    '',
  ].join('\n');
}

/** The "Install" launcher: Calamares as root (the live user has a sudo rule without password). */
export function installerLauncher(config: BuildConfig): Launcher {
  const product = config.branding.productName;
  return {
    file: `install-${config.branding.id}.desktop`,
    text: renderDesktopEntry({
      name: `Install ${product}`,
      comment: `Install ${product} on this computer`,
      exec: 'sudo -E calamares',
      icon: 'calamares',
      terminal: false,
    }),
  };
}

/** The helper application's launcher, when the config gives it one. */
export function helperLauncher(config: BuildConfig): Launcher | null {
  const h = config.helper;
  if (!h?.launcher) return null;
  return {
    file: `${h.name}.desktop`,
    text: renderDesktopEntry({
      name: h.title,
      comment: h.comment,
      exec: h.launcher.exec,
      icon: h.launcher.icon,
      terminal: h.launcher.terminal,
    }),
  };
}
