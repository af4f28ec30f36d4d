// mm/page_alloc.c: alloc_contig_range() and free_contig_range() (CONFIG_CONTIG_ALLOC),
// with __alloc_contig_migrate_range() and, from mm/compaction.c,
// isolate_migratepages_range() and isolate_freepages_range() as far as they apply.
//
// alloc_contig_range() takes a given PFN range out of the page allocator while
// the memory stays online: isolate its pageblocks (MIGRATE_ISOLATE), migrate the
// movable pages out, check that every page is free and isolated, take the free
// blocks off the lists and hand every page to the caller as an order-0 page with
// one reference. The users that matter to memhp: virtio-mem's fake-offline of
// online sub-blocks (virtio_mem_fake_offline()) and powernv memtrace
// (memtrace_alloc_node(), which then removes the range's linear mapping), the
// alternative suggested in reply to the RFC.
//
// memhp also keeps the ranges handed out and not yet freed (the kernel leaves that
// to each caller): the exposure auditor treats their pages as held by the driver
// that took them, and the kernel invariants allow such pages, and only those and
// depopulated memory blocks, to be missing from the linear map.
//
// Not modelled: reclaim_clean_pages_from_list() (no page cache), hugetlb pages,
// the 32-page batches of isolate_migratepages_range() (one batch of the whole
// range), fatal signals.

import { EBUSY, EINVAL, ENOMEM } from "../errno.js";
import type { Work } from "../kernel/work.js";
import { MAX_ORDER } from "./constants.js";
import {
  PAGE_STATE_NAMES,
  PS_BUDDY,
  PS_KERNEL,
  PS_OFFLINE,
  PS_OFFLINE_FREE,
  isAllocatedState,
  isLruState,
  pfnToOnlinePage,
} from "./memmap.js";
import type { Migration } from "./migrate.js";
import { MIGRATE_CMA, MIGRATE_MOVABLE } from "./mmzone.js";
import type { BuddyAllocator } from "./page_alloc.js";
import { mergePfnSpans, subtractPfnSpan, type PfnSpan } from "./pfn_span.js";
import type { PageIsolation } from "./page_isolation.js";

/** mm/page_alloc.c: __alloc_contig_migrate_range() gives up after this many passes without progress. */
const CONTIG_MIGRATE_TRIES = 5;

export class ContigAlloc {
  /** Ranges handed out by allocContigRange() and not freed, sorted and disjoint. */
  private spans: PfnSpan[] = [];

  constructor(
    private readonly pa: BuddyAllocator,
    private readonly isolation: PageIsolation,
    private readonly migration: Migration,
    private readonly work: Work,
    private readonly nrCpus = 1,
  ) {}

  /**
   * mm/page_alloc.c: alloc_contig_range(start, end, migratetype, GFP_KERNEL):
   * 0 and every page of [startPfn, endPfn) is the caller's (order 0, one
   * reference; PS_KERNEL in the model), or -errno and nothing changed: -EINVAL
   * when the range is not all online memory of one zone (the kernel requires
   * it of its callers), -EBUSY when a pageblock holds unmovable pages or pages
   * could not be migrated, -ENOMEM when no migration target could be had.
   */
  allocContigRange(startPfn: number, endPfn: number, migratetype = MIGRATE_MOVABLE): number {
    return this.work.withPhase("alloc_contig_range", () => {
      if (endPfn <= startPfn || (migratetype !== MIGRATE_MOVABLE && migratetype !== MIGRATE_CMA))
        return -EINVAL;
      if (!this.oneOnlineZone(startPfn, endPfn)) return -EINVAL;
      const pa = this.pa;
      let ret = this.isolation.startIsolatePageRange(startPfn, endPfn, migratetype, 0);
      if (ret) return ret;
      try {
        pa.drainAllPages(pa.zoneOfPfn(startPfn)); // drain_all_pages(cc.zone)
        ret = this.allocContigMigrateRange(startPfn, endPfn);
        if (ret && ret !== -EBUSY) return ret;
        // outer_start: the free buddy block that contains startPfn.
        let outerStart = startPfn;
        for (let order = 0; pa.memmap.state(outerStart) !== PS_BUDDY;) {
          if (++order >= MAX_ORDER) {
            outerStart = startPfn;
            break;
          }
          outerStart = startPfn - (startPfn % (1 << order));
        }
        if (outerStart !== startPfn && outerStart + (1 << pa.memmap.order(outerStart)) <= startPfn)
          outerStart = startPfn;
        if (this.isolation.testPagesIsolated(outerStart, endPfn, 0)) return -EBUSY;
        const outerEnd = this.isolateFreepagesRange(outerStart, endPfn);
        if (outerEnd < 0) return -EBUSY;
        // Free head and tail (if any).
        if (startPfn !== outerStart) this.freeOrder0(outerStart, startPfn - outerStart);
        if (endPfn !== outerEnd) this.freeOrder0(endPfn, outerEnd - endPfn);
        this.spans = mergePfnSpans([...this.spans, { startPfn, endPfn }]);
        return 0;
      } finally {
        this.isolation.undoIsolatePageRange(startPfn, endPfn, migratetype);
      }
    });
  }

