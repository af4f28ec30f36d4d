// `npm run perf`: the scale targets of docs/performance.md, each in a fresh
// process, with its measured figure, its limit and their ratio; then the same
// scenario on the model and on the real kernel under QEMU (when the oracle is
// set up); with --baseline REV, also an older build of memhp on the same
// targets at a size it can run, for before/after figures from one run.

import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import type { TargetResult } from "./scale.js";
import { compareWithKernel, type KernelComparison } from "./oracle.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const distRoot = path.join(here, "..");
const repoRoot = path.join(distRoot, "..");

interface Row extends TargetResult {
  met: boolean;
}

interface TargetSpec {
  target: string;
  gib: number;
}

const FULL: TargetSpec[] = [
  { target: "arm64-cycle", gib: 1024 },
  { target: "x86-vmem", gib: 512 },
  { target: "block-cycle", gib: 1024 },
  { target: "checks", gib: 1024 },
];
const QUICK: TargetSpec[] = FULL.map((t) => ({ ...t, gib: 8 }));
/** Sizes an older build finishes in reasonable time (--baseline). */
const BASELINE: TargetSpec[] = FULL.map((t) => ({ ...t, gib: 64 }));

/** Run one target in a child process on the build at `root`. */
function runTarget(t: TargetSpec, root = distRoot): { results: TargetResult[]; rssMiB: number } {
  const r = spawnSync(process.execPath, [path.join(here, "target.js"), t.target, String(t.gib), root], {
    encoding: "utf8",
    maxBuffer: 1 << 26,
  });
  if (r.status !== 0) throw new Error(`bench target ${t.target} ${t.gib} GiB failed:\n${r.stderr}`);
  const last = r.stdout.trim().split("\n").pop() ?? "";
  return JSON.parse(last) as { results: TargetResult[]; rssMiB: number };
}

function rowsOf(t: TargetSpec, out: { results: TargetResult[]; rssMiB: number }): Row[] {
  const rows: Row[] = out.results.map((r) => ({ ...r, met: r.value <= r.limit }));
  if (t.target === "arm64-cycle")
    rows.push({
      name: `resident memory of that run (peak RSS of the process)`,
      value: out.rssMiB,
      unit: "MiB",
      limit: 2048,
      detail: {},
      met: out.rssMiB <= 2048,
    });
  return rows;
}

const fmt = (v: number, unit: string): string =>
  `${unit === "MiB" ? v.toFixed(0) : v < 10 ? v.toFixed(3) : v.toFixed(1)} ${unit}`;

function printRows(rows: Row[]): void {
  const w = Math.max(...rows.map((r) => r.name.length));
  console.log(`${"target".padEnd(w)}  ${"measured".padStart(11)}  ${"limit".padStart(9)}  ratio  `);
  for (const r of rows)
    console.log(
      `${r.name.padEnd(w)}  ${fmt(r.value, r.unit).padStart(11)}  ${fmt(r.limit, r.unit).padStart(9)}  ${(r.value / r.limit).toFixed(2).padStart(5)}  ${r.met ? "met" : "MISSED"}`,
    );
}

/** A build of `rev` in .tmp/baseline-REV (git worktree, this tree's node_modules, tsc). */
function buildBaseline(rev: string): string {
  const sha = execFileSync("git", ["rev-parse", "--short", rev], { cwd: repoRoot, encoding: "utf8" }).trim();
  const dir = path.join(repoRoot, ".tmp", `baseline-${sha}`);
  if (!fs.existsSync(dir)) execFileSync("git", ["worktree", "add", "--detach", dir, sha], { cwd: repoRoot });
  const nm = path.join(dir, "node_modules");
  if (!fs.existsSync(nm)) fs.symlinkSync(path.join(repoRoot, "node_modules"), nm);
  execFileSync(path.join(repoRoot, "node_modules", ".bin", "tsc"), ["-p", "tsconfig.json"], { cwd: dir });
  return path.join(dir, "dist");
}

async function main(): Promise<void> {
  const program = new Command("bench")
    .description("memhp's scale benchmarks (docs/performance.md)")
    .option("--quick", "small sizes (8 GiB) instead of the targets' sizes")
    .option("--no-oracle", "leave out the comparison with the real kernel under QEMU")
    .option("--baseline <rev>", "also run the build of this git revision at 64 GiB, next to this one")
    .option("--json <file>", "also write every figure as JSON");
  program.parse();
  const opts = program.opts<{ quick?: boolean; oracle: boolean; baseline?: string; json?: string }>();
  const report: { rows: Row[]; kernel?: KernelComparison | string; baseline?: unknown } = { rows: [] };

  for (const t of opts.quick ? QUICK : FULL) {
    process.stderr.write(`bench: ${t.target} ${t.gib} GiB ...\n`);
    report.rows.push(...rowsOf(t, runTarget(t)));
  }
  console.log("# memhp scale targets (host time of the model; each target in a fresh process)\n");
  printRows(report.rows);

  if (opts.oracle) {
    process.stderr.write("bench: the same scenario on the real kernel under QEMU ...\n");
    const cmp = await compareWithKernel();
    report.kernel = cmp;
    console.log("\n# model vs real kernel (QEMU TCG), same scenario\n");
    if (typeof cmp === "string") console.log(`skipped: ${cmp}`);
    else {
      console.log(cmp.scenario);
      console.log(
        `model ${cmp.modelMs.toFixed(1)} ms, kernel ${cmp.kernelMs.toFixed(1)} ms (guest clock): model / kernel = ${(cmp.modelMs / cmp.kernelMs).toFixed(3)}`,
      );
    }
  }

  if (opts.baseline) {
    const root = buildBaseline(opts.baseline);
    console.log(`\n# before/after, this run: ${opts.baseline} vs this tree, at 64 GiB\n`);
    const rows: { name: string; before: number; after: number; unit: string }[] = [];
    for (const t of BASELINE) {
      process.stderr.write(`bench: ${t.target} 64 GiB, baseline and this tree ...\n`);
      const before = rowsOf(t, runTarget(t, root));
      const after = rowsOf(t, runTarget(t));
      for (let i = 0; i < after.length; i++)
        rows.push({
          name: after[i].name,
          before: before[i]?.value ?? NaN,
          after: after[i].value,
          unit: after[i].unit,
        });
    }
    const w = Math.max(...rows.map((r) => r.name.length));
    for (const r of rows)
      console.log(
        `${r.name.padEnd(w)}  before ${fmt(r.before, r.unit).padStart(10)}  after ${fmt(r.after, r.unit).padStart(10)}  ${(r.before / r.after).toFixed(1)}x`,
      );
    report.baseline = rows;
  }
  if (opts.json) fs.writeFileSync(opts.json, JSON.stringify(report, null, 2) + "\n");
  if (report.rows.some((r) => !r.met)) process.exitCode = 1;
}

await main();
