// mm/page_isolation.c: pageblock isolation (MIGRATE_ISOLATE) for offlining:
// start_isolate_page_range(), undo_isolate_page_range(), test_pages_isolated(),
// has_unmovable_pages(); and mm/page_alloc.c: __offline_isolated_pages().
//
// Isolating a pageblock marks it MIGRATE_ISOLATE and moves its free pages to
// the MIGRATE_ISOLATE free lists, where no allocation looks and NR_FREE_PAGES
// does not count them; pages freed into it later land there too. It fails with
// -EBUSY when the pageblock holds an unmovable page (reserved, kernel,
// page-table, vmemmap or reclaimable-slab pages outside ZONE_MOVABLE; in
// ZONE_MOVABLE only PageReserved counts).
//
// Locking: zone->lock around each pageblock in the kernel; nothing here.

import { EBUSY } from "../errno.js";
import { MAX_ORDER, PAGEBLOCK_NR_PAGES, PAGES_PER_SECTION } from "./constants.js";
import {
  ORDER_TAIL,
  PAGE_STATE_NAMES,
  PS_BUDDY,
  PS_FREE,
  PS_HOLE,
  PS_ISOLATED,
  PS_OFFLINE,
  PS_OFFLINE_FREE,
  PS_HWPOISON,
  PS_PCP,
  PS_RESERVED,
  isAllocatedState,
  isLruState,
  pfnToOnlinePage,
} from "./memmap.js";
import { MIGRATE_CMA, MIGRATE_ISOLATE, ZONE_MOVABLE } from "./mmzone.js";
import type { BuddyAllocator } from "./page_alloc.js";

/** include/linux/page-isolation.h: isolation flags */
export const MEMORY_OFFLINE = 0x1;
export const REPORT_FAILURE = 0x2;

const pageblockStartPfn = (pfn: number): number => pfn - (pfn % PAGEBLOCK_NR_PAGES);
const pageblockAlign = (pfn: number): number => Math.ceil(pfn / PAGEBLOCK_NR_PAGES) * PAGEBLOCK_NR_PAGES;

/** What the last failed isolation tripped over (the kernel's dump_page() under REPORT_FAILURE). */
export interface UnmovableReport {
  pfn: number;
  state: string;
}

/**
 * Page isolation over one page allocator. Stateless apart from the last
 * failure report; the functions are the kernel's, with the allocator in place
 * of the global zones.
 */
const RESERVED_OR_HOLE: readonly number[] = [PS_RESERVED, PS_HOLE];

export class PageIsolation {
  /** The unmovable page found by the last failed set_migratetype_isolate() with REPORT_FAILURE. */
  lastUnmovable: UnmovableReport | undefined;

  constructor(readonly pa: BuddyAllocator) {}

  /** __first_valid_page(): the first PFN in [pfn, pfn + nrPages) with an online struct page, or -1. */
  firstValidPage(pfn: number, nrPages: number): number {
    const end = pfn + nrPages;
    const sections = this.pa.sections;
    for (let p = pfn; p < end;) {
      if (!sections.onlineSectionNr(Math.floor(p / PAGES_PER_SECTION))) {
        p = (Math.floor(p / PAGES_PER_SECTION) + 1) * PAGES_PER_SECTION;
        continue;
      }
      if (pfnToOnlinePage(sections, p)) return p;
      p++;
    }
    return -1;
  }

