// Saving a failing fuzz case as a regression scenario under scenarios/regressions/:
// an ordinary .mhp file (it runs with `memhp run --check FILE`) whose leading
// comments say how it was found and what failed. test/regressions.test.ts replays
// every file there; a file marked `# known-bug:` is expected to fail still (a
// bug written down but not fixed), any other must run clean.

import { existsSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { caseScenarioText, type Failure } from "./driver.js";
import type { MachineSpec } from "./machine.js";

export const REGRESSION_DIR = "scenarios/regressions";
/** The marker of a regression that documents an unfixed bug. */
export const KNOWN_BUG = "# known-bug:";

/** The repository root: the nearest folder above this module with a package.json. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "package.json"))) return dir;
    const up = dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
}

/** FNV-1a, 32 bits, as 8 hex digits: a stable name for a file's content. */
export function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, "0");
}

export interface RegressionInfo {
  /** How the case was found, e.g. "memhp fuzz --seed 7 (case 12)". */
  foundBy: string;
  failure: Failure;
  /** Statements before shrinking. */
  originalSteps: number;
}

export function regressionText(m: MachineSpec, lines: readonly string[], info: RegressionInfo): string {
  const msg = info.failure.message
    .split("\n")
    .slice(0, 6)
    .map((l) => `#   ${l}`);
  return (
    [
      // a known kernel behaviour must keep failing in the model (test/regressions.test.ts)
      ...(info.failure.behaviour ? [`${KNOWN_BUG} ${info.failure.behaviour}`] : []),
      `# Regression found by ${info.foundBy}; shrunk from ${info.originalSteps} to ${lines.length} statements.`,
      `# Failure (${info.failure.kind}, after the last statement):`,
      ...msg,
      `# Replay: memhp run --check FILE (test/regressions.test.ts replays every file here).`,
    ].join("\n") +
    "\n" +
    caseScenarioText(m, lines)
  );
}

/** Write `text` as DIR/<arch>-<hash>.mhp atomically (temporary file, then rename); returns the path. */
export function saveRegression(text: string, arch: string, dir = join(repoRoot(), REGRESSION_DIR)): string {
  mkdirSync(dir, { recursive: true });
  const body = text.replace(/^(#.*\n)*/, ""); // name by the scenario, not by how it was found
  const file = join(dir, `${arch}-${fnv1a(body)}.mhp`);
  if (existsSync(file)) return file;
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
  return file;
}
