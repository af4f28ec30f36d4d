// `memhp bench`: predicted latency of each power-down/power-up strategy, phase by
// phase, from the model's exact work counts and the calibration profiles
// (src/cost/, docs/cost-model.md), plus the virtio-mem size sweep.

import { writeFileSync } from "node:fs";
import os from "node:os";
import type { Command } from "commander";
import {
  BENCH_SCENARIOS,
  DEFAULT_SWEEP_SIZES,
  DEMO_MACHINE,
  runBench,
  type BenchReport,
  type BenchScenario,
} from "../cost/bench.js";
import { strategiesSvg, sweepSvg } from "../cost/chart.js";
import { formatBench } from "../cost/format.js";
import {
  BUILTIN_PROFILES,
  ProfileError,
  loadProfile,
  missingConstants,
  type CostProfile,
} from "../cost/profile.js";
import { STRATEGY_KINDS, isStrategyKind, type StrategyKind } from "../drivers/memory/strategies.js";
import { parseSize } from "../scenario/size.js";
import { oracleUnavailable } from "../oracle/run.js";
import {
  countOnModel,
  formatValidation,
  measureOnOracle,
  validate,
  type ValidationReport,
} from "../cost/validate.js";
import { profileForArch } from "../cost/demo-times.js";
import { formatRfcValidation, measureRfcOnKernel, predictRfcCycle } from "../cost/validate-rfc.js";
import {
  POWER_KINDS,
  formatPowerValidation,
  measurePowerOnKernel,
  powerRows,
  predictPowerCycles,
  predictPowerSequence,
  type PowerMeasurementRun,
  type PowerRow,
} from "../cost/validate-power.js";
import { Progress, UsageError, badValue, parseSeed } from "./io.js";

interface BenchCliOptions {
  profile: string;
  strategy: string;
  scenario: string;
  cycles: string;
  seed: number;
  sweep: string | false;
  sweepHeapLimit?: string;
  quick?: boolean;
  json?: boolean;
  svg: string | false;
  quiet?: boolean;
  validate?: string;
  validateRfc?: string;
  validatePower?: string;
  reps: string;
}

const list = (s: string): string[] =>
  s
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean);

function sizes(s: string, what: string): number[] {
  return list(s).map((t) => {
    let n: number;
    try {
      n = parseSize(t);
    } catch (e) {
      throw new UsageError(`${what}: ${(e as Error).message}`);
    }
    if (n <= 0 || n % (128 * 2 ** 20)) throw badValue(what, t, "sizes that are multiples of 128M");
    return n;
  });
}

/** Parse the options into what runBench() needs (exported for tests). */
export function benchPlan(opts: BenchCliOptions): {
  profiles: CostProfile[];
  strategies: StrategyKind[];
  scenarios: BenchScenario[];
  cycles: number;
  sweepSizes: number[];
  heapLimit: number;
} {
  let profiles: CostProfile[];
  try {
    profiles = list(opts.profile).map((p) => loadProfile(p));
  } catch (e) {
    if (e instanceof ProfileError) throw new UsageError(e.message);
    throw e;
  }
  const strategies = list(opts.strategy);
  for (const s of strategies)
    if (!isStrategyKind(s))
      throw badValue("--strategy", s, `a comma-separated list of ${STRATEGY_KINDS.join(", ")}`);
  const scenarios = list(opts.scenario).map((s) => {
    const sc = BENCH_SCENARIOS[s];
    if (!sc) throw badValue("--scenario", s, Object.keys(BENCH_SCENARIOS).join(", "));
    return sc;
  });
  let cycles = Number(opts.cycles);
  if (!Number.isInteger(cycles) || cycles < 1)
    throw badValue("--cycles", String(opts.cycles), "a whole number >= 1");
  let sweepSizes = opts.sweep === false ? [] : sizes(opts.sweep, "--sweep");
  if (opts.quick) {
    cycles = 1;
    sweepSizes = sweepSizes.filter((s) => s <= 4 * 2 ** 30);
  }
  const heapLimit =
    opts.sweepHeapLimit !== undefined
      ? sizes(opts.sweepHeapLimit, "--sweep-heap-limit")[0]
      : os.totalmem() * 0.6;
  return { profiles, strategies: strategies as StrategyKind[], scenarios, cycles, sweepSizes, heapLimit };
}

function bar(done: number, total: number): string {
  const w = 24;
  const fill = total ? Math.round((done / total) * w) : w;
  return `[${"#".repeat(fill)}${".".repeat(w - fill)}] ${done}/${total}`;
}