  /**
   * mm/page_isolation.c: has_unmovable_pages(): the first unmovable page in
   * [startPfn, endPfn) (one pageblock), or -1. PageReserved pages (boot
   * reservations, holes, not-yet-onlined memmap) are always unmovable; in
   * ZONE_MOVABLE nothing else is. Elsewhere free pages, LRU pages (whole THPs
   * skipped) and, with MEMORY_OFFLINE, PageOffline pages are movable; any
   * other allocated page (kernel, page table, vmemmap, reclaimable slab; all
   * modelled as compound) is not. Counts pagesScanned.
   */
  hasUnmovablePages(startPfn: number, endPfn: number, migratetype: number, flags: number): number {
    const pa = this.pa;
    const m = pa.memmap;
    const zone = pa.zoneOfPfn(startPfn);
    if (m.pageblockMigratetype(startPfn) === MIGRATE_CMA) return migratetype === MIGRATE_CMA ? -1 : startPfn;
    let scanned = 0;
    try {
      // memhp: in ZONE_MOVABLE only a reserved page or a hole stops the walk;
      // a pageblock without one is passed whole (every page counted as scanned)
      if (
        zone.idx === ZONE_MOVABLE &&
        m.countInSection(startPfn, endPfn - startPfn, RESERVED_OR_HOLE) === 0
      ) {
        scanned = endPfn - startPfn;
        return -1;
      }
      for (let pfn = startPfn; pfn < endPfn; pfn++) {
        scanned++;
        const s = m.state(pfn);
        if (s === PS_RESERVED || s === PS_HOLE) return pfn;
        if (zone.idx === ZONE_MOVABLE) continue;
        if (isAllocatedState(s)) {
          // PageTransCompound / PageLRU: skip a movable allocation whole
          if (!isLruState(s)) return pfn;
          const head = pa.allocationHead(pfn);
          pfn = head + (1 << m.order(head)) - 1;
          continue;
        }
        if (s === PS_BUDDY) {
          pfn += (1 << m.order(pfn)) - 1;
          continue;
        }
        // page_ref_count() == 0 (a block on a per-cpu list too: skipped page by page)
        if (s === PS_FREE || s === PS_ISOLATED || s === PS_OFFLINE_FREE || s === PS_PCP) continue;
        if (flags & MEMORY_OFFLINE && s === PS_OFFLINE) continue;
        // a hwpoisoned page may be out of the buddy: offlining skips it
        if (flags & MEMORY_OFFLINE && s === PS_HWPOISON) continue;
        return pfn;
      }
      return -1;
    } finally {
      pa.work.add("pagesScanned", scanned);
    }
  }

  /**
   * mm/page_isolation.c: set_migratetype_isolate(): mark the pageblock of pfn
   * MIGRATE_ISOLATE and move its free pages to the isolate lists (taking them
   * out of NR_FREE_PAGES), unless it is already isolated or
   * has_unmovable_pages() finds an unmovable page in its intersection with
   * [startPfn, endPfn): -EBUSY. Counts pagesIsolated (free pages moved).
   */
  setMigratetypeIsolate(
    pfn: number,
    migratetype: number,
    isolFlags: number,
    startPfn: number,
    endPfn: number,
  ): number {
    const pa = this.pa;
    const m = pa.memmap;
    const zone = pa.zoneOfPfn(pfn);
    if (m.pageblockMigratetype(pfn) === MIGRATE_ISOLATE) return -EBUSY;
    const checkStart = Math.max(pfn, startPfn);
    const checkEnd = Math.min(pageblockStartPfn(pfn) + PAGEBLOCK_NR_PAGES, endPfn);
    const unmovable = this.hasUnmovablePages(checkStart, checkEnd, migratetype, isolFlags);
    if (unmovable < 0) {
      const mt = m.pageblockMigratetype(pfn);
      m.setPageblockMigratetype(pfn, MIGRATE_ISOLATE);
      zone.nrIsolatePageblock++;
      const nrPages = pa.moveFreepagesBlock(zone, pfn, MIGRATE_ISOLATE);
      pa.modFreepageState(zone, -nrPages, mt);
      pa.work.add("pagesIsolated", nrPages);
      return 0;
    }
    if (isolFlags & REPORT_FAILURE)
      this.lastUnmovable = { pfn: unmovable, state: PAGE_STATE_NAMES[m.state(unmovable)] };
    return -EBUSY;
  }

  /**
   * mm/page_isolation.c: unset_migratetype_isolate(): give the pageblock back
   * `migratetype`, moving its free pages to the tail of that type's lists
   * (a free block of pageblock order or more whose buddy is not isolated is
   * taken out and freed again so that it merges).
   */
  unsetMigratetypeIsolate(pfn: number, migratetype: number): void {
    const pa = this.pa;
    const m = pa.memmap;
    const zone = pa.zoneOfPfn(pfn);
    if (m.pageblockMigratetype(pfn) !== MIGRATE_ISOLATE) return;
    let isolatedPage = false;
    let order = 0;
    if (m.state(pfn) === PS_BUDDY) {
      order = m.order(pfn);
      if (order >= 9 && order < MAX_ORDER - 1) {
        const buddy = pa.findBuddyPagePfn(pfn, order);
        if (buddy >= 0 && m.pageblockMigratetype(buddy) !== MIGRATE_ISOLATE)
          isolatedPage = pa.isolateFreePage(pfn, order) !== 0;
      }
    }
    if (!isolatedPage) {
      const nrPages = pa.moveFreepagesBlock(zone, pfn, migratetype);
      pa.modFreepageState(zone, nrPages, migratetype);
    }
    m.setPageblockMigratetype(pfn, migratetype);
    if (isolatedPage) pa.putbackIsolatedPage(pfn, order, migratetype);
    zone.nrIsolatePageblock--;
  }

