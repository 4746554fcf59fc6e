#!/usr/bin/env node
// The CLI entry: the one place that sets the process exit code.
import { main } from '../dist/src/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
