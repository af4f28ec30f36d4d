#!/usr/bin/env node
// The memhp command: the compiled CLI is built by `npm ci` (the `prepare` script).
import { main } from "../dist/src/cli/main.js";

process.exitCode = await main(process.argv.slice(2));