  /**
   * mm/page_isolation.c: isolate_single_pageblock(): isolate the pageblock
   * before (isolateBefore) or at boundaryPfn and make sure no free block
   * crosses boundaryPfn (split_free_page()). An allocated block crossing it
   * fails the isolation here (the kernel migrates a movable one; hotplug ranges
   * are section-aligned, so nothing crosses them).
   */
  isolateSinglePageblock(
    boundaryPfn: number,
    flags: number,
    isolateBefore: boolean,
    skipIsolation: boolean,
    migratetype: number,
  ): number {
    const pa = this.pa;
    const m = pa.memmap;
    const isolatePageblock = isolateBefore ? boundaryPfn - PAGEBLOCK_NR_PAGES : boundaryPfn;
    const zone = pa.zoneOfPfn(isolatePageblock);
    const maxOrderPages = 1 << (MAX_ORDER - 1);
    const startPfn = Math.max(isolatePageblock - (isolatePageblock % maxOrderPages), zone.zoneStartPfn);
    if (!skipIsolation) {
      const ret = this.setMigratetypeIsolate(
        isolatePageblock,
        migratetype,
        flags,
        isolatePageblock,
        isolatePageblock + PAGEBLOCK_NR_PAGES,
      );
      if (ret) return ret;
    }
    if (isolateBefore) {
      if (!pfnToOnlinePage(pa.sections, boundaryPfn)) return 0;
    } else if (!pfnToOnlinePage(pa.sections, boundaryPfn - 1)) return 0;
    for (let pfn = startPfn; pfn < boundaryPfn;) {
      const page = this.firstValidPage(pfn, boundaryPfn - pfn);
      if (page < 0) break;
      pfn = page;
      const s = m.state(pfn);
      if (s === PS_BUDDY) {
        const order = m.order(pfn);
        if (pfn + (1 << order) > boundaryPfn) {
          if (pa.splitFreePage(pfn, order, boundaryPfn - pfn)) continue;
        }
        pfn += 1 << order;
        continue;
      }
      if (isAllocatedState(s)) {
        const head = pa.allocationHead(pfn);
        const nr = 1 << m.order(head);
        if (m.order(pfn) === ORDER_TAIL || nr > 1) {
          if (head + nr <= boundaryPfn) {
            pfn = head + nr;
            continue;
          }
          if (!skipIsolation) this.unsetMigratetypeIsolate(isolatePageblock, migratetype);
          return -EBUSY;
        }
      }
      pfn++;
    }
    return 0;
  }

  /**
   * mm/page_isolation.c: start_isolate_page_range(): isolate every pageblock
   * touching [startPfn, endPfn) — first the two end pageblocks, then the ones
   * between. On failure every pageblock isolated so far is given back
   * `migratetype` and -EBUSY is returned. Flags: MEMORY_OFFLINE, REPORT_FAILURE.
   */
  startIsolatePageRange(startPfn: number, endPfn: number, migratetype: number, flags: number): number {
    return this.pa.work.withPhase("start_isolate_page_range", () => {
      const isolateStart = pageblockStartPfn(startPfn);
      const isolateEnd = pageblockAlign(endPfn);
      let ret = this.isolateSinglePageblock(isolateStart, flags, false, false, migratetype);
      if (ret) return ret;
      const skipIsolation = isolateStart === isolateEnd - PAGEBLOCK_NR_PAGES;
      ret = this.isolateSinglePageblock(isolateEnd, flags, true, skipIsolation, migratetype);
      if (ret) {
        this.unsetMigratetypeIsolate(isolateStart, migratetype);
        return ret;
      }
      for (
        let pfn = isolateStart + PAGEBLOCK_NR_PAGES;
        pfn < isolateEnd - PAGEBLOCK_NR_PAGES;
        pfn += PAGEBLOCK_NR_PAGES
      ) {
        const page = this.firstValidPage(pfn, PAGEBLOCK_NR_PAGES);
        if (page >= 0 && this.setMigratetypeIsolate(page, migratetype, flags, startPfn, endPfn)) {
          this.undoIsolatePageRange(isolateStart, pfn, migratetype);
          this.unsetMigratetypeIsolate(isolateEnd - PAGEBLOCK_NR_PAGES, migratetype);
          return -EBUSY;
        }
      }
      return 0;
    });
  }

