// Sizes and counts of scenario files: the syntax lives in src/lib/size.ts, which
// the model (src/kernel/calls.ts) shares; re-exported here for the tools.

export { SizeError, U64_MAX, formatSize, parseCount, parseSize, parseSizeBig } from "../lib/size.js";
