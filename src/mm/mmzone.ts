// include/linux/mmzone.h: struct pglist_data (one node, node0) and struct zone
// with its free_area[order].free_list[migratetype], per-cpu page lists (struct
// per_cpu_pages), watermarks, lowmem_reserve and vm_stat; the zone and
// migratetype enums.
//
// In Linux a free block is linked through page->buddy_list of its head page. In
// memhp the lists live in FreeArea: a pool of list nodes in typed arrays (next,
// prev, pfn, list), found from a PFN through one Map per memory section (a Map
// holds at most 2^24 entries; one per section never comes near that). The cost
// is per free block, not per page, and list order (head/tail insertion, taking
// from the head) is kept exactly.

import { ListPool } from "./list_pool.js";
import { MAX_ORDER, PAGEBLOCK_ORDER, PFN_SECTION_SHIFT } from "./constants.js";
import { NR_PAGE_STATES } from "./memmap.js";

// --- enum zone_type (x86_64 and arm64 with CONFIG_ZONE_DMA, CONFIG_ZONE_DMA32, no HIGHMEM, no DEVICE) ---
export const ZONE_DMA = 0;
export const ZONE_DMA32 = 1;
export const ZONE_NORMAL = 2;
export const ZONE_MOVABLE = 3;
export const MAX_NR_ZONES = 4;
/** The names /proc/zoneinfo and valid_zones print (mm/page_alloc.c: zone_names[]). */
export const ZONE_NAMES: readonly string[] = ["DMA", "DMA32", "Normal", "Movable"];

// --- enum migratetype (CONFIG_CMA and CONFIG_MEMORY_ISOLATION set) ---
export const MIGRATE_UNMOVABLE = 0;
export const MIGRATE_MOVABLE = 1;
export const MIGRATE_RECLAIMABLE = 2;
export const MIGRATE_PCPTYPES = 3;
export const MIGRATE_HIGHATOMIC = MIGRATE_PCPTYPES;
export const MIGRATE_CMA = 4;
export const MIGRATE_ISOLATE = 5;
export const MIGRATE_TYPES = 6;
/** mm/page_alloc.c: migratetype_names[] (/proc/pagetypeinfo). */
export const MIGRATETYPE_NAMES: readonly string[] = [
  "Unmovable",
  "Movable",
  "Reclaimable",
  "HighAtomic",
  "CMA",
  "Isolate",
];
/** include/linux/mmzone.h: migratetype_is_mergeable() */
export function migratetypeIsMergeable(mt: number): boolean {
  return mt < MIGRATE_PCPTYPES;
}

// --- enum zone_watermarks ---
export const WMARK_MIN = 0;
export const WMARK_LOW = 1;
export const WMARK_HIGH = 2;
export const WMARK_PROMO = 3;
export const NR_WMARK = 4;

// --- enum zone_stat_item (6.1) ---
export const NR_FREE_PAGES = 0;
export const NR_ZONE_INACTIVE_ANON = 1;
export const NR_ZONE_ACTIVE_ANON = 2;
export const NR_ZONE_INACTIVE_FILE = 3;
export const NR_ZONE_ACTIVE_FILE = 4;
export const NR_ZONE_UNEVICTABLE = 5;
export const NR_ZONE_WRITE_PENDING = 6;
export const NR_MLOCK = 7;
export const NR_BOUNCE = 8;
export const NR_ZSPAGES = 9;
export const NR_FREE_CMA_PAGES = 10;
export const NR_VM_ZONE_STAT_ITEMS = 11;
/** mm/vmstat.c: vmstat_text[] names of the zone items (/proc/zoneinfo, /proc/vmstat). */
export const ZONE_STAT_NAMES: readonly string[] = [
  "nr_free_pages",
  "nr_zone_inactive_anon",
  "nr_zone_active_anon",
  "nr_zone_inactive_file",
  "nr_zone_active_file",
  "nr_zone_unevictable",
  "nr_zone_write_pending",
  "nr_mlock",
  "nr_bounce",
  "nr_zspages",
  "nr_free_cma",
];

const NR_LISTS = MAX_ORDER * MIGRATE_TYPES;
const listIndex = (order: number, mt: number): number => order * MIGRATE_TYPES + mt;

/**
 * struct free_area[MAX_ORDER] of one zone: free_list[migratetype] per order and
 * nr_free per order. Knows nothing of page states; the page allocator keeps
 * PageBuddy and the order in the memmap.
 */
