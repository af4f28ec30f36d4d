// `memhp bench`: strategies × scenarios × cycles on the machine of each profile,
// and the virtio-mem sweep. The model does the work and counts it exactly; the
// profile's constants turn the counts into time (engine.ts); the auditor gives the
// exposure verdict; kept.ts reads what stays allocated while the memory is off.
//
// Strategy runs use the demo's machine (src/cli/demo.ts: boot RAM plus
// driver-managed memory added with add_memory_driver_managed() and onlined
// movable), with the profile's architecture and CPU count. The sweep plugs and
// unplugs memory through a virtio-mem device with auto-onlining to
// ZONE_MOVABLE, one size after the other, each on a fresh machine.

import { errnoName } from "../errno.js";
import { Kernel } from "../kernel/kernel.js";
import type { WorkCounts } from "../kernel/work.js";
import { MAPPING_KINDS, type ExposureFinding } from "../mm/exposure_audit.js";
import { STRATEGY_KINDS, STRATEGY_TITLES, type StrategyKind } from "../drivers/memory/strategies.js";
import {
  DRIVER_RESOURCE,
  PHONE_MACHINE,
  bootDriverMachine,
  runPowerCycles,
} from "../drivers/memory/power_cycle.js";
import { addCounts, costOf, scaleCounts, topTerms } from "./engine.js";
import { keptMemory, type KeptMemory } from "./kept.js";
import {
  BENCH_PHASES,
  PhaseRecorder,
  emptyPhaseCounts,
  type BenchPhase,
  type PhaseCounts,
} from "./phases.js";
import type { CostProfile } from "./profile.js";

const GiB = 2 ** 30;
const MiB = 2 ** 20;

/** The name the bench's driver gives its memory (as the demo's: Qualcomm's driver was "mem-offline"). */
export const BENCH_RESOURCE = DRIVER_RESOURCE;

export interface BenchScenario {
  name: string;
  description: string;
  /** workload steps before the first power-down, while the memory is off, and after each power-up */
  steps: readonly [number, number, number];
  /** workload operations per step */
  intensity: number;
}

export const BENCH_SCENARIOS: Readonly<Record<string, BenchScenario>> = {
  idle: {
    name: "idle",
    description: "no workload: every page of the range is free when it is taken away",
    steps: [0, 0, 0],
    intensity: 0,
  },
  workload: {
    name: "workload",
    description:
      "the demo's seeded workload (64/16/16 steps × 1024 ops): pages of the range must be migrated",
    steps: [64, 16, 16],
    intensity: 1024,
  },
};

export interface BenchMachine {
  /** RAM the kernel boots with */
  bootBytes: number;
  /** driver-managed memory added after boot; the range powered down and up is all of it */
  driverBytes: number;
}

/** The demo machine's shape (src/drivers/memory/power_cycle.ts PHONE_MACHINE, as the demo's). */
export const DEMO_MACHINE: BenchMachine = {
  bootBytes: PHONE_MACHINE.bootBytes,
  driverBytes: PHONE_MACHINE.driverBytes,
};

export interface PhaseStats {
  /** mean predicted time over the cycles */
  meanNs: number;
  minNs: number;
  maxNs: number;
  /** mean counts per cycle */
  counts: WorkCounts;
  /** the counters that cost most, [key, ns] */
  top: Array<[string, number]>;
}

export type ExposureVerdict = "clean" | "exposed" | "accessed";

export interface StrategyRun {
  profile: string;
  arch: string;
  cpus: number;
  strategy: StrategyKind;
  title: string;
  scenario: string;
  cycles: number;
  /** every cycle powered down and up without an error */
  ok: boolean;
  errors: string[];
  phases: Record<BenchPhase, PhaseStats>;
  /** mean predicted time of a power-down (offline + depopulate/remove) and of a power-up */
  downNs: number;
  upNs: number;
  cycleNs: number;
  /** what stays allocated while powered down (last cycle) */
  kept: KeptMemory;
  exposure: {
    verdict: ExposureVerdict;
    /** findings by kind, over every cycle */
    findings: Record<string, number>;
  };
  /** per cycle: the predicted time of each phase */
  perCycle: Array<Record<BenchPhase, number>>;
}

