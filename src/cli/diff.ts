// `memhp diff A B`: compare two traces with the contract's rules.

import type { Command } from "commander";
import { diffTraces, formatDifferences, readTrace } from "../scenario/diff.js";
import { EXIT_DIFF, ExitCode, readText, UsageError } from "./io.js";

export function registerDiff(program: Command): void {
  program
    .command("diff")
    .description("compare two traces; exit 0 when they agree, 1 when they differ")
    .argument("<a>", "first trace (JSON Lines)")
    .argument("<b>", "second trace (JSON Lines)")
    .option("-s, --scenario <file>", "the scenario file, to print each difference with its line")
    .option("--json", "print the differences as JSON")
    .addHelpText(
      "after",
      `
Examples:
  memhp diff model.jsonl kernel.jsonl --scenario x86-dimm.mhp`,
    )
    .action((a: string, b: string, opts: { scenario?: string; json?: boolean }) => {
      const load = (f: string) => {
        try {
          return readTrace(readText(f));
        } catch (e) {
          if (e instanceof UsageError) throw e;
          throw new UsageError(`${f}: ${(e as Error).message}`);
        }
      };
      const diffs = diffTraces(load(a), load(b));
      const scenarioText = opts.scenario ? readText(opts.scenario) : undefined;
      if (opts.json) process.stdout.write(JSON.stringify(diffs, null, 2) + "\n");
      else if (diffs.length) process.stdout.write(formatDifferences(diffs, scenarioText) + "\n");
      else process.stdout.write("traces agree\n");
      if (diffs.length) throw new ExitCode(EXIT_DIFF);
    });
}
