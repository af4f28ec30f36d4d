// `memhp run FILE`: the model's trace of a scenario.

import type { Command } from "commander";
import { formatTrace } from "../scenario/trace.js";
import { InvariantError, runScenario } from "../scenario/run.js";
import { KernelBug } from "../kernel/bug.js";
import { EXIT_DIFF, ExitCode, loadScenario, parseSeed, Progress, writeOut } from "./io.js";

export function registerRun(program: Command): void {
  program
    .command("run")
    .description("run a scenario file on the model and print its trace (JSON Lines)")
    .argument("<file>", "scenario file (.mhp)")
    .option("-t, --trace <out>", "write the trace to a file instead of stdout")
    .option("--counts", "add the exact work counts of each statement to its record")
    .option("--check", "check every invariant after each statement (exit 1 on a violation)")
    .option("--seed <n>", "seed for every random choice", parseSeed, 1)
    .option("-q, --quiet", "no progress on stderr")
    .addHelpText(
      "after",
      `
The trace is data already: one JSON object per line, a header first
(docs/scenario-format.md, "Trace").

Examples:
  memhp run scenarios/examples/x86-dimm.mhp
  memhp run scenarios/examples/x86-dimm.mhp --counts --trace model.jsonl
  memhp run scenarios/examples/x86-dimm.mhp --check`,
    )
    .action(
      (
        file: string,
        opts: { trace?: string; counts?: boolean; check?: boolean; seed: number; quiet?: boolean },
      ) => {
        const sc = loadScenario(file);
        const progress = new Progress(`memhp run ${file}`, { quiet: opts.quiet });
        const total = sc.body.length;
        let done = 0;
        try {
          const trace = runScenario(sc, {
            counts: opts.counts,
            checkInvariants: opts.check,
            seed: opts.seed,
            crashRecords: true,
            onRecord: (rec) => progress.update(`statement ${++done}/${total} (line ${rec.line})`),
          });
          progress.done();
          writeOut(formatTrace(trace), opts.trace);
          const last = trace.records.at(-1);
          if (last?.crash) {
            // The real kernel halts here too: the trace ends with the crash record.
            process.stderr.write(
              `${file}:${last.line}: the kernel would BUG() here: ${last.crash.message}\n`,
            );
            throw new ExitCode(EXIT_DIFF);
          }
        } catch (e) {
          progress.done();
          if (e instanceof InvariantError) {
            process.stderr.write(`${file}:${e.message}\n`);
            throw new ExitCode(EXIT_DIFF);
          }
          if (e instanceof KernelBug) {
            // The real kernel halts here too: a message, not a stack trace.
            const line = sc.body[done]?.loc.line ?? "?";
            process.stderr.write(`${file}:${line}: the kernel would BUG() here: ${e.message}\n`);
            throw new ExitCode(EXIT_DIFF);
          }
          throw e;
        }
      },
    );
}
