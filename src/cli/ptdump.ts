// `memhp ptdump FILE`: the model's kernel page tables after a scenario, as
// /sys/kernel/debug/kernel_page_tables prints them, or as JSON: the leaves over
// the whole physical address space or one range (the `ptdump` statement).

import type { Command } from "commander";
import { ptdumpRange } from "../mm/ptdump.js";
import { runScenarioKernel } from "../scenario/run.js";
import { parseSizeBig } from "../scenario/size.js";
import { loadScenario, parseSeed, UsageError } from "./io.js";

function parseRange(text: string): [bigint, bigint] {
  const m = /^([^:]+):(.+)$/.exec(text);
  if (!m) throw new UsageError(`--range: expected START:SIZE, got ${text}`);
  try {
    return [parseSizeBig(m[1]), parseSizeBig(m[2])];
  } catch (e) {
    throw new UsageError(`--range: ${(e as Error).message}`);
  }
}

export function registerPtdump(program: Command): void {
  program
    .command("ptdump")
    .description("run a scenario on the model, then print its kernel page tables (ptdump format, or JSON)")
    .argument("<file>", "scenario file (.mhp)")
    .option("--range <start:size>", "only the linear-map and vmemmap runs of a physical range (JSON)")
    .option("--json", "the linear-map and vmemmap runs of all physical memory as JSON")
    .option("--seed <n>", "seed for every random choice", parseSeed, 1)
    .addHelpText(
      "after",
      `
The JSON is the \`ptdump START SIZE\` statement's record: {linear, vmemmap,
tablePages}, each run {va, size, level, pa | inRange} (docs/scenario-format.md).

Examples:
  memhp ptdump scenarios/oracle/arm64-dimm-add-del.mhp
  memhp ptdump scenarios/oracle/arm64-dimm-add-del.mhp --range 0x80000000:1G
  memhp ptdump scenarios/examples/x86-dimm.mhp --json`,
    )
    .action((file: string, opts: { range?: string; json?: boolean; seed: number }) => {
      const sc = loadScenario(file);
      const range = opts.range === undefined ? undefined : parseRange(opts.range);
      const k = runScenarioKernel(sc, opts.seed);
      if (range) {
        process.stdout.write(JSON.stringify(ptdumpRange(k.arch, range[0], range[1]), null, 2) + "\n");
      } else if (opts.json) {
        process.stdout.write(JSON.stringify(ptdumpRange(k.arch, 0n, BigInt(k.maxPhysAddr)), null, 2) + "\n");
      } else {
        process.stdout.write(k.arch.kernelPageTablesShow());
      }
    });
}
