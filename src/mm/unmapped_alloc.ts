// memhp issue 18 (linux-patches/patches, docs/unmapped-alloc.md; not in Linux 6.1),
// mm/memory_hotplug.c: alloc_contig_range_unmapped() and
// free_contig_range_unmapped(), the allocation whose linear map is removed
// that was proposed in reply to the RFC. It is the powernv memtrace pattern
// (arch/powerpc/platforms/powernv/memtrace.c) made generic:
// alloc_contig_range(), PageOffline on every page, the cache cleaned and the
// range unmapped with RFC v2's arch hook; on free, mapped again, PageOffline
// cleared, free_contig_range(). The memory blocks stay online throughout.
//
// The record of each allocation is the patch's own list (a kmalloc()ed entry
// per allocation). model: PageOffline of these pages is that record
// (isPageOffline()), as for depopulated blocks; their memmap state stays the
// allocated one alloc_contig_range() left, so managed_pages is untouched, as in
// the kernel (the patch calls no adjust_managed_page_count(): MemTotal keeps
// the range, MemFree loses it).
//
// While an allocation exists, offlining a memory block that overlaps it is
// refused with -EBUSY by the patch's memory notifier (MEM_GOING_OFFLINE);
// without it offline_pages() would retry until a signal (PageOffline pages
// with a reference never test isolated). model: the patch registers it at
// boot; the model only while an allocation exists (it vetoes nothing
// otherwise), so that the notifier calls of every other cycle stay stock 6.1's.
//
// Not modelled: the -ENOMEM of the record's kmalloc() and of the arch hook
// (x86_64 pfn_mapped[] full, arm64 memblock growth), -EINTR of a fatal signal.

import { EBUSY, EINVAL, ENOMEM } from "../errno.js";
import type { Kernel } from "../kernel/kernel.js";
import { MEM_GOING_OFFLINE, type MemoryNotify } from "../drivers/base/memory.js";
import { PAGEBLOCK_NR_PAGES, PAGE_SIZE } from "./constants.js";
import { CACHE_LINE_SIZE } from "./memory_hotplug.js";
import { pfnToOnlinePage } from "./memmap.js";

/** One unmapped allocation (the patch's record). */
export interface UnmappedRange {
  startPfn: number;
  nrPages: number;
  /** the node it is mapped back on (arch_populate_linear_mapping()'s nid) */
  nid: number;
}

/** The name of the patch's memory notifier. */
export const UNMAPPED_NOTIFIER = "contig_range_unmapped";

export class UnmappedAlloc {
  private readonly records: UnmappedRange[] = [];

  /** Why the last call refused (front ends annotate errnos with it). */
  lastRefusal: string | undefined;

  constructor(private readonly k: Kernel) {}

  /** The memory notifier the patch registers: MEM_GOING_OFFLINE of memory it holds is -EBUSY. */
  readonly notifier = (action: number, arg: MemoryNotify): number => {
    if (action !== MEM_GOING_OFFLINE) return 0;
    const end = arg.startPfn + arg.nrPages;
    const r = this.records.find((x) => x.startPfn < end && arg.startPfn < x.startPfn + x.nrPages);
    return r ? -EBUSY : 0;
  };

  /**
   * alloc_contig_range_unmapped(start_pfn, nr_pages, GFP_KERNEL): 0 and the
   * range is the caller's, PageOffline and out of the linear map; or -errno
   * and nothing changed. Checks in docs/unmapped-alloc.md's order: -EINVAL
   * (0 pages or not pageblock-aligned), then under mem_hotplug_lock -EINVAL (a
   * page not online or in another zone), -EBUSY (overlaps an
   * earlier unmapped allocation), -EINVAL (the unmap would split a leaf), then
   * alloc_contig_range()'s errno (-EBUSY, -ENOMEM).
   */
  allocContigRangeUnmapped(startPfn: number, nrPages: number): number {
    this.lastRefusal = undefined;
    if (!nrPages || startPfn % PAGEBLOCK_NR_PAGES || nrPages % PAGEBLOCK_NR_PAGES)
      return this.refuse(-EINVAL, "0 pages, or not pageblock-aligned");
    const k = this.k;
    const endPfn = startPfn + nrPages;
    const start = startPfn * PAGE_SIZE;
    const size = nrPages * PAGE_SIZE;
    k.locks.memHotplugBegin("alloc_contig_range_unmapped");
    try {
      return k.work.withPhase("alloc_contig_range_unmapped", () => {
        // one walk: the first page that is not online, or in another zone than the first page
        let zone = -1;
        for (let p = startPfn; p < endPfn; p++) {
          if (!pfnToOnlinePage(k.alloc.sections, p))
            return this.refuse(-EINVAL, `pfn 0x${p.toString(16)} is not online memory`);
          if (zone < 0) zone = k.memmap.zone(p);
          else if (k.memmap.zone(p) !== zone)
            return this.refuse(-EINVAL, `pfn 0x${p.toString(16)} is in another zone than the first page`);
        }
        if (this.records.some((r) => r.startPfn < endPfn && startPfn < r.startPfn + r.nrPages))
          return this.refuse(-EBUSY, "the range overlaps an unmapped allocation");
        // arch_linear_mapping_split_leaves() (7.2 series, arm64 with
        // BBML2_NOABORT), then the check; a split stays if a later step fails
        if (k.arch.archLinearMappingSplitLeaves(start, size) < 0)
          return this.refuse(-ENOMEM, "no page for a page table to split a linear-map leaf");
        if (k.arch.archLinearMappingSplitsLeaf(start, size))
          return this.refuse(
            -EINVAL,
            `unmapping 0x${start.toString(16)}+0x${size.toString(16)} would split a linear-map leaf`,
          );
        const rc = k.contig.allocContigRange(startPfn, endPfn);
        if (rc) return this.refuse(rc, "alloc_contig_range() failed");
        // __SetPageOffline() of every page: the record below (see the header)
        k.work.add("pagesMarkedOffline", nrPages);
        // arch_depopulate_linear_mapping(): x86 pfn_mapped / arm64 memblock nomap,
        // clean + invalidate the data cache over __va(start), then the unmap
        k.work.add("cacheLinesCleaned", size / CACHE_LINE_SIZE);
        k.hw.cache.clean(startPfn, nrPages);
        k.work.withPhase("arch_remove_linear_mapping", () => k.arch.archRemoveLinearMapping(start, size));
        if (!this.records.length) k.memory.registerMemoryNotifier(UNMAPPED_NOTIFIER, this.notifier);
        this.records.push({
          startPfn,
          nrPages,
          nid: Math.max(0, k.memory.findMemoryBlockById(k.memory.pfnToBlockId(startPfn))?.nid ?? 0),
        });
        return 0;
      });
    } finally {
      k.locks.memHotplugDone();
    }
  }

