// mm/mm_init.c: boot-time memory init of node0 — free_area_init() (the zone
// spans and present pages), memmap_init() (__init_single_page() over the RAM,
// init_unavailable_range() for the holes) and, from mm/memblock.c,
// memblock_free_all() (the boot RAM to the buddy); then the zonelists, the
// pagesets, the watermarks and zone->contiguous (page_alloc_init_late()).
// Linux 6.1 keeps these in mm/page_alloc.c; 6.4 moved them to mm/mm_init.c,
// and memhp follows the newer layout.

import { mergePfnSpans, subtractPfnSpan, type PfnSpan } from "./pfn_span.js";
import { MAX_ORDER, PAGEBLOCK_NR_PAGES, PAGES_PER_SECTION, PAGES_PER_SUBSECTION } from "./constants.js";
import { PS_HOLE, PS_RESERVED } from "./memmap.js";
import { MAX_NR_ZONES, MIGRATE_MOVABLE, ZONE_MOVABLE } from "./mmzone.js";
import { type BuddyAllocator, ffs, pageblockEndPfn, pageblockStartPfn } from "./page_alloc.js";

/**
 * Boot the allocator over the boot RAM. The sections covering `ranges` must
 * already have their memmap (sparse_init()). Zones get their spans from the
 * arch limits in pgdat.maxZonePfn (free_area_init(): zone_spanned_pages_in_node()),
 * present = RAM pages in the span; every page of a RAM range is initialised
 * with pageblocks MIGRATE_MOVABLE (memmap_init()), holes in the boot sections
 * become PS_HOLE (init_unavailable_range()), pages in `reserved`
 * (memblock.reserved) stay PS_RESERVED (reserve_bootmem_region()), all other
 * RAM goes to the buddy in MAX_ORDER-1 aligned chunks at the tail of the free
 * lists (memblock_free_all() → __free_pages_core()). Then the zonelists, the
 * watermarks and zone->contiguous (page_alloc_init_late()).
 */
export function initBootMemory(
  alloc: BuddyAllocator,
  ranges: readonly PfnSpan[],
  reserved: readonly PfnSpan[],
): void {
  const mem = mergePfnSpans(ranges);
  if (mem.length === 0) throw new Error("initBootMemory: no boot RAM");
  const res = mergePfnSpans(reserved);
  for (const r of mem)
    for (let p = r.startPfn; p < r.endPfn; p = Math.min(r.endPfn, p + PAGES_PER_SUBSECTION))
      if (!alloc.sections.pfnValid(p) || !alloc.memmap.hasPage(p))
        throw new Error(`initBootMemory: pfn ${p.toString(16)} has no memmap (sparse_init first)`);
  alloc.work.withPhase("free_area_init", () => freeAreaInit(alloc, mem));
  alloc.work.withPhase("memmap_init", () => memmapInitBoot(alloc, mem));
  alloc.work.withPhase("memblock_free_all", () => memblockFreeAll(alloc, mem, res));
  alloc.buildAllZonelists();
  alloc.setupPerCpuPageset();
  alloc.initPerZoneWmarkMin();
  // page_alloc_init_late(): for_each_populated_zone() set_zone_contiguous()
  for (const zone of alloc.pgdat.zones) if (zone.populated()) alloc.setZoneContiguous(zone.idx);
}

// mm/page_alloc.c: free_area_init() → calculate_node_totalpages(), free_area_init_core()
function freeAreaInit(alloc: BuddyAllocator, mem: PfnSpan[]): void {
  const pgdat = alloc.pgdat;
  const lowest = new Array<number>(MAX_NR_ZONES).fill(0);
  const highest = new Array<number>(MAX_NR_ZONES).fill(0);
  let startPfn = mem[0].startPfn; // find_min_pfn_with_active_regions()
  for (let i = 0; i < MAX_NR_ZONES; i++) {
    if (i === ZONE_MOVABLE) continue;
    const end = Math.max(pgdat.maxZonePfn[i], startPfn);
    lowest[i] = startPfn;
    highest[i] = end;
    startPfn = end;
  }
  const nodeStart = mem[0].startPfn;
  const nodeEnd = mem[mem.length - 1].endPfn;
  let presentTotal = 0;
  for (const zone of pgdat.zones) {
    // zone_spanned_pages_in_node()
    let zs = Math.min(Math.max(nodeStart, lowest[zone.idx]), highest[zone.idx]);
    let ze = Math.min(Math.max(nodeEnd, lowest[zone.idx]), highest[zone.idx]);
    let spanned = 0;
    if (!(ze < nodeStart || zs > nodeEnd)) {
      ze = Math.min(ze, nodeEnd);
      zs = Math.max(zs, nodeStart);
      spanned = ze - zs;
    }
    // zone_absent_pages_in_node(): the span minus the RAM in it
    let ram = 0;
    for (const r of mem) ram += Math.max(0, Math.min(r.endPfn, zs + spanned) - Math.max(r.startPfn, zs));
    zone.zoneStartPfn = spanned ? zs : 0;
    zone.spannedPages = spanned;
    zone.presentPages = spanned ? ram : 0;
    zone.presentEarlyPages = zone.presentPages;
    zone.managedPages = 0;
    alloc.zonePcpInit(zone); // free_area_init_core() → zone_init_internals()
    // free_area_init_core(): only zones with pages are set up
    if (spanned) zone.initialized = true;
    presentTotal += zone.presentPages;
  }
  pgdat.nodeStartPfn = nodeStart;
  pgdat.nodeSpannedPages = nodeEnd - nodeStart;
  pgdat.nodePresentPages = presentTotal;
}

