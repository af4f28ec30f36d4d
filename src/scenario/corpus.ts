// The oracle corpus: scenarios/oracle/*.mhp, each with the real kernel's trace
// recorded beside it (NAME.linux-ARCH.jsonl on Debian 12's 6.1,
// NAME.linux-6.12-ARCH.jsonl on Debian 13's 6.12; each held to the model of
// that release). Holding the model to it means: run
// the model on every scenario, diff against the kernel's trace (recorded, or
// recorded again live), and classify every difference with docs/divergences.md.

import type { OracleKernel } from "../oracle/cache.js";
import { readdirSync, readFileSync, existsSync } from "node:fs";
import path from "node:path";
import { compareTraces } from "./diff.js";
import { readTrace } from "./trace.js";
import { blockName, classify, heldGap, loadDivergences, type Divergence } from "./divergences.js";
import { parseScenario } from "./parse.js";
import { runScenario } from "./run.js";
import type { Trace } from "./trace.js";
import type { Difference } from "./diff.js";
import type { Scenario } from "./ast.js";
import { packagePath } from "../paths.js";
import { DEFAULT_KERNEL_VERSION, KERNEL_VERSIONS, type KernelVersion } from "../kernel/linux_version.js";

export const CORPUS_DIR = packagePath("scenarios", "oracle");
/**
 * The RFC corpus: scenarios that call the RFC's API, recorded on the patched
 * kernels of linux-patches/ (NAME.linux-patched-ARCH.jsonl on 6.1,
 * NAME.linux-patched-VERSION-ARCH.jsonl on 6.12 and 7.2).
 */
export const RFC_CORPUS_DIR = packagePath("scenarios", "oracle-rfc");

export interface CorpusEntry {
  name: string;
  file: string;
  scenario: Scenario;
  kernelTraceFile: string;
  /** the kernel the trace comes from: Debian's (scenarios/oracle) or the patched one (scenarios/oracle-rfc) */
  kernel: OracleKernel;
  /** the release the trace was recorded on, and the model it is held to */
  version: KernelVersion;
}

/** The scenario as the model of `e.version` runs it (`machine ... kernel=`). */
export function entryScenario(e: CorpusEntry): Scenario {
  if ((e.scenario.machine.kernel ?? DEFAULT_KERNEL_VERSION) === e.version) return e.scenario;
  return { ...e.scenario, machine: { ...e.scenario.machine, kernel: e.version } };
}

/**
 * "linux", "linux-6.12", "linux-patched" (6.1's patched build) or
 * "linux-patched-7.2": the middle of a recorded trace's name.
 */
export function traceFlavour(kernel: OracleKernel, version: KernelVersion = DEFAULT_KERNEL_VERSION): string {
  const base = kernel === "patched" ? "linux-patched" : "linux";
  return version === DEFAULT_KERNEL_VERSION ? base : `${base}-${version}`;
}

/** "NAME" for 6.1's entries, "NAME (6.12)" for another release's, "NAME (patched)". */
export function entryLabel(e: CorpusEntry): string {
  if (e.kernel === "patched")
    return e.version === DEFAULT_KERNEL_VERSION ? `${e.name} (patched)` : `${e.name} (patched ${e.version})`;
  return e.version === DEFAULT_KERNEL_VERSION ? e.name : `${e.name} (${e.version})`;
}

/** Both corpora: Debian's kernels, then the patched kernel's. */
export function listAllCorpus(): CorpusEntry[] {
  return [...listCorpus(CORPUS_DIR), ...listCorpus(RFC_CORPUS_DIR, "patched")];
}

export interface CorpusResult {
  name: string;
  /** the release of the kernel trace and of the model */
  version: KernelVersion;
  arch: string;
  /** Statements after boot. */
  statements: number;
  /** Statements whose records compared at least one value (a number, an errno, a name...). */
  compared: number;
  /** Statements that compared something and found no difference at all. */
  agreeing: number;
  /** Every difference, covered or not. */
  differences: Difference[];
  /** The two traces compared. */
  model: Trace;
  kernel: Trace;
  explained: Map<string, Difference[]>;
  /** Each covered difference with the match block that covers it. */
  covered: { diff: Difference; by: Divergence }[];
  unexplained: Difference[];
}

export function listCorpus(dir = CORPUS_DIR, kernel: OracleKernel = "stock"): CorpusEntry[] {
  const out: CorpusEntry[] = [];
  for (const f of readdirSync(dir)
    .filter((x) => x.endsWith(".mhp"))
    .sort()) {
    const name = f.slice(0, -4);
    const file = path.join(dir, f);
    const scenario = parseScenario(readFileSync(file, "utf8"), file);
    // one entry per release recorded, Debian's kernels' or the series' builds
    for (const version of KERNEL_VERSIONS) {
      const flavour = traceFlavour(kernel, version);
      const kernelTraceFile = path.join(dir, `${name}.${flavour}-${scenario.machine.arch}.jsonl`);
      if (existsSync(kernelTraceFile)) out.push({ name, file, scenario, kernelTraceFile, kernel, version });
    }
  }
  return out;
}

/** The model's trace of a corpus scenario (deterministic: one run serves every kernel trace of it). */
export function entryModelTrace(e: CorpusEntry): Trace {
  return runScenario(entryScenario(e), { checkInvariants: true });
}

/** Compare the model with one kernel trace. */
export function compareEntry(e: CorpusEntry, kernel: Trace, divs: Divergence[]): CorpusResult {
  return compareTracesOf(e, entryModelTrace(e), kernel, divs);
}

