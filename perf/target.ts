// One benchmark target in its own process (its resident memory is its own):
//   node dist/perf/target.js TARGET SIZE_GIB [DIST_ROOT]
// prints the TargetResult list as JSON on its last line.

import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadModel } from "./model.js";
import {
  arm64Cycle,
  bigMachine,
  invariantChecks,
  singleBlockCycle,
  x86VirtioMem,
  type TargetResult,
} from "./scale.js";

const GiB = 1024 ** 3;
const here = path.dirname(fileURLToPath(import.meta.url));

async function main(): Promise<void> {
  const [target, gib, root] = process.argv.slice(2);
  const api = await loadModel(root ?? path.join(here, ".."));
  const size = Number(gib) * GiB;
  let out: TargetResult[];
  switch (target) {
    case "arm64-cycle":
      out = [arm64Cycle(api, size)];
      break;
    case "x86-vmem":
      out = [x86VirtioMem(api, size)];
      break;
    case "block-cycle":
      out = [singleBlockCycle(bigMachine(api, size), 200)];
      break;
    case "checks":
      out = invariantChecks(bigMachine(api, size));
      break;
    default:
      throw new Error(`unknown target ${target}`);
  }
  const rssMiB = Math.round(process.resourceUsage().maxRSS / 1024);
  console.log(JSON.stringify({ results: out, rssMiB }));
}

await main();
