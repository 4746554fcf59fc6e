/** Builds with the fake host tools (tests/fixtures/bin), as the integration tier does: ailinux's own cost alone. */
import { fakeToolsEnv } from '../../tests/helpers/cli.js';
import type { BenchContext } from './run.js';

/** The CLI's environment for a fake-tools build: no delay in the fakes, one fixed date. */
export function fakeEnv(ctx: Pick<BenchContext, 'root'>, settings: Record<string, string> = {}): NodeJS.ProcessEnv {
  return fakeToolsEnv(ctx.root, { SOURCE_DATE_EPOCH: '1700000000', FAKE_TOOL_DELAY: '0', ...settings });
}
