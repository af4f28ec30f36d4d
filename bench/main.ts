// `npm run bench`: see bench/README.md.
import { arm64Cycle, bigMachine, invariantChecks, singleBlockCycle, x86VirtioMem } from "./scale.js";

const [what, gib] = process.argv.slice(2);
const size = +gib * 2 ** 30;
const out =
  what === "arm64"
    ? [arm64Cycle(size)]
    : what === "x86"
      ? [x86VirtioMem(size)]
      : (() => {
          const big = bigMachine(size);
          return [singleBlockCycle(big, +(process.env.CYCLES ?? 20)), ...invariantChecks(big)];
        })();
for (const r of out) console.log(JSON.stringify(r));
console.log("maxRSS MiB", Math.round(process.resourceUsage().maxRSS / 1024));
