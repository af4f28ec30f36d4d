// Page migration for memory offlining: mm/memory_hotplug.c scan_movable_pages()
// and do_migrate_range(), mm/migrate.c migrate_pages() and
// alloc_migration_target(); and the FOLL_LONGTERM pin of mm/gup.c
// (check_and_migrate_movable_pages(): a page in ZONE_MOVABLE, or in a CMA or
// isolated pageblock, is migrated out before it is pinned).
//
// Who owns a page: the kernel finds a page's mappings through its rmap and
// rewrites them (remove_migration_ptes()). In memhp an owner registers with
// Rmap and maps each of its allocations (head PFN → owner slot); migrating the
// page calls the owner back with the new PFN. Pages nobody mapped migrate
// too, silently, as anonymous memory nobody looks at.

import { EBUSY, EINVAL, ENOENT, ENOMEM } from "../errno.js";
import type { Work } from "../kernel/work.js";
import { PAGE_SIZE, PAGES_PER_SECTION } from "./constants.js";
import {
  PS_BUDDY,
  PS_FREE,
  PS_HOLE,
  PS_ISOLATED,
  PS_OFFLINE_FREE,
  PS_PCP,
  PS_UNINIT,
  PS_MOVABLE,
  PS_OFFLINE,
  PS_PINNED,
  PS_RESERVED,
  isAllocatedState,
  isLruState,
} from "./memmap.js";
import {
  MIGRATE_CMA,
  MIGRATE_ISOLATE,
  MIGRATE_MOVABLE,
  MIGRATE_UNMOVABLE,
  ZONE_MOVABLE,
  ZONE_NORMAL,
} from "./mmzone.js";
import type { BuddyAllocator, GfpSpec } from "./page_alloc.js";

/** mm/migrate.c: NR_MAX_MIGRATE_PAGES_RETRY */
export const NR_MAX_MIGRATE_PAGES_RETRY = 10;

/** Told when one of its pages moved (remove_migration_ptes() for the model). */
export interface RmapClient {
  pageMigrated(slot: number, oldPfn: number, newPfn: number): void;
}

const SLOT_SPACE = 2 ** 32;

/** Reverse map: allocation head PFN → (client, slot). Costs per mapped allocation. */
export class Rmap {
  private readonly clients: RmapClient[] = [];
  /** one Map per section: head pfn → client * 2^32 + slot */
  private readonly owners: (Map<number, number> | undefined)[] = [];
  private count = 0;

  /** Register an owner; returns its client id. */
  register(client: RmapClient): number {
    this.clients.push(client);
    return this.clients.length - 1;
  }

  /** Record that `slot` of client `clientId` owns the allocation headed at pfn. */
  map(pfn: number, clientId: number, slot: number): void {
    const sec = Math.floor(pfn / PAGES_PER_SECTION);
    let m = this.owners[sec];
    if (m === undefined) {
      m = new Map();
      this.owners[sec] = m;
    }
    if (!m.has(pfn)) this.count++;
    m.set(pfn, clientId * SLOT_SPACE + slot);
  }

  unmap(pfn: number): void {
    const m = this.owners[Math.floor(pfn / PAGES_PER_SECTION)];
    if (m !== undefined && m.delete(pfn)) this.count--;
  }

  /** The owner slot of pfn's allocation and its client id, or undefined. */
  lookup(pfn: number): { clientId: number; slot: number } | undefined {
    const v = this.owners[Math.floor(pfn / PAGES_PER_SECTION)]?.get(pfn);
    if (v === undefined) return undefined;
    return { clientId: Math.floor(v / SLOT_SPACE), slot: v % SLOT_SPACE };
  }

  /** Mapped allocations. */
  get size(): number {
    return this.count;
  }

  /** The allocation moved from oldPfn to newPfn: re-key it and tell its owner. */
  move(oldPfn: number, newPfn: number): void {
    const m = this.owners[Math.floor(oldPfn / PAGES_PER_SECTION)];
    const v = m?.get(oldPfn);
    if (m === undefined || v === undefined) return;
    m.delete(oldPfn);
    this.count--;
    const clientId = Math.floor(v / SLOT_SPACE);
    const slot = v % SLOT_SPACE;
    this.map(newPfn, clientId, slot);
    this.clients[clientId].pageMigrated(slot, oldPfn, newPfn);
  }
}

/** The outcome of the last migrate_pages() (its ret_succeeded and stats). */
export interface MigrateStats {
  succeeded: number;
  failed: number;
  pagesMigrated: number;
}

export class Migration {
  /** Statistics of the last migratePages() call. */
  lastStats: MigrateStats = { succeeded: 0, failed: 0, pagesMigrated: 0 };

  constructor(
    readonly pa: BuddyAllocator,
    readonly rmap: Rmap,
    readonly work: Work,
  ) {}

