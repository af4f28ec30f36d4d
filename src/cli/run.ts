// `memhp run FILE...`: the model's trace of each scenario, for people on a
// terminal and as JSON Lines on a pipe (or with --json, or into --trace FILE).

import type { Command } from "commander";
import { formatTrace } from "../scenario/trace.js";
import { InvariantError, runScenario } from "../scenario/run.js";
import { KernelBug } from "../kernel/bug.js";
import type { Scenario } from "../scenario/ast.js";
import {
  EXIT_DIFF,
  EXIT_OK,
  ExitCode,
  loadScenarioText,
  parseSeed,
  Progress,
  UsageError,
  useColour,
  writeOut,
} from "./io.js";
import { formatRunHuman } from "./run-format.js";

interface RunOpts {
  trace?: string;
  json?: boolean;
  counts?: boolean;
  check?: boolean;
  seed: number;
  quiet?: boolean;
}

export function registerRun(program: Command): void {
  program
    .command("run")
    .description("run scenario files on the model and print what each statement did (or the trace)")
    .argument("<file...>", "scenario files (.mhp); - reads one from stdin")
    .option("-t, --trace <out>", "write the trace (JSON Lines) to a file instead of stdout (one scenario)")
    .option("--json", "print the trace (JSON Lines) even on a terminal")
    .option("--counts", "add the exact work counts of each statement to its record")
    .option("--check", "check every invariant after each statement (exit 1 on a violation)")
    .option("--seed <n>", "seed for every random choice", parseSeed, 1)
    .option("-q, --quiet", "no progress on stderr")
    .addHelpText(
      "after",
      `
On a terminal each statement is printed as written, with what it did: the
file's contents as the kernel prints them, the blocks added or removed, or the
errno and why. On a pipe, with --json or with --trace, the output is the
trace: one JSON object per line, a header first (docs/scenario-format.md,
"Trace"); several files give one trace after another, each with its header.
All files are parsed before any runs: a malformed one runs nothing (exit 2).

Examples:
  memhp run scenarios/examples/x86-dimm.mhp
  memhp run scenarios/examples/x86-dimm.mhp --counts --trace model.jsonl
  memhp run scenarios/examples/*.mhp --check
  echo 'machine x86_64 mem=1G maxmem=2G
  boot
  read /proc/meminfo MemTotal' | memhp run -`,
    )
    .action((files: string[], opts: RunOpts) => {
      if (opts.trace !== undefined && files.length > 1)
        throw new UsageError(`--trace: one scenario per trace file (${files.length} given)`);
      if (files.filter((f) => f === "-").length > 1) throw new UsageError("-: stdin can be read once");
      // Parse everything first: a mistake in the last file runs nothing.
      const loaded = files.map((f) => ({ file: f === "-" ? "<stdin>" : f, ...loadScenarioText(f) }));
      const human = !opts.json && opts.trace === undefined && Boolean(process.stdout.isTTY);
      let code = EXIT_OK;
      for (const { file, scenario, text } of loaded) {
        const c = runOne(file, scenario, text, opts, human);
        code = Math.max(code, c);
      }
      if (code !== EXIT_OK) throw new ExitCode(code);
    });
}

function runOne(file: string, sc: Scenario, text: string, opts: RunOpts, human: boolean): number {
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
    if (human) process.stdout.write(formatRunHuman(file, trace, text.split("\n"), useColour()));
    else writeOut(formatTrace(trace), opts.trace);
    const last = trace.records.at(-1);
    if (last?.crash) {
      // The real kernel halts here too: the trace ends with the crash record.
      process.stderr.write(`${file}:${last.line}: the kernel would BUG() here: ${last.crash.message}\n`);
      return EXIT_DIFF;
    }
    return EXIT_OK;
  } catch (e) {
    progress.done();
    if (e instanceof InvariantError) {
      process.stderr.write(`${file}:${e.message}\n`);
      return EXIT_DIFF;
    }
    if (e instanceof KernelBug) {
      // The real kernel halts here too: a message, not a stack trace.
      const line = sc.body[done]?.loc.line ?? "?";
      process.stderr.write(`${file}:${line}: the kernel would BUG() here: ${e.message}\n`);
      return EXIT_DIFF;
    }
    throw e;
  }
}
