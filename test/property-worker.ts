// One shard of the property run of test/property.test.ts, in a worker thread
// (the test runner runs test files one at a time; two shards use both cores).
// Runs rounds of fast-check properties — a random machine and operation list,
// run with src/fuzz/driver.ts, must never throw and must keep every invariant
// after every step — until the shard's share of steps has run. A failure is
// shrunk by fast-check, saved as a regression scenario and reported.
//
// Not a test file: the test runner also loads it in its main thread (it lies in
// test/), where it does nothing.

import { isMainThread, parentPort, workerData } from "node:worker_threads";
import fc from "fast-check";
import { runCase } from "../src/fuzz/driver.js";
import { machineFromChoices } from "../src/fuzz/machine.js";
import { regressionText, saveRegression } from "../src/fuzz/regression.js";
import { failureSignature, shrinkLines } from "../src/fuzz/shrink.js";
import type { FuzzOp, MachineChoices } from "../src/fuzz/schema.js";
import { machineArb, opsArb } from "./fuzz-arbitraries.js";

export interface ShardTask {
  shard: number;
  seed: number;
  steps: number;
  /** Cases per fast-check round. */
  runsPerRound: number;
  maxOps: number;
  /** Save failures under scenarios/regressions (default true). */
  save?: boolean;
}

export interface ShardFinding {
  seed: number;
  signature: string;
  message: string;
  lines: string[];
  file?: string;
}

export interface ShardResult {
  shard: number;
  steps: number;
  cases: number;
  rounds: number;
  /** Steps per kind of statement (the first word of its line). */
  byOp: Record<string, number>;
  ms: number;
  findings: ShardFinding[];
  /** Cases that ended in a known stock-kernel behaviour (not findings). */
  known?: number;
}

/** "write state", "call add_memory", "dimm-add" ...: what a scenario line does. */
function opKey(line: string): string {
  const [w, a = ""] = line.split(" ");
  if (w === "call") return `call ${a}`;
  if (w === "write") return `write ${a.slice(a.lastIndexOf("/") + 1).replace(/^memory\d+$/, "memoryN")}`;
  return w;
}

export function runShard(task: ShardTask): ShardResult {
  const t0 = performance.now();
  const result: ShardResult = {
    shard: task.shard,
    steps: 0,
    cases: 0,
    rounds: 0,
    byOp: {},
    ms: 0,
    findings: [],
  };
  let shrinking = false;
  const prop = fc.property(machineArb(), opsArb(task.maxOps), (mc: MachineChoices, ops: FuzzOp[]) => {
    const r = runCase(machineFromChoices(mc), ops);
    if (!shrinking) {
      result.steps += r.steps;
      result.cases++;
      for (const l of r.lines) result.byOp[opKey(l)] = (result.byOp[opKey(l)] ?? 0) + 1;
    }
    // a known stock-kernel behaviour (src/fuzz/known.ts) is the kernel's, not a model bug
    if (r.failure && !r.failure.behaviour) {
      shrinking = true;
      return false;
    }
    if (r.failure && !shrinking) result.known = (result.known ?? 0) + 1;
    return true;
  });
  while (result.steps < task.steps && result.findings.length === 0) {
    const seed = task.seed + 7919 * result.rounds;
    result.rounds++;
    shrinking = false;
    const details = fc.check(prop, { seed, numRuns: task.runsPerRound, endOnFailure: false });
    if (details.failed && details.counterexample) {
      const [mc, ops] = details.counterexample;
      const m = machineFromChoices(mc);
      const r = runCase(m, ops);
      const failure = r.failure ?? {
        kind: "exception" as const,
        step: -1,
        message: String(details.errorInstance),
      };
      const signature = failureSignature(failure);
      // fast-check shrank the abstract operations; delta debugging on the
      // resulting lines removes what only mattered through the resolution.
      const lines = failure.kind === "boot" ? r.lines : shrinkLines(m, r.lines, signature).lines;
      const finding: ShardFinding = { seed, signature, message: failure.message, lines };
      if (task.save !== false) {
        finding.file = saveRegression(
          regressionText(m, lines, {
            foundBy: `test/property.test.ts (fast-check seed ${seed}, ${details.numShrinks} shrinks, then ddmin)`,
            failure,
            originalSteps: ops.length,
          }),
          m.arch,
        );
      }
      result.findings.push(finding);
    }
  }
  result.ms = performance.now() - t0;
  return result;
}

if (!isMainThread && parentPort && workerData) {
  parentPort.postMessage(runShard(workerData as ShardTask));
}
