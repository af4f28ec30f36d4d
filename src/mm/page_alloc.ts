// mm/page_alloc.c: the buddy allocator of node0 — allocation
// (get_page_from_freelist(), rmqueue(), __rmqueue_smallest(),
// __rmqueue_fallback(), expand()), freeing (__free_one_page(),
// __free_pages_core()), the per-cpu page lists (free_unref_page(),
// rmqueue_pcplist(), free_pcppages_bulk(), drain_all_pages(), the pagesets'
// high and batch), watermarks and lowmem reserves (init_per_zone_wmark_min()),
// zonelists, zone->contiguous; and from mm/memory_hotplug.c
// generic_online_page(). Boot-time init (free_area_init(), memmap_init(),
// memblock_free_all()) is in mm_init.ts; the zone-span side of
// onlining/offlining (move_pfn_range_to_zone(), remove_pfn_range_from_zone())
// is in memory_hotplug.ts.
//
// Per-cpu page lists: a freed block of an order pcp_allowed_order() accepts
// (0..PAGE_ALLOC_COSTLY_ORDER, and pageblock_order with THP) goes to the freeing
// CPU's list of its zone (PS_PCP in the memmap), not to the buddy, and is not in
// NR_FREE_PAGES (MemFree) until a free finds pcp->count >= pcp->high and spills
// a batch, or the lists are drained (zone_pcp_disable() in offline_pages(),
// alloc_contig_range()). Allocations of those orders take from the list first
// and refill it from the buddy a batch at a time. Pages handed to the buddy by
// onlining (__free_pages_core()) bypass the lists. memhp runs everything on CPU
// 0 (smp_processor_id()); the other possible CPUs' lists stay empty.
//
// Locking: the kernel holds zone->lock around every free-list change; memhp is
// single-threaded, so the functions below marked "zone->lock held" are simply
// the inner steps, public for page_isolation.ts. The pcp locks never fail to be
// taken (no free_one_page() fallback from a contended pcp).
//
// Not modelled: page shuffling, watermark boosting (kswapd is not modelled),
// highatomic reserves, CMA areas, reclaim/compaction/OOM (an allocation that
// fails the min watermark in every allowed zone drains the per-cpu lists once,
// as __alloc_pages_direct_reclaim() does after reclaim made progress, and then
// returns -ENOMEM), ZONE_RECLAIM_ACTIVE (no reclaim: nr_pcp_high() is always
// pcp->high), the NUMA remote-pageset expiry (drain_zone_pages(): one node),
// NUMA (one node).

import type { PfnSpan } from "./pfn_span.js";
import { MemmapWalk } from "./page_alloc_check.js";
import { ENOENT, ENOMEM } from "../errno.js";
import type { Work } from "../kernel/work.js";
import {
  MAX_ORDER,
  PAGE_SHIFT,
  PAGEBLOCK_NR_PAGES,
  PAGEBLOCK_ORDER,
  PAGES_PER_SECTION,
} from "./constants.js";
import type { AllocPurpose, PageAllocator } from "./gfp.js";
import {
  type Memmap,
  type SectionQuery,
  NR_PAGE_STATES,
  ORDER_TAIL,
  PAGE_STATE_NAMES,
  PS_BUDDY,
  PS_FREE,
  PS_HOLE,
  PS_KERNEL,
  PS_MOVABLE,
  PS_OFFLINE,
  PS_OFFLINE_FREE,
  PS_PCP,
  PS_PGTABLE,
  PS_PINNED,
  PS_RECLAIMABLE,
  PS_RESERVED,
  PS_UNINIT,
  PS_VMEMMAP,
  isAllocatedState,
  isFreeState,
  isLruState,
  pfnToOnlinePage,
} from "./memmap.js";
import {
  type PglistData,
  type Zone,
  BOOT_PAGESET_BATCH,
  BOOT_PAGESET_HIGH,
  MAX_NR_ZONES,
  MIGRATE_CMA,
  MIGRATE_HIGHATOMIC,
  MIGRATE_ISOLATE,
  MIGRATE_MOVABLE,
  MIGRATE_PCPTYPES,
  MIGRATE_RECLAIMABLE,
  MIGRATE_TYPES,
  MIGRATE_UNMOVABLE,
  NR_FREE_CMA_PAGES,
  NR_FREE_PAGES,
  NR_LOWORDER_PCP_LISTS,
  NR_PCP_LISTS,
  PAGE_ALLOC_COSTLY_ORDER,
  PCP_BATCH_SCALE_MAX,
  PerCpuPages,
  WMARK_HIGH,
  WMARK_LOW,
  WMARK_MIN,
  WMARK_PROMO,
  ZONE_MOVABLE,
  ZONE_NAMES,
  ZONE_NORMAL,
  ZONE_STAT_NAMES,
  migratetypeIsMergeable,
  pcpAllowedOrder,
} from "./mmzone.js";

// mm/internal.h: alloc_flags
export const ALLOC_WMARK_MIN = WMARK_MIN;
export const ALLOC_WMARK_LOW = WMARK_LOW;
export const ALLOC_WMARK_HIGH = WMARK_HIGH;
export const ALLOC_NO_WATERMARKS = 0x04;
export const ALLOC_WMARK_MASK = ALLOC_NO_WATERMARKS - 1;
export const ALLOC_CMA = 0x80;
export const ALLOC_NOFRAGMENT = 0x100;

/** mm/page_alloc.c: MIN_PERCPU_PAGELIST_HIGH_FRACTION (pcp->high_max is managed / 8). */
export const MIN_PERCPU_PAGELIST_HIGH_FRACTION = 8;

/** mm/page_alloc.c: sysctl_lowmem_reserve_ratio[] defaults (DMA, DMA32, NORMAL, MOVABLE). */
export const DEFAULT_LOWMEM_RESERVE_RATIO: readonly number[] = [256, 256, 32, 0];

export type { PfnSpan };

/**
 * What a gfp mask decides for the model: gfp_zone() (the highest zone allowed),
 * gfp_migratetype(), and the memmap state the allocated pages get.
 */
export interface GfpSpec {
  highestZoneIdx: number;
  migratetype: number;
  state: number;
}

/**
 * include/linux/gfp.h for the purposes of src/mm/gfp.ts:
 * user = GFP_HIGHUSER_MOVABLE (gfp_zone ZONE_MOVABLE, MIGRATE_MOVABLE);
 * reclaimable = GFP_KERNEL | __GFP_RECLAIMABLE (ZONE_NORMAL, MIGRATE_RECLAIMABLE);
 * kernel / pgtable / vmemmap = GFP_KERNEL (ZONE_NORMAL, MIGRATE_UNMOVABLE).
 */
export function gfpForPurpose(purpose: AllocPurpose): GfpSpec {
  switch (purpose) {
    case "user":
      return { highestZoneIdx: ZONE_MOVABLE, migratetype: MIGRATE_MOVABLE, state: PS_MOVABLE };
    case "reclaimable":
      return { highestZoneIdx: ZONE_NORMAL, migratetype: MIGRATE_RECLAIMABLE, state: PS_RECLAIMABLE };
    case "kernel":
      return { highestZoneIdx: ZONE_NORMAL, migratetype: MIGRATE_UNMOVABLE, state: PS_KERNEL };
    case "pgtable":
      return { highestZoneIdx: ZONE_NORMAL, migratetype: MIGRATE_UNMOVABLE, state: PS_PGTABLE };
    case "vmemmap":
      return { highestZoneIdx: ZONE_NORMAL, migratetype: MIGRATE_UNMOVABLE, state: PS_VMEMMAP };
    default: {
      const never: never = purpose;
      throw new Error(`unknown allocation purpose ${String(never)}`);
    }
  }
}

/** mm/page_alloc.c: fallbacks[][] (the other migratetypes have none). */
const FALLBACKS: readonly (readonly number[])[] = [
  [MIGRATE_RECLAIMABLE, MIGRATE_MOVABLE], // MIGRATE_UNMOVABLE
  [MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE], // MIGRATE_MOVABLE
  [MIGRATE_UNMOVABLE, MIGRATE_MOVABLE], // MIGRATE_RECLAIMABLE
];

/** What /proc/zoneinfo shows of one zone (pages). */
export interface ZoneInfo {
  name: string;
  nid: number;
  free: number;
  boost: number;
  min: number;
  low: number;
  high: number;
  promo: number;
  spanned: number;
  present: number;
  managed: number;
  cma: number;
  /** lowmem_reserve[] ("protection: (...)") */
  protection: number[];
  startPfn: number;
  /** free_area[order].nr_free (/proc/buddyinfo) */
  nrFree: number[];
  /** the zone vm_stat items by name */
  vmStat: Record<string, number>;
  /** "pagesets": each online CPU's per_cpu_pages count, high and batch (and high_max: 7.2 prints it) */
  pagesets: { cpu: number; count: number; high: number; batch: number; highMax: number }[];
  /** NR_FREE_PAGES_BLOCKS (7.2's zoneinfo): free pages in non-isolated blocks of pageblock order or more */
  freePagesBlocks: number;
}

export interface PageAllocOptions {
  /** Check watermarks in get_page_from_freelist() (default true). */
  watermarks?: boolean;
  /** Possible (= online) CPUs, each with its per-cpu pagesets (default 1: QEMU -smp 1). */
  nrCpus?: number;
}

export { pcpAllowedOrder };

/**
 * mm/page_alloc.c: order_to_pindex(): one list per migratetype for each order
 * up to PAGE_ALLOC_COSTLY_ORDER; for pageblock_order one list for movable and
 * one for the unmovable and reclaimable types.
 */
export function orderToPindex(migratetype: number, order: number): number {
  if (order > PAGE_ALLOC_COSTLY_ORDER) {
    if (order !== PAGEBLOCK_ORDER) throw new Error(`order_to_pindex: order ${order} has no pcp list`);
    return NR_LOWORDER_PCP_LISTS + (migratetype === MIGRATE_MOVABLE ? 1 : 0);
  }
  return MIGRATE_PCPTYPES * order + migratetype;
}

/** mm/page_alloc.c: pindex_to_order() */
export function pindexToOrder(pindex: number): number {
  return pindex >= NR_LOWORDER_PCP_LISTS ? PAGEBLOCK_ORDER : Math.floor(pindex / MIGRATE_PCPTYPES);
}