  /**
   * mm/page_alloc.c: free_contig_range(): __free_page() of every page. 0, or
   * -EINVAL when some page of the range was not handed out by
   * allocContigRange() (model: the kernel would free it anyway and WARN or
   * hit bad_page(); the model refuses and changes nothing).
   */
  freeContigRange(pfn: number, nrPages: number): number {
    if (nrPages <= 0 || !this.holdsRange(pfn, nrPages)) return -EINVAL;
    const m = this.pa.memmap;
    // A held page a driver marked PageOffline (virtio-mem's fake-offline) is not
    // the caller's to free: __free_page() would hit bad_page(). Refused, like an
    // unheld page (found by memhp fuzz: scenarios/regressions/x86_64-free-contig-fake-offline.mhp).
    for (let p = pfn; p < pfn + nrPages; p++)
      if (m.state(p) !== PS_KERNEL || m.order(p) !== 0) return -EINVAL;
    this.work.withPhase("free_contig_range", () => this.freeOrder0(pfn, nrPages));
    this.spans = subtractPfnSpan(this.spans, pfn, pfn + nrPages);
    return 0;
  }

  /**
   * memhp bookkeeping (the kernel keeps none): the holder gives pages up
   * without freeing them, as virtio-mem drops its reference to fake-offline
   * pages before their memory block goes offline
   * (virtio_mem_fake_offline_going_offline()).
   */
  release(pfn: number, nrPages: number): void {
    this.spans = subtractPfnSpan(this.spans, pfn, pfn + nrPages);
  }

  /** memhp bookkeeping: the holder takes released pages back (virtio_mem_fake_offline_cancel_offline()). */
  adopt(pfn: number, nrPages: number): void {
    this.spans = mergePfnSpans([...this.spans, { startPfn: pfn, endPfn: pfn + nrPages }]);
  }

  /** Is pfn in a range handed out by allocContigRange() and not freed? */
  holds(pfn: number): boolean {
    for (const s of this.spans) if (pfn >= s.startPfn && pfn < s.endPfn) return true;
    return false;
  }

  /** Is all of [pfn, pfn + nrPages) handed out and not freed? */
  holdsRange(pfn: number, nrPages: number): boolean {
    const end = pfn + nrPages;
    return this.spans.some((s) => s.startPfn <= pfn && end <= s.endPfn);
  }

  /** The ranges handed out and not freed. */
  held(): readonly PfnSpan[] {
    return this.spans;
  }

  /** Every page of every held range is still an order-0 caller's page (any allocated state: a driver may mark them PageOffline). */
  checkInvariants(): string[] {
    const out: string[] = [];
    const m = this.pa.memmap;
    for (const s of this.spans)
      for (let p = s.startPfn; p < s.endPfn; p++) {
        const st = m.state(p);
        if (!isAllocatedState(st) && st !== PS_OFFLINE && st !== PS_OFFLINE_FREE) {
          out.push(
            `contig range ${hex(s.startPfn)}-${hex(s.endPfn)}: pfn ${hex(p)} is ${PAGE_STATE_NAMES[st]}`,
          );
          break;
        }
      }
    return out;
  }

