// One scenario on several model releases (`memhp compare`): the scenario runs
// once per release with `machine ... kernel=` set to it, and each later
// release's trace is diffed against the first's with the contract's rules
// (src/scenario/diff.ts), so a driver author sees what changes for the same
// statements between, say, 6.1 and 6.12.

import type { Scenario } from "./ast.js";
import { compareTraces, type Difference } from "./diff.js";
import { runScenario } from "./run.js";
import type { Trace } from "./trace.js";
import { isKernelVersion, KERNEL_VERSIONS, type KernelVersion } from "../kernel/linux_version.js";

export interface VersionRun {
  version: KernelVersion;
  trace: Trace;
}

export interface VersionComparison {
  /** The first release: what the others are diffed against. */
  base: VersionRun;
  /** Every other release with its differences from the base. */
  others: { run: VersionRun; differences: Difference[] }[];
}

/** "6.1,6.12" -> ["6.1", "6.12"]; an unknown or repeated release, or fewer than two, is an Error saying which. */
export function parseVersionList(s: string): KernelVersion[] {
  const out: KernelVersion[] = [];
  for (const w of s.split(",").map((x) => x.trim())) {
    if (!isKernelVersion(w)) throw new Error(`${w}: memhp models Linux ${KERNEL_VERSIONS.join(", ")}`);
    if (out.includes(w)) throw new Error(`${w} given twice`);
    out.push(w);
  }
  if (out.length < 2) throw new Error(`${s}: name at least two releases to compare, e.g. 6.1,6.12`);
  return out;
}

/** The scenario as release `v` runs it. */
export function onVersion(sc: Scenario, v: KernelVersion): Scenario {
  return { ...sc, machine: { ...sc.machine, kernel: v } };
}

/** Runs `sc` on each release (same seed) and diffs every later one against the first. */
export function compareVersions(
  sc: Scenario,
  versions: readonly KernelVersion[],
  seed = 1,
): VersionComparison {
  const runs = versions.map((version) => ({
    version,
    trace: runScenario(onVersion(sc, version), { seed, crashRecords: true }),
  }));
  const [base, ...rest] = runs;
  return {
    base,
    others: rest.map((run) => ({
      run,
      differences: compareTraces(base.trace, run.trace, onVersion(sc, run.version)).differences,
    })),
  };
}