/** The per-cpu list pages of each pcp list hold per block (2^pindex_to_order()). */
const pcpPagesPerBlock = (pindex: number): number => 2 ** pindexToOrder(pindex);

export const pageblockStartPfn = (pfn: number): number => pfn - (pfn % PAGEBLOCK_NR_PAGES);
/** include/linux/pageblock-flags.h: pageblock_end_pfn() = ALIGN(pfn + 1, pageblock_nr_pages) */
export const pageblockEndPfn = (pfn: number): number => pageblockStartPfn(pfn) + PAGEBLOCK_NR_PAGES;

/** lib/math/int_sqrt.c: int_sqrt() */
function intSqrt(x: number): number {
  let r = Math.floor(Math.sqrt(x));
  while (r * r > x) r--;
  while ((r + 1) * (r + 1) <= x) r++;
  return r;
}
/** include/linux/math.h: mult_frac(x, n, d) */
function multFrac(x: number, n: number, d: number): number {
  const q = Math.floor(x / d);
  const r = x % d;
  return q * n + Math.floor((r * n) / d);
}
/** __ffs(): index of the lowest set bit (x > 0). */
export function ffs(x: number): number {
  let i = 0;
  while (x % 2 === 0) {
    x /= 2;
    i++;
  }
  return i;
}
/** __fls(): index of the highest set bit (x > 0). */
function fls(x: number): number {
  return Math.floor(Math.log2(x));
}

export class BuddyAllocator implements PageAllocator {
  /** _totalram_pages (totalram_pages()): the sum of managed pages. */
  totalramPages = 0;
  /** vm.min_free_kbytes */
  minFreeKbytes = 1024;
  /** user_min_free_kbytes (-1: not set by the sysctl) */
  userMinFreeKbytes = -1;
  /** include/linux/swap.h */
  static readonly SWAP_CLUSTER_MAX = 32;
  /** 6.5+: __setup_per_zone_wmarks() treats ZONE_MOVABLE like highmem (set by the Kernel for 6.12). */
  movableWmarkLikeHighmem = false;
  /**
   * 7.2: adjust_managed_page_count() recomputes the lowmem reserves
   * (setup_per_zone_lowmem_reserve()), so `protection` follows the managed
   * pages at once; before, only at boot and on online/offline (set by the Kernel).
   */
  lowmemReserveFollowsManaged = false;
  /** CONFIG_TRANSPARENT_HUGEPAGE: pcp_allowed_order() takes pageblock-order blocks too (set false by the Kernel for the RFC's build) */
  pcpThp = true;
  /** vm.watermark_scale_factor */
  watermarkScaleFactor = 10;
  /** vm.lowmem_reserve_ratio */
  readonly lowmemReserveRatio: number[] = [...DEFAULT_LOWMEM_RESERVE_RATIO];
  /** totalreserve_pages */
  totalreservePages = 0;
  /** vm.percpu_pagelist_high_fraction (0: pcp->high follows the low watermark) */
  percpuPagelistHighFraction = 0;
  readonly checkWatermarks: boolean;
  /** nr_cpu_ids: the possible (and online) CPUs. */
  readonly nrCpus: number;
  /** smp_processor_id(): memhp runs on CPU 0. */
  readonly cpu = 0;
  /** boot_pageset: the per-cpu pagesets of every zone without its own (high 0: nothing stays on them). */
  readonly bootPageset: PerCpuPages[];

  /**
   * Allocations stand in for memblock_alloc() (set while the model builds the
   * boot page tables and the boot memmap, which the kernel takes from memblock
   * before the buddy exists): such pages are never managed (not in totalram,
   * not in the zone's managed_pages), and give their count back when freed,
   * as free_reserved_page() does for PageReserved page tables and memmap.
   */
  memblockAllocations = false;
  /** Of the next memblockAllocations, how many come from memory the kernel reserved otherwise (x86_64's brk). */
  memblockExempt = 0;
  /** The memblock stand-ins still allocated: first pfn -> pages. */
  private readonly memblockAllocs = new Map<number, number>();

  // out-parameters of the inner steps (the kernel's int *num_movable, bool *can_steal)
  private numMovable = 0;
  private canSteal = false;

  constructor(
    readonly memmap: Memmap,
    readonly sections: SectionQuery,
    readonly pgdat: PglistData,
    readonly work: Work,
    opts: PageAllocOptions = {},
  ) {
    this.checkWatermarks = opts.watermarks ?? true;
    this.nrCpus = opts.nrCpus ?? 1;
    if (!Number.isInteger(this.nrCpus) || this.nrCpus < 1) throw new RangeError(`nrCpus ${this.nrCpus}`);
    // build_all_zonelists_init(): per_cpu_pages_init() of each CPU's boot_pageset
    this.bootPageset = Array.from({ length: this.nrCpus }, () => new PerCpuPages());
    for (const zone of pgdat.zones) this.zonePcpInit(zone);
  }

  zone(idx: number): Zone {
    return this.pgdat.zones[idx];
  }

  /** page_zone(pfn_to_page(pfn)); throws for a page without a zone. */
  zoneOfPfn(pfn: number): Zone {
    const z = this.memmap.zone(pfn);
    if (z >= MAX_NR_ZONES) throw new Error(`page_zone: pfn ${pfn.toString(16)} has no zone`);
    return this.pgdat.zones[z];
  }

  // ---------------------------------------------------------------------------
  // Free lists (zone->lock held)
  // ---------------------------------------------------------------------------

  /** __mod_zone_freepage_state() */
  modFreepageState(zone: Zone, nrPages: number, mt: number): void {
    zone.vmStat[NR_FREE_PAGES] += nrPages;
    if (mt === MIGRATE_CMA) zone.vmStat[NR_FREE_CMA_PAGES] += nrPages;
  }

  /** add_to_free_list() / add_to_free_list_tail() + set_buddy_order(): pfn becomes PageBuddy. */
  addToFreeList(zone: Zone, pfn: number, order: number, mt: number, toTail: boolean): void {
    zone.freeArea.add(pfn, order, mt, toTail);
    this.memmap.setState(pfn, PS_BUDDY);
    this.memmap.setOrder(pfn, order);
  }

  /** move_to_free_list(): to the tail of free_list[mt]. */
  moveToFreeList(zone: Zone, pfn: number, order: number, mt: number): void {
    zone.freeArea.moveTail(pfn, order, mt);
    this.memmap.touch(pfn); // for incremental checks: list membership is checked per section
  }

  /** del_page_from_free_list(): pfn is no longer PageBuddy (it stays a free page, PS_FREE). */
  delPageFromFreeList(zone: Zone, pfn: number, order: number): void {
    zone.freeArea.del(pfn, order);
    this.memmap.setState(pfn, PS_FREE);
    this.memmap.setOrder(pfn, ORDER_TAIL);
  }

  /** mm/internal.h: page_is_buddy() for the page at pfn and its buddy candidate. */
  pageIsBuddy(pfn: number, buddyPfn: number, order: number): boolean {
    const m = this.memmap;
    return m.state(buddyPfn) === PS_BUDDY && m.order(buddyPfn) === order && m.zone(buddyPfn) === m.zone(pfn);
  }

  /** mm/internal.h: find_buddy_page_pfn(): the buddy's PFN when it is a free buddy of this order, else -1. */
  findBuddyPagePfn(pfn: number, order: number): number {
    const b = pfn ^ (1 << order);
    return this.pageIsBuddy(pfn, b, order) ? b : -1;
  }

  /**
   * mm/page_alloc.c: __free_one_page(). The 2^order pages at pfn are free
   * (PS_FREE); merge with free buddies (not across pageblocks of unmergeable
   * differing types once order >= pageblock_order) and put the result on
   * free_list[mt], at the tail for FPI_TO_TAIL or when buddy_merge_likely().
   */
  freeOnePage(zone: Zone, pfn: number, order: number, mt: number, toTail: boolean): void {
    const m = this.memmap;
    if (mt !== MIGRATE_ISOLATE) this.modFreepageState(zone, 1 << order, mt);
    m.setState(pfn, PS_FREE);
    m.setOrder(pfn, ORDER_TAIL);
    let buddyPfn = 0;
    while (order < MAX_ORDER - 1) {
      buddyPfn = pfn ^ (1 << order);
      if (!this.pageIsBuddy(pfn, buddyPfn, order)) break;
      if (order >= PAGEBLOCK_ORDER) {
        const buddyMt = m.pageblockMigratetype(buddyPfn);
        if (mt !== buddyMt && (!migratetypeIsMergeable(mt) || !migratetypeIsMergeable(buddyMt))) break;
      }
      this.delPageFromFreeList(zone, buddyPfn, order);
      pfn = buddyPfn & pfn;
      order++;
    }
    // done_merging: (no page shuffling)
    const tail = toTail || this.buddyMergeLikely(pfn, buddyPfn, order);
    this.addToFreeList(zone, pfn, order, mt, tail);
  }

  // mm/page_alloc.c: buddy_merge_likely()
  private buddyMergeLikely(pfn: number, buddyPfn: number, order: number): boolean {
    if (order >= MAX_ORDER - 2) return false;
    const higher = buddyPfn & pfn;
    return this.findBuddyPagePfn(higher, order + 1) >= 0;
  }

  /** Mark 2^order pages as free pages (not yet PageBuddy): the state __free_one_page() expects. */
  private markFreeBlock(pfn: number, nrPages: number): void {
    this.memmap.fillState(pfn, nrPages, PS_FREE);
    this.memmap.fillOrder(pfn, nrPages, ORDER_TAIL);
  }

  /** mm/page_alloc.c: expand(): put the upper halves back, head of their lists. */
  expand(zone: Zone, pfn: number, low: number, high: number, mt: number): void {
    let size = 1 << high;
    while (high > low) {
      high--;
      size >>= 1;
      this.addToFreeList(zone, pfn + size, high, mt, false);
    }
  }

  /** mm/page_alloc.c: __rmqueue_smallest(): pfn or -1. */
  rmqueueSmallest(zone: Zone, order: number, mt: number): number {
    for (let cur = order; cur < MAX_ORDER; cur++) {
      const pfn = zone.freeArea.first(cur, mt);
      if (pfn < 0) continue;
      this.delPageFromFreeList(zone, pfn, cur);
      this.expand(zone, pfn, order, cur, mt);
      return pfn;
    }
    return -1;
  }

