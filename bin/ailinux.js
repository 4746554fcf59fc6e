#!/usr/bin/env node
// The CLI entry: the one place that sets the process exit code.
import { run } from '../dist/src/cli/entry.js';

process.exitCode = await run(process.argv.slice(2));
