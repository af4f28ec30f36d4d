// Calibration profiles: how long one unit of each kind of work (src/kernel/work.ts)
// takes on a given machine. The model counts the work exactly; a profile turns the
// counts into time. Every constant carries its source, so a reader can see which
// numbers were measured, which were published, and which were derived from first
// principles (docs/cost-model.md lists them all).
//
// File format (profiles/NAME.json), version 1:
//   { "version": 1, "name": "...", "description": "...",
//     "machine": { "arch": "x86_64" | "arm64", "cpus": N, "description": "...", ... },
//     "constants": { "<work key>": { "ns": number,
//        "source": { "kind": "measurement" | "citation" | "derivation", "detail": "..." } } } }
// Extra machine fields (bandwidths, clock) are the inputs the derivations quote.

import { readFileSync, existsSync } from "node:fs";
import path from "node:path";
import { WORK_KEYS, type WorkKey } from "../kernel/work.js";
import { packagePath } from "../paths.js";
import type { Arch } from "../scenario/ast.js";

export const PROFILE_VERSION = 1;

/** The profiles shipped in profiles/. */
export const BUILTIN_PROFILES = ["x86_64-server", "arm64-mobile"] as const;

export const SOURCE_KINDS = ["measurement", "citation", "derivation"] as const;
export type SourceKind = (typeof SOURCE_KINDS)[number];

export interface ConstantSource {
  kind: SourceKind;
  /** the method, the citation (where, what figure) or the derivation (the arithmetic) */
  detail: string;
}

export interface CostConstant {
  /** nanoseconds per unit of the counter */
  ns: number;
  source: ConstantSource;
}

export interface ProfileMachine {
  arch: Arch;
  /** online CPUs: the model machine is booted with this many (what the drains reach) */
  cpus: number;
  description: string;
  /** the numbers the derivations use (bandwidths in GB/s, clock in GHz, ...) */
  [input: string]: string | number;
}

export interface CostProfile {
  version: typeof PROFILE_VERSION;
  name: string;
  description: string;
  machine: ProfileMachine;
  constants: Partial<Record<WorkKey, CostConstant>>;
}

export class ProfileError extends Error {}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Check a parsed profile; throws ProfileError naming the first problem. */
export function validateProfile(raw: unknown, where = "profile"): CostProfile {
  const fail = (msg: string): never => {
    throw new ProfileError(`${where}: ${msg}`);
  };
  if (!isObject(raw)) return fail("not a JSON object");
  if (raw.version !== PROFILE_VERSION) fail(`version ${String(raw.version)}, expected ${PROFILE_VERSION}`);
  if (typeof raw.name !== "string" || !raw.name) fail("no name");
  if (typeof raw.description !== "string") fail("no description");
  const m = raw.machine;
  if (!isObject(m)) return fail("no machine");
  if (m.arch !== "x86_64" && m.arch !== "arm64") fail(`machine.arch ${String(m.arch)}`);
  if (!Number.isInteger(m.cpus) || (m.cpus as number) < 1) fail(`machine.cpus ${String(m.cpus)}`);
  if (typeof m.description !== "string") fail("no machine.description");
  for (const [k, v] of Object.entries(m))
    if (typeof v !== "string" && typeof v !== "number") fail(`machine.${k}: not a string or number`);
  const c = raw.constants;
  if (!isObject(c)) return fail("no constants");
  const known = new Set<string>(WORK_KEYS);
  for (const [key, v] of Object.entries(c)) {
    if (!known.has(key)) fail(`constants.${key}: not a work counter`);
    if (!isObject(v)) return fail(`constants.${key}: not an object`);
    if (typeof v.ns !== "number" || !Number.isFinite(v.ns) || v.ns < 0)
      fail(`constants.${key}.ns: ${String(v.ns)}`);
    const s = v.source;
    if (!isObject(s)) return fail(`constants.${key}: no source`);
    if (!(SOURCE_KINDS as readonly unknown[]).includes(s.kind))
      fail(`constants.${key}.source.kind: ${String(s.kind)}`);
    if (typeof s.detail !== "string" || s.detail.trim().length < 10)
      fail(`constants.${key}.source.detail: say where the number comes from`);
  }
  return raw as unknown as CostProfile;
}

/** The counters a profile has no constant for (they cost nothing in its predictions). */
export function missingConstants(p: CostProfile): WorkKey[] {
  return WORK_KEYS.filter((k) => p.constants[k] === undefined);
}

export function parseProfile(text: string, where = "profile"): CostProfile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ProfileError(`${where}: ${(e as Error).message}`);
  }
  return validateProfile(raw, where);
}

/** A shipped profile by name ("x86_64-server"), or a profile file by path. */
export function loadProfile(nameOrPath: string): CostProfile {
  const file =
    nameOrPath.endsWith(".json") || nameOrPath.includes(path.sep)
      ? nameOrPath
      : packagePath("profiles", `${nameOrPath}.json`);
  if (!existsSync(file))
    throw new ProfileError(`${nameOrPath}: no such profile (shipped: ${BUILTIN_PROFILES.join(", ")})`);
  return parseProfile(readFileSync(file, "utf8"), file);
}