  /**
   * mm/page_alloc.c: move_freepages(): move the free blocks headed in
   * [startPfn, endPfn] (inclusive) to the tail of free_list[mt]; returns the
   * pages moved. With countMovable, this.numMovable gets the PageLRU pages seen.
   */
  moveFreepages(zone: Zone, startPfn: number, endPfn: number, mt: number, countMovable: boolean): number {
    const m = this.memmap;
    let moved = 0;
    let movable = 0;
    for (let pfn = startPfn; pfn <= endPfn;) {
      const s = m.state(pfn);
      if (s !== PS_BUDDY) {
        if (countMovable && isLruState(s)) movable++;
        // memhp: a free tail's block started before the range; its pages are all
        // free tails, passed page by page in the kernel without effect
        pfn = s === PS_FREE ? this.freeBlockEnd(pfn, endPfn + 1) : pfn + 1;
        continue;
      }
      const order = m.order(pfn);
      this.moveToFreeList(zone, pfn, order, mt);
      pfn += 1 << order;
      moved += 1 << order;
    }
    this.numMovable = movable;
    return moved;
  }

  /** mm/page_alloc.c: move_freepages_block(): the pageblock of pfn, not crossing the zone's span. */
  moveFreepagesBlock(zone: Zone, pfn: number, mt: number, countMovable = false): number {
    this.numMovable = 0;
    let start = pageblockStartPfn(pfn);
    const end = pageblockEndPfn(pfn) - 1;
    if (!zone.spansPfn(start)) start = pfn;
    if (!zone.spansPfn(end)) return 0;
    return this.moveFreepages(zone, start, end, mt, countMovable);
  }

  /** The PageLRU pages move_freepages_block(..., &num_movable) saw. */
  lastNumMovable(): number {
    return this.numMovable;
  }

  // mm/page_alloc.c: change_pageblock_range()
  private changePageblockRange(pfn: number, startOrder: number, mt: number): void {
    const n = 1 << (startOrder - PAGEBLOCK_ORDER);
    for (let i = 0; i < n; i++) this.memmap.setPageblockMigratetype(pfn + i * PAGEBLOCK_NR_PAGES, mt);
  }

  // mm/page_alloc.c: can_steal_fallback() (page_group_by_mobility_disabled is false)
  private canStealFallback(order: number, startMt: number): boolean {
    if (order >= PAGEBLOCK_ORDER) return true;
    return order >= PAGEBLOCK_ORDER / 2 || startMt === MIGRATE_RECLAIMABLE || startMt === MIGRATE_UNMOVABLE;
  }

  // mm/page_alloc.c: find_suitable_fallback(area, order, mt, only_stealable = false, &can_steal)
  private findSuitableFallback(zone: Zone, order: number, mt: number): number {
    if (zone.freeArea.nrFree[order] === 0) return -1;
    this.canSteal = false;
    const fb = FALLBACKS[mt];
    if (fb === undefined) return -1;
    for (const fallbackMt of fb) {
      if (zone.freeArea.isEmpty(order, fallbackMt)) continue;
      if (this.canStealFallback(order, mt)) this.canSteal = true;
      return fallbackMt;
    }
    return -1;
  }

  // mm/page_alloc.c: steal_suitable_fallback() (no watermark boost)
  private stealSuitableFallback(zone: Zone, pfn: number, startType: number, wholeBlock: boolean): void {
    const m = this.memmap;
    const currentOrder = m.order(pfn);
    const oldBlockType = m.pageblockMigratetype(pfn);
    single: {
      if (oldBlockType === MIGRATE_HIGHATOMIC) break single;
      if (currentOrder >= PAGEBLOCK_ORDER) {
        this.changePageblockRange(pfn, currentOrder, startType);
        break single;
      }
      if (!wholeBlock) break single;
      const freePages = this.moveFreepagesBlock(zone, pfn, startType, true);
      const movablePages = this.numMovable;
      let alikePages: number;
      if (startType === MIGRATE_MOVABLE) alikePages = movablePages;
      else if (oldBlockType === MIGRATE_MOVABLE) alikePages = PAGEBLOCK_NR_PAGES - (freePages + movablePages);
      else alikePages = 0;
      if (!freePages) break single;
      if (freePages + alikePages >= 1 << (PAGEBLOCK_ORDER - 1)) m.setPageblockMigratetype(pfn, startType);
      return;
    }
    this.moveToFreeList(zone, pfn, currentOrder, startType);
  }

  /** mm/page_alloc.c: __rmqueue_fallback(): true when a block was moved to startMt's lists. */
  rmqueueFallback(zone: Zone, order: number, startMt: number, allocFlags: number): boolean {
    let minOrder = order;
    if (order < PAGEBLOCK_ORDER && allocFlags & ALLOC_NOFRAGMENT) minOrder = PAGEBLOCK_ORDER;
    for (let current = MAX_ORDER - 1; current >= minOrder; current--) {
      let fallbackMt = this.findSuitableFallback(zone, current, startMt);
      if (fallbackMt === -1) continue;
      if (!this.canSteal && startMt === MIGRATE_MOVABLE && current > order) {
        // find_smallest
        for (current = order; current < MAX_ORDER; current++) {
          fallbackMt = this.findSuitableFallback(zone, current, startMt);
          if (fallbackMt !== -1) break;
        }
      }
      const pfn = zone.freeArea.first(current, fallbackMt);
      this.stealSuitableFallback(zone, pfn, startMt, this.canSteal);
      return true;
    }
    return false;
  }

  /**
   * mm/page_alloc.c: __rmqueue() (zone->lock held; no CMA areas): take a block
   * of free_list[mt], stealing from another migratetype when it is empty. The
   * first pfn or -1; NR_FREE_PAGES is the caller's.
   */
  __rmqueue(zone: Zone, order: number, mt: number, allocFlags: number): number {
    for (;;) {
      const pfn = this.rmqueueSmallest(zone, order, mt);
      if (pfn >= 0) return pfn;
      if (!this.rmqueueFallback(zone, order, mt, allocFlags)) return -1;
    }
  }

  /** mm/page_alloc.c: rmqueue_buddy(): one block straight from the buddy. The first pfn, or -1. */
  rmqueueBuddy(zone: Zone, order: number, mt: number, allocFlags: number): number {
    const pfn = this.__rmqueue(zone, order, mt, allocFlags);
    if (pfn < 0) return -1;
    this.modFreepageState(zone, -(1 << order), mt);
    this.work.add("pagesFromBuddy", 1 << order);
    return pfn;
  }

  /**
   * mm/page_alloc.c: rmqueue(): orders the per-cpu lists keep come from them
   * (a movable request only when it may use CMA pages, ALLOC_CMA), the rest,
   * or when the list cannot be refilled, from the buddy. The first pfn, or -1;
   * the pages are the caller's to prepare (prep_new_page()).
   */
  rmqueue(zone: Zone, order: number, mt: number, allocFlags: number): number {
    // memblock's allocations (memblockAllocations: before the buddy allocator
    // exists) never see the per-cpu lists
    if (
      !this.memblockAllocations &&
      pcpAllowedOrder(order, this.pcpThp) &&
      (allocFlags & ALLOC_CMA || mt !== MIGRATE_MOVABLE)
    ) {
      const pfn = this.rmqueuePcplist(zone, order, mt, allocFlags);
      if (pfn >= 0) return pfn;
    }
    return this.rmqueueBuddy(zone, order, mt, allocFlags);
  }

  // ---------------------------------------------------------------------------
  // Allocation
  // ---------------------------------------------------------------------------

  /** mm/page_alloc.c: __zone_watermark_ok() (no highatomic reserve, no CMA pages, no reserves flags) */
  zoneWatermarkOk(
    zone: Zone,
    order: number,
    mark: number,
    highestZoneIdx: number,
    allocFlags: number,
  ): boolean {
    let freePages = zone.vmStat[NR_FREE_PAGES];
    if (!(allocFlags & ALLOC_CMA)) freePages -= zone.vmStat[NR_FREE_CMA_PAGES]; // __zone_watermark_unusable_free()
    if (freePages <= mark + zone.lowmemReserve[highestZoneIdx]) return false;
    if (!order) return true;
    for (let o = order; o < MAX_ORDER; o++) {
      if (!zone.freeArea.nrFree[o]) continue;
      for (let mt = 0; mt < MIGRATE_PCPTYPES; mt++) if (!zone.freeArea.isEmpty(o, mt)) return true;
      if (allocFlags & ALLOC_CMA && !zone.freeArea.isEmpty(o, MIGRATE_CMA)) return true;
    }
    return false;
  }

  /**
   * mm/page_alloc.c: get_page_from_freelist(): walk the zonelist from the
   * highest allowed zone down; take the first zone above its watermark that
   * has the pages. With ALLOC_NOFRAGMENT, a first pass refuses to steal less
   * than a pageblock from another migratetype; if every zone fails, retry
   * without it. Returns the first pfn or -1.
   */
  getPageFromFreelist(order: number, highestZoneIdx: number, mt: number, allocFlags: number): number {
    for (;;) {
      const noFallback = (allocFlags & ALLOC_NOFRAGMENT) !== 0;
      for (const zi of this.pgdat.zonelist) {
        if (zi > highestZoneIdx) continue;
        const zone = this.pgdat.zones[zi];
        if (this.checkWatermarks && !(allocFlags & ALLOC_NO_WATERMARKS)) {
          const mark = zone.wmarkPages(allocFlags & ALLOC_WMARK_MASK);
          if (!this.zoneWatermarkOk(zone, order, mark, highestZoneIdx, allocFlags)) continue;
        }
        const pfn = this.rmqueue(zone, order, mt, allocFlags);
        if (pfn >= 0) return pfn;
      }
      if (!noFallback) return -1;
      allocFlags &= ~ALLOC_NOFRAGMENT;
    }
  }