export class FreeArea {
  /** free_area[order].nr_free (all migratetypes, isolate included) */
  readonly nrFree = new Float64Array(MAX_ORDER);
  private readonly lists = new ListPool(NR_LISTS, 64);
  /** pfn → node, one Map per section */
  private readonly nodeOf: (Map<number, number> | undefined)[] = [];

  /** Number of free blocks on all lists. */
  get nrBlocks(): number {
    return this.lists.size;
  }

  private lookup(pfn: number): number {
    const m = this.nodeOf[pfn >>> PFN_SECTION_SHIFT];
    if (m === undefined) return -1;
    const n = m.get(pfn);
    return n === undefined ? -1 : n;
  }

  /** list_add() (toTail false) or list_add_tail() of the block headed by pfn; nr_free++. */
  add(pfn: number, order: number, mt: number, toTail: boolean): void {
    const sec = pfn >>> PFN_SECTION_SHIFT;
    let m = this.nodeOf[sec];
    if (m === undefined) {
      m = new Map();
      this.nodeOf[sec] = m;
    }
    if (m.has(pfn)) throw new Error(`free_area: pfn ${pfn.toString(16)} already on a free list`);
    m.set(pfn, this.lists.add(listIndex(order, mt), pfn, 0, toTail));
    this.nrFree[order]++;
  }

  /** list_del() of the block headed by pfn; nr_free--. Returns the migratetype of the list it was on. */
  del(pfn: number, order: number): number {
    const n = this.lookup(pfn);
    if (n < 0) throw new Error(`free_area: pfn ${pfn.toString(16)} not on a free list`);
    const li = this.lists.list(n);
    if (Math.floor(li / MIGRATE_TYPES) !== order)
      throw new Error(
        `free_area: pfn ${pfn.toString(16)} is on an order-${Math.floor(li / MIGRATE_TYPES)} list, not ${order}`,
      );
    this.lists.del(n);
    this.nodeOf[pfn >>> PFN_SECTION_SHIFT]?.delete(pfn);
    this.nrFree[order]--;
    return li % MIGRATE_TYPES;
  }

  /** list_move_tail() to free_list[mt] of the same order. */
  moveTail(pfn: number, order: number, mt: number): void {
    const n = this.lookup(pfn);
    if (n < 0) throw new Error(`free_area: pfn ${pfn.toString(16)} not on a free list`);
    this.lists.moveTail(n, listIndex(order, mt));
  }

  /** get_page_from_free_area(): the first block of free_list[mt] of this order, or -1. */
  first(order: number, mt: number): number {
    const n = this.lists.first(listIndex(order, mt));
    return n < 0 ? -1 : this.lists.pfn(n);
  }

  /** free_area_empty() */
  isEmpty(order: number, mt: number): boolean {
    return this.lists.first(listIndex(order, mt)) < 0;
  }

  /** Blocks on free_list[mt] of this order (/proc/pagetypeinfo). */
  count(order: number, mt: number): number {
    return this.lists.length(listIndex(order, mt));
  }

  /** The migratetype of the list holding the block headed by pfn, or -1 when it is on no list. */
  listMigratetype(pfn: number): number {
    const n = this.lookup(pfn);
    return n < 0 ? -1 : this.lists.list(n) % MIGRATE_TYPES;
  }

  /** The order of the list holding the block headed by pfn, or -1. */
  listOrder(pfn: number): number {
    const n = this.lookup(pfn);
    return n < 0 ? -1 : Math.floor(this.lists.list(n) / MIGRATE_TYPES);
  }

  /** The head PFNs of free_list[mt] of this order, head first. */
  toArray(order: number, mt: number): number[] {
    const out: number[] = [];
    for (let n = this.lists.first(listIndex(order, mt)); n >= 0; n = this.lists.nextOf(n))
      out.push(this.lists.pfn(n));
    return out;
  }

  /** Free pages on the lists, optionally leaving out MIGRATE_ISOLATE. */
  freePages(excludeIsolate: boolean): number {
    let sum = 0;
    for (let o = 0; o < MAX_ORDER; o++)
      for (let mt = 0; mt < MIGRATE_TYPES; mt++) {
        if (excludeIsolate && mt === MIGRATE_ISOLATE) continue;
        sum += this.lists.length(listIndex(o, mt)) * 2 ** o;
      }
    return sum;
  }

