// Several oracle scenarios at once: each guest spends most of its time waiting
// (settling after host events, the guest's own delayed work), so two guests on
// a 2-core machine finish a corpus in about half the time. Traces come back in
// the order of the scenarios, each exactly what runOracle() gives alone.

import os from "node:os";
import type { Scenario } from "../scenario/ast.js";
import type { Trace } from "../scenario/trace.js";
import { runOracle, type OracleOptions } from "./run.js";

/** Guests at once by default: MEMHP_ORACLE_JOBS, else 2 (never more than the cores). */
export function defaultOracleJobs(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.MEMHP_ORACLE_JOBS);
  if (Number.isInteger(n) && n >= 1) return n;
  return Math.max(1, Math.min(2, os.availableParallelism()));
}

export interface OracleJob {
  scenario: Scenario;
  opts?: OracleOptions;
}

/** A trace, or the error that run ended with. */
export type OracleOutcome = { trace: Trace } | { error: Error };

/**
 * Runs the jobs with at most `jobs` guests at once and returns their
 * outcomes in job order. The saved boot a job needs is made by the first job
 * that needs it; jobs of one command line wait for it rather than booting cold
 * side by side.
 */
export async function runOracleAll(
  list: readonly OracleJob[],
  opts: OracleOptions = {},
  jobs = defaultOracleJobs(),
): Promise<OracleOutcome[]> {
  const out: OracleOutcome[] = new Array<OracleOutcome>(list.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= list.length) return;
      try {
        out[i] = { trace: await runOracle(list[i].scenario, { ...opts, ...list[i].opts }) };
      } catch (e) {
        out[i] = { error: e as Error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(jobs, list.length)) }, worker));
  return out;
}