  // The kernel's callers make sure of this (alloc_contig_pages(): pfn_range_valid_contig()).
  private oneOnlineZone(startPfn: number, endPfn: number): boolean {
    const m = this.pa.memmap;
    const zone = m.zone(startPfn);
    for (let p = startPfn; p < endPfn; p++)
      if (!pfnToOnlinePage(this.pa.sections, p) || m.zone(p) !== zone) return false;
    return true;
  }

  /**
   * mm/page_alloc.c: __alloc_contig_migrate_range(): migrate every LRU page
   * of the range out, MIGRATE_SYNC, with alloc_migration_target(); -EBUSY when
   * pages are still there after CONTIG_MIGRATE_TRIES passes (pinned pages),
   * -ENOMEM at once when no target page could be had.
   */
  private allocContigMigrateRange(startPfn: number, endPfn: number): number {
    // lru_cache_disable(): synchronize_rcu_expedited(), then __lru_add_drain_all(true)
    this.work.add("synchronizeRcuExpedited");
    this.work.add("lruAddDrainAll");
    this.work.add("cpusReached", this.nrCpus);
    let list = this.isolateMigratepagesRange(startPfn, endPfn);
    let tries = 0;
    while (list.length) {
      if (tries++ === CONTIG_MIGRATE_TRIES) return -EBUSY;
      const ret = this.migration.migratePages(list, (src, order) =>
        this.migration.allocMigrationTarget(src, order),
      );
      if (ret === -ENOMEM) return ret;
      // migrate_pages() leaves the pages it could not move on the list.
      list = list.filter(
        (pfn) => isLruState(this.pa.memmap.state(pfn)) && this.pa.allocationHead(pfn) === pfn,
      );
    }
    return 0;
  }

  /** mm/compaction.c: isolate_migratepages_range(): the head PFNs of the LRU allocations in the range. */
  private isolateMigratepagesRange(startPfn: number, endPfn: number): number[] {
    const pa = this.pa;
    const m = pa.memmap;
    const heads: number[] = [];
    let scanned = 0;
    for (let pfn = startPfn; pfn < endPfn; pfn++) {
      scanned++;
      if (!isLruState(m.state(pfn))) continue;
      const head = pa.allocationHead(pfn);
      if (head !== pfn) continue; // a tail: its head is before the range, or already taken
      heads.push(head);
      pfn = head + (1 << m.order(head)) - 1;
    }
    this.work.add("pagesScanned", scanned);
    return heads;
  }

  /**
   * mm/compaction.c: isolate_freepages_range() in strict mode, then
   * split_map_pages(): every free block from startPfn on comes off the
   * (isolate) free lists and each of its pages becomes an order-0 allocated
   * page. Returns the PFN after the last block, or -EBUSY at a page that is not
   * free (after giving back what it took).
   */
  private isolateFreepagesRange(startPfn: number, endPfn: number): number {
    const pa = this.pa;
    const m = pa.memmap;
    const taken: Array<[number, number]> = [];
    let pfn = startPfn;
    while (pfn < endPfn) {
      if (m.state(pfn) !== PS_BUDDY) {
        for (const [p, order] of taken) pa.putbackIsolatedPage(p, order, m.pageblockMigratetype(p));
        return -EBUSY;
      }
      const order = m.order(pfn);
      if (pa.isolateFreePage(pfn, order) === 0) {
        for (const [p, o] of taken) pa.putbackIsolatedPage(p, o, m.pageblockMigratetype(p));
        return -EBUSY;
      }
      taken.push([pfn, order]);
      pfn += 1 << order;
    }
    // split_map_pages(): post_alloc_hook() + split_page() per block.
    let n = 0;
    for (const [p, order] of taken) {
      const nr = 1 << order;
      m.fillState(p, nr, PS_KERNEL);
      m.fillOrder(p, nr, 0);
      pa.zoneOfPfn(p).nrPages[PS_KERNEL] += nr;
      n += nr;
    }
    this.work.add("pagesFromBuddy", n);
    return pfn;
  }

  // __free_page() of each order-0 page of the range.
  private freeOrder0(pfn: number, nrPages: number): void {
    for (let p = pfn; p < pfn + nrPages; p++) this.pa.freePages(p, 0);
  }
}

const hex = (n: number): string => "0x" + n.toString(16);
