// Pageblock isolation against mm/page_isolation.c of Linux 6.1:
// set_migratetype_isolate() / has_unmovable_pages() / test_pages_isolated(),
// and __offline_isolated_pages() from mm/page_alloc.c.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EBUSY } from "../src/errno.js";
import { PS_ISOLATED, PS_OFFLINE, PS_OFFLINE_FREE, PS_PCP } from "../src/mm/memmap.js";
import {
  MIGRATE_ISOLATE,
  MIGRATE_MOVABLE,
  NR_FREE_PAGES,
  ZONE_MOVABLE,
  ZONE_NORMAL,
} from "../src/mm/mmzone.js";
import { MEMORY_OFFLINE, REPORT_FAILURE } from "../src/mm/page_isolation.js";
import { SEC, bootAllocator as boot, hotAddOnline } from "./support/allocator-sys.js";

const OFFLINE_FLAGS = MEMORY_OFFLINE | REPORT_FAILURE;

describe("start_isolate_page_range()", () => {
  it("isolates a range of free and movable pages: free pages leave NR_FREE_PAGES for the isolate lists", () => {
    const sys = boot();
    hotAddOnline(sys, 0x10000, SEC, ZONE_NORMAL);
    const z = sys.pgdat.zones[ZONE_NORMAL];
    // 100 movable pages inside the new section (the boot section's free pages go first)
    const owned: number[] = [];
    const elsewhere: number[] = [];
    while (owned.length < 100) {
      const pfn = sys.pa.allocPages(0, "user");
      (pfn >= 0x10000 ? owned : elsewhere).push(pfn);
    }
    for (const pfn of elsewhere) sys.pa.freePages(pfn, 0);
    const freeBefore = z.vmStat[NR_FREE_PAGES];
    const inRangeFree = SEC - 100;
    const before = sys.work.snapshot();
    const ret = sys.iso.startIsolatePageRange(0x10000, 0x18000, MIGRATE_MOVABLE, OFFLINE_FLAGS);
    assert.equal(ret, 0);
    assert.equal(z.nrIsolatePageblock, SEC / 512);
    assert.equal(z.vmStat[NR_FREE_PAGES], freeBefore - inRangeFree);
    assert.equal(sys.work.since(before).pagesIsolated, inRangeFree);
    for (let pb = 0x10000; pb < 0x18000; pb += 512)
      assert.equal(sys.memmap.pageblockMigratetype(pb), MIGRATE_ISOLATE);
    assert.deepEqual(sys.pa.checkInvariants(), []);
    // nothing can be allocated from the isolated range any more
    for (let i = 0; i < 2000; i++) {
      const pfn = sys.pa.allocPages(0, i % 2 ? "user" : "kernel");
      assert.ok(pfn < 0x10000, `allocated ${pfn.toString(16)} from an isolated pageblock`);
    }
    // the movable pages are still there: not isolated-free yet
    assert.equal(sys.iso.testPagesIsolated(0x10000, 0x18000, MEMORY_OFFLINE), -EBUSY);
    for (const pfn of owned) sys.pa.freePages(pfn, 0);
    assert.equal(sys.iso.testPagesIsolated(0x10000, 0x18000, MEMORY_OFFLINE), 0);
    assert.deepEqual(sys.pa.checkInvariants(), []);
  });

  it("fails with -EBUSY on an unmovable (kernel) page and leaves nothing isolated", () => {
    const sys = boot();
    hotAddOnline(sys, 0x10000, SEC, ZONE_NORMAL);
    const z = sys.pgdat.zones[ZONE_NORMAL];
    // exhaust boot memory's free pages so that a kernel page lands in the new section
    let k: number;
    do k = sys.pa.allocPages(0, "kernel");
    while (k >= 0 && k < 0x10000);
    assert.ok(k >= 0x10000 && k < 0x18000);
    const freeBefore = z.vmStat[NR_FREE_PAGES];
    const ret = sys.iso.startIsolatePageRange(0x10000, 0x18000, MIGRATE_MOVABLE, OFFLINE_FLAGS);
    assert.equal(ret, -EBUSY);
    assert.equal(sys.iso.lastUnmovable?.pfn, k);
    assert.equal(sys.iso.lastUnmovable?.state, "kernel");
    assert.equal(z.nrIsolatePageblock, 0);
    assert.equal(z.vmStat[NR_FREE_PAGES], freeBefore);
    for (let pb = 0x10000; pb < 0x18000; pb += 512)
      assert.notEqual(sys.memmap.pageblockMigratetype(pb), MIGRATE_ISOLATE);
    assert.deepEqual(sys.pa.checkInvariants(), []);
  });

  it("treats reclaimable slab as unmovable outside ZONE_MOVABLE", () => {
    const sys = boot();
    const r = sys.pa.allocPages(0, "reclaimable");
    const pb = r - (r % 512);
    assert.equal(sys.iso.setMigratetypeIsolate(pb, MIGRATE_MOVABLE, OFFLINE_FLAGS, pb, pb + 512), -EBUSY);
    assert.equal(sys.iso.hasUnmovablePages(pb, pb + 512, MIGRATE_MOVABLE, MEMORY_OFFLINE), r);
  });

  it("in ZONE_MOVABLE only PageReserved pages are unmovable", () => {
    const sys = boot();
    // memmap_on_memory style: the first pageblock stays PageReserved
    hotAddOnline(sys, 0x10000, SEC, ZONE_MOVABLE, 512);
    assert.equal(sys.iso.hasUnmovablePages(0x10000, 0x10200, MIGRATE_MOVABLE, MEMORY_OFFLINE), 0x10000);
    assert.equal(sys.iso.startIsolatePageRange(0x10000, 0x18000, MIGRATE_MOVABLE, OFFLINE_FLAGS), -EBUSY);
    // the onlined part alone isolates
    assert.equal(sys.iso.startIsolatePageRange(0x10200, 0x18000, MIGRATE_MOVABLE, OFFLINE_FLAGS), 0);
    assert.deepEqual(sys.pa.checkInvariants(), []);
  });

  it("refuses a pageblock that is already isolated", () => {
    const sys = boot();
    assert.equal(sys.iso.startIsolatePageRange(0x8000, 0x8400, MIGRATE_MOVABLE, OFFLINE_FLAGS), 0);
    assert.equal(sys.iso.startIsolatePageRange(0x8200, 0x8400, MIGRATE_MOVABLE, OFFLINE_FLAGS), -EBUSY);
    assert.equal(sys.pgdat.zones[ZONE_NORMAL].nrIsolatePageblock, 2);
  });

  it("lets PageOffline pages pass with MEMORY_OFFLINE only, and test_pages_isolated skips them once unreferenced", () => {
    const sys = boot();
    hotAddOnline(sys, 0x10000, SEC, ZONE_MOVABLE);
    const o = sys.pa.allocPages(0, "user");
    assert.ok(o >= 0x10000);
    sys.pa.setPageState(o, 1, PS_OFFLINE); // a driver's fake-offlined page holding a reference
    sys.pa.adjustManagedPageCount(o, -1);
    assert.deepEqual(sys.pa.checkInvariants(), []);
    const pb = o - (o % 512);
    assert.equal(sys.iso.hasUnmovablePages(pb, pb + 512, MIGRATE_MOVABLE, 0), -1); // ZONE_MOVABLE
    sys.pa.zonePcpDisable(sys.pgdat.zones[ZONE_MOVABLE]); // offline_pages(): the refill's other pages leave the pcp list
    assert.equal(sys.iso.startIsolatePageRange(0x10000, 0x18000, MIGRATE_MOVABLE, OFFLINE_FLAGS), 0);
    assert.equal(sys.iso.testPagesIsolated(0x10000, 0x18000, MEMORY_OFFLINE), -EBUSY);
    sys.pa.setPageState(o, 1, PS_OFFLINE_FREE); // MEM_GOING_OFFLINE: the driver drops its reference
    assert.equal(sys.iso.testPagesIsolated(0x10000, 0x18000, MEMORY_OFFLINE), 0);
    assert.equal(sys.iso.testPagesIsolated(0x10000, 0x18000, 0), -EBUSY);
    assert.equal(sys.iso.offlineIsolatedPages(0x10000, 0x18000), SEC - 1);
    assert.equal(sys.memmap.state(o), PS_OFFLINE_FREE);
  });
});

