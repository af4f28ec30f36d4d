// A fuzz campaign: seeded cases (a random machine and operation list each) run
// until the requested number of steps; every distinct failure is shrunk and
// saved as a regression scenario. `memhp fuzz` is a thin shell around this.
//
// Seeds: the campaign seed S drives a generator that hands each case its own
// 32-bit case seed; a case is fully determined by its case seed (and the arch
// filter), so `memhp fuzz --case-seed C` reruns exactly that case.

import { Rng } from "../mm/random.js";
import type { Arch } from "../scenario/ast.js";
import { runCase, type Failure } from "./driver.js";
import { machineFromChoices, type MachineSpec } from "./machine.js";
import { randomMachineChoices, randomOps } from "./random.js";
import { regressionText, saveRegression } from "./regression.js";
import { failureSignature, shrinkLines } from "./shrink.js";

export interface CampaignOptions {
  /** Run cases until at least this many steps ran. */
  steps: number;
  seed: number;
  arch?: Arch;
  /** Operations drawn per case (default 120). */
  opsPerCase?: number;
  /** Shrink failures before reporting them (default true). */
  shrink?: boolean;
  /** Where to save regression files; false: do not save. Default: scenarios/regressions. */
  saveDir?: string | false;
  /** Run only the case with this case seed. */
  caseSeed?: number;
  onProgress?: (p: { steps: number; cases: number; findings: number }) => void;
  onFinding?: (f: Finding) => void;
}

export interface Finding {
  caseIndex: number;
  caseSeed: number;
  machine: MachineSpec;
  signature: string;
  failure: Failure;
  /** The stock kernel behaviour the finding stands for (./known.ts); undefined: a model bug. */
  behaviour?: string;
  /** The (shrunk) reproducer. */
  lines: string[];
  originalSteps: number;
  file?: string;
}

export interface CampaignResult {
  steps: number;
  cases: number;
  findings: Finding[];
}

/** Findings that are model bugs (not a known kernel behaviour). */
export function modelBugs(findings: readonly Finding[]): Finding[] {
  return findings.filter((f) => f.behaviour === undefined);
}

/** One case from its seed: the machine and the operations. */
export function caseFromSeed(caseSeed: number, opsPerCase: number, arch?: Arch) {
  const rng = new Rng(caseSeed);
  const machine = machineFromChoices(randomMachineChoices(rng, arch));
  return { machine, ops: randomOps(rng, opsPerCase) };
}

export function runCampaign(opts: CampaignOptions): CampaignResult {
  const opsPerCase = opts.opsPerCase ?? 120;
  const master = new Rng(opts.seed);
  const seen = new Set<string>();
  const findings: Finding[] = [];
  let steps = 0;
  let cases = 0;
  while (opts.caseSeed !== undefined ? cases === 0 : steps < opts.steps) {
    const caseSeed = opts.caseSeed ?? master.nextU32();
    const { machine, ops } = caseFromSeed(caseSeed, opsPerCase, opts.arch);
    const r = runCase(machine, ops);
    steps += r.steps;
    cases++;
    if (r.failure) {
      const behaviour = r.failure.behaviour;
      // a known behaviour is one finding however it shows (its name is the signature)
      const signature = behaviour ? `known: ${behaviour}` : failureSignature(r.failure);
      if (!seen.has(signature)) {
        seen.add(signature);
        const lines =
          opts.shrink === false || r.failure.kind === "boot"
            ? r.lines
            : shrinkLines(machine, r.lines, failureSignature(r.failure)).lines;
        const f: Finding = {
          caseIndex: cases - 1,
          caseSeed,
          machine,
          signature,
          failure: r.failure,
          ...(behaviour ? { behaviour } : {}),
          lines,
          originalSteps: r.lines.length,
        };
        if (opts.saveDir !== false) {
          const text = regressionText(machine, lines, {
            foundBy: `memhp fuzz --case-seed ${caseSeed}${opts.arch ? ` --arch ${opts.arch}` : ""}`,
            failure: r.failure,
            originalSteps: r.lines.length,
          });
          f.file = saveRegression(text, machine.arch, opts.saveDir);
        }
        findings.push(f);
        opts.onFinding?.(f);
      }
    }
    opts.onProgress?.({ steps, cases, findings: findings.length });
  }
  return { steps, cases, findings };
}
