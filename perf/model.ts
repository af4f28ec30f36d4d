// The model as the benchmarks drive it: the scenario API of a built tree
// (dist/), loaded from a directory so that the same benchmark can run an older
// build of memhp (`npm run perf -- --baseline REV`) next to this one. Only
// the scenario entry points and a few kernel fields are used, which older
// trees have too.

import path from "node:path";
import { pathToFileURL } from "node:url";

/** The kernel fields the benchmarks read. */
export interface BenchKernel {
  tick(): void;
  checkInvariants(opts?: { incremental?: boolean }): string[];
  alloc: { totalramPages: number };
  work: { total: Record<string, number> };
}

export interface ModelApi {
  parseScenario(text: string, file: string): { body: { loc: { line: number } }[] };
  bootScenario(sc: unknown, seed: number): BenchKernel;
  executeStatement(k: BenchKernel, st: unknown): unknown;
}

/** The scenario API of the built tree whose dist/ is `distRoot`. */
export async function loadModel(distRoot: string): Promise<ModelApi> {
  const mod = (rel: string) => import(pathToFileURL(path.join(distRoot, rel)).href);
  const parse = await mod("src/scenario/parse.js");
  const run = await mod("src/scenario/run.js");
  return {
    parseScenario: parse.parseScenario,
    bootScenario: run.bootScenario,
    executeStatement: run.executeStatement,
  };
}
