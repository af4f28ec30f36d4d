// Migration for offlining against Linux 6.1: scan_movable_pages() and
// do_migrate_range() (mm/memory_hotplug.c), migrate_pages() and
// alloc_migration_target() (mm/migrate.c), and the FOLL_LONGTERM pin's
// migration out of ZONE_MOVABLE (mm/gup.c).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EBUSY, ENOENT, ENOMEM } from "../src/errno.js";
import { PS_MOVABLE, PS_PINNED } from "../src/mm/memmap.js";
import { Migration, Rmap, type RmapClient } from "../src/mm/migrate.js";
import { MIGRATE_MOVABLE, ZONE_MOVABLE, ZONE_NORMAL } from "../src/mm/mmzone.js";
import { MEMORY_OFFLINE, REPORT_FAILURE } from "../src/mm/page_isolation.js";
import { SEC, bootAllocator, hotAddOnline, type AllocatorSys } from "./support/allocator-sys.js";

interface Sys extends AllocatorSys {
  rmap: Rmap;
  mig: Migration;
}

function boot(): Sys {
  const sys = bootAllocator();
  const rmap = new Rmap();
  return { ...sys, rmap, mig: new Migration(sys.pa, rmap, sys.work) };
}

/** An owner of pages: remembers where each slot's page is, as the workload does. */
class Owner implements RmapClient {
  pfns: number[] = [];
  moves = 0;
  readonly id: number;
  constructor(readonly rmap: Rmap) {
    this.id = rmap.register(this);
  }
  own(pfn: number): void {
    this.rmap.map(pfn, this.id, this.pfns.length);
    this.pfns.push(pfn);
  }
  pageMigrated(slot: number, oldPfn: number, newPfn: number): void {
    assert.equal(this.pfns[slot], oldPfn);
    this.pfns[slot] = newPfn;
    this.moves++;
  }
}

/** Allocate n user pages that land in [lo, hi); the others taken meanwhile are freed again. */
function userPagesIn(sys: Sys, n: number, lo: number, hi: number, order = 0): number[] {
  const got: number[] = [];
  const other: number[] = [];
  while (got.length < n) {
    const pfn = sys.pa.allocPages(order, "user");
    assert.ok(pfn >= 0);
    (pfn >= lo && pfn < hi ? got : other).push(pfn);
  }
  for (const p of other) sys.pa.freePages(p, order);
  return got;
}

const inRange = (p: number, lo: number, hi: number): boolean => p >= lo && p < hi;

describe("scan_movable_pages()", () => {
  it("finds the first LRU page, -ENOENT when there is none", () => {
    const sys = boot();
    hotAddOnline(sys, 0x10000, SEC, ZONE_MOVABLE);
    assert.equal(sys.mig.scanMovablePages(0x10000, 0x18000), -ENOENT);
    const [u] = userPagesIn(sys, 1, 0x10000, 0x18000);
    assert.equal(sys.mig.scanMovablePages(0x10000, 0x18000), u);
    assert.equal(sys.mig.scanMovablePages(u + 1, 0x18000), -ENOENT);
  });
  it("skips kernel pages (not PageLRU)", () => {
    const sys = boot();
    const k = sys.pa.allocPages(0, "kernel");
    assert.equal(sys.mig.scanMovablePages(k, k + 1), -ENOENT);
  });
});