  /**
   * free_contig_range_unmapped(start_pfn, nr_pages): -EINVAL unless the range
   * is exactly one unmapped allocation; the mapping's errno (nothing changed);
   * else mapped back, PageOffline cleared, freed (free_contig_range()), 0.
   */
  freeContigRangeUnmapped(startPfn: number, nrPages: number): number {
    this.lastRefusal = undefined;
    const k = this.k;
    k.locks.memHotplugBegin("free_contig_range_unmapped");
    try {
      return k.work.withPhase("free_contig_range_unmapped", () => {
        const i = this.records.findIndex((r) => r.startPfn === startPfn && r.nrPages === nrPages);
        if (i < 0) return this.refuse(-EINVAL, "the range is not one unmapped allocation");
        const r = this.records[i];
        const start = startPfn * PAGE_SIZE;
        const size = nrPages * PAGE_SIZE;
        // arch_populate_linear_mapping(nid, start, size, PAGE_KERNEL), then the caches invalidated
        const rc = k.work.withPhase("arch_create_linear_mapping", () =>
          k.arch.archCreateLinearMapping(r.nid, start, size, {}),
        );
        if (rc) return this.refuse(rc, "mapping the range again failed");
        k.work.add("cacheLinesCleaned", size / CACHE_LINE_SIZE);
        k.hw.cache.clean(startPfn, nrPages);
        // __ClearPageOffline() of every page, free_contig_range(), kfree() of the record
        k.work.add("pagesMarkedOffline", nrPages);
        this.records.splice(i, 1);
        if (!this.records.length) k.memory.unregisterMemoryNotifier(UNMAPPED_NOTIFIER);
        const err = k.contig.freeContigRange(startPfn, nrPages);
        if (err) throw new Error(`free_contig_range_unmapped: free_contig_range() refused: ${err}`);
        return 0;
      });
    } finally {
      k.locks.memHotplugDone();
    }
  }

  /** Is pfn in an unmapped allocation (PageOffline, no linear map)? */
  holds(pfn: number): boolean {
    for (const r of this.records) if (pfn >= r.startPfn && pfn < r.startPfn + r.nrPages) return true;
    return false;
  }

  /** The unmapped allocations. */
  ranges(): readonly UnmappedRange[] {
    return this.records;
  }

  /**
   * Each allocation is held through alloc_contig_range(), in one online zone,
   * and no linear-map leaf covers any of it; no two overlap.
   */
  checkInvariants(): string[] {
    const out: string[] = [];
    const k = this.k;
    const sorted = [...this.records].sort((a, b) => a.startPfn - b.startPfn);
    for (let i = 0; i < sorted.length; i++) {
      const r = sorted[i];
      const where = `unmapped 0x${r.startPfn.toString(16)}+0x${r.nrPages.toString(16)}`;
      if (i > 0 && sorted[i - 1].startPfn + sorted[i - 1].nrPages > r.startPfn)
        out.push(`${where}: overlaps`);
      if (!k.contig.holdsRange(r.startPfn, r.nrPages)) out.push(`${where}: not held by alloc_contig_range()`);
      let leaves = 0;
      const s = r.startPfn * PAGE_SIZE;
      k.arch.pgtable.forEachLeaf(
        k.arch.physToVirt(s),
        k.arch.physToVirt(s + r.nrPages * PAGE_SIZE),
        () => leaves++,
      );
      if (leaves) out.push(`${where}: ${leaves} linear-map leaves cover it`);
      for (let p = r.startPfn; p < r.startPfn + r.nrPages; p++)
        if (!pfnToOnlinePage(k.alloc.sections, p)) {
          out.push(`${where}: pfn 0x${p.toString(16)} is not online`);
          break;
        }
    }
    return out;
  }

  private refuse(err: number, why: string): number {
    this.lastRefusal = why;
    return this.k.printk.refuse(err, why);
  }
}
