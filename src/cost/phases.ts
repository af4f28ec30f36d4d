// The four phases the bench reports (offline, depopulate/remove, populate/add,
// online) and how work is attributed to them. The model records work per kernel
// function (Work.withPhase()); a bench phase is decided by the innermost open
// kernel function that belongs to one, so that offline_and_remove_memory()
// splits into its device_offline() part (offline) and the rest (remove), and an
// add_memory_resource() that auto-onlines splits into add and online.

import type { Work, WorkCounts, WorkKey } from "../kernel/work.js";

export const BENCH_PHASES = ["offline", "depopulate/remove", "populate/add", "online"] as const;
export type BenchPhase = (typeof BENCH_PHASES)[number];

/** Kernel functions (and strategy steps) that mark a bench phase. */
const MARKERS: ReadonlyMap<string, BenchPhase> = new Map<string, BenchPhase>([
  // taking memory away from the page allocator
  ["device_offline", "offline"],
  ["offline_pages", "offline"],
  ["offline", "offline"], // strategy step: device_offline() of every block
  ["alloc_contig_range", "offline"],
  ["fake_offline", "offline"],
  // tearing down what backs it
  ["offline_and_remove_memory", "depopulate/remove"],
  ["remove_memory", "depopulate/remove"],
  ["try_remove_memory", "depopulate/remove"],
  ["remove_memory_block_devices", "depopulate/remove"],
  ["arch_remove_memory", "depopulate/remove"],
  ["__remove_pages", "depopulate/remove"],
  ["offline_and_depopulate_memory", "depopulate/remove"], // RFC v2: its device_offline() part is offline
  ["offline_and_depopulate_memory_whole", "depopulate/remove"], // its offline_pages() part is offline
  ["alloc_contig_range_unmapped", "depopulate/remove"], // its alloc_contig_range() part is offline
  ["arch_remove_linear_mapping", "depopulate/remove"],
  // building it again
  ["add_memory_driver_managed", "populate/add"],
  ["add_memory_resource", "populate/add"],
  ["arch_add_memory", "populate/add"],
  ["__add_pages", "populate/add"],
  ["create_memory_block_devices", "populate/add"],
  ["populate_and_online_memory", "populate/add"], // RFC v2: its device_online() part is online
  ["free_contig_range_unmapped", "populate/add"], // its free_contig_range() part is online
  ["arch_create_linear_mapping", "populate/add"],
  // giving memory to the page allocator
  ["device_online", "online"],
  ["online_pages", "online"],
  ["online", "online"], // strategy step
  ["free_contig_range", "online"],
  ["fake_online", "online"],
]);

/** The bench phase of work done with `phases` open (outermost first), or `fallback`. */
export function benchPhaseOf(
  phases: readonly string[],
  fallback: BenchPhase | undefined,
): BenchPhase | undefined {
  for (let i = phases.length - 1; i >= 0; i--) {
    const name = phases[i].startsWith("undo ") ? phases[i].slice(5) : phases[i];
    const p = MARKERS.get(name);
    if (p) return p;
  }
  return fallback;
}

export type PhaseCounts = Record<BenchPhase, WorkCounts>;

export function emptyPhaseCounts(): PhaseCounts {
  return { offline: {}, "depopulate/remove": {}, "populate/add": {}, online: {} };
}

/**
 * Attributes every unit of work done while it listens to a bench phase.
 * `fallback` is the phase of work done outside any marker (set it around a
 * host event: a virtio-mem plug is populate/add, an unplug depopulate/remove).
 */
export class PhaseRecorder {
  readonly counts: PhaseCounts = emptyPhaseCounts();
  /** work done outside any phase (background activity, the workload, power-on/off) */
  readonly unattributed: WorkCounts = {};
  fallback: BenchPhase | undefined;
  private readonly stop: () => void;

  constructor(work: Work) {
    this.stop = work.observe((key: WorkKey, n: number, phases: readonly string[]) => {
      const p = benchPhaseOf(phases, this.fallback);
      const bucket = p ? this.counts[p] : this.unattributed;
      bucket[key] = (bucket[key] ?? 0) + n;
    });
  }

  /** Run fn with `fallback` as the phase of unmarked work. */
  during<T>(fallback: BenchPhase | undefined, fn: () => T): T {
    const saved = this.fallback;
    this.fallback = fallback;
    try {
      return fn();
    } finally {
      this.fallback = saved;
    }
  }

  close(): void {
    this.stop();
  }
}