describe("do_migrate_range()", () => {
  it("moves every movable page out of an isolated range and tells the owners", () => {
    const sys = boot();
    hotAddOnline(sys, 0x10000, SEC, ZONE_MOVABLE);
    hotAddOnline(sys, 0x18000, SEC, ZONE_MOVABLE);
    const owner = new Owner(sys.rmap);
    const pages = userPagesIn(sys, 300, 0x10000, 0x18000);
    for (const p of pages) owner.own(p);
    const thp = userPagesIn(sys, 2, 0x10000, 0x18000, 9);
    for (const p of thp) owner.own(p);
    assert.equal(
      sys.iso.startIsolatePageRange(0x10000, 0x18000, MIGRATE_MOVABLE, MEMORY_OFFLINE | REPORT_FAILURE),
      0,
    );
    const before = sys.work.snapshot();
    const first = sys.mig.scanMovablePages(0x10000, 0x18000);
    assert.ok(first >= 0x10000);
    assert.equal(sys.mig.doMigrateRange(first, 0x18000), 0);
    const d = sys.work.since(before);
    const expectPages = 300 + 2 * 512;
    assert.equal(d.pagesMigrated, expectPages);
    assert.equal(d.bytesCopied, expectPages * 4096);
    assert.equal(owner.moves, 302);
    for (const p of owner.pfns) {
      assert.ok(!inRange(p, 0x10000, 0x18000), `page still at ${p.toString(16)}`);
      // a ZONE_MOVABLE page may migrate within ZONE_MOVABLE (__GFP_HIGHMEM added): it is the first zone
      assert.equal(sys.pa.zoneOfPfn(p).idx, ZONE_MOVABLE);
      assert.equal(sys.pa.memmap.state(p), PS_MOVABLE);
    }
    assert.equal(sys.mig.lastStats.succeeded, 302);
    assert.equal(sys.iso.testPagesIsolated(0x10000, 0x18000, MEMORY_OFFLINE), 0);
    assert.deepEqual(sys.pa.checkInvariants(), []);
  });

  it("moves pages of a ZONE_NORMAL range only to ZONE_NORMAL and below, never to ZONE_MOVABLE", () => {
    const sys = boot();
    hotAddOnline(sys, 0x10000, SEC, ZONE_NORMAL);
    hotAddOnline(sys, 0x18000, SEC, ZONE_MOVABLE);
    const owner = new Owner(sys.rmap);
    // user pages go to ZONE_MOVABLE first: fill it, then they land in ZONE_NORMAL
    const filler: number[] = [];
    for (let i = 0; i < SEC / 1024; i++) filler.push(sys.pa.allocPages(10, "user"));
    assert.ok(filler.every((p) => p >= 0x18000));
    for (const p of userPagesIn(sys, 50, 0x10000, 0x18000)) owner.own(p);
    for (const p of filler) sys.pa.freePages(p, 10); // room in ZONE_MOVABLE again
    assert.equal(sys.iso.startIsolatePageRange(0x10000, 0x18000, MIGRATE_MOVABLE, MEMORY_OFFLINE), 0);
    assert.equal(sys.mig.doMigrateRange(0x10000, 0x18000), 0);
    for (const p of owner.pfns) {
      assert.ok(!inRange(p, 0x10000, 0x18000));
      assert.equal(sys.pa.zoneOfPfn(p).idx, ZONE_NORMAL);
    }
    assert.deepEqual(sys.pa.checkInvariants(), []);
  });

  it("cannot migrate a pinned page: migrate_pages() reports it not migrated", () => {
    const sys = boot();
    hotAddOnline(sys, 0x10000, SEC, ZONE_NORMAL);
    const owner = new Owner(sys.rmap);
    const pages = userPagesIn(sys, 10, 0x10000, 0x18000);
    for (const p of pages) owner.own(p);
    assert.equal(sys.mig.pinUserPageLongterm(pages[3]), pages[3]); // ZONE_NORMAL: pinnable where it is
    assert.equal(sys.pa.memmap.state(pages[3]), PS_PINNED);
    assert.equal(sys.iso.startIsolatePageRange(0x10000, 0x18000, MIGRATE_MOVABLE, MEMORY_OFFLINE), 0); // LRU: isolates
    const before = sys.work.snapshot();
    assert.equal(sys.mig.doMigrateRange(0x10000, 0x18000), 1);
    assert.equal(sys.work.since(before).pagesMigrated, 9);
    assert.equal(owner.pfns[3], pages[3]);
    assert.equal(sys.mig.scanMovablePages(0x10000, 0x18000), pages[3]);
    assert.equal(sys.iso.testPagesIsolated(0x10000, 0x18000, MEMORY_OFFLINE), -EBUSY);
    // once unpinned it migrates
    assert.equal(sys.mig.unpinUserPage(pages[3]), 0);
    assert.equal(sys.mig.doMigrateRange(0x10000, 0x18000), 0);
    assert.equal(sys.iso.testPagesIsolated(0x10000, 0x18000, MEMORY_OFFLINE), 0);
    assert.deepEqual(sys.pa.checkInvariants(), []);
  });

  it("returns -ENOMEM when no target page can be allocated", () => {
    const sys = boot();
    hotAddOnline(sys, 0x10000, SEC, ZONE_MOVABLE);
    const owner = new Owner(sys.rmap);
    for (const p of userPagesIn(sys, 4, 0x10000, 0x18000)) owner.own(p);
    // take every other free page
    const hog: number[] = [];
    for (;;) {
      const p = sys.pa.allocPages(0, "user");
      if (p < 0) break;
      hog.push(p);
    }
    // leave ZONE_NORMAL only its min watermark; ZONE_MOVABLE gets isolated
    assert.equal(sys.iso.startIsolatePageRange(0x10000, 0x18000, MIGRATE_MOVABLE, MEMORY_OFFLINE), 0);
    for (const p of hog) if (inRange(p, 0x10000, 0x18000)) sys.pa.freePages(p, 0);
    assert.equal(sys.mig.doMigrateRange(0x10000, 0x18000), -ENOMEM);
    assert.equal(sys.mig.lastStats.succeeded, 0);
    assert.ok(owner.pfns.every((p) => inRange(p, 0x10000, 0x18000)));
    assert.deepEqual(sys.pa.checkInvariants(), []);
  });

  it("returns -EBUSY when the range holds only unmovable in-use pages", () => {
    const sys = boot();
    const k = sys.pa.allocPages(0, "kernel");
    assert.equal(sys.mig.doMigrateRange(k, k + 1), -EBUSY);
    assert.equal(sys.mig.doMigrateRange(k + 1, k + 2), 0); // a free page: nothing tried
  });
});

describe("long-term pinning (check_and_migrate_movable_pages())", () => {
  it("migrates a ZONE_MOVABLE page to ZONE_NORMAL before pinning it", () => {
    const sys = boot();
    hotAddOnline(sys, 0x10000, SEC, ZONE_MOVABLE);
    const owner = new Owner(sys.rmap);
    const [u] = userPagesIn(sys, 1, 0x10000, 0x18000);
    owner.own(u);
    const before = sys.work.snapshot();
    const p = sys.mig.pinUserPageLongterm(u);
    assert.ok(p >= 0x8000 && p < 0x10000, `pinned at ${p.toString(16)}`);
    assert.equal(owner.pfns[0], p);
    assert.equal(sys.pa.memmap.state(p), PS_PINNED);
    assert.equal(sys.work.since(before).pagesMigrated, 1);
    assert.deepEqual(sys.pa.checkInvariants(), []);
  });
});
