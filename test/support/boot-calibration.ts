// The boot calibration fixture (test/fixtures/boot-calibration.json, issue 16):
// the kernel's first readings at boot on machines of many sizes, and the model's
// readings of the same machines, compared number by number.

import { readFileSync } from "node:fs";
import { counterNumbers } from "../../src/scenario/diff.js";
import { parseScenario } from "../../src/scenario/parse.js";
import { runScenario } from "../../src/scenario/run.js";

export interface BootCalibrationMachine {
  arch: "x86_64" | "arm64";
  mem: string;
  maxmem: string;
  slots?: number;
  /** uname -r of the kernel that gave these numbers */
  release: string;
  /** the compared numbers of the first /proc/meminfo and /proc/zoneinfo, by memhp diff's keys */
  numbers: Record<string, number>;
  /** the boot log's lines on what the kernel reserved and freed */
  log: string[];
}

export interface BootCalibration {
  about: string;
  machines: BootCalibrationMachine[];
}

export function loadBootCalibration(file: string): BootCalibration {
  return JSON.parse(readFileSync(file, "utf8")) as BootCalibration;
}

/** The model's numbers for the machine, read right after boot as the oracle reads them. */
export function bootCalibrationMachine(
  m: Pick<BootCalibrationMachine, "arch" | "mem" | "maxmem" | "slots">,
): Record<string, number> {
  const text = [
    `machine ${m.arch} mem=${m.mem} maxmem=${m.maxmem}${m.slots !== undefined ? ` slots=${m.slots}` : ""}`,
    "boot",
    "read /proc/meminfo",
    "read /proc/zoneinfo",
    "",
  ].join("\n");
  const out: Record<string, number> = {};
  for (const rec of runScenario(parseScenario(text, "boot-calibration.mhp")).records)
    if (rec.op === "read" && typeof rec.value === "string")
      for (const [key, v] of counterNumbers(rec.path as string, rec.value)) out[key] = v;
  return out;
}

/**
 * How much the model may differ from the kernel at the first reading: nothing,
 * except where the kernel's number follows its own activity while booting
 * (free pages: the slab, page cache and stacks of the boot; docs/divergences.md
 * "boot-allocations").
 */
export function bootCalibrationTolerance(key: string): number {
  if (key === "MemFree") return BOOT_FREE_KB;
  if (/: (pages free|nr_free_pages)$/.test(key)) return BOOT_FREE_KB / 4;
  return 0;
}
export const BOOT_FREE_KB = 16384;

export interface BootCalibrationDifference {
  key: string;
  model: number;
  kernel: number;
}

/** The kernel's numbers the model does not reproduce within bootCalibrationTolerance(). */
export function compareBootCalibration(
  m: BootCalibrationMachine,
  model: Record<string, number>,
  tolerance: (key: string) => number = bootCalibrationTolerance,
): BootCalibrationDifference[] {
  const out: BootCalibrationDifference[] = [];
  for (const [key, kernel] of Object.entries(m.numbers)) {
    if (/ zone DMA: (cma|nr_free_cma)$/.test(key)) continue;
    const v = model[key];
    if (v === undefined || Math.abs(v - kernel) > tolerance(key)) out.push({ key, model: v ?? NaN, kernel });
  }
  return out;
}
