/** /etc/calamares/settings.conf: which pages Calamares shows and which jobs it runs, in order. */
import type { BuildConfig } from '../../config/schema.js';
import { GENERATED } from './yaml.js';

export function renderSettingsConf(config: BuildConfig): string {
  const i = config.installer;
  const block = (kind: 'show' | 'exec', modules: readonly string[]) => [
    `- ${kind}:`,
    ...modules.map((m) => `  - ${m}`),
  ];
  return [
    GENERATED,
    '---',
    'modules-search: [ local ]',
    '',
    'sequence:',
    ...block('show', i.showSequence),
    ...block('exec', i.execSequence),
    ...(i.finishedSequence.length > 0 ? block('show', i.finishedSequence) : []),
    '',
    `branding: ${config.branding.id}`,
    'prompt-install: true',
    'dont-chroot: false',
    'oem-setup: false',
    'disable-cancel: false',
    'disable-cancel-during-exec: false',
    'hide-back-and-next-during-exec: true',
    'quit-at-end: false',
    '',
  ].join('\n');
}
