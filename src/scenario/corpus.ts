// The oracle corpus: scenarios/oracle/*.mhp, each with the real kernel's trace
// recorded beside it (NAME.linux-ARCH.jsonl). Holding the model to it means: run
// the model on every scenario, diff against the kernel's trace (recorded, or
// recorded again live), and classify every difference with docs/divergences.md.

import type { OracleKernel } from "../oracle/cache.js";
import { readdirSync, readFileSync, existsSync } from "node:fs";
import path from "node:path";
import { diffTraces, readTrace } from "./diff.js";
import { classify, loadDivergences, type Divergence } from "./divergences.js";
import { parseScenario } from "./parse.js";
import { runScenario } from "./run.js";
import type { Trace } from "./trace.js";
import type { Difference } from "./diff.js";
import type { Scenario } from "./ast.js";
import { packagePath } from "../paths.js";

export const CORPUS_DIR = packagePath("scenarios", "oracle");
/**
 * The RFC corpus: scenarios that call the RFC's API, recorded on the patched
 * kernel of kernel/ (NAME.linux-patched-ARCH.jsonl).
 */
export const RFC_CORPUS_DIR = packagePath("scenarios", "oracle-rfc");

export interface CorpusEntry {
  name: string;
  file: string;
  scenario: Scenario;
  kernelTraceFile: string;
  /** the kernel the trace comes from: Debian's (scenarios/oracle) or the patched one (scenarios/oracle-rfc) */
  kernel: OracleKernel;
}

/** Both corpora: Debian's kernels, then the patched kernel's. */
export function listAllCorpus(): CorpusEntry[] {
  return [...listCorpus(CORPUS_DIR), ...listCorpus(RFC_CORPUS_DIR, "patched")];
}

export interface CorpusResult {
  name: string;
  arch: string;
  /** Statements after boot. */
  statements: number;
  /** Statements whose records agree exactly (under the contract's rules). */
  agreeing: number;
  explained: Map<string, Difference[]>;
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
    const flavour = kernel === "patched" ? "linux-patched" : "linux";
    const kernelTraceFile = path.join(dir, `${name}.${flavour}-${scenario.machine.arch}.jsonl`);
    if (existsSync(kernelTraceFile)) out.push({ name, file, scenario, kernelTraceFile, kernel });
  }
  return out;
}

/** Compare the model with one kernel trace. */
export function compareEntry(e: CorpusEntry, kernel: Trace, divs: Divergence[]): CorpusResult {
  const model = runScenario(e.scenario, { checkInvariants: true });
  const diffs = diffTraces(model, kernel, e.scenario);
  const bad = new Set(diffs.map((d) => d.line));
  const { explained, unexplained } = classify(divs, e.name, diffs, model, kernel);
  return {
    name: e.name,
    arch: e.scenario.machine.arch,
    statements: e.scenario.body.length,
    agreeing: e.scenario.body.filter((s) => !bad.has(s.loc.line)).length,
    explained,
    unexplained,
  };
}

export function recordedTrace(e: CorpusEntry): Trace {
  return readTrace(readFileSync(e.kernelTraceFile, "utf8"));
}

export function loadCorpusDivergences(): Divergence[] {
  return loadDivergences();
}

/** Totals over results, for the README figure and `memhp corpus`. */
export function summarize(results: CorpusResult[]): {
  scenarios: number;
  statements: number;
  agreeing: number;
  explainedDiffs: number;
  unexplainedDiffs: number;
  byDivergence: Map<string, number>;
} {
  const byDivergence = new Map<string, number>();
  let statements = 0;
  let agreeing = 0;
  let explainedDiffs = 0;
  let unexplainedDiffs = 0;
  for (const r of results) {
    statements += r.statements;
    agreeing += r.agreeing;
    unexplainedDiffs += r.unexplained.length;
    for (const [id, list] of r.explained) {
      explainedDiffs += list.length;
      byDivergence.set(id, (byDivergence.get(id) ?? 0) + list.length);
    }
  }
  return { scenarios: results.length, statements, agreeing, explainedDiffs, unexplainedDiffs, byDivergence };
}