  /**
   * mm/memory_hotplug.c: scan_movable_pages(): the first PFN in [start, end)
   * holding a movable (PageLRU) page, -EBUSY at a PageOffline page with
   * references (definitely unmovable), -ENOENT when there is none. (The kernel
   * returns 0 and the PFN through a pointer; here the PFN is the result.)
   * Counts pagesScanned.
   */
  scanMovablePages(start: number, end: number): number {
    const m = this.pa.memmap;
    const sections = this.pa.sections;
    let scanned = 0;
    try {
      for (let pfn = start; pfn < end; pfn++) {
        // memhp: skip the rest of a fully valid section that holds no LRU or
        // PageOffline page (counting the pages as scanned, as the kernel walks them)
        if (pfn % PAGES_PER_SECTION === 0 || pfn === start) {
          const nr = Math.floor(pfn / PAGES_PER_SECTION);
          const n = Math.min(end, (nr + 1) * PAGES_PER_SECTION) - pfn;
          if (sections.sectionFullyValid(nr) && m.countInSection(pfn, n, SCAN_STOP_STATES) === 0) {
            scanned += n;
            pfn += n - 1;
            continue;
          }
        }
        if (!sections.pfnValid(pfn)) {
          if (!m.hasPage(pfn)) pfn = (Math.floor(pfn / PAGES_PER_SECTION) + 1) * PAGES_PER_SECTION - 1;
          continue;
        }
        scanned++;
        const s = m.state(pfn);
        if (isLruState(s)) return pfn;
        if (s === PS_OFFLINE) return -EBUSY;
      }
      return -ENOENT;
    } finally {
      this.work.add("pagesScanned", scanned);
    }
  }

  /**
   * mm/migrate.c: alloc_migration_target() for do_migrate_range()'s
   * GFP_USER | __GFP_MOVABLE: ZONE_NORMAL and below, or ZONE_MOVABLE too when
   * the source page is in ZONE_MOVABLE (__GFP_HIGHMEM added); MIGRATE_MOVABLE.
   * Isolated pageblocks are never allocated from. New pfn or -ENOMEM.
   */
  allocMigrationTarget(srcPfn: number, order: number): number {
    const src = this.pa.zoneOfPfn(srcPfn);
    const spec: GfpSpec = {
      highestZoneIdx: src.idx === ZONE_MOVABLE ? ZONE_MOVABLE : ZONE_NORMAL,
      migratetype: MIGRATE_MOVABLE,
      state: PS_MOVABLE,
    };
    return this.pa.allocPagesGfp(order, spec);
  }

  // migrate_folio_unmap() + migrate_folio_move() of one movable allocation to newPfn
  private moveOne(oldPfn: number, newPfn: number, order: number): void {
    const n = 1 << order;
    this.work.add("bytesCopied", n * PAGE_SIZE);
    this.work.add("pagesMigrated", n);
    this.rmap.move(oldPfn, newPfn);
    this.pa.freePages(oldPfn, order);
  }

  /**
   * mm/migrate.c: migrate_pages() for a list of isolated LRU allocations (head
   * PFNs), MIGRATE_SYNC: each movable one gets a new page from getNewPage, its
   * data is copied (bytesCopied), its owner told (Rmap), the old page freed.
   * A pinned page fails with -EAGAIN on every one of the
   * NR_MAX_MIGRATE_PAGES_RETRY passes and then counts as failed. Returns the
   * number not migrated, or -ENOMEM as soon as a target cannot be allocated
   * (the rest stay where they are).
   */
  migratePages(heads: readonly number[], getNewPage: (srcPfn: number, order: number) => number): number {
    const m = this.pa.memmap;
    const stats: MigrateStats = { succeeded: 0, failed: 0, pagesMigrated: 0 };
    this.lastStats = stats;
    let list = [...heads];
    for (let pass = 0; pass < NR_MAX_MIGRATE_PAGES_RETRY && list.length; pass++) {
      const retry: number[] = [];
      for (let i = 0; i < list.length; i++) {
        const pfn = list[i];
        const s = m.state(pfn);
        if (s === PS_PINNED) {
          retry.push(pfn); // -EAGAIN: the extra reference of the pin
          continue;
        }
        if (s !== PS_MOVABLE) continue; // no longer an LRU page: nothing to move
        const order = m.order(pfn);
        const newPfn = getNewPage(pfn, order);
        if (newPfn < 0) {
          stats.failed += list.length - i + retry.length;
          return -ENOMEM;
        }
        this.moveOne(pfn, newPfn, order);
        stats.succeeded++;
        stats.pagesMigrated += 1 << order;
      }
      list = retry;
    }
    stats.failed += list.length;
    return list.length;
  }