export interface SweepPoint {
  sizeBytes: number;
  blocks: number;
  plugErr: string;
  unplugErr: string;
  /** predicted time of each phase while plugging (populate/add + online) and unplugging (offline + remove) */
  plug: Record<BenchPhase, number>;
  unplug: Record<BenchPhase, number>;
  plugNs: number;
  unplugNs: number;
  plugCounts: WorkCounts;
  unplugCounts: WorkCounts;
  /** what the model itself took: wall time of boot + plug + unplug, and the heap after plugging */
  modelMs: number;
  heapBytes: number;
}

export interface SweepReport {
  profile: string;
  machine: { arch: string; cpus: number; bootBytes: number; maxmemBytes: number; vmemBytes: number };
  points: SweepPoint[];
  /** sizes that were asked for but not run, and why */
  skipped: Array<{ sizeBytes: number; reason: string }>;
}

export interface ProgressEvent {
  done: number;
  total: number;
  label: string;
}

export interface BenchOptions {
  profiles: readonly CostProfile[];
  strategies: readonly StrategyKind[];
  scenarios: readonly BenchScenario[];
  cycles: number;
  seed: number;
  machine: BenchMachine;
  /** sizes for the virtio-mem sweep (bytes, multiples of 128 MiB); none: no sweep */
  sweepSizes: readonly number[];
  /** the profile the sweep uses (default: the first x86_64 profile) */
  sweepProfile?: CostProfile;
  /** the sweep stops before a size whose model would need more heap than this (bytes) */
  sweepHeapLimit?: number;
  onProgress?: (e: ProgressEvent) => void;
}

export interface BenchReport {
  version: 1;
  profiles: Array<{ name: string; description: string; machine: CostProfile["machine"] }>;
  machine: BenchMachine;
  seed: number;
  cycles: number;
  scenarios: BenchScenario[];
  runs: StrategyRun[];
  sweep: SweepReport | undefined;
}

/** Boot the bench machine for profile p: boot RAM, then the driver's memory, onlined movable. */
export function bootBenchMachine(
  p: CostProfile,
  m: BenchMachine,
  seed: number,
): { k: Kernel; start: number; baselineTables: number } {
  return bootDriverMachine(
    { arch: p.machine.arch, bootBytes: m.bootBytes, driverBytes: m.driverBytes, seed, cpus: p.machine.cpus },
    "bench",
  );
}

function phaseTimes(counts: PhaseCounts, p: CostProfile): Record<BenchPhase, number> {
  const out = {} as Record<BenchPhase, number>;
  for (const ph of BENCH_PHASES) out[ph] = costOf(counts[ph], p).ns;
  return out;
}