describe("undo_isolate_page_range()", () => {
  it("puts the free pages back on the movable lists, counted free again and merged", () => {
    const sys = boot();
    hotAddOnline(sys, 0x10000, SEC, ZONE_NORMAL);
    const z = sys.pgdat.zones[ZONE_NORMAL];
    const free = z.vmStat[NR_FREE_PAGES];
    const blocks = z.freeArea.nrFree[10];
    assert.equal(sys.iso.startIsolatePageRange(0x10000, 0x18000, MIGRATE_MOVABLE, OFFLINE_FLAGS), 0);
    assert.equal(z.freeArea.count(10, MIGRATE_ISOLATE), SEC / 1024);
    sys.iso.undoIsolatePageRange(0x10000, 0x18000, MIGRATE_MOVABLE);
    assert.equal(z.vmStat[NR_FREE_PAGES], free);
    assert.equal(z.freeArea.nrFree[10], blocks);
    assert.equal(z.freeArea.count(10, MIGRATE_ISOLATE), 0);
    assert.equal(z.nrIsolatePageblock, 0);
    assert.deepEqual(sys.pa.checkInvariants(), []);
  });
});

describe("__offline_isolated_pages()", () => {
  it("takes exactly the free pages of the isolated range out of the buddy", () => {
    const sys = boot();
    hotAddOnline(sys, 0x10000, SEC, ZONE_MOVABLE);
    hotAddOnline(sys, 0x18000, SEC, ZONE_MOVABLE);
    const z = sys.pgdat.zones[ZONE_MOVABLE];
    const totalFreeBefore = z.freeArea.freePages(false);
    const freeBefore = z.vmStat[NR_FREE_PAGES];
    assert.equal(sys.iso.startIsolatePageRange(0x18000, 0x20000, MIGRATE_MOVABLE, OFFLINE_FLAGS), 0);
    assert.equal(sys.iso.testPagesIsolated(0x18000, 0x20000, MEMORY_OFFLINE), 0);
    const before = sys.work.snapshot();
    const n = sys.iso.offlineIsolatedPages(0x18000, 0x20000);
    assert.equal(n, SEC);
    assert.equal(sys.work.since(before).pagesFromBuddy, SEC);
    assert.equal(z.freeArea.freePages(false), totalFreeBefore - SEC);
    assert.equal(z.vmStat[NR_FREE_PAGES], freeBefore - SEC); // already left NR_FREE_PAGES at isolation
    assert.equal(sys.memmap.state(0x18000), PS_ISOLATED);
    assert.equal(sys.memmap.state(0x1ffff), PS_ISOLATED);
    assert.equal(z.freeArea.count(10, MIGRATE_ISOLATE), 0);
  });

  it("refuses a range that still holds an allocated page", () => {
    const sys = boot();
    hotAddOnline(sys, 0x10000, SEC, ZONE_MOVABLE);
    const u = sys.pa.allocPages(0, "user");
    assert.equal(sys.iso.startIsolatePageRange(0x10000, 0x18000, MIGRATE_MOVABLE, OFFLINE_FLAGS), 0);
    assert.equal(sys.iso.testPagesIsolated(0x10000, 0x18000, MEMORY_OFFLINE), -EBUSY);
    assert.throws(() => sys.iso.offlineIsolatedPages(0x10000, 0x18000), /not free/);
    assert.ok(u >= 0x10000);
  });
});

