// What `memhp demo` needs from the cost model: the profile for its machine and the
// predicted time of a phase's work counts, as text.

import type { WorkCounts } from "../kernel/work.js";
import type { Arch } from "../scenario/ast.js";
import { costOf, formatNs } from "./engine.js";
import { loadProfile, type CostProfile } from "./profile.js";

/** The shipped profile of an architecture: arm64-mobile (the RFC's phone) or x86_64-server. */
export function profileForArch(arch: Arch): CostProfile {
  return loadProfile(arch === "arm64" ? "arm64-mobile" : "x86_64-server");
}

/** The predicted time of `counts` under `p`, as "1.23 ms". */
export function predictedTime(counts: WorkCounts, p: CostProfile): string {
  return formatNs(costOf(counts, p).ns);
}
