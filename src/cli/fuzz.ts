// `memhp fuzz`: random machines and operation sequences against the model's
// invariants (src/fuzz/). Exit 0 when nothing was found, 1 when something was
// (each finding is shrunk and saved as a regression scenario), 2 on bad usage.

import { Option, type Command } from "commander";
import { modelBugs, runCampaign } from "../fuzz/campaign.js";
import {
  DEFAULT_SAVE_DIR,
  formatFigures,
  rejudge,
  runOracleCampaign,
  type OracleCampaignResult,
} from "../fuzz/oracle-campaign.js";
import { rfcV2Accepted } from "../fuzz/generate-rfc.js";
import { DEFAULT_KERNEL_VERSION, KERNEL_VERSIONS, type KernelVersion } from "../kernel/linux_version.js";
import type { OracleKernel } from "../oracle/cache.js";
import { oracleUnavailable } from "../oracle/run.js";
import type { Arch } from "../scenario/ast.js";
import { badValue, EXIT_DIFF, EXIT_USAGE, ExitCode } from "./io.js";
import { archSetup } from "../arch/index.js";

function intOption(name: string, text: string, min: number): number {
  const n = /^(0x[0-9a-f]+|\d+)$/i.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < min) throw badValue(name, text, `a whole number >= ${min}`);
  return n;
}

interface FuzzOpts {
  steps: string;
  seed: string;
  arch?: string;
  ops: string;
  caseSeed?: string;
  shrink: boolean;
  save?: string | false;
  out?: string;
  oracle?: boolean;
  kernel: OracleKernel;
  release?: KernelVersion;
  cpu?: string;
  count: string;
  statements: string;
  shrinkBudget: string;
  quiet?: boolean;
  traces?: string;
  rejudge?: string;
  reportUncovered?: boolean;
}

/**
 * The problems that fail the run: every one not listed in docs/divergences.md, or,
 * with --report-uncovered, only the kernel crashes and model failures among them
 * (uncovered differences are then printed, not failed on).
 */
function failing(r: OracleCampaignResult, opts: FuzzOpts): number {
  let n = 0;
  for (const e of r.problems.values())
    if (
      !e.listedAs &&
      e.problem.kind !== "no-answer" &&
      !(opts.reportUncovered && e.problem.kind === "uncovered")
    )
      n++;
  return n;
}

function printProblems(r: OracleCampaignResult): void {
  for (const [sig, e] of r.problems)
    process.stdout.write(
      `  ${e.listedAs ? `listed (${e.listedAs})` : e.problem.kind === "no-answer" ? "reported" : "NOT LISTED"}: ${sig} — ${e.names.length} scenario(s), first ${e.names[0]}\n`,
    );
}