  /**
   * NR_FREE_PAGES_BLOCKS (7.2): free pages in blocks of pageblock order or
   * more that are not isolated (account_freepages() in __add_to_free_list()).
   */
  freeBlockPages(minOrder: number): number {
    let sum = 0;
    for (let o = minOrder; o < MAX_ORDER; o++)
      for (let mt = 0; mt < MIGRATE_TYPES; mt++)
        if (mt !== MIGRATE_ISOLATE) sum += this.lists.length(listIndex(o, mt)) * 2 ** o;
    return sum;
  }

  /** Structural self-check of the lists: links, lengths, map. */
  checkLists(where: string): string[] {
    const out: string[] = [];
    let total = 0;
    for (let o = 0; o < MAX_ORDER; o++) {
      let perOrder = 0;
      for (let mt = 0; mt < MIGRATE_TYPES; mt++) {
        const li = listIndex(o, mt);
        out.push(...this.lists.checkList(li, `${where}: free_list[${o}][${mt}]`));
        for (let n = this.lists.first(li); n >= 0; n = this.lists.nextOf(n))
          if (this.lookup(this.lists.pfn(n)) !== n)
            out.push(`${where}: pfn ${this.lists.pfn(n).toString(16)} not indexed`);
        perOrder += this.lists.length(li);
      }
      if (perOrder !== this.nrFree[o])
        out.push(`${where}: free_area[${o}].nr_free ${this.nrFree[o]} != ${perOrder}`);
      total += perOrder;
    }
    let mapped = 0;
    for (const m of this.nodeOf) if (m !== undefined) mapped += m.size;
    if (mapped !== total || total !== this.lists.size)
      out.push(`${where}: ${mapped} indexed blocks, ${total} listed, ${this.lists.size} counted`);
    return out;
  }
}

// --- per-cpu page lists (include/linux/mmzone.h, mm/page_alloc.c) ---

/** include/linux/mmzone.h: PAGE_ALLOC_COSTLY_ORDER */
export const PAGE_ALLOC_COSTLY_ORDER = 3;
/** NR_PCP_THP with CONFIG_TRANSPARENT_HUGEPAGE (set in both Debian configs): two pageblock-order lists. */
export const NR_PCP_THP = 2;
/** NR_LOWORDER_PCP_LISTS: one list per migratetype for each order up to PAGE_ALLOC_COSTLY_ORDER. */
export const NR_LOWORDER_PCP_LISTS = MIGRATE_PCPTYPES * (PAGE_ALLOC_COSTLY_ORDER + 1);
/** NR_PCP_LISTS */
export const NR_PCP_LISTS = NR_LOWORDER_PCP_LISTS + NR_PCP_THP;
/** mm/page_alloc.c: pcp_allowed_order() with CONFIG_TRANSPARENT_HUGEPAGE: the orders the per-cpu lists take. */
export function pcpAllowedOrder(order: number, thp = true): boolean {
  // the pageblock order only with CONFIG_TRANSPARENT_HUGEPAGE (Debian's kernels; not the RFC's build)
  return order <= PAGE_ALLOC_COSTLY_ORDER || (thp && order === PAGEBLOCK_ORDER);
}
/** mm/page_alloc.c: BOOT_PAGESET_HIGH, BOOT_PAGESET_BATCH: the boot pageset never keeps a page. */
export const BOOT_PAGESET_HIGH = 0;
export const BOOT_PAGESET_BATCH = 1;
/** CONFIG_PCP_BATCH_SCALE_MAX (both Debian configs: the default, 5). */
export const PCP_BATCH_SCALE_MAX = 5;

/**
 * struct per_cpu_pages of one CPU and zone: count, high, batch, free_factor and
 * lists[NR_PCP_LISTS]. A page on a list is linked through page->pcp_list in
 * Linux and remembers the migratetype it was freed or refilled with in
 * page->index (get_pcppage_migratetype()); here the lists are a pool of nodes in
 * typed arrays holding the head PFN and that migratetype. Pages leave a list
 * only at its head (allocation) or tail (bulk free), so no PFN index is needed.
 * Knows nothing of page states: the page allocator keeps them.
 */
export class PerCpuPages {
  /** pcp->count: pages (not blocks) on all lists */
  count = 0;
  /** pcp->high: at or above it a free spills a batch to the buddy */
  high = BOOT_PAGESET_HIGH;
  /** pcp->batch */
  batch = BOOT_PAGESET_BATCH;
  /**
   * pcp->high_max (6.7, "mm, pcp: reduce detecting time of consecutive
   * high order page freeing"'s series): the ceiling of the run-time tuning of
   * high, which 7.2's /proc/zoneinfo prints; pcp->high_min is `high` here.
   */
  highMax = BOOT_PAGESET_HIGH;
  /** pcp->free_factor: doubles the bulk-free size per consecutive spill, halved per allocation */
  freeFactor = 0;
  /** the lists; a node's tag is the block's migratetype (page->index) */
  private readonly lists = new ListPool(NR_PCP_LISTS, 16);

