// The guest's own activity between two statements. A real kernel is never idle:
// every statement the oracle runs forks a shell process (page tables, kernel
// stack, slab objects), sysfs writes allocate kernfs nodes, and the allocations
// come from the first zone of the zonelist with free pages — so a block onlined to
// ZONE_NORMAL on a 1 GiB x86_64 guest holds unmovable pages at its first PFNs a
// moment later, and offlining it fails with -EBUSY (scenarios/oracle/
// x86-zone-online-kernel.mhp). The model reproduces that with a small, seeded
// workload of mostly kernel allocations that runs one step after every statement.
// It holds about 1 MiB, so MemFree moves by kilobytes as the kernel's does; the
// exact amounts are not the kernel's (docs/divergences.md). It allocates no
// reclaimable pages: the guest's reclaimable slab (dentries, inodes) hardly grows
// between statements (nr_slab_reclaimable moves by at most a few pages over a
// whole corpus scenario, and not at all between the grow and the shrink of the
// sub-block scenarios). Where it does grow while a hot-added ZONE_NORMAL exists
// (the new blocks' sysfs dentries in x86-vmem-online-kernel), the page steals a
// whole MAX_ORDER block there and keeps one more virtio-mem sub-block busy; the
// model does not follow the slab caches' fill, so that stays a divergence
// (docs/divergences.md, vmem-busy-subblocks).

import type { Migration, Rmap } from "../mm/migrate.js";
import type { BuddyAllocator } from "../mm/page_alloc.js";
import { Workload } from "../mm/workload.js";

/** Pages the background activity tends to hold. */
export const BACKGROUND_PAGES = 256;

export class BackgroundActivity {
  private readonly workload: Workload;
  enabled = true;

  constructor(alloc: BuddyAllocator, migration: Migration, rmap: Rmap, seed: number) {
    this.workload = new Workload(alloc, migration, rmap, {
      // A seed of its own, so the scenario's workload statements draw the same numbers with or without it.
      seed: (seed ^ 0x9e3779b9) >>> 0,
      intensity: 8,
      targetFill: 0,
      mix: { user: 30, kernel: 70, reclaimable: 0, pinned: 0 },
      kernelLongevity: 0.9,
      kernelHighOrderPercent: 5,
    });
    this.alloc = alloc;
  }

  private readonly alloc: BuddyAllocator;

  /** One step of background activity (after a statement). */
  tick(): void {
    if (!this.enabled) return;
    // targetFill as a share of totalram, recomputed as memory comes and goes.
    this.workload.configure({
      targetFill: Math.min(1, BACKGROUND_PAGES / Math.max(1, this.alloc.totalramPages)),
    });
    this.workload.step(1);
  }

  pagesHeld(): number {
    return this.workload.pagesHeld();
  }
}