describe("set_migratetype_isolate() accounting", () => {
  it("counts only the free pages of the pageblock as isolated", () => {
    const sys = boot();
    const z = sys.pgdat.zones[ZONE_NORMAL];
    const a = sys.pa.allocPages(3, "user"); // 8 pages out of the first pageblock
    assert.equal(a, 0x8000);
    // the pcp refill took max(batch 7 >> 3, 2) = 2 order-3 blocks: the second waits on the pcp list
    assert.equal(sys.memmap.state(0x8008), PS_PCP);
    sys.pa.drainAllPages(z);
    const free = z.vmStat[NR_FREE_PAGES];
    const before = sys.work.snapshot();
    assert.equal(sys.iso.setMigratetypeIsolate(0x8000, MIGRATE_MOVABLE, OFFLINE_FLAGS, 0x8000, 0x8200), 0);
    assert.equal(sys.work.since(before).pagesIsolated, 512 - 8);
    assert.equal(z.vmStat[NR_FREE_PAGES], free - (512 - 8));
    sys.pa.freePages(a, 3); // freed into an isolated pageblock: to the isolate list, not counted free
    assert.equal(z.vmStat[NR_FREE_PAGES], free - (512 - 8));
    assert.equal(z.freeArea.count(9, MIGRATE_ISOLATE), 1); // merged to the whole pageblock
    assert.deepEqual(sys.pa.checkInvariants(), []);
  });
});
