// `memhp ptdump FILE`: the model's kernel page tables after a scenario, as
// /sys/kernel/debug/kernel_page_tables prints them, or the runs of one range.

import type { Command } from "commander";
import { ptdumpRange } from "../mm/ptdump.js";
import { runScenarioKernel } from "../scenario/run.js";
import { parseSizeBig } from "../scenario/size.js";
import { loadScenario, UsageError } from "./io.js";

export function registerPtdump(program: Command): void {
  program
    .command("ptdump")
    .description("run a scenario on the model, then print its kernel page tables (ptdump format)")
    .argument("<file>", "scenario file (.mhp)")
    .option("--range <start:size>", "only the linear-map and vmemmap runs of a physical range, as JSON")
    .option("--seed <n>", "seed for every random choice", "1")
    .addHelpText(
      "after",
      `
Examples:
  memhp ptdump scenarios/examples/arm64-dimm.mhp
  memhp ptdump scenarios/examples/arm64-dimm.mhp --range 0x80000000:1G`,
    )
    .action((file: string, opts: { range?: string; seed: string }) => {
      const sc = loadScenario(file);
      const k = runScenarioKernel(sc, Number(opts.seed));
      if (opts.range) {
        const m = /^([^:]+):(.+)$/.exec(opts.range);
        if (!m) throw new UsageError(`--range: expected START:SIZE, got ${opts.range}`);
        let start: bigint, size: bigint;
        try {
          start = parseSizeBig(m[1]);
          size = parseSizeBig(m[2]);
        } catch (e) {
          throw new UsageError(`--range: ${(e as Error).message}`);
        }
        process.stdout.write(JSON.stringify(ptdumpRange(k.arch, start, size), null, 2) + "\n");
      } else {
        process.stdout.write(k.arch.kernelPageTablesShow());
      }
    });
}
