// The divergence list random scenarios are judged by: every entry of
// docs/divergences.md (the corpus's, so a random scenario gets the verdict
// `memhp corpus` would give it), plus the entries of its section "Random scenarios
// on the real kernel" that only random scenarios show. Those are written as
//
//     ### fuzz-ID: title
//     ...prose with the evidence...
//     ```fuzz-match
//     { ...a DivergenceMatch... }
//     ```
//
// so that the corpus's parser (src/scenario/divergences.ts, which reads `## ID:`
// headings and ```match blocks) does not see them: the corpus test reports an
// entry that covers nothing in the corpus as stale, and these cover nothing there.

import { readFileSync } from "node:fs";
import { packagePath } from "../paths.js";
import {
  parseDivergences,
  readJsonBlock,
  type Divergence,
  type DivergenceMatch,
} from "../scenario/divergences.js";

const HEADING = /^### (fuzz-[a-z0-9-]+): (.+)$/;

/**
 * A fuzz-only entry: a DivergenceMatch for differences, or, with `problem`, a
 * regex on the signature of a run's problem that is not a difference (a kernel
 * crash, a model failure: see ./oracle-campaign.ts problemsOf()).
 */
export type FuzzMatch = DivergenceMatch & {
  problem?: string;
  /**
   * Regexes on the two values (model `a`, kernel `b`) as JSON text (`"EINVAL"`,
   * `false`; `undefined` when absent): an entry about one answer, not every
   * difference of that item.
   */
  values?: { a?: string; b?: string };
};

/** Does the entry's `values` (if any) accept the difference's two values? */
export function valuesMatch(d: Divergence, diff: { a: unknown; b: unknown }): boolean {
  const v = (d.match as FuzzMatch).values;
  if (!v) return true;
  const text = (x: unknown) => (x === undefined ? "undefined" : JSON.stringify(x));
  return (!v.a || new RegExp(v.a).test(text(diff.a))) && (!v.b || new RegExp(v.b).test(text(diff.b)));
}

export interface FuzzDivergence extends Divergence {
  match: FuzzMatch;
}

/** The fuzz-only entries of docs/divergences.md. */
export function parseFuzzDivergences(text: string): FuzzDivergence[] {
  const out: FuzzDivergence[] = [];
  const lines = text.split("\n");
  let cur: { id: string; title: string } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const h = HEADING.exec(lines[i]);
    if (h) {
      cur = { id: h[1], title: h[2] };
      continue;
    }
    if (/^##? /.test(lines[i])) cur = undefined;
    if (lines[i].trim() === "```fuzz-match" && cur) {
      const { value, end: j } = readJsonBlock(lines, i, `${cur.id}: bad fuzz-match block`);
      const match = value as FuzzMatch;
      // a crash or model failure is named by its signature; a difference by its rule and item
      for (const key of ["rule", "item"] as const)
        if (match.problem === undefined && typeof match[key] !== "string")
          throw new Error(`divergences.md:${i + 1}: ${cur.id}: a fuzz-match block needs "${key}"`);
      out.push({ ...cur, block: out.filter((d) => d.id === cur?.id).length + 1, match });
      i = j;
    }
  }
  return out;
}

export interface FuzzJudgement {
  /** the corpus's entries, then the fuzz-only ones about differences */
  divergences: Divergence[];
  /** the fuzz-only entries about problems that are not differences */
  problems: FuzzDivergence[];
}

export function loadFuzzDivergences(file = packagePath("docs", "divergences.md")): FuzzJudgement {
  const text = readFileSync(file, "utf8");
  const fuzz = parseFuzzDivergences(text);
  return {
    divergences: [...parseDivergences(text), ...fuzz.filter((d) => d.match.problem === undefined)],
    problems: fuzz.filter((d) => d.match.problem !== undefined),
  };
}

/** The entry that lists a problem signature, if any. */
export function listedProblem(
  problems: readonly FuzzDivergence[],
  signature: string,
): FuzzDivergence | undefined {
  return problems.find((d) => d.match.problem !== undefined && new RegExp(d.match.problem).test(signature));
}