  /**
   * __alloc_pages() for a gfp spec: the fast path at the low watermark (with
   * ALLOC_NOFRAGMENT when the preferred zone is ZONE_NORMAL, as
   * alloc_flags_nofragment() on one node), then the slow path's retry at the
   * min watermark; no reclaim, compaction or OOM killing: -ENOMEM after that.
   * The pages get spec.state (prep_new_page()). Returns the first pfn or -errno.
   */
  allocPagesGfp(order: number, spec: GfpSpec): number {
    if (order < 0 || order >= MAX_ORDER) return -ENOMEM; // WARN_ON_ONCE_GFP(order >= MAX_ORDER): NULL
    let preferred = -1;
    for (const zi of this.pgdat.zonelist)
      if (zi <= spec.highestZoneIdx) {
        preferred = zi;
        break;
      }
    if (preferred < 0) return -ENOMEM;
    const cma = spec.migratetype === MIGRATE_MOVABLE ? ALLOC_CMA : 0;
    let flags = ALLOC_WMARK_LOW | cma | (preferred === ZONE_NORMAL ? ALLOC_NOFRAGMENT : 0);
    let pfn = this.getPageFromFreelist(order, spec.highestZoneIdx, spec.migratetype, flags);
    if (pfn < 0) {
      flags = ALLOC_WMARK_MIN | cma; // __alloc_pages_slowpath(): gfp_to_alloc_flags()
      pfn = this.getPageFromFreelist(order, spec.highestZoneIdx, spec.migratetype, flags);
    }
    if (pfn < 0) {
      // __alloc_pages_direct_reclaim(): "pages are pinned on the per-cpu lists":
      // drain_all_pages(NULL) and try once more (the kernel does so when
      // reclaim made progress; memhp has no reclaim and assumes it did).
      this.drainAllPages(undefined);
      pfn = this.getPageFromFreelist(order, spec.highestZoneIdx, spec.migratetype, flags);
    }
    if (pfn < 0) return -ENOMEM;
    this.prepNewPage(pfn, order, spec.state);
    if (this.memblockAllocations && this.memblockExempt > 0) this.memblockExempt--;
    else if (this.memblockAllocations) {
      this.memblockAllocs.set(pfn, 1 << order);
      this.adjustManagedPageCount(pfn, -(1 << order));
    }
    return pfn;
  }

  /** Pages of the memblock stand-ins (memblockAllocations) still allocated, per zone index. */
  memblockPagesByZone(): number[] {
    const out = new Array<number>(MAX_NR_ZONES).fill(0);
    for (const [pfn, n] of this.memblockAllocs) out[this.memmap.zone(pfn)] += n;
    return out;
  }

  // mm/page_alloc.c: prep_new_page(): the pages now belong to an allocation
  private prepNewPage(pfn: number, order: number, state: number): void {
    const n = 1 << order;
    this.memmap.fillState(pfn, n, state);
    this.memmap.setOrder(pfn, order);
    this.zoneOfPfn(pfn).nrPages[state] += n;
  }

  /** alloc_pages(): PageAllocator interface. nid is ignored (one node). */
  allocPages(order: number, purpose: AllocPurpose, _nid?: number): number {
    return this.allocPagesGfp(order, gfpForPurpose(purpose));
  }

  /**
   * __free_pages(): free an allocation of this order (the pfn and order it was
   * allocated with) through free_the_page(): to the freeing CPU's per-cpu list
   * when pcp_allowed_order(), else (and for a page of an isolated pageblock)
   * to the head of the buddy list of its pageblock's migratetype. Throws on a
   * page that is not the head of such an allocation (the kernel's bad_page()).
   */
  freePages(pfn: number, order: number): void {
    const m = this.memmap;
    const s = m.state(pfn);
    if (!isAllocatedState(s) || m.order(pfn) !== order)
      throw new Error(
        `bad page: freeing pfn ${pfn.toString(16)} order ${order}: ${PAGE_STATE_NAMES[s]} order ${m.order(pfn)}`,
      );
    if (s === PS_PINNED) throw new Error(`bad page: freeing pinned pfn ${pfn.toString(16)}`);
    this.zoneOfPfn(pfn).nrPages[s] -= 1 << order;
    // free_reserved_page(): memblock-allocated page tables and memmap become managed
    if (this.memblockAllocs.size !== 0 && this.memblockAllocs.delete(pfn))
      this.adjustManagedPageCount(pfn, 1 << order);
    this.freeThePage(pfn, order);
  }

  // mm/page_alloc.c: free_the_page() (the pages' state counts are already dropped)
  private freeThePage(pfn: number, order: number): void {
    if (pcpAllowedOrder(order, this.pcpThp)) this.freeUnrefPage(pfn, order);
    else this.freePagesOk(pfn, order);
  }

  // mm/page_alloc.c: __free_pages_ok(page, order, FPI_NONE)
  private freePagesOk(pfn: number, order: number): void {
    const zone = this.zoneOfPfn(pfn);
    this.markFreeBlock(pfn, 1 << order);
    this.freeOnePage(zone, pfn, order, this.memmap.pageblockMigratetype(pfn), false);
    this.work.add("pagesToBuddy", 1 << order);
  }

  // mm/page_alloc.c: free_one_page(): straight to the buddy, the pageblock's type when isolation is about
  private freeOnePageDirect(zone: Zone, pfn: number, order: number, mt: number): void {
    if (zone.nrIsolatePageblock > 0 || mt === MIGRATE_ISOLATE) mt = this.memmap.pageblockMigratetype(pfn);
    this.markFreeBlock(pfn, 1 << order);
    this.freeOnePage(zone, pfn, order, mt, false);
    this.work.add("pagesToBuddy", 1 << order);
  }

  /**
   * mm/page_alloc.c: __free_pages_core(): hand never-used pages (PS_RESERVED
   * after memmap init) to the buddy at the TAIL of the free lists
   * (FPI_TO_TAIL), bypassing the per-cpu lists, and add them to the zone's
   * managed pages.
   */
  freePagesCore(pfn: number, order: number, checked = false): void {
    const n = 1 << order;
    const zone = this.zoneOfPfn(pfn);
    if (!checked)
      for (let p = pfn; p < pfn + n; p++)
        if (this.memmap.state(p) !== PS_RESERVED)
          throw new Error(
            `__free_pages_core: pfn ${p.toString(16)} is ${PAGE_STATE_NAMES[this.memmap.state(p)]}`,
          );
    zone.nrPages[PS_RESERVED] -= n;
    zone.managedPages += n;
    this.memmap.fillStateBlock(pfn, n, PS_FREE, PS_RESERVED, PS_RESERVED);
    this.memmap.fillOrder(pfn, n, ORDER_TAIL);
    this.freeOnePage(zone, pfn, order, this.memmap.pageblockMigratetype(pfn), true);
    this.work.add("pagesToBuddy", n);
  }

  /** mm/memory_hotplug.c: generic_online_page(): __free_pages_core() + totalram_pages_add(). */
  genericOnlinePage(pfn: number, order: number, checked = false): void {
    this.freePagesCore(pfn, order, checked);
    this.totalramPages += 1 << order;
  }

  /** mm/page_alloc.c: adjust_managed_page_count() */
  adjustManagedPageCount(pfn: number, count: number): void {
    this.zoneOfPfn(pfn).managedPages += count;
    this.totalramPages += count;
    if (this.lowmemReserveFollowsManaged) this.setupPerZoneLowmemReserve();
  }

  /**
   * mm/page_alloc.c: free_reserved_area() / free_reserved_page() for
   * PS_RESERVED pages: each is freed as an order-0 page (__free_page(), so to
   * the per-cpu list) and counted managed. Returns the pages freed.
   */
  freeReservedArea(startPfn: number, nrPages: number): number {
    for (let pfn = startPfn; pfn < startPfn + nrPages; pfn++) {
      if (this.memmap.state(pfn) !== PS_RESERVED)
        throw new Error(`free_reserved_page: pfn ${pfn.toString(16)} is not reserved`);
      this.zoneOfPfn(pfn).nrPages[PS_RESERVED]--;
      this.freeThePage(pfn, 0); // __free_page(): via the per-cpu list
      this.adjustManagedPageCount(pfn, 1);
    }
    return nrPages;
  }

  /**
   * Change the memmap state of pages that are neither free nor uninitialised
   * (e.g. a driver's __SetPageOffline() on PS_RESERVED pages, or dropping its
   * reference: PS_OFFLINE → PS_OFFLINE_FREE), keeping the zone counts. Managed
   * pages are not touched: call adjustManagedPageCount() as the driver does.
   */
  setPageState(startPfn: number, nrPages: number, state: number): void {
    if (state === PS_UNINIT || isFreeState(state) || state >= NR_PAGE_STATES)
      throw new Error(`setPageState: cannot set ${PAGE_STATE_NAMES[state] ?? state}`);
    for (let pfn = startPfn; pfn < startPfn + nrPages; pfn++) {
      const s = this.memmap.state(pfn);
      if (s === PS_UNINIT || isFreeState(s))
        throw new Error(`setPageState: pfn ${pfn.toString(16)} is ${PAGE_STATE_NAMES[s]}`);
      const zone = this.zoneOfPfn(pfn);
      zone.nrPages[s]--;
      zone.nrPages[state]++;
      this.memmap.setState(pfn, state);
      if (!isAllocatedState(state)) this.memmap.setOrder(pfn, 0);
    }
  }

  /**
   * compound_head() for allocated pages: the first PFN of the allocation that
   * contains pfn, or -1 when pfn is not an allocated page.
   */
  /**
   * The end of the free block whose tail pfn is (PS_FREE), capped at `limit`;
   * pfn + 1 when no buddy head covers it.
   */
  private freeBlockEnd(pfn: number, limit: number): number {
    const m = this.memmap;
    for (let k = 1; k < MAX_ORDER; k++) {
      const c = pfn - (pfn % (1 << k));
      if (m.state(c) === PS_BUDDY && m.order(c) >= k) return Math.min(limit, c + (1 << m.order(c)));
    }
    return pfn + 1;
  }

  allocationHead(pfn: number): number {
    const m = this.memmap;
    if (!isAllocatedState(m.state(pfn))) return -1;
    if (m.order(pfn) !== ORDER_TAIL) return pfn;
    for (let k = 1; k < MAX_ORDER; k++) {
      const c = pfn - (pfn % (1 << k));
      const o = m.order(c);
      if (o !== ORDER_TAIL && o >= k && isAllocatedState(m.state(c))) return c;
    }
    return -1;
  }