  /** list_add() (toTail false) or list_add_tail() of the block headed by pfn to lists[pindex]; mt is its page->index. */
  add(pindex: number, pfn: number, mt: number, toTail: boolean): void {
    this.lists.add(pindex, pfn, mt, toTail);
  }

  /** list_first_entry(): the node at the head of lists[pindex], or -1 when empty. */
  first(pindex: number): number {
    return this.lists.first(pindex);
  }
  /** list_last_entry(): the node at the tail of lists[pindex], or -1 when empty. */
  last(pindex: number): number {
    return this.lists.last(pindex);
  }
  /** The head PFN of the block of a node. */
  nodePfn(n: number): number {
    return this.lists.pfn(n);
  }
  /** get_pcppage_migratetype() of the block of a node. */
  nodeMigratetype(n: number): number {
    return this.lists.tag(n);
  }

  /** list_del() of a node (from first() or last()). */
  del(n: number): void {
    this.lists.del(n);
  }

  /** list_empty(&lists[pindex]) */
  isEmpty(pindex: number): boolean {
    return this.lists.first(pindex) < 0;
  }
  /** Blocks on lists[pindex]. */
  length(pindex: number): number {
    return this.lists.length(pindex);
  }
  /** Blocks on all lists. */
  get nrBlocks(): number {
    return this.lists.size;
  }
  /** The head PFNs of lists[pindex], head first. */
  toArray(pindex: number): number[] {
    const out: number[] = [];
    this.forEach(pindex, (pfn) => out.push(pfn));
    return out;
  }
  /** Each block of lists[pindex], head first: fn(pfn, migratetype). */
  forEach(pindex: number, fn: (pfn: number, mt: number) => void): void {
    for (let n = this.lists.first(pindex); n >= 0; n = this.lists.nextOf(n))
      fn(this.lists.pfn(n), this.lists.tag(n));
  }

  /** Structural self-check of the lists: links and lengths (pages per block come from the caller's pindex_to_order()). */
  checkLists(where: string, pagesPerBlock: (pindex: number) => number): string[] {
    const out: string[] = [];
    let pages = 0;
    let blocks = 0;
    for (let li = 0; li < NR_PCP_LISTS; li++) {
      out.push(...this.lists.checkList(li, `${where}: pcp list ${li}`));
      pages += this.lists.length(li) * pagesPerBlock(li);
      blocks += this.lists.length(li);
    }
    if (blocks !== this.lists.size)
      out.push(`${where}: ${blocks} blocks on the pcp lists, ${this.lists.size} counted`);
    if (pages !== this.count) out.push(`${where}: pcp count ${this.count} != ${pages} pages on the lists`);
    return out;
  }
}

/** struct zone (the fields memhp models). */
export class Zone {
  readonly name: string;
  /** zone_to_nid() */
  readonly nid: number;
  zoneStartPfn = 0;
  spannedPages = 0;
  presentPages = 0;
  /** present_early_pages: present at boot (auto-movable online policy). */
  presentEarlyPages = 0;
  managedPages = 0;
  cmaPages = 0;
  /**
   * The per-cpu vm stats threshold (pcp->stat_threshold, the same on every
   * CPU), set by refresh_zone_stat_thresholds() from the managed pages of that
   * moment; undefined until then.
   */
  statThreshold: number | undefined;
  /** zone->initialized: the zone has been set up once (free_area_init_core / init_currently_empty_zone). */
  initialized = false;
  /** zone->contiguous: no holes (set_zone_contiguous()). */
  contiguous = false;
  /** _watermark[WMARK_MIN..WMARK_PROMO] in pages */
  readonly watermark = new Float64Array(NR_WMARK);
  /** watermark_boost (never raised in memhp: no kswapd) */
  watermarkBoost = 0;
  /** lowmem_reserve[highest_zoneidx] in pages ("protection:" in /proc/zoneinfo) */
  readonly lowmemReserve = new Float64Array(MAX_NR_ZONES);
  nrIsolatePageblock = 0;
  nrReservedHighatomic = 0;
  /** vm_stat[NR_VM_ZONE_STAT_ITEMS] */
  readonly vmStat = new Float64Array(NR_VM_ZONE_STAT_ITEMS);
  /**
   * memhp: pages of this zone in each memmap state (src/mm/memmap.ts PS_*),
   * except the buddy states PS_BUDDY/PS_FREE (those are the free lists) and
   * PS_UNINIT (no zone). Kept by the page allocator.
   */
  readonly nrPages: Float64Array;
  readonly freeArea = new FreeArea();
  /**
   * zone->per_cpu_pageset: one PerCpuPages per possible CPU. The boot pageset
   * (shared by every zone until setup_zone_pageset(), and again after
   * zone_pcp_reset()) until the page allocator gives the zone its own.
   */
  perCpuPageset: PerCpuPages[] = [];
  /** zone->pageset_high, zone->pageset_batch: the values zone_set_pageset_high_and_batch() last set. */
  pagesetHigh = BOOT_PAGESET_HIGH;
  pagesetBatch = BOOT_PAGESET_BATCH;
  /** zone->pageset_high_max */
  pagesetHighMax = BOOT_PAGESET_HIGH;

