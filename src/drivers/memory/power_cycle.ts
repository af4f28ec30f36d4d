// The power-down / power-up cycle of driver-managed memory under one strategy
// (strategies.ts), on the machine the RFC came from: boot RAM, then the
// driver's memory added with add_memory_driver_managed() into its static
// memory group and onlined movable, the seeded workload running before, while
// the memory is off, and after. `memhp demo` (src/cli/demo.ts) and `memhp
// bench` (src/cost/bench.ts) both run it and only read what they need through
// the hooks: the demo audits after each phase, the bench attributes work to
// its phases and reads what is kept while off.
//
// Not kernel code: the model's stand-in for the phone's driver and its user.

import { errnoName } from "../../errno.js";
import type { Arch } from "../../arch/arch.js";
import { Kernel } from "../../kernel/kernel.js";
import {
  MHP_MEMMAP_ON_MEMORY,
  MHP_MERGE_RESOURCE,
  MHP_NID_IS_MGID,
  MHP_NONE,
} from "../../mm/memory_hotplug.js";
import { createStrategy, type PhaseResult, type StrategyKind, type StrategyResult } from "./strategies.js";

const GiB = 2 ** 30;

/** The name the driver gives its memory (Qualcomm's driver was "mem-offline"). */
export const DRIVER_RESOURCE = "System RAM (mem-offline)";

export interface DriverMachine {
  arch: Arch;
  /** RAM the kernel boots with */
  bootBytes: number;
  /** driver-managed memory added after boot, at the board's device-memory base */
  driverBytes: number;
  seed: number;
  /** CPUs (default: the kernel's default, 1) */
  cpus?: number;
  /**
   * Boot with memory_hotplug.memmap_on_memory=1 and add the driver's memory a
   * block at a time with MHP_MEMMAP_ON_MEMORY (6.1 supports it only for adds
   * of exactly one block), so each block's memmap lives in its first pages.
   */
  memmapOnMemory?: boolean;
}

/** The RFC's phone (an arm64 one; the callers pick the arch): 6 GiB the kernel boots with, 2 GiB a driver adds and powers down. */
export const PHONE_MACHINE = { bootBytes: 6 * GiB, driverBytes: 2 * GiB } as const;

export interface BootedMachine {
  k: Kernel;
  /** where the driver's memory starts */
  start: number;
  /** kernel page-table pages before the driver's memory was added */
  baselineTables: number;
}

/** Boot the machine and add the driver's memory, onlined movable; `who` prefixes the errors. */
export function bootDriverMachine(m: DriverMachine, who: string): BootedMachine {
  const k = Kernel.boot({
    arch: m.arch,
    memBytes: m.bootBytes,
    maxmemBytes: m.bootBytes + m.driverBytes,
    cmdline: m.memmapOnMemory ? ["memory_hotplug.memmap_on_memory=1"] : [],
    seed: m.seed,
    cpus: m.cpus,
  });
  const baselineTables = k.arch.pgtable.tablePages();
  const start = k.board.deviceMemoryBase;
  const bs = k.memory.blockSizeBytes;
  const adds: Array<[number, number, number]> = m.memmapOnMemory
    ? Array.from({ length: m.driverBytes / bs }, (_, i) => [
        start + i * bs,
        bs,
        MHP_MEMMAP_ON_MEMORY | MHP_MERGE_RESOURCE,
      ])
    : [[start, m.driverBytes, MHP_NONE]];
  // the driver's static memory group (RFC v2 takes it as the owner)
  const mgid = k.memory.memoryGroupRegisterStatic(0, m.driverBytes / 4096);
  for (const [s, n, flags] of adds) {
    const rc = k.hotplug.addMemoryDriverManaged(mgid, s, n, DRIVER_RESOURCE, flags | MHP_NID_IS_MGID);
    if (rc) throw new Error(`${who}: add_memory_driver_managed failed: ${errnoName(rc)}`);
  }
  // ZONE_MOVABLE, so that offlining and alloc_contig_range() can succeed under the workload.
  k.hotplug.walkMemoryBlocks(start, m.driverBytes, (mem) => {
    const r = k.kernfs.write(`/sys/devices/system/memory/memory${mem.id}/state`, "online_movable");
    if (typeof r === "number" && r < 0) throw new Error(`${who}: onlining memory${mem.id}: ${errnoName(r)}`);
    return 0;
  });
  return { k, start, baselineTables };
}

export interface CycleWorkload {
  /** workload steps before the first power-down, while the memory is off, and after each power-up */
  steps: readonly [number, number, number];
  /** workload operations per step */
  intensity: number;
}

/** What the callers observe; every hook is optional. */
export interface CycleHooks {
  /** the workload before ran and the auditor was reset: nothing is powered down yet */
  ready?(): void;
  /** cycle `c` (from 0) begins */
  cycleStart?(c: number): void;
  /** after each phase of either direction (the guest has run on: Kernel.tick()) */
  phase?(p: PhaseResult, dir: "down" | "up"): void;
  /** the power-down returned (succeeded or not); before the workload while off */
  downDone?(down: StrategyResult): void;
  /** after the workload while the memory is off */
  whileOff?(): void;
  /** cycle `c` ended: its power-down and (when it ran) power-up */
  cycleEnd?(c: number, down: StrategyResult, up: StrategyResult | undefined): void;
  /** after the workload that follows a cycle */
  after?(): void;
}

export interface CycleOptions {
  cycles: number;
  workload: CycleWorkload;
  /** run the workload after a failed cycle too (and then stop); else stop at once */
  workloadAfterFailure?: boolean;
}

export interface CycleOutcome {
  /** cycles run (the last may have failed) */
  cycles: number;
  /** the last cycle's directions */
  down: StrategyResult;
  up: StrategyResult | undefined;
}

/**
 * `o.cycles` power-down / power-up cycles of [start, start + size) under
 * `kind` on k, with the workload. The workload while off and after runs as
 * the auditor's operation "workload"; a failing cycle is the last.
 */
export function runPowerCycles(
  k: Kernel,
  kind: StrategyKind,
  start: number,
  size: number,
  o: CycleOptions,
  hooks: CycleHooks = {},
): CycleOutcome {
  const wl = (steps: number): void => {
    if (steps > 0 && o.workload.intensity > 0)
      k.runWorkload(steps, { intensity: String(o.workload.intensity) });
  };
  wl(o.workload.steps[0]);
  k.auditor.audit(); // start clean: forget anything seen during set-up
  hooks.ready?.();
  const strategy = createStrategy(k, kind);
  const onPhase = (dir: "down" | "up") => (p: PhaseResult) => {
    k.tick();
    hooks.phase?.(p, dir);
  };
  let down: StrategyResult = { err: 0, phases: [] };
  let up: StrategyResult | undefined;
  let c = 0;
  while (c < o.cycles) {
    hooks.cycleStart?.(c);
    up = undefined;
    down = strategy.powerDown(start, size, onPhase("down"));
    hooks.downDone?.(down);
    if (!down.err) {
      k.auditor.during("workload", () => wl(o.workload.steps[1]));
      hooks.whileOff?.();
      up = strategy.powerUp(start, size, onPhase("up"));
    }
    hooks.cycleEnd?.(c, down, up);
    c++;
    const failed = down.err !== 0 || (up?.err ?? 0) !== 0;
    if (failed && !o.workloadAfterFailure) break;
    k.auditor.during("workload", () => wl(o.workload.steps[2]));
    hooks.after?.();
    if (failed) break;
  }
  return { cycles: c, down, up };
}
