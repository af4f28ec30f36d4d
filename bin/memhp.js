#!/usr/bin/env node
// The memhp command: the compiled CLI is built by `npm ci` (the `prepare` script).
import { main } from "../dist/src/cli/main.js";

// `memhp ... | head`: a closed pipe ends the output quietly, as for any Unix tool.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (e) => {
    if (e.code === "EPIPE") process.exit(0);
    throw e;
  });
}

process.exitCode = await main(process.argv.slice(2));