  // ---------------------------------------------------------------------------
  // Per-cpu page lists (mm/page_alloc.c)
  // ---------------------------------------------------------------------------

  /** zone->per_cpu_pageset of the running CPU. */
  pcpOf(zone: Zone, cpu = this.cpu): PerCpuPages {
    return zone.perCpuPageset[cpu];
  }

  /** Does the zone use the shared boot pagesets (no pageset of its own)? */
  usesBootPageset(zone: Zone): boolean {
    return zone.perCpuPageset === this.bootPageset;
  }

  // The memmap of a block that goes onto a per-cpu list: PS_PCP, order in the head.
  private setPcpBlock(zone: Zone, pfn: number, order: number): void {
    const n = 1 << order;
    this.memmap.fillState(pfn, n, PS_PCP);
    this.memmap.fillOrder(pfn, n, ORDER_TAIL);
    this.memmap.setOrder(pfn, order);
    zone.nrPages[PS_PCP] += n;
  }

  /**
   * mm/page_alloc.c: free_unref_page(): the pages (their state counts already
   * dropped) go to this CPU's list of their zone — at the head of
   * lists[order_to_pindex()], remembering the pageblock's migratetype
   * (free_unref_page_prepare()); HIGHATOMIC and CMA pages use the movable list,
   * pages of an isolated pageblock go straight to the buddy (free_one_page()).
   */
  freeUnrefPage(pfn: number, order: number): void {
    const zone = this.zoneOfPfn(pfn);
    const mt = this.memmap.pageblockMigratetype(pfn);
    let pcpMt = mt;
    if (mt >= MIGRATE_PCPTYPES) {
      if (mt === MIGRATE_ISOLATE) {
        this.freeOnePageDirect(zone, pfn, order, mt);
        return;
      }
      pcpMt = MIGRATE_MOVABLE;
    }
    this.freeUnrefPageCommit(zone, this.pcpOf(zone), pfn, pcpMt, mt, order);
  }

  /**
   * mm/page_alloc.c: free_unref_page_commit(): list_add() and count the pages;
   * at pcp->count >= nr_pcp_high() spill nr_pcp_free() pages to the buddy,
   * starting with this page's list. A high-order page (1..3) freed while
   * free_factor is set (frees without allocations between) spills everything.
   */
  private freeUnrefPageCommit(
    zone: Zone,
    pcp: PerCpuPages,
    pfn: number,
    pcpMt: number,
    pageMt: number,
    order: number,
  ): void {
    const pindex = orderToPindex(pcpMt, order);
    pcp.add(pindex, pfn, pageMt, false);
    this.setPcpBlock(zone, pfn, order);
    pcp.count += 1 << order;
    const freeHigh = pcp.freeFactor !== 0 && order > 0 && order <= PAGE_ALLOC_COSTLY_ORDER;
    const high = this.nrPcpHigh(pcp, freeHigh);
    if (pcp.count >= high)
      this.freePcppagesBulk(zone, this.nrPcpFree(pcp, high, pcp.batch, freeHigh), pcp, pindex);
  }

  /**
   * mm/page_alloc.c: nr_pcp_free(): how many pages a spill frees — everything
   * for free_high, 1 when the pageset is disabled (high < batch), else
   * batch << free_factor clamped to [batch, high - batch]; free_factor grows
   * (up to CONFIG_PCP_BATCH_SCALE_MAX) while that is below high - batch.
   */
  nrPcpFree(pcp: PerCpuPages, high: number, batch: number, freeHigh: boolean): number {
    if (freeHigh) return pcp.count;
    if (high < batch) return 1;
    const minNrFree = batch;
    const maxNrFree = high - batch;
    batch = batch * 2 ** pcp.freeFactor;
    if (batch < maxNrFree && pcp.freeFactor < PCP_BATCH_SCALE_MAX) pcp.freeFactor++;
    return Math.min(Math.max(batch, minNrFree), maxNrFree);
  }

  /** mm/page_alloc.c: nr_pcp_high(): 0 for a disabled pageset or free_high (ZONE_RECLAIM_ACTIVE never set). */
  nrPcpHigh(pcp: PerCpuPages, freeHigh: boolean): number {
    if (!pcp.high || freeHigh) return 0;
    return pcp.high;
  }

  /**
   * mm/page_alloc.c: free_pcppages_bulk(): free at least `count` pages
   * (min(count, pcp->count)) from the lists to the buddy, the oldest (tail)
   * block of each list first, going round the lists from `pindex`, skipping
   * empty ones. Each block goes to the buddy list of the migratetype it was
   * put on the pcp list with, or of its pageblock when the zone has isolated
   * pageblocks.
   */
  freePcppagesBulk(zone: Zone, count: number, pcp: PerCpuPages, pindex: number): void {
    count = Math.min(pcp.count, count);
    let minPindex = 0;
    let maxPindex = NR_PCP_LISTS - 1;
    pindex = pindex - 1;
    const isolatedPageblocks = zone.nrIsolatePageblock > 0; // has_isolate_pageblock()
    let freed = 0;
    while (count > 0) {
      for (;;) {
        if (++pindex > maxPindex) pindex = minPindex;
        if (!pcp.isEmpty(pindex)) break;
        if (pindex === maxPindex) maxPindex--;
        if (pindex === minPindex) minPindex++;
      }
      const order = pindexToOrder(pindex);
      const nrPages = 1 << order;
      do {
        const node = pcp.last(pindex);
        const pfn = pcp.nodePfn(node);
        let mt = pcp.nodeMigratetype(node);
        pcp.del(node);
        count -= nrPages;
        pcp.count -= nrPages;
        if (mt === MIGRATE_ISOLATE)
          throw new Error(`free_pcppages_bulk: pfn ${hex(pfn)} on a pcp list as isolate`);
        if (isolatedPageblocks) mt = this.memmap.pageblockMigratetype(pfn);
        zone.nrPages[PS_PCP] -= nrPages;
        this.markFreeBlock(pfn, nrPages);
        this.freeOnePage(zone, pfn, order, mt, false);
        freed += nrPages;
      } while (count > 0 && !pcp.isEmpty(pindex));
    }
    this.work.add("pagesToBuddy", freed);
  }

  /**
   * mm/page_alloc.c: rmqueue_bulk(): up to `count` blocks from the buddy
   * (__rmqueue()) to the tail of lists[pindex], in the order they come (so in
   * physical order after a split), each remembering `mt`. NR_FREE_PAGES drops
   * by what was taken. Returns the blocks added.
   */
  rmqueueBulk(
    zone: Zone,
    order: number,
    count: number,
    pcp: PerCpuPages,
    pindex: number,
    mt: number,
    allocFlags: number,
  ): number {
    let i = 0;
    for (; i < count; i++) {
      const pfn = this.__rmqueue(zone, order, mt, allocFlags);
      if (pfn < 0) break;
      pcp.add(pindex, pfn, mt, true);
      this.setPcpBlock(zone, pfn, order);
      if (mt === MIGRATE_CMA) zone.vmStat[NR_FREE_CMA_PAGES] -= 1 << order;
    }
    zone.vmStat[NR_FREE_PAGES] -= i << order;
    this.work.add("pagesFromBuddy", i << order);
    return i;
  }

  /**
   * mm/page_alloc.c: __rmqueue_pcplist(): the head block of lists[pindex];
   * an empty list is first refilled with max(batch >> order, 2) blocks
   * (batch itself when it is 1: a boot or disabled pageset). -1 when the buddy
   * had nothing. The block's pages stay PS_PCP for prep_new_page().
   */
  __rmqueuePcplist(
    zone: Zone,
    order: number,
    mt: number,
    allocFlags: number,
    pcp: PerCpuPages,
    pindex: number,
  ): number {
    if (pcp.isEmpty(pindex)) {
      let batch = pcp.batch;
      if (batch > 1) batch = Math.max(batch >> order, 2);
      const alloced = this.rmqueueBulk(zone, order, batch, pcp, pindex, mt, allocFlags);
      pcp.count += alloced << order;
      if (pcp.isEmpty(pindex)) return -1;
    }
    const node = pcp.first(pindex);
    const pfn = pcp.nodePfn(node);
    pcp.del(node);
    pcp.count -= 1 << order;
    zone.nrPages[PS_PCP] -= 1 << order;
    return pfn;
  }

  /** mm/page_alloc.c: rmqueue_pcplist(): an allocation halves free_factor, then takes from this CPU's list. */
  rmqueuePcplist(zone: Zone, order: number, mt: number, allocFlags: number): number {
    const pcp = this.pcpOf(zone);
    pcp.freeFactor >>= 1;
    return this.__rmqueuePcplist(zone, order, mt, allocFlags, pcp, orderToPindex(mt, order));
  }

  /** mm/page_alloc.c: drain_pages_zone(): empty one CPU's lists of a zone, batch << CONFIG_PCP_BATCH_SCALE_MAX at a time. */
  drainPagesZone(cpu: number, zone: Zone): void {
    const pcp = this.pcpOf(zone, cpu);
    let count: number;
    do {
      count = pcp.count;
      if (count) {
        const toDrain = Math.min(count, pcp.batch * 2 ** PCP_BATCH_SCALE_MAX);
        this.freePcppagesBulk(zone, toDrain, pcp, 0);
        count -= toDrain;
      }
    } while (count);
  }

  /** mm/page_alloc.c: drain_pages(): every populated zone's lists of one CPU. */
  drainPages(cpu: number): void {
    for (const zone of this.pgdat.zones) if (zone.populated()) this.drainPagesZone(cpu, zone);
  }

  /** mm/page_alloc.c: drain_local_pages(): this CPU's lists of one zone, or of all. */
  drainLocalPages(zone: Zone | undefined): void {
    if (zone) this.drainPagesZone(this.cpu, zone);
    else this.drainPages(this.cpu);
  }

