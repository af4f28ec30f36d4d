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

/**
 * runOracleAll(), then once more, from a cold boot (no saved boot), the jobs
 * whose first trace `wantsAgain` rejects: the corpus test's live mode runs a
 * scenario again when its recording shows a difference no divergence covers
 * (docs/oracle.md, "Recorded again"). Returns every job's final outcome and,
 * by job index, the first trace of those run again.
 */
export async function runOracleAllAgainOnce(
  list: readonly OracleJob[],
  wantsAgain: (index: number, trace: Trace) => boolean,
  runAll: (jobs: readonly OracleJob[]) => Promise<OracleOutcome[]> = (jobs) => runOracleAll(jobs),
): Promise<{ outcomes: OracleOutcome[]; firsts: Map<number, Trace> }> {
  const outcomes = await runAll(list);
  const firsts = new Map<number, Trace>();
  const again = outcomes.flatMap((o, i) => ("trace" in o && wantsAgain(i, o.trace) ? [i] : []));
  if (!again.length) return { outcomes, firsts };
  const second = await runAll(
    again.map((i) => ({ ...list[i], opts: { ...list[i].opts, savedBoot: false } })),
  );
  again.forEach((i, k) => {
    firsts.set(i, (outcomes[i] as { trace: Trace }).trace);
    outcomes[i] = second[k];
  });
  return { outcomes, firsts };
}