  /**
   * mm/memory_hotplug.c: do_migrate_range(): isolate every LRU allocation whose
   * head is in [startPfn, endPfn) (THP tails are skipped) and migrate them
   * with alloc_migration_target(). Returns migrate_pages()'s result when there
   * was something to migrate; otherwise the result of the last isolation
   * attempt: 0, or -EBUSY when the last in-use page tried was not movable
   * (isolate_movable_page() fails on kernel pages). offline_pages() ignores it.
   */
  doMigrateRange(startPfn: number, endPfn: number): number {
    return this.work.withPhase("do_migrate_range", () => {
      const pa = this.pa;
      const m = pa.memmap;
      let ret = 0;
      const source: number[] = [];
      for (let pfn = startPfn; pfn < endPfn; pfn++) {
        // memhp: skip the rest of a section where every page is free, isolated or uninitialised
        if (pfn % PAGES_PER_SECTION === 0 || pfn === startPfn) {
          const nr = Math.floor(pfn / PAGES_PER_SECTION);
          const n = Math.min(endPfn, (nr + 1) * PAGES_PER_SECTION) - pfn;
          if (m.hasPage(pfn) && m.countInSection(pfn, n, IDLE_STATES) === n) {
            pfn += n - 1;
            continue;
          }
        }
        if (!pa.sections.pfnValid(pfn)) continue;
        const s = m.state(pfn);
        if (isLruState(s)) {
          const head = pa.allocationHead(pfn);
          if (head !== pfn) continue; // a tail: page refcount 0, skipped
          pfn = head + (1 << m.order(head)) - 1;
          source.push(head);
          ret = 0;
          continue;
        }
        if (!hasReference(pa, pfn, s)) continue; // get_page_unless_zero() failed: free
        ret = -EBUSY; // isolate_movable_page() on a non-movable page
      }
      if (source.length)
        ret = this.migratePages(source, (src, order) => this.allocMigrationTarget(src, order));
      return ret;
    });
  }

  /**
   * mm/gup.c: a FOLL_LONGTERM pin of the user allocation at pfn
   * (pin_user_pages() → check_and_migrate_movable_pages()). A page that is not
   * long-term pinnable (ZONE_MOVABLE, or a CMA or isolated pageblock) is first
   * migrated to a GFP_USER page (ZONE_NORMAL and below, MIGRATE_UNMOVABLE).
   * Returns the PFN now pinned, -ENOMEM when that migration cannot get a page,
   * -EINVAL for a page that is not a user page's head.
   */
  pinUserPageLongterm(pfn: number): number {
    const pa = this.pa;
    const m = pa.memmap;
    const s = m.state(pfn);
    if (s === PS_PINNED) return pfn;
    if (s !== PS_MOVABLE || pa.allocationHead(pfn) !== pfn) return -EINVAL;
    const order = m.order(pfn);
    const mt = m.pageblockMigratetype(pfn);
    if (pa.zoneOfPfn(pfn).idx === ZONE_MOVABLE || mt === MIGRATE_CMA || mt === MIGRATE_ISOLATE) {
      const newPfn = pa.allocPagesGfp(order, {
        highestZoneIdx: ZONE_NORMAL,
        migratetype: MIGRATE_UNMOVABLE,
        state: PS_MOVABLE,
      });
      if (newPfn < 0) return -ENOMEM;
      this.work.withPhase("check_and_migrate_movable_pages", () => this.moveOne(pfn, newPfn, order));
      pfn = newPfn;
    }
    pa.setPageState(pfn, 1 << order, PS_PINNED);
    return pfn;
  }

  /** unpin_user_page(): the allocation at pfn is an ordinary movable LRU page again. */
  unpinUserPage(pfn: number): number {
    const m = this.pa.memmap;
    if (m.state(pfn) !== PS_PINNED || this.pa.allocationHead(pfn) !== pfn) return -EINVAL;
    this.pa.setPageState(pfn, 1 << m.order(pfn), PS_MOVABLE);
    return 0;
  }
}

/** page_count() != 0 for the model's states: an allocation head, reserved, or PageOffline with a reference. */
/** States at which scan_movable_pages() stops: PageLRU, and PageOffline with a reference. */
const SCAN_STOP_STATES: readonly number[] = [PS_MOVABLE, PS_PINNED, PS_OFFLINE];
/** States do_migrate_range() passes over without effect: no reference, not LRU. */
const IDLE_STATES: readonly number[] = [PS_BUDDY, PS_FREE, PS_PCP, PS_ISOLATED, PS_OFFLINE_FREE, PS_UNINIT];

function hasReference(pa: BuddyAllocator, pfn: number, s: number): boolean {
  if (isAllocatedState(s)) return pa.allocationHead(pfn) === pfn;
  return s === PS_RESERVED || s === PS_HOLE || s === PS_OFFLINE;
}
