// `npm run perf:oracle`: the oracle's throughput, from one run.
//   - time to the first statement per arch: a cold boot (QEMU start, firmware,
//     kernel, /init, the hello, one statement) against a restored saved boot
//     (src/oracle/saved-boot.ts), the median of --repeat runs each;
//   - the whole live corpus of Debian's kernels (scenarios/oracle/), before and
//     after: before is --baseline REV's build (run the way it runs: one guest at
//     a time, cold boots), or without --baseline this tree with cold boots and
//     one guest; after is this tree with saved boots and parallel guests.
// Targets (a 2-core machine): first statement x86_64 <= 0.5 s, arm64
// <= 1 s; the whole corpus, both arches, <= 40 s. Figures under TCG depend on
// what else the machine runs: the load average is printed with them.

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Command } from "commander";
import { parseScenario } from "../src/scenario/parse.js";
import type { Scenario } from "../src/scenario/ast.js";
import { OracleSession, oracleUnavailable } from "../src/oracle/run.js";
import { defaultOracleJobs, runOracleAll } from "../src/oracle/parallel.js";
import { listCorpus } from "../src/scenario/corpus.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.join(here, "..", "..");

const ARCHES = ["x86_64", "arm64"] as const;

function firstScenario(arch: string): Scenario {
  return parseScenario(
    `machine ${arch} mem=1G maxmem=4G\nboot\nread /sys/devices/system/memory/block_size_bytes\n`,
    `bench-first-${arch}.mhp`,
  );
}

