// `npm run bench`: see bench/README.md.
import { arm64Cycle, x86VirtioMem } from "./scale.js";

const [what, gib] = process.argv.slice(2);
const r = what === "arm64" ? arm64Cycle(+gib * 2 ** 30) : x86VirtioMem(+gib * 2 ** 30);
console.log(JSON.stringify(r), "maxRSS MiB", Math.round(process.resourceUsage().maxRSS / 1024));
