/**
 * The machine's shape version, apart from the machine (machines/build-machine.ts) so that what only compares it
 * (engine/build.ts's machineVersion, which `plan` runs) does not load xstate (issue 11, point 7).
 */

/** Bumped when the machine's shape changes in a way that makes old snapshots meaningless. */
export const MACHINE_SHAPE_VERSION = 2;
