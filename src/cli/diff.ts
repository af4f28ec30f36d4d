// `memhp diff A B`: compare two traces with the contract's rules.

import type { Command } from "commander";
import { diffTraces, formatDifferences, readTrace } from "../scenario/diff.js";
import { EXIT_DIFF, ExitCode, paint, readText, UsageError, useColour } from "./io.js";

const RED = 31;
const GREEN = 32;
const BOLD = 1;

export function registerDiff(program: Command): void {
  program
    .command("diff")
    .description("compare two traces; exit 0 when they agree, 1 when they differ")
    .argument("<a>", "first trace (JSON Lines)")
    .argument("<b>", "second trace (JSON Lines)")
    .option("-s, --scenario <file>", "the scenario file, to print each difference with its line")
    .option("--json", "print the differences as JSON (an array; empty when the traces agree)")
    .addHelpText(
      "after",
      `
Examples:
  memhp run scenarios/oracle/x86-dimm-add-del.mhp --trace model.jsonl
  memhp diff model.jsonl scenarios/oracle/x86-dimm-add-del.linux-x86_64.jsonl \\
      --scenario scenarios/oracle/x86-dimm-add-del.mhp
  memhp diff model.jsonl kernel.jsonl --json`,
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
      const colour = useColour();
      if (opts.json) process.stdout.write(JSON.stringify(diffs, null, 2) + "\n");
      else if (diffs.length) {
        const text = formatDifferences(diffs, scenarioText).replace(/^(line \d+:.*)$/gm, (l) =>
          paint(BOLD, l, colour),
        );
        process.stdout.write(
          text + paint(RED, `${diffs.length} difference${diffs.length === 1 ? "" : "s"}`, colour) + "\n",
        );
      } else process.stdout.write(paint(GREEN, "traces agree", colour) + "\n");
      if (diffs.length) throw new ExitCode(EXIT_DIFF);
    });
}