export async function writeCharts(r: BenchReport, prefix: string): Promise<string[]> {
  const written: string[] = [];
  const s = await strategiesSvg(r);
  if (s) {
    writeFileSync(`${prefix}-strategies.svg`, s);
    written.push(`${prefix}-strategies.svg`);
  }
  const w = await sweepSvg(r);
  if (w) {
    writeFileSync(`${prefix}-sweep.svg`, w);
    written.push(`${prefix}-sweep.svg`);
  }
  return written;
}

export function registerBench(program: Command): void {
  program
    .command("bench")
    .description(
      "predicted latency of each power-down/power-up strategy per phase, and the virtio-mem size sweep",
    )
    .option("--profile <list>", `calibration profiles (names or .json files)`, BUILTIN_PROFILES.join(","))
    .option("--strategy <list>", `strategies, from ${STRATEGY_KINDS.join(",")}`, STRATEGY_KINDS.join(","))
    .option("--scenario <list>", `scenarios, from ${Object.keys(BENCH_SCENARIOS).join(",")}`, "idle,workload")
    .option("--cycles <n>", "power-down/power-up cycles per strategy", "3")
    .option("--seed <n>", "seed for every random choice", parseSeed, 1)
    .option(
      "--sweep <sizes>",
      "virtio-mem sizes to plug and unplug on the first x86_64 profile",
      DEFAULT_SWEEP_SIZES.map((s) => (s < 2 ** 30 ? `${s / 2 ** 20}M` : `${s / 2 ** 30}G`)).join(","),
    )
    .option("--no-sweep", "no sweep")
    .option(
      "--sweep-heap-limit <size>",
      "skip sweep sizes whose model would need more heap (default 60% of RAM)",
    )
    .option("--quick", "one cycle, sweep up to 4G (a smoke run)")
    .option("--json", "print the report as JSON")
    .option("--svg <prefix>", "write the charts to PREFIX-strategies.svg and PREFIX-sweep.svg", "memhp-bench")
    .option("--no-svg", "write no chart")
    .option("-q, --quiet", "no progress bar")
    .option(
      "--validate <archs>",
      "instead of the bench: time a 1 GiB DIMM cycle on the real kernel under QEMU (x86_64,arm64) and compare shares",
    )
    .option(
      "--validate-rfc <archs>",
      "instead of the bench: time the RFC cycle against remove + add on the RFC-patched kernel under QEMU (linux-patches/) and compare the ratio",
    )
    .option(
      "--validate-power <archs>",
      "instead of the bench: power-cycle 1 GiB that a guest workload fills under each strategy the patched kernel has (RFC v2 block by block and whole range, the unmapped allocation, remove + add), against the model",
    )
    .option(
      "--reps <n>",
      "cycles timed on the real kernel with --validate / --validate-rfc / --validate-power",
      "2",
    )
    .addHelpText(
      "after",
      `
Times are predictions: the model counts the work of each phase exactly and each
profile's constants (profiles/*.json, every one with its source) turn the counts
into time. docs/cost-model.md explains the model, its limits and its validation.

Examples:
  memhp bench --quick
  memhp bench --profile arm64-mobile --strategy remove,depopulate --cycles 10
  memhp bench --no-sweep --json > bench.json
  memhp bench --validate x86_64,arm64          (needs the oracle: scripts/oracle-setup.sh)
  memhp bench --validate-rfc x86_64 --reps 5   (needs the patched kernel: linux-patches/build.sh x86_64)
  memhp bench --validate-power x86_64,arm64    (the same; docs/design-choice.md has its results)`,
    )
    .action(async (opts: BenchCliOptions) => {
      if (opts.validate !== undefined) return runValidation(opts);
      if (opts.validateRfc !== undefined) return runRfcValidation(opts);
      if (opts.validatePower !== undefined) return runPowerValidation(opts);
      const plan = benchPlan(opts);
      for (const p of plan.profiles) {
        const miss = missingConstants(p);
        if (miss.length)
          process.stderr.write(`memhp bench: ${p.name} has no constant for ${miss.join(", ")} (cost 0)\n`);
      }
      const progress = new Progress("memhp bench", { quiet: opts.quiet });
      let report: BenchReport;
      try {
        report = runBench({
          profiles: plan.profiles,
          strategies: plan.strategies,
          scenarios: plan.scenarios,
          cycles: plan.cycles,
          seed: opts.seed,
          machine: DEMO_MACHINE,
          sweepSizes: plan.sweepSizes,
          sweepHeapLimit: plan.heapLimit,
          onProgress: (e) => progress.step(`${bar(e.done, e.total)} ${e.label}`),
        });
      } finally {
        progress.done();
      }
      const charts = opts.svg === false ? [] : await writeCharts(report, opts.svg);
      process.stdout.write(opts.json ? JSON.stringify(report, null, 2) + "\n" : formatBench(report));
      if (charts.length && !opts.json) process.stdout.write(`\ncharts: ${charts.join(", ")}\n`);
      else if (charts.length) process.stderr.write(`memhp bench: charts ${charts.join(", ")}\n`);
    });
}

