// The cost engine: predicted time = Σ count × ns-per-unit, for any set of work
// counts (an operation, a phase, a whole cycle). Linear on purpose: each term is
// a fact the model counted times a constant with a source; docs/cost-model.md
// says what the linear form leaves out (caches warming, lock contention,
// parallelism across CPUs, work the model does not count).

import { WORK_KEYS, type WorkCounts, type WorkKey } from "../kernel/work.js";
import type { CostProfile } from "./profile.js";

export interface Cost {
  /** predicted nanoseconds */
  ns: number;
  /** the part of ns each counter contributes (non-zero terms only) */
  byKey: Partial<Record<WorkKey, number>>;
}

/** The predicted time of `counts` under profile p. */
export function costOf(counts: WorkCounts, p: CostProfile): Cost {
  const byKey: Partial<Record<WorkKey, number>> = {};
  let ns = 0;
  for (const key of WORK_KEYS) {
    const n = counts[key];
    const c = p.constants[key];
    if (!n || !c) continue;
    const t = n * c.ns;
    if (t === 0) continue;
    byKey[key] = t;
    ns += t;
  }
  return { ns, byKey };
}

/** a + b, counter by counter. */
export function addCounts(a: WorkCounts, b: WorkCounts): WorkCounts {
  const out: WorkCounts = { ...a };
  for (const [key, v] of Object.entries(b) as [WorkKey, number][]) out[key] = (out[key] ?? 0) + v;
  return out;
}

/** counts / n (means over cycles), keeping fractions. */
export function scaleCounts(a: WorkCounts, factor: number): WorkCounts {
  const out: WorkCounts = {};
  for (const [key, v] of Object.entries(a) as [WorkKey, number][]) out[key] = v * factor;
  return out;
}

/** The counters that contribute most to a cost, largest first. */
export function topTerms(c: Cost, n = 3): Array<[WorkKey, number]> {
  return (Object.entries(c.byKey) as [WorkKey, number][]).sort((x, y) => y[1] - x[1]).slice(0, n);
}

/** "1.23 ms" style, three significant figures. */
export function formatNs(ns: number): string {
  if (ns === 0) return "0";
  const units: Array<[number, string]> = [
    [1e9, "s"],
    [1e6, "ms"],
    [1e3, "µs"],
    [1, "ns"],
  ];
  for (const [f, u] of units) if (Math.abs(ns) >= f) return `${Number((ns / f).toPrecision(3))} ${u}`;
  return `${Number(ns.toPrecision(3))} ns`;
}
