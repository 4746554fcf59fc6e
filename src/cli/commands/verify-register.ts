/**
 * The `verify` command's flags, apart from its code: the CLI registers it at start-up, and the verifier (execa, the
 * ISO readers, qemu) is loaded only when the command runs, so `status` and `plan` start without it.
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { CliIO } from '../io.js';
import type { VerifyCommandOptions } from './verify.js';

function positiveInt(what: string, max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > max)
      throw new InvalidArgumentError(`${what}: a whole number from 1 to ${max}`);
    return Number(value);
  };
}

function oneLine(value: string): string {
  if (value === '' || /[\n\r\0]/.test(value)) throw new InvalidArgumentError('one non-empty line of text');
  return value;
}

export function registerVerifyCommand(program: Command, io: CliIO, setExit: (code: number) => void): void {
  program
    .command('verify')
    .description(
      'check an ISO without mounting it: El Torito BIOS/UEFI, MBR/GPT, kernel/initrd/squashfs where GRUB points, boot=, checksum; --boot also boots it in qemu',
    )
    .argument('<iso>', 'the ISO image')
    .option(
      '--boot',
      'also boot it in qemu (BIOS; with --uefi also UEFI) and wait for the marker on the serial console',
    )
    .option('--uefi', 'with --boot, also boot with UEFI (OVMF)')
    .option('--no-uefi', 'a BIOS-only ISO: skip the UEFI checks and boot (an entry that is there is only noted)')
    .option('--no-bios', 'a UEFI-only ISO: do not check or boot BIOS')
    .option('--marker <text>', 'text on the serial console that proves the system came up', oneLine, 'login:')
    .option('--timeout <sec>', 'seconds to wait for the marker, per boot', positiveInt('--timeout', 3600), 300)
    .option('--memory <mb>', 'memory of the qemu machine, MiB', positiveInt('--memory', 16384), 1024)
    .option(
      '--screenshots <dir>',
      'with --boot, save PNG screenshots of each boot in this directory: the boot menu and the screen the boot ends on (QMP screendump)',
    )
    .option('--require-checksum', 'fail when there is no <iso>.sha256 or <iso>.md5 beside the ISO')
    .option('--json', 'print the result as JSON')
    .action(async (iso: string, opts: VerifyCommandOptions) =>
      setExit(await (await import('./verify.js')).runVerifyCommand(iso, opts, io)),
    );
}