async function runValidation(opts: BenchCliOptions): Promise<void> {
  const archs = list(opts.validate ?? "");
  const reps = Number(opts.reps);
  if (!Number.isInteger(reps) || reps < 1) throw badValue("--reps", String(opts.reps), "a whole number >= 1");
  const reports: ValidationReport[] = [];
  for (const a of archs) {
    if (a !== "x86_64" && a !== "arm64") throw badValue("--validate", a, "x86_64, arm64");
    const why = oracleUnavailable(a);
    if (why) throw new UsageError(`--validate ${a}: the oracle cannot run here: ${why}`);
    const progress = new Progress("memhp bench --validate", { quiet: opts.quiet });
    progress.step(`${a}: ${reps} DIMM cycle(s) on the real kernel under QEMU`);
    let m;
    try {
      m = await measureOnOracle(a, reps);
    } finally {
      progress.done();
    }
    reports.push(validate(profileForArch(a), countOnModel(a), m));
  }
  process.stdout.write(
    opts.json ? JSON.stringify(reports, null, 2) + "\n" : reports.map((v) => formatValidation(v)).join("\n"),
  );
}

async function runRfcValidation(opts: BenchCliOptions): Promise<void> {
  const reps = Number(opts.reps);
  if (!Number.isInteger(reps) || reps < 1) throw badValue("--reps", String(opts.reps), "a whole number >= 1");
  const rows: Parameters<typeof formatRfcValidation>[0] = [];
  for (const a of list(opts.validateRfc ?? "")) {
    if (a !== "x86_64" && a !== "arm64") throw badValue("--validate-rfc", a, "x86_64, arm64");
    const why = oracleUnavailable(a, { kernel: "patched" });
    if (why) throw new UsageError(`--validate-rfc ${a}: ${why}`);
    const p = profileForArch(a);
    for (const full of [true, false]) {
      const progress = new Progress("memhp bench --validate-rfc", { quiet: opts.quiet });
      progress.step(`${a}: ${reps} RFC and remove/add cycle(s) on the patched kernel under QEMU`);
      let measured;
      try {
        measured = await measureRfcOnKernel(a, reps, full);
      } finally {
        progress.done();
      }
      rows.push({ arch: a, profile: p.name, predicted: predictRfcCycle(a, p, full), measured });
    }
  }
  process.stdout.write(opts.json ? JSON.stringify(rows, null, 2) + "\n" : formatRfcValidation(rows) + "\n");
}

async function runPowerValidation(opts: BenchCliOptions): Promise<void> {
  const reps = Number(opts.reps);
  if (!Number.isInteger(reps) || reps < 1) throw badValue("--reps", String(opts.reps), "a whole number >= 1");
  const rows: PowerRow[] = [];
  const runs: PowerMeasurementRun[] = [];
  for (const a of list(opts.validatePower ?? "")) {
    if (a !== "x86_64" && a !== "arm64") throw badValue("--validate-power", a, "x86_64, arm64");
    const why = oracleUnavailable(a, { kernel: "patched" });
    if (why) throw new UsageError(`--validate-power ${a}: ${why}`);
    const p = profileForArch(a);
    const progress = new Progress("memhp bench --validate-power", { quiet: opts.quiet });
    let run: PowerMeasurementRun;
    try {
      run = await measurePowerOnKernel(a, POWER_KINDS, reps, {
        onCycle: (kind, rep) =>
          progress.step(`${a}: ${kind}, cycle ${rep + 1} of ${reps}, on the patched kernel`),
      });
    } finally {
      progress.done();
    }
    runs.push(run);
    // the model runs the kernel's sequence on one machine; kinds not measured, on a fresh one
    const predicted = [
      ...predictPowerSequence(a, run.order, p),
      ...predictPowerCycles(
        a,
        run.skipped.map((x) => x.kind),
        p,
      ),
    ];
    rows.push(...powerRows(predicted, run, p.name));
  }
  process.stdout.write(
    opts.json ? JSON.stringify({ rows, runs }, null, 2) + "\n" : formatPowerValidation(rows, runs) + "\n",
  );
}