/** ms from asking for a guest to the first statement's record. */
async function firstStatementMs(arch: string, savedBoot: boolean): Promise<number> {
  const sc = firstScenario(arch);
  const t0 = performance.now();
  const s = await OracleSession.start(sc, { savedBoot });
  try {
    const rec = await s.run(sc.body[0]);
    if (!("value" in rec)) throw new Error(`first statement: ${JSON.stringify(rec)}`);
    return performance.now() - t0;
  } finally {
    await s.close();
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** A build of `rev` in .tmp/baseline-REV (git worktree, this tree's node_modules, tsc); its dist. */
function buildBaseline(rev: string): string {
  const sha = execFileSync("git", ["rev-parse", "--short", rev], { cwd: repoRoot, encoding: "utf8" }).trim();
  const dir = path.join(repoRoot, ".tmp", `baseline-${sha}`);
  if (!fs.existsSync(dir)) execFileSync("git", ["worktree", "add", "--detach", dir, sha], { cwd: repoRoot });
  const nm = path.join(dir, "node_modules");
  if (!fs.existsSync(nm)) fs.symlinkSync(path.join(repoRoot, "node_modules"), nm);
  if (!fs.existsSync(path.join(dir, "dist", "src", "oracle", "run.js")))
    execFileSync(path.join(repoRoot, "node_modules", ".bin", "tsc"), ["-p", "tsconfig.json"], { cwd: dir });
  return path.join(dir, "dist");
}

interface CorpusRun {
  ms: number;
  scenarios: number;
  failed: string[];
}

/** The stock corpus with a build's own runOracle, one scenario after another. */
async function corpusWith(dist: string, scenarios: Scenario[]): Promise<CorpusRun> {
  const mod = (await import(pathToFileURL(path.join(dist, "src", "oracle", "run.js")).href)) as {
    runOracle: (s: Scenario, o?: object) => Promise<unknown>;
  };
  const failed: string[] = [];
  const t0 = performance.now();
  for (const s of scenarios) {
    try {
      await mod.runOracle(s, {});
    } catch (e) {
      failed.push(`${s.file}: ${(e as Error).message.split("\n")[0]}`);
    }
  }
  return { ms: performance.now() - t0, scenarios: scenarios.length, failed };
}

async function corpusNow(scenarios: Scenario[], savedBoot: boolean, jobs: number): Promise<CorpusRun> {
  const t0 = performance.now();
  const out = await runOracleAll(
    scenarios.map((scenario) => ({ scenario })),
    { savedBoot },
    jobs,
  );
  const failed = out.flatMap((o, i) =>
    "error" in o ? [`${scenarios[i].file}: ${o.error.message.split("\n")[0]}`] : [],
  );
  return { ms: performance.now() - t0, scenarios: scenarios.length, failed };
}

const s = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
const load = (): string => `load average ${os.loadavg()[0].toFixed(1)} on ${os.availableParallelism()} cores`;

async function main(): Promise<void> {
  const program = new Command("bench-oracle")
    .description("the oracle's time to the first statement and the whole live corpus, before and after")
    .option("--baseline <rev>", "the whole corpus on this git revision's build (its own way) as 'before'")
    .option("--repeat <n>", "runs per first-statement figure", (v) => Number(v), 3)
    .option("--no-corpus", "only the first-statement figures")
    .option("--no-first", "only the corpus figures")
    .option("--no-before", "the corpus only after (saved boots, parallel guests)")
    .option("--jobs <n>", "guests at once for 'after'", (v) => Number(v), defaultOracleJobs())
    .option("--json <file>", "also write every figure as JSON");
  program.parse();
  const opts = program.opts<{
    baseline?: string;
    repeat: number;
    corpus: boolean;
    first: boolean;
    before: boolean;
    jobs: number;
    json?: string;
  }>();
  const arches = ARCHES.filter((a) => {
    const why = oracleUnavailable(a);
    if (why) console.log(`${a}: skipped: ${why}`);
    return !why;
  });
  const report: Record<string, unknown> = { load: os.loadavg() };

  console.log(`# time to the first statement (median of ${opts.repeat}; ${load()})\n`);
  const limit: Record<string, number> = { x86_64: 500, arm64: 1000 };
  for (const arch of opts.first ? arches : []) {
    await firstStatementMs(arch, true); // makes the saved boot if there is none
    const cold: number[] = [];
    const warm: number[] = [];
    for (let i = 0; i < opts.repeat; i++) {
      cold.push(await firstStatementMs(arch, false));
      warm.push(await firstStatementMs(arch, true));
    }
    const c = median(cold);
    const w = median(warm);
    report[`first-${arch}`] = { cold, warm };
    console.log(
      `${arch.padEnd(7)} cold ${s(c).padStart(8)}  restored ${s(w).padStart(8)}  ${(c / w).toFixed(1)}x  ` +
        `target ${s(limit[arch])}: ${w <= limit[arch] ? "met" : "MISSED"}`,
    );
  }

  if (opts.corpus) {
    const scenarios = listCorpus()
      .filter((e) => arches.includes(e.scenario.machine.arch as (typeof ARCHES)[number]))
      .map((e) => e.scenario);
    console.log(
      `\n# the whole live corpus: ${scenarios.length} scenarios (${arches.join(", ")}; ${load()})\n`,
    );
    const before = !opts.before
      ? { ms: NaN, scenarios: 0, failed: [] }
      : opts.baseline
        ? await corpusWith(buildBaseline(opts.baseline), scenarios)
        : await corpusNow(scenarios, false, 1);
    const beforeName = opts.baseline ? `${opts.baseline} (its own way)` : "cold boots, 1 guest";
    const after = await corpusNow(scenarios, true, opts.jobs);
    const afterName = `saved boots, ${opts.jobs} guests`;
    console.log(`before  ${beforeName.padEnd(28)} ${s(before.ms).padStart(9)}`);
    console.log(
      `after   ${afterName.padEnd(28)} ${s(after.ms).padStart(9)}  ${(before.ms / after.ms).toFixed(1)}x`,
    );
    console.log(`target  whole corpus <= 40 s: ${after.ms <= 40_000 ? "met" : "MISSED"}`);
    for (const f of [...before.failed.map((x) => `before: ${x}`), ...after.failed.map((x) => `after: ${x}`)])
      console.log(`  failed ${f}`);
    report.corpus = { before, after, beforeName, afterName };
  }
  console.log(`\n(${load()} at the end)`);
  if (opts.json) fs.writeFileSync(opts.json, JSON.stringify(report, null, 2) + "\n");
}

await main();