  /**
   * mm/page_alloc.c: __drain_all_pages(): drain the lists of one zone (or of
   * every populated zone) on each CPU that has pages on them, or on every CPU
   * with forceAllCpus. Counts drainAllPages and cpusReached.
   */
  __drainAllPages(zone: Zone | undefined, forceAllCpus: boolean): void {
    this.work.add("drainAllPages");
    for (let cpu = 0; cpu < this.nrCpus; cpu++) {
      let hasPcps = forceAllCpus;
      if (!hasPcps && zone) hasPcps = this.pcpOf(zone, cpu).count > 0;
      else if (!hasPcps)
        hasPcps = this.pgdat.zones.some((z) => z.populated() && this.pcpOf(z, cpu).count > 0);
      if (!hasPcps) continue;
      this.work.add("cpusReached");
      if (zone) this.drainPagesZone(cpu, zone);
      else this.drainPages(cpu);
    }
  }

  /** mm/page_alloc.c: drain_all_pages(): spill every CPU's per-cpu pages of the zone (or of all zones) to the buddy. */
  drainAllPages(zone: Zone | undefined): void {
    this.__drainAllPages(zone, false);
  }

  /** mm/page_alloc.c: zone_batchsize(): ~0.1% of the zone or 1 MiB, a quarter of that, rounded to 2^n - 1. */
  zoneBatchsize(zone: Zone): number {
    let batch = Math.min(Math.floor(zone.managedPages / 1024), (1024 * 1024) >> PAGE_SHIFT);
    batch = Math.floor(batch / 4);
    if (batch < 1) batch = 1;
    return 2 ** fls(batch + Math.floor(batch / 2)) - 1; // rounddown_pow_of_two(batch + batch/2) - 1
  }

  /**
   * mm/page_alloc.c: zone_highsize(): the low watermark (or managed /
   * percpu_pagelist_high_fraction) split over the node's CPUs (+ cpuOnline),
   * at least 4 batches.
   */
  zoneHighsize(
    zone: Zone,
    batch: number,
    cpuOnline: number,
    highFraction = this.percpuPagelistHighFraction,
  ): number {
    const totalPages = highFraction ? Math.floor(zone.managedPages / highFraction) : zone.lowWmarkPages();
    let nrSplitCpus = this.nrCpus + cpuOnline; // cpumask_of_node(0): every CPU
    if (!nrSplitCpus) nrSplitCpus = this.nrCpus;
    const high = Math.floor(totalPages / nrSplitCpus);
    return Math.max(high, batch * 4);
  }

  /** mm/page_alloc.c: pageset_update() (high: high_min since 6.7) */
  pagesetUpdate(pcp: PerCpuPages, high: number, batch: number, highMax = high): void {
    pcp.batch = batch;
    pcp.high = high;
    pcp.highMax = highMax;
  }

  /** mm/page_alloc.c: __zone_set_pageset_high_and_batch(): every possible CPU's pageset of the zone. */
  __zoneSetPagesetHighAndBatch(zone: Zone, high: number, batch: number, highMax = high): void {
    for (let cpu = 0; cpu < this.nrCpus; cpu++)
      this.pagesetUpdate(this.pcpOf(zone, cpu), high, batch, highMax);
  }

  /**
   * mm/page_alloc.c: zone_set_pageset_high_and_batch(): recompute batch and
   * high from the zone's size; the pagesets are written only when they differ
   * from zone->pageset_high/batch. (For a zone on the boot pagesets this writes
   * the shared boot pagesets, as the kernel's for_each_zone() callers do.)
   */
  zoneSetPagesetHighAndBatch(zone: Zone, cpuOnline: number): void {
    const newBatch = Math.max(1, this.zoneBatchsize(zone));
    const newHigh = this.zoneHighsize(zone, newBatch, cpuOnline);
    // 6.7+: high_max, the tuning's ceiling: managed / MIN_PERCPU_PAGELIST_HIGH_FRACTION
    // (the manual fraction, when set, fixes high_max = high_min)
    const newHighMax = this.percpuPagelistHighFraction
      ? newHigh
      : this.zoneHighsize(zone, newBatch, cpuOnline, MIN_PERCPU_PAGELIST_HIGH_FRACTION);
    if (zone.pagesetHigh === newHigh && zone.pagesetHighMax === newHighMax && zone.pagesetBatch === newBatch)
      return;
    zone.pagesetHigh = newHigh;
    zone.pagesetHighMax = newHighMax;
    zone.pagesetBatch = newBatch;
    this.__zoneSetPagesetHighAndBatch(zone, newHigh, newBatch, newHighMax);
  }

  /** mm/page_alloc.c: zone_pcp_init() (free_area_init_core()): the boot pagesets, high 0, batch 1. */
  zonePcpInit(zone: Zone): void {
    zone.perCpuPageset = this.bootPageset;
    zone.pagesetHigh = BOOT_PAGESET_HIGH;
    zone.pagesetHighMax = BOOT_PAGESET_HIGH;
    zone.pagesetBatch = BOOT_PAGESET_BATCH;
  }

  /** mm/page_alloc.c: setup_zone_pageset(): the zone's own empty pagesets (per_cpu_pages_init()), then sized. */
  setupZonePageset(zone: Zone): void {
    zone.perCpuPageset = Array.from({ length: this.nrCpus }, () => new PerCpuPages());
    this.zoneSetPagesetHighAndBatch(zone, 0);
  }

  /** mm/page_alloc.c: setup_per_cpu_pageset() (start_kernel()): every populated zone gets its pagesets. */
  setupPerCpuPageset(): void {
    for (const zone of this.pgdat.zones) if (zone.populated()) this.setupZonePageset(zone);
  }

  /** mm/page_alloc.c: zone_pcp_update(): new managed pages or watermarks: recompute high and batch. */
  zonePcpUpdate(zone: Zone, cpuOnline: number): void {
    this.zoneSetPagesetHighAndBatch(zone, cpuOnline);
  }

  /**
   * mm/page_alloc.c: zone_pcp_disable() (offline_pages()): high 0, batch 1 on
   * every CPU, so that frees pass straight through, then drain every CPU's
   * lists of the zone.
   */
  zonePcpDisable(zone: Zone): void {
    this.__zoneSetPagesetHighAndBatch(zone, 0, 1);
    this.__drainAllPages(zone, true);
  }

  /** mm/page_alloc.c: zone_pcp_enable(): back to zone->pageset_high/batch. */
  zonePcpEnable(zone: Zone): void {
    this.__zoneSetPagesetHighAndBatch(zone, zone.pagesetHigh, zone.pagesetBatch, zone.pagesetHighMax);
  }

  /**
   * mm/page_alloc.c: zone_pcp_reset() (offline_pages() of a zone's last
   * pages): the zone goes back to the boot pagesets. Its own must be empty
   * (the kernel frees them with free_percpu(); pages still on them would leak).
   */
  zonePcpReset(zone: Zone): void {
    if (this.usesBootPageset(zone)) return;
    for (let cpu = 0; cpu < this.nrCpus; cpu++)
      if (this.pcpOf(zone, cpu).count)
        throw new Error(
          `zone_pcp_reset: ${zone.name} cpu ${cpu} still has ${this.pcpOf(zone, cpu).count} pages`,
        );
    zone.perCpuPageset = this.bootPageset;
  }

  // ---------------------------------------------------------------------------
  // Isolation helpers (mm/page_alloc.c; zone->lock held)
  // ---------------------------------------------------------------------------

  /**
   * mm/page_alloc.c: __isolate_free_page(): take a free block off the buddy
   * (obeying the min watermark unless its pageblock is isolated). Returns the
   * pages taken, 0 when refused. The pages stay PS_FREE, on no list.
   */
  isolateFreePage(pfn: number, order: number): number {
    const zone = this.zoneOfPfn(pfn);
    const mt = this.memmap.pageblockMigratetype(pfn);
    if (mt !== MIGRATE_ISOLATE) {
      const watermark = zone.watermark[WMARK_MIN] + (1 << order);
      if (!this.zoneWatermarkOk(zone, 0, watermark, 0, ALLOC_CMA)) return 0;
      this.modFreepageState(zone, -(1 << order), mt);
    }
    this.delPageFromFreeList(zone, pfn, order);
    if (order >= PAGEBLOCK_ORDER - 1) {
      const end = pfn + (1 << order) - 1;
      for (let p = pfn; p < end; p += PAGEBLOCK_NR_PAGES) {
        const pmt = this.memmap.pageblockMigratetype(p);
        if (migratetypeIsMergeable(pmt)) this.memmap.setPageblockMigratetype(p, MIGRATE_MOVABLE);
      }
    }
    return 1 << order;
  }

  /**
   * mm/page_alloc.c: take_page_off_buddy()'s work: the free block of order at
   * head leaves its list, break_down_buddy_pages() puts back the halves
   * without target (to the head of free_list[mt]), and target becomes a page
   * of state, out of NR_FREE_PAGES (unless its pageblock is isolated).
   */
  takeOffBuddy(zone: Zone, head: number, order: number, target: number, mt: number, state: number): void {
    const m = this.memmap;
    this.delPageFromFreeList(zone, head, order);
    let page = head;
    let high = order;
    let size = 1 << high;
    while (high > 0) {
      high--;
      size >>= 1;
      let buddy: number;
      if (target >= page + size) {
        buddy = page;
        page += size;
      } else buddy = page + size;
      // its pages are the block's free tails already (del_page_from_free_list() made the head one)
      this.addToFreeList(zone, buddy, high, mt, false);
    }
    if (mt !== MIGRATE_ISOLATE) this.modFreepageState(zone, -1, mt);
    m.setState(target, state);
    m.setOrder(target, 0);
    zone.nrPages[state]++;
  }

  /** mm/page_alloc.c: __putback_isolated_page(): back to the tail of free_list[mt]. */
  putbackIsolatedPage(pfn: number, order: number, mt: number): void {
    this.freeOnePage(this.zoneOfPfn(pfn), pfn, order, mt, true);
  }

  /**
   * mm/page_alloc.c: split_free_page(): split the free block at pfn so that the
   * part before pfn + splitPfnOffset and the part after go to the lists of
   * their own pageblocks. 0, or -ENOENT when pfn is not a free block of order.
   */
  splitFreePage(pfn: number, order: number, splitPfnOffset: number): number {
    if (splitPfnOffset === 0) return 0;
    const m = this.memmap;
    if (m.state(pfn) !== PS_BUDDY || m.order(pfn) !== order) return -ENOENT;
    const zone = this.zoneOfPfn(pfn);
    const mt = m.pageblockMigratetype(pfn);
    if (mt !== MIGRATE_ISOLATE) this.modFreepageState(zone, -(1 << order), mt);
    this.delPageFromFreeList(zone, pfn, order);
    let off = splitPfnOffset;
    for (let p = pfn; p < pfn + (1 << order);) {
      const pmt = m.pageblockMigratetype(p);
      const o = Math.min(p ? ffs(p) : order, fls(off));
      this.freeOnePage(zone, p, o, pmt, false);
      p += 1 << o;
      off -= 1 << o;
      if (off === 0) off = (1 << order) - (p - pfn);
    }
    return 0;
  }