  /** mm/page_isolation.c: undo_isolate_page_range(): every isolated pageblock of the range gets `migratetype`. */
  undoIsolatePageRange(startPfn: number, endPfn: number, migratetype: number): void {
    this.pa.work.withPhase("undo_isolate_page_range", () => {
      const end = pageblockAlign(endPfn);
      for (let pfn = pageblockStartPfn(startPfn); pfn < end; pfn += PAGEBLOCK_NR_PAGES) {
        const page = this.firstValidPage(pfn, PAGEBLOCK_NR_PAGES);
        if (page < 0 || this.pa.memmap.pageblockMigratetype(page) !== MIGRATE_ISOLATE) continue;
        this.unsetMigratetypeIsolate(page, migratetype);
      }
    });
  }

  // mm/page_isolation.c: __test_page_isolated_in_pageblock(): the first PFN that is not free (or skippable)
  private testPageIsolatedInPageblock(pfn: number, endPfn: number, flags: number): number {
    const m = this.pa.memmap;
    let scanned = 0;
    while (pfn < endPfn) {
      scanned++;
      const s = m.state(pfn);
      if (s === PS_BUDDY) pfn += 1 << m.order(pfn);
      else if (flags & MEMORY_OFFLINE && s === PS_OFFLINE_FREE) pfn++;
      else if (flags & MEMORY_OFFLINE && s === PS_HWPOISON) pfn++;
      else break;
    }
    this.pa.work.add("pagesScanned", scanned);
    return pfn;
  }

  /**
   * mm/page_isolation.c: test_pages_isolated(): 0 when every pageblock of
   * [startPfn, endPfn) is isolated and every page is free in the buddy (or,
   * with MEMORY_OFFLINE, PageOffline without references); else -EBUSY.
   */
  testPagesIsolated(startPfn: number, endPfn: number, isolFlags: number): number {
    const m = this.pa.memmap;
    let pfn = startPfn;
    for (; pfn < endPfn; pfn += PAGEBLOCK_NR_PAGES) {
      const page = this.firstValidPage(pfn, PAGEBLOCK_NR_PAGES);
      if (page >= 0 && m.pageblockMigratetype(page) !== MIGRATE_ISOLATE) break;
    }
    const page = this.firstValidPage(startPfn, endPfn - startPfn);
    if (pfn < endPfn || page < 0) return -EBUSY;
    pfn = this.testPageIsolatedInPageblock(startPfn, endPfn, isolFlags);
    return pfn < endPfn ? -EBUSY : 0;
  }

  /**
   * mm/page_alloc.c: __offline_isolated_pages(): take every free block of
   * [startPfn, endPfn) off the (isolate) free lists; the pages become
   * PS_ISOLATED until remove_pfn_range_from_zone() poisons them. PageOffline
   * pages without references are skipped. The range must have passed
   * test_pages_isolated(); anything else is a kernel BUG (throws). Returns the
   * pages taken; counts pagesFromBuddy. The caller marks the sections offline
   * (the kernel's offline_mem_sections() at the top of this function).
   */
  offlineIsolatedPages(startPfn: number, endPfn: number): number {
    return this.pa.work.withPhase("__offline_isolated_pages", () => {
      const pa = this.pa;
      const m = pa.memmap;
      let count = 0;
      for (let pfn = startPfn; pfn < endPfn;) {
        const s = m.state(pfn);
        // PageOffline without references, and a hwpoisoned page out of the buddy
        if (s === PS_OFFLINE_FREE || s === PS_HWPOISON) {
          pfn++;
          continue;
        }
        if (s !== PS_BUDDY)
          throw new Error(
            `__offline_isolated_pages: pfn ${pfn.toString(16)} is ${PAGE_STATE_NAMES[s]}, not free`,
          );
        const zone = pa.zoneOfPfn(pfn);
        if (zone.freeArea.listMigratetype(pfn) !== MIGRATE_ISOLATE)
          throw new Error(`__offline_isolated_pages: pfn ${pfn.toString(16)} is not on an isolate list`);
        const order = m.order(pfn);
        const n = 1 << order;
        pa.delPageFromFreeList(zone, pfn, order);
        m.fillStateBlock(pfn, n, PS_ISOLATED, PS_FREE, PS_FREE); // del_page_from_free_list() made the head PS_FREE
        m.fillOrder(pfn, n, 0);
        zone.nrPages[PS_ISOLATED] += n;
        count += n;
        pfn += n;
      }
      pa.work.add("pagesFromBuddy", count);
      return count;
    });
  }
}
