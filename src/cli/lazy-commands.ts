/**
 * The commands as src/cli/main.ts calls them, each loading its code when it runs (issue 11, point 7): `status` and
 * `plan` start without execa, Graphviz, pino or the build engine, which only `build`, `inspect`, `doctor`, `verify`
 * and `clean` need. tests/unit/startup-imports.test.ts checks what `status` and `plan` load.
 */
import type * as Build from './commands/build.js';
import type * as Cache from './commands/cache.js';
import type * as Clean from './commands/clean.js';
import type * as Config from './commands/config.js';
import type * as Doctor from './commands/doctor.js';
import type * as Inspect from './commands/inspect.js';
import type * as Log from './commands/log.js';
import type * as Plan from './commands/plan.js';
import type * as Shell from './commands/shell.js';
import type * as Status from './commands/status.js';

export async function runBuildCommand(...args: Parameters<typeof Build.runBuildCommand>): Promise<number> {
  return (await import('./commands/build.js')).runBuildCommand(...args);
}

export async function runCacheCommand(...args: Parameters<typeof Cache.runCacheCommand>): Promise<number> {
  return (await import('./commands/cache.js')).runCacheCommand(...args);
}

export async function runCleanCommand(...args: Parameters<typeof Clean.runCleanCommand>): Promise<number> {
  return (await import('./commands/clean.js')).runCleanCommand(...args);
}

export async function runConfigCommand(...args: Parameters<typeof Config.runConfigCommand>): Promise<number> {
  return (await import('./commands/config.js')).runConfigCommand(...args);
}

/** Prints `ailinux schema`: the config schema as users write it (src/cli/commands/schema.ts). */
export async function runSchemaCommand(io: { stdout: { write(text: string): unknown } }): Promise<number> {
  const { userConfigJsonSchema } = await import('./commands/schema.js');
  io.stdout.write(`${JSON.stringify(userConfigJsonSchema(), null, 2)}\n`);
  return 0;
}

export async function runDoctorCommand(...args: Parameters<typeof Doctor.runDoctorCommand>): Promise<number> {
  return (await import('./commands/doctor.js')).runDoctorCommand(...args);
}

export async function runInspectCommand(...args: Parameters<typeof Inspect.runInspectCommand>): Promise<number> {
  return (await import('./commands/inspect.js')).runInspectCommand(...args);
}

export async function runLogCommand(...args: Parameters<typeof Log.runLogCommand>): Promise<number> {
  return (await import('./commands/log.js')).runLogCommand(...args);
}

export async function runPlanCommand(...args: Parameters<typeof Plan.runPlanCommand>): Promise<number> {
  return (await import('./commands/plan.js')).runPlanCommand(...args);
}

export async function runShellCommand(...args: Parameters<typeof Shell.runShellCommand>): Promise<number> {
  return (await import('./commands/shell.js')).runShellCommand(...args);
}

export async function runStatusCommand(...args: Parameters<typeof Status.runStatusCommand>): Promise<number> {
  return (await import('./commands/status.js')).runStatusCommand(...args);
}
