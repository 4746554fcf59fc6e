// Makes the namespace it runs in a read-only host with only the given dirs writable, as a build's sandbox does
// (src/runtime/sandbox.ts, compiled in dist/): scripts/sandboxed-test.sh runs it under unshare before the tests.
// Usage: node scripts/test-sandbox.mjs TMPDIR [WRITABLE_DIR]...
import { ExecaRunner } from '../dist/src/runtime/execa-runner.js';
import { enterSandbox } from '../dist/src/runtime/sandbox.js';

const [tmpDir, ...others] = process.argv.slice(2);
if (!tmpDir) throw new Error('usage: node scripts/test-sandbox.mjs TMPDIR [WRITABLE_DIR]...');
const report = await enterSandbox({ writable: [tmpDir, ...others], tmpDir, runner: new ExecaRunner() });
for (const left of report.leftAlone) console.error(`test sandbox: could not make read-only, left as it was: ${left}`);
console.error(
  `test sandbox: ${report.readOnly} mounts read-only; writable: ${report.writable.join(', ')}; TMPDIR ${tmpDir}`,
);