/** One strategy under one scenario for `cycles` power-down/power-up cycles. */
export function runStrategyBench(
  p: CostProfile,
  kind: StrategyKind,
  sc: BenchScenario,
  cycles: number,
  seed: number,
  machine: BenchMachine = DEMO_MACHINE,
): StrategyRun {
  const { k, start, baselineTables } = bootBenchMachine(p, machine, seed);
  const size = machine.driverBytes;
  const findings: ExposureFinding[] = [];
  const audit = (): void => void findings.push(...k.auditor.audit());
  const errors: string[] = [];
  const perCycle: Array<Record<BenchPhase, number>> = [];
  const total = emptyPhaseCounts();
  let kept: KeptMemory | undefined;
  // (a throw leaves the recorder on a machine that is thrown away with it)
  let rec: PhaseRecorder | undefined;
  const { cycles: done } = runPowerCycles(
    k,
    kind,
    start,
    size,
    { cycles, workload: sc },
    {
      ready: () => void (kept = keptMemory(k, start, size, baselineTables)),
      cycleStart: () => void (rec = new PhaseRecorder(k.work)),
      phase: audit,
      downDone: (down) => {
        if (!down.err) kept = keptMemory(k, start, size, baselineTables);
      },
      whileOff: audit,
      cycleEnd: (c, down, up) => {
        rec!.close();
        if (down.err) errors.push(`cycle ${c + 1}: power-down ${errnoName(down.err)}`);
        if (up?.err) errors.push(`cycle ${c + 1}: power-up ${errnoName(up.err)}`);
        perCycle.push(phaseTimes(rec!.counts, p));
        for (const ph of BENCH_PHASES) total[ph] = addCounts(total[ph], rec!.counts[ph]);
      },
      after: audit,
    },
  );
  const mean = {} as PhaseCounts;
  for (const ph of BENCH_PHASES) mean[ph] = scaleCounts(total[ph], 1 / Math.max(1, done));
  const phases = {} as Record<BenchPhase, PhaseStats>;
  for (const ph of BENCH_PHASES) {
    const cost = costOf(mean[ph], p);
    const times = perCycle.map((t) => t[ph]);
    phases[ph] = {
      meanNs: cost.ns,
      minNs: Math.min(...times),
      maxNs: Math.max(...times),
      counts: mean[ph],
      top: topTerms(cost, 3),
    };
  }
  const byKind: Record<string, number> = {};
  for (const f of findings) byKind[f.kind] = (byKind[f.kind] ?? 0) + f.count;
  const mapped = findings.some((f) => MAPPING_KINDS.has(f.kind));
  const verdict: ExposureVerdict = mapped ? "exposed" : findings.length ? "accessed" : "clean";
  const downNs = phases.offline.meanNs + phases["depopulate/remove"].meanNs;
  const upNs = phases["populate/add"].meanNs + phases.online.meanNs;
  return {
    profile: p.name,
    arch: p.machine.arch,
    cpus: p.machine.cpus,
    strategy: kind,
    title: STRATEGY_TITLES[kind],
    scenario: sc.name,
    cycles: done,
    ok: errors.length === 0,
    errors,
    phases,
    downNs,
    upNs,
    cycleNs: downNs + upNs,
    kept: kept!,
    exposure: { verdict, findings: byKind },
    perCycle,
  };
}

/** The sweep's machine for a largest size: boot RAM 16 GiB, room for the virtio-mem device. */
export function sweepMachine(maxSize: number): { bootBytes: number; maxmemBytes: number; vmemBytes: number } {
  const vmemBytes = Math.max(maxSize, 128 * MiB);
  return { bootBytes: 16 * GiB, maxmemBytes: 16 * GiB + vmemBytes + 8 * GiB, vmemBytes };
}

/** Plug `size` through virtio-mem (auto-onlined movable) and unplug it again, on a fresh machine. */
export function runSweepPoint(p: CostProfile, size: number, vmemBytes: number, seed: number): SweepPoint {
  const t0 = performance.now();
  const sm = sweepMachine(vmemBytes);
  const k = Kernel.boot({
    arch: p.machine.arch,
    memBytes: sm.bootBytes,
    maxmemBytes: sm.maxmemBytes,
    vmems: [{ id: "vm0", sizeBytes: sm.vmemBytes }],
    cmdline: ["memhp_default_state=online_movable"],
    seed,
    cpus: p.machine.cpus,
  });
  const vm = k.virtioMem.get("vm0");
  if (!vm) throw new Error("sweep: no virtio-mem device");
  const rec = new PhaseRecorder(k.work);
  let plugErr = 0;
  let unplugErr = 0;
  rec.during("populate/add", () => {
    plugErr = k.host.vmemResize("vm0", size).err || vm.lastResult;
  });
  const plug = clonePhaseCounts(rec.counts);
  const mem = process.memoryUsage();
  const heapBytes = mem.heapUsed + mem.arrayBuffers;
  rec.during("depopulate/remove", () => {
    unplugErr = k.host.vmemResize("vm0", 0).err || vm.lastResult;
  });
  rec.close();
  const unplug = subtractPhaseCounts(rec.counts, plug);
  const plugT = phaseTimes(plug, p);
  const unplugT = phaseTimes(unplug, p);
  const sum = (r: Record<BenchPhase, number>): number => BENCH_PHASES.reduce((n, ph) => n + r[ph], 0);
  const all = (pc: PhaseCounts): WorkCounts => BENCH_PHASES.reduce((acc, ph) => addCounts(acc, pc[ph]), {});
  return {
    sizeBytes: size,
    blocks: size / k.memory.blockSizeBytes,
    plugErr: plugErr ? errnoName(plugErr) : "ok",
    unplugErr: unplugErr ? errnoName(unplugErr) : "ok",
    plug: plugT,
    unplug: unplugT,
    plugNs: sum(plugT),
    unplugNs: sum(unplugT),
    plugCounts: all(plug),
    unplugCounts: all(unplug),
    modelMs: performance.now() - t0,
    heapBytes,
  };
}

