/** The twelve phases of an AILinux build (issue 3, after the original build script); each step names its phase. */
export const PHASES: Readonly<Record<number, string>> = {
  1: 'preflight',
  2: 'bootstrap',
  3: 'base configuration',
  4: 'kernel and live system',
  5: 'desktop',
  6: 'installer',
  7: 'AI helper and branding',
  8: 'live user',
  9: 'chroot cleanup',
  10: 'SquashFS',
  11: 'bootloaders',
  12: 'ISO, checksums and report',
};

/** "3 base configuration", or null for a step without a phase. */
export function phaseLabel(phase: number | undefined): string | null {
  if (phase === undefined) return null;
  return `${phase} ${PHASES[phase] ?? '?'}`;
}
