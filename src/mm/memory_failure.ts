// mm/memory-failure.c, the minimal part RFC v2 needs: memory_failure() marks a
// page hardware-poisoned (PageHWPoison) and counts it in its memory block
// (memblk_nr_poison_inc(), upstream's per-block counter since 6.2), which
// populate_and_online_memory() refuses on (-EHWPOISON, docs/rfc-v2.md).
//
// Not modelled: what memory_failure() does to the page's users (unmapping,
// killing processes, take_page_off_buddy(), set_mce_nospec()); the page keeps
// its allocator state. Only memory the kernel controls can be poisoned: a page
// without an online memmap is "memory outside kernel control" (-ENXIO).

import { ENXIO } from "../errno.js";
import type { Kernel } from "../kernel/kernel.js";
import { pfnToOnlinePage } from "./memmap.js";

export class MemoryFailure {
  /** PageHWPoison pages (PFNs). */
  private readonly poisoned = new Set<number>();

  constructor(private readonly k: Kernel) {}

  /** memory_failure(pfn, 0): 0, or -ENXIO for a page without an online memmap. A page poisoned again counts once. */
  memoryFailure(pfn: number): number {
    if (!pfnToOnlinePage(this.k.sparse, pfn)) return -ENXIO;
    if (this.poisoned.has(pfn)) return 0; // TestSetPageHWPoison(): already poisoned
    this.poisoned.add(pfn);
    const mem = this.k.memory.findMemoryBlockById(this.k.memory.pfnToBlockId(pfn));
    if (mem) mem.nrHwpoison++;
    return 0;
  }

  /** PageHWPoison(pfn) */
  isPoisoned(pfn: number): boolean {
    return this.poisoned.has(pfn);
  }

  /**
   * The memmap of [startPfn, endPfn) is gone (the memory was removed): its
   * pages' flags go with it (clear_hwpoisoned_pages()).
   */
  forget(startPfn: number, endPfn: number): void {
    for (const pfn of [...this.poisoned]) if (pfn >= startPfn && pfn < endPfn) this.poisoned.delete(pfn);
  }
}