  // ---------------------------------------------------------------------------
  // Zones (mm/page_alloc.c)
  // ---------------------------------------------------------------------------

  /** mm/page_alloc.c: __pageblock_pfn_to_page(): [start, end) is valid, online, all in zone. */
  pageblockPfnToPage(startPfn: number, endPfn: number, zone: Zone): boolean {
    const last = endPfn - 1;
    if (!this.sections.pfnValid(startPfn) || !this.sections.pfnValid(last)) return false;
    if (!pfnToOnlinePage(this.sections, startPfn)) return false;
    const z = this.memmap.zone(startPfn);
    if (z !== zone.idx) return false;
    return this.memmap.zone(last) === z;
  }

  /**
   * mm/page_alloc.c: set_zone_contiguous(): check every pageblock of the span
   * with __pageblock_pfn_to_page() (stopping at the first failure) and set
   * zone->contiguous when none failed. Counts pageblocksScanned.
   */
  setZoneContiguous(zoneIdx: number): void {
    const zone = this.pgdat.zones[zoneIdx];
    this.work.withPhase("set_zone_contiguous", () => {
      const zoneEnd = zone.zoneEndPfn();
      let scanned = 0;
      let blockStart = zone.zoneStartPfn;
      let blockEnd = pageblockEndPfn(blockStart);
      let ok = true;
      while (blockStart < zoneEnd) {
        // memhp: a whole section whose every pageblock passes is counted at once
        // (valid, online, every page in this zone); the count stays the kernel's.
        if (blockStart % PAGES_PER_SECTION === 0 && blockStart + PAGES_PER_SECTION <= zoneEnd) {
          const nr = blockStart / PAGES_PER_SECTION;
          if (
            this.sections.sectionFullyValid(nr) &&
            this.sections.onlineSectionNr(nr) &&
            this.memmap.zoneUniform(nr) === zone.idx
          ) {
            scanned += PAGES_PER_SECTION / PAGEBLOCK_NR_PAGES;
            blockStart += PAGES_PER_SECTION;
            blockEnd = blockStart + PAGEBLOCK_NR_PAGES;
            continue;
          }
        }
        blockEnd = Math.min(blockEnd, zoneEnd);
        scanned++;
        if (!this.pageblockPfnToPage(blockStart, blockEnd, zone)) {
          ok = false;
          break;
        }
        blockStart = blockEnd;
        blockEnd += PAGEBLOCK_NR_PAGES;
      }
      this.work.add("pageblocksScanned", scanned);
      if (ok) zone.contiguous = true;
    });
  }

  /** mm/page_alloc.c: clear_zone_contiguous() */
  clearZoneContiguous(zoneIdx: number): void {
    this.pgdat.zones[zoneIdx].contiguous = false;
  }

  /**
   * mm/page_alloc.c: build_all_zonelists() → build_zonelists() →
   * build_zonerefs_node(): node0's fallback list is its populated zones,
   * highest first. Counts zonelistRebuilds.
   */
  buildAllZonelists(): void {
    const list: number[] = [];
    for (let zi = MAX_NR_ZONES - 1; zi >= 0; zi--) if (this.pgdat.zones[zi].populated()) list.push(zi);
    this.pgdat.zonelist = list;
    this.work.add("zonelistRebuilds");
  }

  // ---------------------------------------------------------------------------
  // Watermarks (mm/page_alloc.c)
  // ---------------------------------------------------------------------------

  /** nr_free_buffer_pages(): managed pages above the high watermark in the zones GFP_USER may use. */
  nrFreeBufferPages(): number {
    let sum = 0;
    for (const zi of this.pgdat.zonelist) {
      if (zi > ZONE_NORMAL) continue;
      const zone = this.pgdat.zones[zi];
      const high = zone.highWmarkPages();
      if (zone.managedPages > high) sum += zone.managedPages - high;
    }
    return sum;
  }

  /** calculate_min_free_kbytes() */
  calculateMinFreeKbytes(): void {
    const lowmemKbytes = this.nrFreeBufferPages() * (1 << (PAGE_SHIFT - 10));
    const v = intSqrt(lowmemKbytes * 16);
    if (v > this.userMinFreeKbytes) this.minFreeKbytes = Math.min(Math.max(v, 128), 262144);
  }

  /**
   * setup_per_zone_wmarks(): __setup_per_zone_wmarks() (no highmem: every zone
   * is lowmem; no boost), then zone_pcp_update() of every zone, populated or not.
   */
  setupPerZoneWmarks(): void {
    const pagesMin = this.minFreeKbytes >> (PAGE_SHIFT - 10);
    // 6.5+ ("mm/page_alloc: fix min_free_kbytes calculation regarding
    // ZONE_MOVABLE"): ZONE_MOVABLE is left out of lowmem and its min capped like highmem's
    const movableCapped = this.movableWmarkLikeHighmem;
    let lowmemPages = 0;
    for (const zone of this.pgdat.zones)
      if (!(movableCapped && zone.idx === ZONE_MOVABLE)) lowmemPages += zone.managedPages;
    for (const zone of this.pgdat.zones) {
      const tmp = lowmemPages ? Math.floor((pagesMin * zone.managedPages) / lowmemPages) : 0;
      zone.watermark[WMARK_MIN] =
        movableCapped && zone.idx === ZONE_MOVABLE
          ? Math.min(Math.max(Math.floor(zone.managedPages / 1024), BuddyAllocator.SWAP_CLUSTER_MAX), 128)
          : tmp;
      const step = Math.max(
        Math.floor(tmp / 4),
        multFrac(zone.managedPages, this.watermarkScaleFactor, 10000),
      );
      zone.watermarkBoost = 0;
      zone.watermark[WMARK_LOW] = zone.watermark[WMARK_MIN] + step;
      zone.watermark[WMARK_HIGH] = zone.watermark[WMARK_LOW] + step;
      zone.watermark[WMARK_PROMO] = zone.watermark[WMARK_HIGH] + step;
    }
    this.calculateTotalreservePages();
    for (const zone of this.pgdat.zones) this.zonePcpUpdate(zone, 0);
  }

  /** setup_per_zone_lowmem_reserve() */
  setupPerZoneLowmemReserve(): void {
    const zones = this.pgdat.zones;
    for (let i = 0; i < MAX_NR_ZONES - 1; i++) {
      const zone = zones[i];
      const ratio = this.lowmemReserveRatio[i];
      const clear = !ratio || !zone.managedPages;
      let managed = 0;
      for (let j = i + 1; j < MAX_NR_ZONES; j++) {
        managed += zones[j].managedPages;
        zone.lowmemReserve[j] = clear ? 0 : Math.floor(managed / ratio);
      }
    }
    this.calculateTotalreservePages();
  }

  /** calculate_totalreserve_pages() */
  calculateTotalreservePages(): void {
    let total = 0;
    for (const zone of this.pgdat.zones) {
      let max = 0;
      for (let j = zone.idx; j < MAX_NR_ZONES; j++)
        if (zone.lowmemReserve[j] > max) max = zone.lowmemReserve[j];
      max += zone.highWmarkPages();
      if (max > zone.managedPages) max = zone.managedPages;
      total += max;
    }
    this.pgdat.totalreservePages = total;
    this.totalreservePages = total;
  }

  /** init_per_zone_wmark_min(): at boot and after every online/offline. */
  /**
   * mm/vmstat.c: refresh_zone_stat_thresholds(): each populated zone's stats
   * threshold from its managed pages now (calculate_normal_threshold()); a
   * zone's managed pages changing later (virtio-mem fake-offlining pages)
   * leaves it as it is until the next refresh.
   */
  refreshZoneStatThresholds(): void {
    for (const z of this.pgdat.zones)
      if (z.presentPages) z.statThreshold = calculateNormalThreshold(z.managedPages, this.nrCpus);
  }

  initPerZoneWmarkMin(): void {
    this.calculateMinFreeKbytes();
    this.setupPerZoneWmarks();
    this.refreshZoneStatThresholds();
    this.setupPerZoneLowmemReserve();
    // mm/khugepaged.c: khugepaged_min_free_kbytes_update()
    if (this.khugepagedRunning) this.setRecommendedMinFreeKbytes();
  }

  /**
   * Transparent hugepages are enabled (Debian: CONFIG_TRANSPARENT_HUGEPAGE with
   * "madvise"), so khugepaged runs from late boot on and keeps min_free_kbytes at
   * least at its recommendation.
   */
  khugepagedRunning = false;

  /** mm/khugepaged.c: start_stop_khugepaged() at late_initcall time. */
  startKhugepaged(): void {
    this.khugepagedRunning = true;
    this.setRecommendedMinFreeKbytes();
  }

  /**
   * mm/khugepaged.c: set_recommended_min_free_kbytes(): two free pageblocks per
   * populated zone up to ZONE_NORMAL, plus MIGRATE_PCPTYPES^2 pageblocks per zone
   * for fallbacks, at most 5% of nr_free_buffer_pages(); then setup_per_zone_wmarks().
   */
  setRecommendedMinFreeKbytes(): void {
    let nrZones = 0;
    for (const zone of this.pgdat.zones) if (zone.populated() && zone.idx <= ZONE_NORMAL) nrZones++;
    let recommended = PAGEBLOCK_NR_PAGES * nrZones * 2;
    recommended += PAGEBLOCK_NR_PAGES * nrZones * MIGRATE_PCPTYPES * MIGRATE_PCPTYPES;
    recommended = Math.min(recommended, Math.floor(this.nrFreeBufferPages() / 20));
    recommended <<= PAGE_SHIFT - 10;
    if (recommended > this.minFreeKbytes) this.minFreeKbytes = recommended;
    this.setupPerZoneWmarks();
  }

