// Exact counts of the work the model does, the raw material of the cost model.
// Every mechanism bumps the counter of what it really did (a PTE written, a
// table page freed, a struct page initialised), so the counts are facts about the
// operation, not estimates. Counts are grouped by the phase they happened in
// (the kernel function that did the work), set by `withPhase()`.

export const WORK_KEYS = [
  "memmapPagesInit", // struct pages initialised (memmap_init_range)
  "pagesToBuddy", // pages handed to the buddy allocator (online, free)
  "pagesFromBuddy", // pages taken from the buddy allocator (alloc, offline)
  "pagesIsolated",
  "pagesScanned",
  "pagesMigrated",
  "bytesCopied",
  "pteWritten",
  "pmdWritten",
  "pudWritten",
  "p4dWritten",
  "pgdWritten",
  "pteCleared",
  "pmdCleared",
  "pudCleared",
  "p4dCleared",
  "pgdCleared",
  "tablePagesAllocated",
  "tablePagesFreed",
  "tlbFlushPage",
  "tlbFlushRange",
  "tlbFlushAll",
  "vmemmapPagesAllocated",
  "vmemmapPagesFreed",
  "sectionsActivated",
  "sectionsDeactivated",
  "memoryBlocksRegistered",
  "memoryBlocksUnregistered",
  "kobjects",
  "sysfsFiles",
  "uevents",
  "resourcesRequested",
  "resourcesReleased",
  "zoneSpanUpdates",
  "pageblocksScanned",
  "zonelistRebuilds",
  "synchronizeRcu", // synchronize_rcu(): a normal grace period, waited for
  "synchronizeRcuExpedited", // synchronize_rcu_expedited() (lru_cache_disable())
  "lruAddDrainAll",
  "drainAllPages",
  "cpusReached", // CPUs whose per-cpu lists a drain_all_pages()/lru_add_drain_all() reached
  "notifierCalls",
  "cacheLinesCleaned", // data-cache lines cleaned+invalidated to PoC (RFC v2 offline_and_depopulate_memory())
  "pagesMarkedOffline", // struct pages marked or cleared PageOffline (RFC v2, both directions)
] as const;

export type WorkKey = (typeof WORK_KEYS)[number];
export type WorkCounts = Partial<Record<WorkKey, number>>;

/** See Work.observe(). */
export type WorkObserver = (key: WorkKey, n: number, phases: readonly string[]) => void;

export class Work {
  /** Totals since creation. */
  readonly total: Record<WorkKey, number>;
  /** Per phase (kernel function name) totals. */
  readonly byPhase = new Map<string, Record<WorkKey, number>>();
  private phase = "other";
  /** The open phases, outermost first (for observers). */
  private readonly stack: string[] = [];
  private readonly observers: WorkObserver[] = [];

  constructor() {
    this.total = Work.zero();
  }

  static zero(): Record<WorkKey, number> {
    const r = {} as Record<WorkKey, number>;
    for (const k of WORK_KEYS) r[k] = 0;
    return r;
  }

  add(key: WorkKey, n = 1): void {
    if (n === 0) return;
    this.total[key] += n;
    // the current phase's record, looked up once per phase change (hot path)
    let p = this.phaseCounts;
    if (p === undefined) {
      p = this.byPhase.get(this.phase);
      if (p === undefined) {
        p = Work.zero();
        this.byPhase.set(this.phase, p);
      }
      this.phaseCounts = p;
    }
    p[key] += n;
    if (this.observers.length) for (const o of this.observers) o(key, n, this.stack);
  }

  private phaseCounts: Record<WorkKey, number> | undefined;

  /** Run fn with work attributed to `phase`; phases nest, the innermost wins. */
  withPhase<T>(phase: string, fn: () => T): T {
    const saved = this.phase;
    const savedCounts = this.phaseCounts;
    this.phase = phase;
    this.phaseCounts = undefined;
    this.stack.push(phase);
    try {
      return fn();
    } finally {
      this.stack.pop();
      this.phase = saved;
      this.phaseCounts = savedCounts;
    }
  }

  /**
   * Call `o` on every add() with the phases open at that moment (outermost
   * first; the array is live, copy it to keep it). Returns the function that
   * stops observing. The cost model's bench attributes work to its own phases
   * this way (src/cost/).
   */
  observe(o: WorkObserver): () => void {
    this.observers.push(o);
    return () => {
      const i = this.observers.indexOf(o);
      if (i >= 0) this.observers.splice(i, 1);
    };
  }

  /** A copy of the totals, for taking differences around an operation. */
  snapshot(): Record<WorkKey, number> {
    return { ...this.total };
  }

  /** The non-zero differences since `before`. */
  since(before: Record<WorkKey, number>): WorkCounts {
    const out: WorkCounts = {};
    for (const k of WORK_KEYS) {
      const d = this.total[k] - before[k];
      if (d !== 0) out[k] = d;
    }
    return out;
  }
}