  constructor(
    readonly idx: number,
    nid: number,
  ) {
    this.name = ZONE_NAMES[idx];
    this.nid = nid;
    this.nrPages = new Float64Array(NR_PAGE_STATES);
  }

  zoneEndPfn(): number {
    return this.zoneStartPfn + this.spannedPages;
  }
  /** zone_is_empty() */
  zoneIsEmpty(): boolean {
    return this.spannedPages === 0;
  }
  /** populated_zone() */
  populated(): boolean {
    return this.presentPages !== 0;
  }
  /** managed_zone() */
  managed(): boolean {
    return this.managedPages !== 0;
  }
  /** zone_spans_pfn() */
  spansPfn(pfn: number): boolean {
    return this.zoneStartPfn <= pfn && pfn < this.zoneEndPfn();
  }
  /** zone_intersects() */
  intersects(startPfn: number, nrPages: number): boolean {
    if (this.zoneIsEmpty()) return false;
    if (startPfn >= this.zoneEndPfn() || startPfn + nrPages <= this.zoneStartPfn) return false;
    return true;
  }
  /** wmark_pages(): the watermark plus the boost */
  wmarkPages(i: number): number {
    return this.watermark[i] + this.watermarkBoost;
  }
  minWmarkPages(): number {
    return this.wmarkPages(WMARK_MIN);
  }
  lowWmarkPages(): number {
    return this.wmarkPages(WMARK_LOW);
  }
  highWmarkPages(): number {
    return this.wmarkPages(WMARK_HIGH);
  }
  /** zone_page_state(zone, NR_FREE_PAGES) */
  freePages(): number {
    return this.vmStat[NR_FREE_PAGES];
  }
}

/** struct pglist_data of one node. */
export class PglistData {
  readonly zones: Zone[];
  nodeStartPfn = 0;
  nodeSpannedPages = 0;
  nodePresentPages = 0;
  /** pgdat->totalreserve_pages (calculate_totalreserve_pages()) */
  totalreservePages = 0;
  /**
   * node_zonelists[ZONELIST_FALLBACK] as zone indices, highest first, populated
   * zones only (build_zonerefs_node()). Rebuilt by build_all_zonelists().
   */
  zonelist: number[] = [];
  /** free_area_init()'s max_zone_pfn[]: the end PFN of each zone's possible range (ZONE_MOVABLE ignored). */
  readonly maxZonePfn: readonly number[];

  /**
   * @param maxZonePfn the arch's zone limits as free_area_init() takes them:
   *   [DMA end, DMA32 end, NORMAL end (max_pfn), unused]; see zoneSizesInitX86()
   *   (src/arch/x86_64/init.ts) and zoneSizesInitArm64() (src/arch/arm64/init.ts).
   */
  constructor(
    maxZonePfn: readonly number[],
    readonly nodeId = 0,
  ) {
    if (maxZonePfn.length < ZONE_MOVABLE) throw new Error("pglist_data: need DMA, DMA32 and NORMAL limits");
    this.maxZonePfn = [maxZonePfn[ZONE_DMA], maxZonePfn[ZONE_DMA32], maxZonePfn[ZONE_NORMAL], 0];
    this.zones = [];
    for (let i = 0; i < MAX_NR_ZONES; i++) this.zones.push(new Zone(i, nodeId));
  }

  nodeEndPfn(): number {
    return this.nodeStartPfn + this.nodeSpannedPages;
  }
}
