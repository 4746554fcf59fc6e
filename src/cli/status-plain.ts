/**
 * `ailinux status` in its plain forms (src/cli/entry.ts), run as main runs it but without commander and the other
 * commands' definitions, so it starts fast (issue 11, point 7; docs/performance.md): the work dir is the -w given,
 * else the one the current directory lies in (said on stderr), else ./ailinux-build; the fix lines carry the -w the
 * user typed; an error is written and mapped to its exit code by the same code as main's.
 * tests/unit/status-plain.test.ts runs both on the same command lines and compares everything they write.
 */
import { DEFAULT_WORK_DIR } from '../runtime/paths.js';
import { runStatusCommand } from './commands/status.js';
import type { PlainStatusArgs } from './entry.js';
import type { UserFlags } from './hint.js';
import type { CliIO } from './io.js';
import { discoverWorkDir } from './work-dir-discovery.js';

export async function runPlainStatus(args: PlainStatusArgs, io: CliIO): Promise<number> {
  let flags: UserFlags = {};
  try {
    let workDir = args.workDir;
    if (workDir === undefined) {
      const found = discoverWorkDir(io.cwd);
      if (found !== null) io.stderr.write(`${found.note}\n`);
      workDir = found?.workDir ?? DEFAULT_WORK_DIR;
    }
    const workDirGiven = args.workDir !== undefined;
    flags = workDirGiven ? { workDir } : {};
    return await runStatusCommand(
      { workDir, ...(args.json ? { json: true } : {}), workDirGiven },
      { ...io, hintFlags: flags },
    );
  } catch (error) {
    return (await import('./report-error.js')).reportError(error, io, flags, false, null);
  }
}