/** Compare a model trace with a kernel trace of one corpus scenario. */
export function compareTracesOf(
  e: CorpusEntry,
  model: Trace,
  kernel: Trace,
  divs: Divergence[],
): CorpusResult {
  const { differences, compared } = compareTraces(model, kernel, entryScenario(e));
  const bad = new Set(differences.map((d) => d.line));
  const { explained, covered, unexplained } = classify(divs, e.name, differences, model, kernel);
  const lines = e.scenario.body.map((s) => s.loc.line);
  const didCompare = lines.filter((l) => (compared.get(l) ?? 0) > 0);
  return {
    name: e.name,
    version: e.version,
    arch: e.scenario.machine.arch,
    statements: lines.length,
    compared: didCompare.length,
    agreeing: didCompare.filter((l) => !bad.has(l)).length,
    differences,
    model,
    kernel,
    explained,
    covered,
    unexplained,
  };
}

export function recordedTrace(e: CorpusEntry): Trace {
  return readTrace(readFileSync(e.kernelTraceFile, "utf8"));
}

/**
 * A trace of the entry recorded elsewhere (`DIR/NAME.jsonl`, as `memhp oracle -t`
 * writes it; another release's: `DIR/NAME.linux-6.12.jsonl`), if there is one.
 */
export function traceIn(dir: string, e: CorpusEntry): Trace | undefined {
  const f = path.join(dir, liveTraceName(e.name, e.version));
  return existsSync(f) ? readTrace(readFileSync(f, "utf8")) : undefined;
}

/** The file name of a trace recorded elsewhere: NAME.jsonl (6.1), NAME.linux-6.12.jsonl. */
export function liveTraceName(name: string, version: KernelVersion): string {
  return `${version === DEFAULT_KERNEL_VERSION ? name : `${name}.linux-${version}`}.jsonl`;
}

/** Per match block ("id" or "id#N"), how many differences it covered and the largest gap among them. */
/** What `memhp corpus` reports per match block: the evidence its tolerance is set from. */
export interface BlockEvidence {
  covered: number;
  /** The largest gap among the differences it covered. */
  largestGap?: number;
  /**
   * The kernel's variation from one recording to another: over the readings it covered
   * that were compared in several results of one scenario (several trace sources), the
   * largest difference between two of their gaps (an exact agreement counts as gap 0).
   */
  spread?: number;
  tolerance?: number;
}

/** Per match block of `divs`: how many differences it covered, the largest gap and the spread. */
export function blockEvidence(
  results: readonly CorpusResult[],
  divs: readonly Divergence[],
): Map<string, BlockEvidence> {
  const out = new Map<string, BlockEvidence>();
  for (const d of divs) out.set(blockName(d, divs), { covered: 0, tolerance: d.match.tolerance });
  const entryOf = (r: CorpusResult) => `${r.name}@${r.version}`;
  const readingOf = (d: Difference) => `${d.line}|${d.rule}|${d.item}`;
  // per block, per scenario and reading: the gaps seen in each result
  const gaps = new Map<string, Map<string, number[]>>();
  for (const r of results)
    for (const { diff, by } of r.covered) {
      const name = blockName(by, divs);
      const ev = out.get(name)!;
      ev.covered++;
      const gap = heldGap(by.match, diff, r.kernel, r.model);
      if (gap === undefined) continue;
      ev.largestGap = Math.max(ev.largestGap ?? 0, gap);
      const byReading = gaps.get(name) ?? new Map<string, number[]>();
      gaps.set(name, byReading);
      const key = `${entryOf(r)}|${readingOf(diff)}`;
      byReading.set(key, [...(byReading.get(key) ?? []), gap]);
    }
  for (const [name, byReading] of gaps) {
    let spread: number | undefined;
    for (const [key, seen] of byReading) {
      const [entry] = key.split("|", 1);
      const reading = key.slice(entry.length + 1);
      // the results of the same scenario where that reading agreed exactly
      const agreed = results.filter(
        (r) => entryOf(r) === entry && !r.differences.some((d) => readingOf(d) === reading),
      ).length;
      const all = agreed ? [...seen, 0] : seen;
      if (all.length < 2) continue;
      spread = Math.max(spread ?? 0, Math.max(...all) - Math.min(...all));
    }
    if (spread !== undefined) out.get(name)!.spread = spread;
  }
  return out;
}

export function loadCorpusDivergences(): Divergence[] {
  return loadDivergences();
}

/** Totals over results, for the README figure and `memhp corpus`. */
export function summarize(results: CorpusResult[]): {
  scenarios: number;
  statements: number;
  compared: number;
  agreeing: number;
  explainedDiffs: number;
  unexplainedDiffs: number;
  byDivergence: Map<string, number>;
} {
  const byDivergence = new Map<string, number>();
  let statements = 0;
  let compared = 0;
  let agreeing = 0;
  let explainedDiffs = 0;
  let unexplainedDiffs = 0;
  for (const r of results) {
    statements += r.statements;
    compared += r.compared;
    agreeing += r.agreeing;
    unexplainedDiffs += r.unexplained.length;
    for (const [id, list] of r.explained) {
      explainedDiffs += list.length;
      byDivergence.set(id, (byDivergence.get(id) ?? 0) + list.length);
    }
  }
  return {
    scenarios: results.length,
    statements,
    compared,
    agreeing,
    explainedDiffs,
    unexplainedDiffs,
    byDivergence,
  };
}