// mm/page_alloc.c: memmap_init() → memmap_init_zone_range(), init_unavailable_range()
function memmapInitBoot(alloc: BuddyAllocator, mem: PfnSpan[]): void {
  let holePfn = 0;
  let zoneId = 0;
  for (const r of mem) {
    for (const zone of alloc.pgdat.zones) {
      if (!zone.populated()) continue;
      const zs = zone.zoneStartPfn;
      const ze = zone.zoneEndPfn();
      const s = Math.min(Math.max(r.startPfn, zs), ze);
      const e = Math.min(Math.max(r.endPfn, zs), ze);
      zoneId = zone.idx;
      if (s >= e) continue;
      // memmap_init_range(MEMINIT_EARLY, MIGRATE_MOVABLE). The pages are
      // initialised "allocated" (refcount 1); memblock_free_all() frees them,
      // so they are counted PS_RESERVED until then.
      initPagesAs(alloc, s, e - s, zone.idx, PS_RESERVED, MIGRATE_MOVABLE);
      if (holePfn < s) initUnavailableRange(alloc, holePfn, s, zone.idx);
      holePfn = e;
    }
  }
  // the hole from the end of memory to the end of its section
  const end = Math.ceil(mem[mem.length - 1].endPfn / PAGES_PER_SECTION) * PAGES_PER_SECTION;
  if (holePfn < end) initUnavailableRange(alloc, holePfn, end, zoneId);
}

// mm/page_alloc.c: init_unavailable_range(): PageReserved holes, pageblock by pageblock where pfn_valid()
function initUnavailableRange(alloc: BuddyAllocator, spfn: number, epfn: number, zoneIdx: number): void {
  for (let pfn = spfn; pfn < epfn;) {
    const pb = pageblockStartPfn(pfn);
    if (!alloc.sections.pfnValid(pb) || !alloc.memmap.hasPage(pb)) {
      pfn = pb + PAGEBLOCK_NR_PAGES;
      continue;
    }
    const n = Math.min(epfn, pb + PAGEBLOCK_NR_PAGES) - pfn;
    alloc.memmap.fillState(pfn, n, PS_HOLE);
    alloc.memmap.fillOrder(pfn, n, 0);
    alloc.memmap.fillZone(pfn, n, zoneIdx);
    alloc.pgdat.zones[zoneIdx].nrPages[PS_HOLE] += n;
    alloc.work.add("memmapPagesInit", n);
    pfn += n;
  }
}

/** __init_single_page() for a range in one zone, setting the aligned pageblocks' migratetype. */
export function initPagesAs(
  alloc: BuddyAllocator,
  startPfn: number,
  nrPages: number,
  zoneIdx: number,
  state: number,
  mt: number,
): void {
  alloc.memmap.fillState(startPfn, nrPages, state);
  alloc.memmap.fillOrder(startPfn, nrPages, 0);
  alloc.memmap.fillZone(startPfn, nrPages, zoneIdx);
  const first = startPfn % PAGEBLOCK_NR_PAGES ? pageblockEndPfn(startPfn) : startPfn;
  for (let pb = first; pb < startPfn + nrPages; pb += PAGEBLOCK_NR_PAGES)
    alloc.memmap.setPageblockMigratetype(pb, mt);
  alloc.pgdat.zones[zoneIdx].nrPages[state] += nrPages;
  alloc.work.add("memmapPagesInit", nrPages);
}

// mm/memblock.c: memblock_free_all() → free_low_memory_core_early() → __free_pages_memory()
function memblockFreeAll(alloc: BuddyAllocator, mem: PfnSpan[], res: PfnSpan[]): void {
  for (const zone of alloc.pgdat.zones) zone.managedPages = 0; // reset_all_zones_managed_pages()
  let count = 0;
  // for_each_free_mem_range(): memblock.memory minus memblock.reserved
  let freeRanges = mem;
  for (const r of res) freeRanges = subtractPfnSpan(freeRanges, r.startPfn, r.endPfn);
  for (const free of freeRanges) {
    // A chunk never crosses a zone boundary (zone limits are section or
    // 16 MiB aligned); split at them anyway so that each chunk has one zone.
    let start = free.startPfn;
    while (start < free.endPfn) {
      const zone = alloc.zoneOfPfn(start);
      const end = Math.min(free.endPfn, zone.zoneEndPfn());
      for (let p = start; p < end;) {
        let order = p === 0 ? MAX_ORDER - 1 : Math.min(MAX_ORDER - 1, ffs(p));
        while (p + 2 ** order > end) order--;
        alloc.freePagesCore(p, order); // memblock_free_pages()
        p += 2 ** order;
      }
      count += end - start;
      start = end;
    }
  }
  alloc.totalramPages += count;
}
