/** The Calamares module configs ailinux writes into /etc/calamares/modules (the rest keep the package's defaults). */
import type { BuildConfig } from '../../config/schema.js';
import { liveMedium } from '../live-medium.js';
import { GENERATED, yamlList, yamlString } from './yaml.js';

/** unpackfs: the installed system is a copy of the live squashfs, read from where the live system mounted the medium. */
export function renderUnpackfsConf(config: BuildConfig): string {
  const medium = liveMedium(config);
  return [
    GENERATED,
    '---',
    'unpack:',
    `    -   source: ${yamlString(`${medium.mountPoint}${medium.squashfs}`)}`,
    '        sourcefs: "squashfs"',
    '        destination: ""',
    '',
  ].join('\n');
}

export function renderPartitionConf(config: BuildConfig): string {
  const i = config.installer;
  return [
    GENERATED,
    '---',
    '# Calamares 3.3 reads the efi group; older releases the efiSystemPartition keys',
    'efi:',
    '    mountPoint: "/boot/efi"',
    '    recommendedSize: 300MiB',
    '    minimumSize: 32MiB',
    '    label: "EFI"',
    'efiSystemPartition: "/boot/efi"',
    'efiSystemPartitionSize: 300M',
    'efiSystemPartitionName: "EFI"',
    'userSwapChoices:',
    '    - none',
    '    - small',
    '    - suspend',
    '    - file',
    `initialSwapChoice: ${i.swap}`,
    'drawNestedPartitions: false',
    'alwaysShowPartitionLabels: true',
    'initialPartitioningChoice: none',
    `defaultFileSystemType: ${yamlString(i.filesystem)}`,
    'availableFileSystemTypes: ["ext4", "btrfs", "xfs"]',
    '',
  ].join('\n');
}

export function renderBootloaderConf(config: BuildConfig): string {
  const id = config.installer.efiBootloaderId;
  return [
    GENERATED,
    '---',
    'efiBootLoader: "grub"',
    'timeout: "5"',
    'grubInstall: "grub-install"',
    'grubMkconfig: "grub-mkconfig"',
    'grubCfg: "/boot/grub/grub.cfg"',
    'grubProbe: "grub-probe"',
    'efiBootMgr: "efibootmgr"',
    ...(id ? [`efiBootloaderId: ${yamlString(id)}`] : []),
    'installEFIFallback: true',
    '',
  ].join('\n');
}

export function renderUsersConf(config: BuildConfig): string {
  const i = config.installer;
  return [
    GENERATED,
    '---',
    'defaultGroups:',
    ...yamlList(i.userGroups, '    '),
    'autologinGroup: autologin',
    'doAutologin: false',
    ...(i.userGroups.includes('sudo') ? ['sudoersGroup: sudo'] : []),
    'setRootPassword: false',
    'doReusePassword: true',
    'passwordRequirements:',
    '    nonempty: true',
    'allowWeakPasswords: true',
    'allowWeakPasswordsDefault: false',
    `userShell: ${yamlString(config.liveUser.shell)}`,
    'hostname:',
    '    location: EtcFile',
    '    writeHostsFile: true',
    '',
  ].join('\n');
}

/** displaymanager: the display managers the image has (found in its layers, not assumed). */
export function renderDisplayManagerConf(displayManagers: readonly string[]): string {
  return [
    GENERATED,
    '---',
    'displaymanagers:',
    ...displayManagers.map((dm) => `  - ${dm}`),
    'basicSetup: false',
    'sysconfigSetup: false',
    '',
  ].join('\n');
}

/** removeuser: the live user does not survive into the installed system. */
export function renderRemoveUserConf(config: BuildConfig): string {
  return [GENERATED, '---', `username: ${yamlString(config.liveUser.name)}`, ''].join('\n');
}

/** packages: what the installed system must not keep (the live system, the installer). */
export function renderPackagesConf(config: BuildConfig): string {
  const remove = config.installer.removePackages;
  return [
    GENERATED,
    '---',
    'backend: apt',
    'update_db: false',
    'update_system: false',
    ...(remove.length > 0 ? ['operations:', '  - remove:', ...yamlList(remove, '      ')] : ['operations: []']),
    '',
  ].join('\n');
}

/** Every module config, by file name under /etc/calamares/modules. */
export function renderModuleConfs(config: BuildConfig, displayManagers: readonly string[]): Record<string, string> {
  return {
    'bootloader.conf': renderBootloaderConf(config),
    'displaymanager.conf': renderDisplayManagerConf(displayManagers),
    'packages.conf': renderPackagesConf(config),
    'partition.conf': renderPartitionConf(config),
    'removeuser.conf': renderRemoveUserConf(config),
    'unpackfs.conf': renderUnpackfsConf(config),
    'users.conf': renderUsersConf(config),
  };
}
