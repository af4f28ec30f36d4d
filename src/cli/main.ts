// The memhp command line: one subcommand per job, built on commander.

import { Command, CommanderError } from "commander";
import { EXIT_OK, EXIT_USAGE, ExitCode, UsageError } from "./io.js";
import { registerRun } from "./run.js";
import { registerDiff } from "./diff.js";
import { registerCompare } from "./compare.js";
import { registerOracle } from "./oracle.js";
import { registerPtdump } from "./ptdump.js";
import { registerDemo } from "./demo.js";
import { registerBench } from "./bench.js";
import { registerCorpus } from "./corpus.js";
import { registerShell } from "./shell.js";
import { registerServe } from "./serve.js";
import { registerFuzz } from "./fuzz.js";
import { registerSnapshot } from "./snapshot.js";
import { registerExport } from "./export.js";
import { registerMount } from "./mount.js";
import { registerImport } from "./import.js";
import { MODEL_VERSION } from "../kernel/kernel.js";

export function buildProgram(): Command {
  const program = new Command();
  program
    .name("memhp")
    .description(
      "An executable model of Linux 6.1 memory hot(un)plug, held against the real kernel under QEMU.",
    )
    .version(MODEL_VERSION)
    .showHelpAfterError("(memhp COMMAND --help lists its options)")
    .exitOverride();
  registerRun(program);
  registerDiff(program);
  registerCompare(program);
  registerOracle(program);
  registerPtdump(program);
  registerDemo(program);
  registerBench(program);
  registerCorpus(program);
  registerShell(program);
  registerServe(program);
  registerFuzz(program);
  registerSnapshot(program);
  registerExport(program);
  registerMount(program);
  registerImport(program);
  program.addHelpText(
    "after",
    `
Examples:
  memhp run scenarios/examples/x86-dimm.mhp -t m.jsonl     the model's trace
  memhp oracle scenarios/examples/x86-dimm.mhp -t k.jsonl  the real kernel's trace
  memhp diff m.jsonl k.jsonl                               compare them (exit 1 on a difference)
  memhp shell                                              a root shell on a model machine
  memhp serve                                              the memory map in a browser

Every subcommand has --help; docs/cli/ has them all. Data comes out as JSON
(--json, or JSON Lines traces); colour and progress only on a terminal
(NO_COLOR=1 turns colour off).

Exit codes: 0 ok, 1 a difference or a failed check, 2 bad usage or input.`,
  );
  return program;
}

/** Run the CLI; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.exitCode === 0)
        return EXIT_OK;
      return EXIT_USAGE;
    }
    if (e instanceof UsageError) {
      process.stderr.write(`memhp: ${e.message}\n`);
      return EXIT_USAGE;
    }
    if (e instanceof ExitCode) return e.code;
    throw e;
  }
  return EXIT_OK;
}
