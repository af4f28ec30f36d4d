// `memhp fuzz`: random machines and operation sequences against the model's
// invariants (src/fuzz/). Exit 0 when nothing was found, 1 when something was
// (each finding is shrunk and saved as a regression scenario), 2 on bad usage.

import type { Command } from "commander";
import { modelBugs, runCampaign } from "../fuzz/campaign.js";
import type { Arch } from "../scenario/ast.js";
import { EXIT_DIFF, ExitCode, UsageError } from "./io.js";

function intOption(name: string, text: string, min: number): number {
  if (!/^(0x[0-9a-f]+|\d+)$/i.test(text)) throw new UsageError(`${name}: not a number: ${text}`);
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < min)
    throw new UsageError(`${name}: must be an integer >= ${min}: ${text}`);
  return n;
}

interface FuzzOpts {
  steps: string;
  seed: string;
  arch?: string;
  ops: string;
  caseSeed?: string;
  shrink: boolean;
  save: boolean;
  out?: string;
}

export function registerFuzz(program: Command): void {
  program
    .command("fuzz")
    .description("run random machines and operations against every invariant of the model")
    .option("--steps <n>", "run cases until this many steps (statements) ran", "10000")
    .option("--seed <n>", "campaign seed (the same seed runs the same cases)", "1")
    .option("--arch <arch>", "only this architecture (x86_64 or arm64)")
    .option("--ops <n>", "operations drawn per case", "120")
    .option("--case-seed <n>", "run only the case with this case seed (printed with each finding)")
    .option("--no-shrink", "report failures as found, without shrinking them")
    .option("--no-save", "do not write regression files")
    .option("--out <dir>", "where regression files go (default scenarios/regressions)")
    .addHelpText(
      "after",
      `
Each step is one scenario statement (a host event, a sysfs write, a driver call,
a workload run ...); after every step the model's invariants must hold and no
exception may escape. A failure is shrunk to a short scenario, saved as
scenarios/regressions/<arch>-<hash>.mhp and printed with its case seed.

Examples:
  memhp fuzz --steps 100000 --seed 7
  memhp fuzz --arch arm64 --steps 20000
  memhp fuzz --case-seed 3735928559       rerun one case`,
    )
    .action((opts: FuzzOpts) => {
      const steps = intOption("--steps", opts.steps, 1);
      const seed = intOption("--seed", opts.seed, 0);
      const opsPerCase = intOption("--ops", opts.ops, 1);
      const caseSeed = opts.caseSeed === undefined ? undefined : intOption("--case-seed", opts.caseSeed, 0);
      if (opts.arch !== undefined && opts.arch !== "x86_64" && opts.arch !== "arm64")
        throw new UsageError(`--arch: x86_64 or arm64, not ${opts.arch}`);
      const arch = opts.arch as Arch | undefined;
      const err = process.stderr;
      err.write(
        `memhp fuzz: seed ${seed}, ${caseSeed === undefined ? `${steps} steps` : `case seed ${caseSeed}`}\n`,
      );
      const t0 = Date.now();
      let lastReport = t0;
      const result = runCampaign({
        steps,
        seed,
        arch,
        opsPerCase,
        caseSeed,
        shrink: opts.shrink,
        saveDir: opts.save ? opts.out : false,
        onProgress: (p) => {
          const now = Date.now();
          if (now - lastReport < 2000) return;
          lastReport = now;
          const rate = Math.round(p.steps / ((now - t0) / 1000));
          err.write(`  ${p.steps} steps, ${p.cases} cases, ${p.findings} found (${rate} steps/s)\n`);
        },
        onFinding: (f) => {
          process.stdout.write(
            (f.behaviour ? `KNOWN ${f.behaviour}\n` : `FOUND ${f.signature}\n`) +
              `  case ${f.caseIndex} of seed ${seed}, case seed ${f.caseSeed} (${f.machine.arch})\n` +
              `  ${f.failure.message.split("\n").slice(0, 4).join("\n  ")}\n` +
              `  reproducer: ${f.lines.length} statements (from ${f.originalSteps})` +
              (f.file ? `, saved as ${f.file}\n  run it: memhp run --check ${f.file}\n` : "\n"),
          );
        },
      });
      const secs = ((Date.now() - t0) / 1000).toFixed(1);
      process.stdout.write(
        `memhp fuzz: ${result.steps} steps in ${result.cases} cases, ${secs} s, seed ${seed}: ` +
          `${result.findings.length === 0 ? "nothing found" : `${result.findings.length} finding(s)`}` +
          (result.findings.length
            ? ` (${result.findings.length - modelBugs(result.findings).length} known kernel behaviour(s))`
            : "") +
          "\n",
      );
      // known kernel behaviours are reported, model bugs fail the run
      if (modelBugs(result.findings).length) throw new ExitCode(EXIT_DIFF);
    });
}