  /** The vm.min_free_kbytes sysctl (min_free_kbytes_sysctl_handler()). */
  setMinFreeKbytes(kbytes: number): void {
    this.minFreeKbytes = kbytes;
    this.userMinFreeKbytes = kbytes;
    this.setupPerZoneWmarks();
  }

  // ---------------------------------------------------------------------------
  // Statistics
  // ---------------------------------------------------------------------------

  /** global_zone_page_state(NR_FREE_PAGES): MemFree in pages. */
  globalFreePages(): number {
    let sum = 0;
    for (const zone of this.pgdat.zones) sum += zone.vmStat[NR_FREE_PAGES];
    return sum;
  }

  /** mm/show_mem.c: si_meminfo(): MemTotal (totalram) and MemFree, in pages. */
  siMeminfo(): { totalram: number; freeram: number } {
    return { totalram: this.totalramPages, freeram: this.globalFreePages() };
  }

  /** The numbers /proc/zoneinfo prints for a zone (mm/vmstat.c: zoneinfo_show_print()). */
  zoneInfo(idx: number): ZoneInfo {
    const z = this.pgdat.zones[idx];
    const vmStat: Record<string, number> = {};
    ZONE_STAT_NAMES.forEach((n, i) => (vmStat[n] = z.vmStat[i]));
    return {
      name: ZONE_NAMES[idx],
      nid: z.nid,
      free: z.vmStat[NR_FREE_PAGES],
      boost: z.watermarkBoost,
      min: z.minWmarkPages(),
      low: z.lowWmarkPages(),
      high: z.highWmarkPages(),
      promo: z.wmarkPages(WMARK_PROMO),
      spanned: z.spannedPages,
      present: z.presentPages,
      managed: z.managedPages,
      cma: z.cmaPages,
      protection: Array.from(z.lowmemReserve),
      startPfn: z.zoneStartPfn,
      nrFree: Array.from(z.freeArea.nrFree),
      vmStat,
      pagesets: z.perCpuPageset.map((pcp, cpu) => ({
        cpu,
        count: pcp.count,
        high: pcp.high,
        batch: pcp.batch,
        highMax: pcp.highMax,
      })),
      freePagesBlocks: z.freeArea.freeBlockPages(PAGEBLOCK_ORDER),
    };
  }

  // ---------------------------------------------------------------------------
  // Invariants
  // ---------------------------------------------------------------------------

  /** checkInvariants()'s walk of the memmap, with what it found per section (incremental checks). */
  private readonly memmapWalk = new MemmapWalk();

  /**
   * Every check the model can make of its page-level state; [] when all hold.
   * Walks every page of every section with a memmap (O(pages)). With
   * `incremental`, a section whose memmap did not change since the last check
   * (Memmap.sectionVersion(), same online state) reuses what that walk found:
   * the result is the same as a full check's, at the cost of the changed
   * sections only (test/invariants-incremental.test.ts holds the two equal).
   */
  checkInvariants(incremental = false): string[] {
    const out: string[] = [];
    const m = this.memmap;
    const zones = this.pgdat.zones;
    // page-level findings are capped (one corruption can touch many pages); the
    // zone-level ones are all reported after them
    let pageErrs = 0;
    const perr = (s: string): void => {
      if (pageErrs++ < 20) out.push(s);
    };
    const err = (s: string): void => {
      out.push(s);
    };
    const { stateCount, freeCount, headCount, pcpHeads, isoBlocks } = this.memmapWalk.walk(
      m,
      this.sections,
      zones,
      incremental,
      perr,
    );
    if (pageErrs > 20) out.push(`... ${pageErrs - 20} more page-level findings`);
    let managedSum = 0;
    const memblockPages = this.memblockPagesByZone();
    for (const zone of zones) {
      const zi = zone.idx;
      const w = `zone ${zone.name}`;
      for (const e of zone.freeArea.checkLists(w)) err(e);
      const listed = zone.freeArea.freePages(true);
      if (zone.vmStat[NR_FREE_PAGES] !== listed)
        err(`${w}: NR_FREE_PAGES ${zone.vmStat[NR_FREE_PAGES]} != ${listed} on the non-isolate free lists`);
      let cmaFree = 0;
      for (let o = 0; o < MAX_ORDER; o++) cmaFree += zone.freeArea.count(o, MIGRATE_CMA) * 2 ** o;
      if (zone.vmStat[NR_FREE_CMA_PAGES] !== cmaFree) err(`${w}: NR_FREE_CMA_PAGES wrong`);
      const all = zone.freeArea.freePages(false);
      if (freeCount[zi] !== all) err(`${w}: ${freeCount[zi]} free pages in the memmap, ${all} on the lists`);
      if (headCount[zi] !== zone.freeArea.nrBlocks)
        err(`${w}: ${headCount[zi]} buddy heads in the memmap, ${zone.freeArea.nrBlocks} listed`);
      for (let s = 0; s < NR_PAGE_STATES; s++) {
        if (s === PS_UNINIT || isFreeState(s)) continue;
        if (zone.nrPages[s] !== stateCount[zi][s])
          err(
            `${w}: ${zone.nrPages[s]} ${PAGE_STATE_NAMES[s]} pages counted, ${stateCount[zi][s]} in the memmap`,
          );
      }
      let present = all;
      for (let s = 0; s < NR_PAGE_STATES; s++)
        if (s !== PS_UNINIT && s !== PS_HOLE && !isFreeState(s)) present += stateCount[zi][s];
      if (zone.presentPages !== present)
        err(`${w}: present_pages ${zone.presentPages} != ${present} pages in the zone`);
      const expectManaged =
        zone.presentPages -
        stateCount[zi][PS_RESERVED] -
        stateCount[zi][PS_OFFLINE] -
        stateCount[zi][PS_OFFLINE_FREE] -
        memblockPages[zi];
      if (zone.managedPages !== expectManaged)
        err(
          `${w}: managed_pages ${zone.managedPages} != present - reserved - offline - memblock = ${expectManaged}`,
        );
      managedSum += zone.managedPages;
      if (zone.nrIsolatePageblock !== isoBlocks[zi])
        err(`${w}: nr_isolate_pageblock ${zone.nrIsolatePageblock} != ${isoBlocks[zi]} isolated pageblocks`);
      if (zone.spannedPages < 0 || (zone.spannedPages === 0 && zone.presentPages !== 0))
        err(`${w}: spanned ${zone.spannedPages} with ${zone.presentPages} present`);
      if (zone.spannedPages && this.pgdat.nodeSpannedPages) {
        if (zone.zoneStartPfn < this.pgdat.nodeStartPfn || zone.zoneEndPfn() > this.pgdat.nodeEndPfn())
          err(`${w}: span outside the node span`);
      }
      if (zone.populated() !== this.pgdat.zonelist.includes(zi))
        err(`${w}: populated ${zone.populated()} but zonelist ${this.pgdat.zonelist.join(",")}`);
      for (const e of this.checkPcpInvariants(zone, pcpHeads[zi])) err(e);
    }
    this.bootPageset.forEach((pcp, cpu) => {
      if (pcp.count || pcp.nrBlocks) err(`boot pageset of cpu ${cpu} holds ${pcp.count} pages`);
    });
    if (managedSum !== this.totalramPages)
      err(`totalram_pages ${this.totalramPages} != sum of managed ${managedSum}`);
    let nodePresent = 0;
    for (const zone of zones) nodePresent += zone.presentPages;
    if (this.pgdat.nodePresentPages !== nodePresent)
      err(`node_present_pages ${this.pgdat.nodePresentPages} != sum of zones ${nodePresent}`);
    return out;
  }

  /**
   * The per-cpu lists of one zone against the memmap: every listed block is a
   * PS_PCP head of its list's order in this zone, remembered with a mergeable
   * (not isolate) migratetype; the counts add up; a zone on the boot pagesets
   * has no pcp pages. heads: the PS_PCP heads the memmap walk found in the zone.
   */
  private checkPcpInvariants(zone: Zone, heads: number): string[] {
    const out: string[] = [];
    const w = `zone ${zone.name}`;
    const m = this.memmap;
    if (zone.perCpuPageset.length !== this.nrCpus)
      out.push(`${w}: ${zone.perCpuPageset.length} pagesets for ${this.nrCpus} cpus`);
    let pages = 0;
    let blocks = 0;
    if (!this.usesBootPageset(zone)) {
      zone.perCpuPageset.forEach((pcp, cpu) => {
        const wc = `${w} cpu ${cpu}`;
        for (const e of pcp.checkLists(wc, pcpPagesPerBlock)) out.push(e);
        for (let li = 0; li < NR_PCP_LISTS; li++) {
          const order = pindexToOrder(li);
          pcp.forEach(li, (pfn, mt) => {
            if (out.length > 20) return;
            if (m.state(pfn) !== PS_PCP || m.order(pfn) !== order)
              out.push(
                `${wc}: pfn ${hex(pfn)} on pcp list ${li} is ${PAGE_STATE_NAMES[m.state(pfn)]} order ${m.order(pfn)}`,
              );
            if (m.zone(pfn) !== zone.idx)
              out.push(`${wc}: pfn ${hex(pfn)} on its pcp list is in zone ${m.zone(pfn)}`);
            if (mt === MIGRATE_ISOLATE || mt >= MIGRATE_TYPES)
              out.push(`${wc}: pfn ${hex(pfn)} on a pcp list with migratetype ${mt}`);
          });
        }
        pages += pcp.count;
        blocks += pcp.nrBlocks;
      });
    }
    if (pages !== zone.nrPages[PS_PCP])
      out.push(`${w}: ${pages} pages on the pcp lists, ${zone.nrPages[PS_PCP]} pcp pages counted`);
    if (blocks !== heads)
      out.push(`${w}: ${blocks} blocks on the pcp lists, ${heads} pcp heads in the memmap`);
    return out;
  }
}

const hex = (n: number): string => "0x" + n.toString(16);

/** mm/vmstat.c: calculate_normal_threshold() */
export function calculateNormalThreshold(managed: number, cpus: number): number {
  const fls = (x: number) => (x <= 0 ? 0 : Math.floor(Math.log2(x)) + 1);
  const mem = Math.floor(managed / 32768); // 128 MiB units
  return Math.min(125, 2 * fls(cpus) * (1 + fls(mem)));
}