/** `memhp fuzz --oracle`: random scenarios on the real kernel and the model. */
async function oracleAction(opts: FuzzOpts): Promise<void> {
  if (opts.rejudge !== undefined) {
    const r = rejudge(opts.rejudge);
    process.stdout.write(`${formatFigures(r.figures, `memhp fuzz --oracle --rejudge ${opts.rejudge}`)}\n`);
    printProblems(r);
    if (failing(r, opts)) throw new ExitCode(EXIT_DIFF);
    return;
  }
  const count = intOption("--count", opts.count, 1);
  const seed = intOption("--seed", opts.seed, 0);
  const statements = intOption("--statements", opts.statements, 1);
  const shrinkBudget = intOption("--shrink-budget", opts.shrinkBudget, 0);
  if (opts.arch !== undefined && opts.arch !== "x86_64" && opts.arch !== "arm64")
    throw badValue("--arch", opts.arch, "x86_64, arm64");
  const arch = opts.arch as Arch | undefined;
  const cpus = archSetup("arm64").cpuModels;
  if (opts.cpu !== undefined && !cpus.includes(opts.cpu)) throw badValue("--cpu", opts.cpu, cpus.join(", "));
  for (const a of arch ? [arch] : (["x86_64", "arm64"] as const)) {
    const why = oracleUnavailable(a, { kernel: opts.kernel, version: opts.release });
    if (why) {
      process.stderr.write(`memhp fuzz --oracle: ${why}\n`);
      throw new ExitCode(EXIT_USAGE);
    }
  }
  const err = process.stderr;
  const saveDir = opts.save === false ? false : (opts.save ?? DEFAULT_SAVE_DIR);
  err.write(
    `memhp fuzz --oracle: ${count} scenarios, seed ${seed}, kernel ${opts.kernel}` +
      ` ${opts.release ?? DEFAULT_KERNEL_VERSION}` +
      (opts.kernel === "patched" ? ` (RFC calls in ${rfcV2Accepted() ? "v2" : "v1"} form)` : "") +
      (arch ? `, ${arch} only` : ", x86_64 and arm64 in turn") +
      "\n",
  );
  const t0 = Date.now();
  const r = await runOracleCampaign({
    count,
    seed,
    arch,
    kernel: opts.kernel,
    version: opts.release,
    cpu: opts.cpu,
    statements,
    saveDir,
    shrink: opts.shrink,
    shrinkBudget,
    traceDir: opts.traces,
    onScenario: (o, i) => {
      if (opts.quiet) return;
      const v = o.verdict;
      err.write(
        `  ${String(i).padStart(4)} ${o.name.padEnd(24)} ${v.agreeing}/${v.compared} agree, ${v.covered} covered, ` +
          `${v.uncovered} not covered` +
          (o.kernel.outcome !== "ok" ? `, kernel: ${o.kernel.outcome}` : "") +
          (o.model.failure ? `, model: ${o.model.failure.kind}` : "") +
          (o.problems.some((p) => p.kind === "warning")
            ? ", kernel warned"
            : o.kernel.warnings.length
              ? ", kernel warned as the model predicted"
              : "") +
          ` (${Math.round((Date.now() - t0) / 1000)} s)\n`,
      );
    },
    onFinding: (f) => {
      process.stdout.write(
        `FOUND ${f.problem.signature}\n  in ${f.found.name}: ${f.problem.message.split("\n").slice(0, 3).join("\n    ")}\n` +
          `  minimal: ${f.minimal.split("\n").filter(Boolean).length - 1} lines after machine (shrunk in ${f.replays} oracle runs)` +
          (f.file ? `, saved as ${f.file} with ${f.traceFile}` : "") +
          "\n",
      );
    },
  });
  const secs = ((Date.now() - t0) / 1000).toFixed(0);
  process.stdout.write(`${formatFigures(r.figures)}\n  ${secs} s, seed ${seed}\n`);
  printProblems(r);
  if (failing(r, opts)) throw new ExitCode(EXIT_DIFF);
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
    .option(
      "--save <dir>",
      `--oracle: where minimal scenarios and their kernel traces go (default ${DEFAULT_SAVE_DIR})`,
    )
    .option("--no-save", "do not write regression files (or, with --oracle, minimal scenarios)")
    .option("--out <dir>", "where regression files go (default scenarios/regressions)")
    .option(
      "--oracle",
      "random scenarios on the real kernel under QEMU and on the model, judged as memhp corpus judges",
    )
    .addOption(
      new Option(
        "--kernel <which>",
        "--oracle: stock (Debian's kernel) or patched (the RFC's calls on linux-patches/)",
      )
        .choices(["stock", "patched"])
        .default("stock"),
    )
    .addOption(
      new Option(
        "--release <version>",
        `--oracle: the Linux release of the scenarios' machines (machine ... kernel=), default ${DEFAULT_KERNEL_VERSION}: Debian's kernel of it, or with --kernel patched the series' build of it`,
      ).choices([...KERNEL_VERSIONS]),
    )
    .option(
      "--cpu <model>",
      "--oracle: the arm64 machines' CPU (machine ... cpu=; neoverse-v3: BBML2_NOABORT on 7.2)",
    )
    .option("--count <n>", "--oracle: scenarios to run", "10")
    .option("--statements <n>", "--oracle: statements per scenario", "14")
    .option("--shrink-budget <n>", "--oracle: oracle runs one shrink may take", "30")
    .option("-q, --quiet", "--oracle: no line per scenario on stderr")
    .option(
      "--report-uncovered",
      "--oracle: print differences docs/divergences.md does not list, but fail only on crashes and model failures",
    )
    .option("--traces <dir>", "--oracle: also keep every scenario with its kernel trace here")
    .option(
      "--rejudge <dir>",
      "--oracle: judge the runs kept by --traces again (model and docs/divergences.md as now; no QEMU)",
    )
    .addHelpText(
      "after",
      `
Each step is one scenario statement (a host event, a sysfs write, a driver call,
a workload run ...); after every step the model's invariants must hold and no
exception may escape. A failure is shrunk to a short scenario, saved as
scenarios/regressions/<arch>-<hash>.mhp and printed with its case seed.

With --oracle, each case is a random valid scenario file (DIMMs, virtio-mem,
online types, offlines, auto_online_blocks, reads, ptdump, bad writes; with
--kernel patched the RFC's calls instead) run on the real kernel under QEMU and
on the model; every difference must be covered by docs/divergences.md. A
disagreement is shrunk to a minimal scenario (the kernel in the loop) and saved
with the kernel's trace beside it. Exit 1 when a difference, a kernel crash or a
model failure is not listed there. The last campaign's figures and findings:
docs/divergences.md, "Random scenarios on the real kernel".

Examples:
  memhp fuzz --steps 100000 --seed 7
  memhp fuzz --arch arm64 --steps 20000
  memhp fuzz --case-seed 3735928559       rerun one case
  memhp fuzz --oracle --count 20 --seed 5
  memhp fuzz --oracle --kernel patched --arch arm64 --count 10
  memhp fuzz --oracle --kernel patched --release 7.2 --count 10
  memhp fuzz --oracle --release 7.2 --arch arm64 --cpu neoverse-v3 --count 10
  memhp fuzz --oracle --count 100 --traces runs/ && memhp fuzz --oracle --rejudge runs/`,
    )
    .action(async (opts: FuzzOpts) => {
      if (opts.oracle) return oracleAction(opts);
      const steps = intOption("--steps", opts.steps, 1);
      const seed = intOption("--seed", opts.seed, 0);
      const opsPerCase = intOption("--ops", opts.ops, 1);
      const caseSeed = opts.caseSeed === undefined ? undefined : intOption("--case-seed", opts.caseSeed, 0);
      if (opts.arch !== undefined && opts.arch !== "x86_64" && opts.arch !== "arm64")
        throw badValue("--arch", opts.arch, "x86_64, arm64");
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
        saveDir: opts.save === false ? false : opts.out,
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