function clonePhaseCounts(c: PhaseCounts): PhaseCounts {
  const out = {} as PhaseCounts;
  for (const ph of BENCH_PHASES) out[ph] = { ...c[ph] };
  return out;
}

function subtractPhaseCounts(a: PhaseCounts, b: PhaseCounts): PhaseCounts {
  const out = {} as PhaseCounts;
  for (const ph of BENCH_PHASES) out[ph] = addCounts(a[ph], scaleCounts(b[ph], -1));
  return out;
}

/** The default sweep: one block to 512 GiB. */
export const DEFAULT_SWEEP_SIZES: readonly number[] = [
  128 * MiB,
  1 * GiB,
  4 * GiB,
  16 * GiB,
  64 * GiB,
  128 * GiB,
  256 * GiB,
  512 * GiB,
];

export function runBench(o: BenchOptions): BenchReport {
  const strategyJobs = o.profiles.length * o.strategies.length * o.scenarios.length;
  const total = strategyJobs + o.sweepSizes.length;
  let done = 0;
  const progress = (label: string): void => o.onProgress?.({ done, total, label });
  const runs: StrategyRun[] = [];
  for (const p of o.profiles)
    for (const sc of o.scenarios)
      for (const kind of o.strategies) {
        progress(`${p.name} ${sc.name} ${kind}`);
        runs.push(runStrategyBench(p, kind, sc, o.cycles, o.seed, o.machine));
        done++;
      }
  let sweep: SweepReport | undefined;
  if (o.sweepSizes.length) {
    const sp = o.sweepProfile ?? o.profiles.find((p) => p.machine.arch === "x86_64") ?? o.profiles[0];
    const maxSize = Math.max(...o.sweepSizes);
    const sm = sweepMachine(maxSize);
    sweep = {
      profile: sp.name,
      machine: { arch: sp.machine.arch, cpus: sp.machine.cpus, ...sm },
      points: [],
      skipped: [],
    };
    const limit = o.sweepHeapLimit ?? Infinity;
    for (const size of [...o.sweepSizes].sort((a, b) => a - b)) {
      progress(`sweep ${sp.name} ${size / GiB} GiB`);
      const last = sweep.points[sweep.points.length - 1];
      // The model's heap grows about linearly with the memory it holds: extrapolate.
      const expect = last ? (last.heapBytes * size) / last.sizeBytes : 0;
      if (expect > limit) {
        sweep.skipped.push({
          sizeBytes: size,
          reason: `the model would need about ${(expect / GiB).toFixed(1)} GiB of heap (limit ${(limit / GiB).toFixed(1)} GiB)`,
        });
      } else sweep.points.push(runSweepPoint(sp, size, maxSize, o.seed));
      done++;
    }
  }
  progress("done");
  return {
    version: 1,
    profiles: o.profiles.map((p) => ({ name: p.name, description: p.description, machine: p.machine })),
    machine: o.machine,
    seed: o.seed,
    cycles: o.cycles,
    scenarios: [...o.scenarios],
    runs,
    sweep,
  };
}

export { STRATEGY_KINDS };
