// `memhp run FILE`: the model's trace of a scenario.

import type { Command } from "commander";
import { formatTrace } from "../scenario/trace.js";
import { InvariantError, runScenario } from "../scenario/run.js";
import { EXIT_DIFF, ExitCode, loadScenario, UsageError, writeOut } from "./io.js";

export function registerRun(program: Command): void {
  program
    .command("run")
    .description("run a scenario file on the model and print its trace (JSON Lines)")
    .argument("<file>", "scenario file (.mhp)")
    .option("-t, --trace <out>", "write the trace to a file instead of stdout")
    .option("--counts", "add the exact work counts of each statement to its record")
    .option("--check", "check every invariant after each statement (exit 1 on a violation)")
    .option("--seed <n>", "seed for every random choice", "1")
    .addHelpText(
      "after",
      `
Examples:
  memhp run scenarios/examples/x86-dimm.mhp
  memhp run scenarios/examples/x86-dimm.mhp --counts --trace model.jsonl`,
    )
    .action((file: string, opts: { trace?: string; counts?: boolean; check?: boolean; seed: string }) => {
      const sc = loadScenario(file);
      const seed = Number(opts.seed);
      if (!Number.isSafeInteger(seed)) throw new UsageError(`--seed: not an integer: ${opts.seed}`);
      try {
        const trace = runScenario(sc, { counts: opts.counts, checkInvariants: opts.check, seed });
        writeOut(formatTrace(trace), opts.trace);
      } catch (e) {
        if (e instanceof InvariantError) {
          process.stderr.write(`${file}:${e.message}\n`);
          throw new ExitCode(EXIT_DIFF);
        }
        throw e;
      }
    });
}
