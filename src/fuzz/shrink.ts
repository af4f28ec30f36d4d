// Replaying and shrinking a failing case given as scenario lines (the CLI's
// shrinker; the property tests shrink with fast-check instead). A shrunk case
// keeps the same failure signature: the kind and the first line of the message
// with every number replaced by N, so "section 34 ..." and "section 35 ..." count
// as one bug. Shrinking is delta debugging (ddmin) over whole lines: drop chunks
// of halving size while the failure persists; a line whose removal makes the
// scenario unparseable (a dimm-del without its dimm-add) simply stays.

import { KernelBug } from "../kernel/bug.js";
import type { Kernel } from "../kernel/kernel.js";
import { ScenarioError, parseScenario } from "../scenario/parse.js";
import { bootScenario, executeStatement } from "../scenario/run.js";
import { caseScenarioText, type Failure } from "./driver.js";
import type { MachineSpec } from "./machine.js";

export function failureSignature(f: Failure): string {
  const first = f.message.split("\n")[0];
  return `${f.kind}: ${first.replace(/0x[0-9a-f]+|\d+/gi, "N")}`;
}

function describe(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return String(e);
}

/**
 * Run a scenario text the way `memhp run --check` does (boot with seed 1, each
 * statement then the background tick, every invariant after each). The first
 * failure, or undefined when it runs clean; "unparseable" when it does not parse.
 */
export function replayText(text: string, modelSeed = 1): Failure | undefined | "unparseable" {
  let sc;
  try {
    sc = parseScenario(text, "replay.mhp");
  } catch (e) {
    if (e instanceof ScenarioError) return "unparseable";
    throw e;
  }
  let k: Kernel;
  try {
    k = bootScenario(sc, modelSeed);
  } catch (e) {
    return { kind: "boot", step: -1, message: describe(e) };
  }
  const v0 = k.checkInvariants();
  if (v0.length) return { kind: "boot", step: -1, message: v0.join("\n") };
  for (let i = 0; i < sc.body.length; i++) {
    try {
      executeStatement(k, sc.body[i]);
      k.tick();
    } catch (e) {
      return { kind: e instanceof KernelBug ? "kernel-bug" : "exception", step: i, message: describe(e) };
    }
    const v = k.checkInvariants();
    if (v.length) return { kind: "invariant", step: i, message: v.join("\n") };
  }
  return undefined;
}

/** ddmin over `lines`: the smallest list found that still fails with `signature`. */
export function shrinkLines(
  m: MachineSpec,
  lines: readonly string[],
  signature: string,
  budget = 2000,
): { lines: string[]; replays: number } {
  let cur = [...lines];
  let replays = 0;
  const fails = (cand: string[]): boolean => {
    replays++;
    const f = replayText(caseScenarioText(m, cand));
    return f !== undefined && f !== "unparseable" && failureSignature(f) === signature;
  };
  // The failing step ends the list; anything after it is dropped already.
  let chunk = Math.max(1, Math.floor(cur.length / 2));
  while (chunk >= 1 && replays < budget) {
    let progressed = false;
    for (let start = 0; start < cur.length && replays < budget;) {
      const cand = [...cur.slice(0, start), ...cur.slice(start + chunk)];
      if (cand.length > 0 && fails(cand)) {
        cur = cand;
        progressed = true;
      } else start += chunk;
    }
    if (!progressed) chunk = Math.floor(chunk / 2);
  }
  return { lines: cur, replays };
}
