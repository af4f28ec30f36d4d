// The buddy allocator against the rules of Linux 6.1 mm/page_alloc.c and
// mm/memory_hotplug.c: split and merge, tail placement of onlined pages, zone
// choice, watermarks, zone spans and zone->contiguous, and the invariant checker.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ENOMEM } from "../src/errno.js";
import { ORDER_TAIL, PS_BUDDY, PS_KERNEL, PS_PCP, PS_RESERVED } from "../src/mm/memmap.js";
import {
  MIGRATE_ISOLATE,
  MIGRATE_MOVABLE,
  MIGRATE_UNMOVABLE,
  NR_FREE_PAGES,
  WMARK_HIGH,
  WMARK_LOW,
  WMARK_MIN,
  ZONE_DMA,
  ZONE_DMA32,
  ZONE_MOVABLE,
  ZONE_NORMAL,
} from "../src/mm/mmzone.js";
import { removePfnRangeFromZone } from "../src/mm/memory_hotplug.js";
import { type PfnSpan } from "../src/mm/page_alloc.js";
import { zoneSizesInitX86 } from "../src/arch/x86_64/init.js";
import { zoneSizesInitArm64 } from "../src/arch/arm64/init.js";
import { SEC, bootAllocator, hotAddOnline, type AllocatorSys } from "./support/allocator-sys.js";

type Sys = AllocatorSys;

function boot(ranges: PfnSpan[], limits: number[], reserved: PfnSpan[] = [], watermarks = true): Sys {
  return bootAllocator({ ranges, limits, reserved, watermarks });
}

/** offline_pages() for a range with only free pages. */
function offlineFree(sys: Sys, startPfn: number, nrPages: number): void {
  const { pa, secs, pgdat, iso } = sys;
  const zone = pa.zoneOfPfn(startPfn);
  pa.zonePcpDisable(zone);
  assert.equal(iso.startIsolatePageRange(startPfn, startPfn + nrPages, MIGRATE_MOVABLE, 3), 0);
  assert.equal(iso.testPagesIsolated(startPfn, startPfn + nrPages, 1), 0);
  secs.offlineMemSections(startPfn, startPfn + nrPages);
  iso.offlineIsolatedPages(startPfn, startPfn + nrPages);
  zone.nrIsolatePageblock -= nrPages / 512;
  pa.zonePcpEnable(zone);
  pa.adjustManagedPageCount(startPfn, -nrPages);
  zone.presentPages -= nrPages;
  pgdat.nodePresentPages -= nrPages;
  pa.initPerZoneWmarkMin();
  if (!zone.populated()) {
    pa.zonePcpReset(zone);
    pa.buildAllZonelists();
  }
  removePfnRangeFromZone(pa, zone.idx, startPfn, nrPages);
}

/** One section of RAM at 0x8000 in ZONE_NORMAL (DMA and DMA32 end below it, so they are empty). */
const NORMAL_ONLY = [0x1000, 0x2000, 0x40000];

describe("boot (free_area_init + memblock_free_all)", () => {
  it("gives x86 zones their spans, present = RAM, managed = present - reserved", () => {
    const ranges = [
      { startPfn: 1, endPfn: 0x9f },
      { startPfn: 0x100, endPfn: 0x40000 },
    ];
    const sys = boot(ranges, zoneSizesInitX86(0x40000), [{ startPfn: 0x1000, endPfn: 0x1800 }]);
    const [dma, dma32, normal, movable] = sys.pgdat.zones;
    // DMA: [1, 4096) with the 0x9f..0x100 hole; DMA32: [4096, 0x40000)
    assert.deepEqual(
      [dma.zoneStartPfn, dma.spannedPages, dma.presentPages],
      [1, 4095, 4095 - (0x100 - 0x9f)],
    );
    assert.deepEqual(
      [dma32.zoneStartPfn, dma32.spannedPages, dma32.presentPages],
      [4096, 0x40000 - 4096, 0x3f000],
    );
    assert.equal(dma.managedPages, dma.presentPages);
    assert.equal(dma32.managedPages, dma32.presentPages - 0x800);
    assert.equal(normal.spannedPages + movable.spannedPages, 0);
    assert.deepEqual(sys.pgdat.zonelist, [ZONE_DMA32, ZONE_DMA]);
    const mi = sys.pa.siMeminfo();
    assert.equal(mi.totalram, dma.managedPages + dma32.managedPages);
    assert.equal(mi.freeram, mi.totalram); // nothing allocated yet
    assert.equal(sys.memmap.state(0x1000), PS_RESERVED);
    assert.equal(sys.memmap.state(0xa0), 1 /* PS_HOLE */);
    assert.deepEqual(sys.pa.checkInvariants(), []);
  });

  it("computes the watermarks from min_free_kbytes = sqrt(16 * lowmem kB) (128 MiB: 1448k)", () => {
    const sys = boot([{ startPfn: 0x8000, endPfn: 0x10000 }], NORMAL_ONLY);
    const z = sys.pgdat.zones[ZONE_NORMAL];
    assert.equal(sys.pa.minFreeKbytes, 1448);
    const min = 1448 >> 2; // one lowmem zone gets all of pages_min
    const step = Math.max(Math.floor(min / 4), Math.floor((32768 * 10) / 10000));
    assert.deepEqual(
      [z.watermark[WMARK_MIN], z.watermark[WMARK_LOW], z.watermark[WMARK_HIGH]],
      [min, min + step, min + 2 * step],
    );
  });

  it("sets lowmem_reserve from the managed pages above each zone / ratio", () => {
    const sys = boot(
      [
        { startPfn: 0x100, endPfn: 0x10000 },
        { startPfn: 0x100000, endPfn: 0x108000 },
      ],
      zoneSizesInitX86(0x108000),
    );
    const [dma, dma32, normal] = sys.pgdat.zones;
    assert.equal(dma.lowmemReserve[ZONE_DMA32], Math.floor(dma32.managedPages / 256));
    assert.equal(
      dma.lowmemReserve[ZONE_NORMAL],
      Math.floor((dma32.managedPages + normal.managedPages) / 256),
    );
    assert.equal(dma32.lowmemReserve[ZONE_NORMAL], Math.floor(normal.managedPages / 256));
    assert.equal(normal.lowmemReserve[ZONE_MOVABLE], 0); // ZONE_MOVABLE has no managed pages
  });
});

describe("zone limits of the arches", () => {
  it("x86_64: DMA below 16 MiB, DMA32 below 4 GiB, Normal to max_pfn", () => {
    assert.deepEqual(zoneSizesInitX86(0x140000).slice(0, 3), [4096, 0x100000, 0x140000]);
    assert.deepEqual(zoneSizesInitX86(0x40000).slice(0, 3), [4096, 0x40000, 0x40000]);
  });
  it("arm64 virt (RAM at 1 GiB, zone_dma_bits 32): DMA = DMA32 = min(4 GiB, end of DRAM)", () => {
    assert.deepEqual(zoneSizesInitArm64(0x40000, 0x80000).slice(0, 3), [0x80000, 0x80000, 0x80000]);
    assert.deepEqual(zoneSizesInitArm64(0x40000, 0x140000).slice(0, 3), [0x100000, 0x100000, 0x140000]);
    // DRAM above 4 GiB: no cap
    assert.deepEqual(zoneSizesInitArm64(0x200000, 0x280000).slice(0, 3), [0x280000, 0x280000, 0x280000]);
  });
  it("arm64 with 1 GiB at 0x40000000 puts all boot RAM in ZONE_DMA", () => {
    const sys = boot([{ startPfn: 0x40000, endPfn: 0x80000 }], zoneSizesInitArm64(0x40000, 0x80000));
    assert.equal(sys.pgdat.zones[ZONE_DMA].presentPages, 0x40000);
    assert.equal(sys.pgdat.zones[ZONE_DMA32].spannedPages, 0);
    assert.equal(sys.pgdat.zones[ZONE_NORMAL].spannedPages, 0);
    // kernel allocations fall back to ZONE_DMA: the only populated zone
    assert.ok(sys.pa.allocPages(0, "kernel") >= 0x40000);
  });
});

describe("buddy split and merge", () => {
  it("alloc order 0 from an order-10 block leaves one free block of each order 0..9 (expand())", () => {
    const sys = boot([{ startPfn: 0x8000, endPfn: 0x8400 }], NORMAL_ONLY);
    const z = sys.pgdat.zones[ZONE_NORMAL];
    assert.equal(z.freeArea.nrFree[10], 1);
    const pfn = sys.pa.allocPages(0, "user");
    assert.equal(pfn, 0x8000);
    for (let o = 0; o < 10; o++) {
      assert.equal(z.freeArea.nrFree[o], 1, `order ${o}`);
      assert.deepEqual(z.freeArea.toArray(o, MIGRATE_MOVABLE), [0x8000 + (1 << o)]);
    }
    assert.equal(z.freeArea.nrFree[10], 0);
    assert.equal(z.vmStat[NR_FREE_PAGES], 1023);
    assert.deepEqual(sys.pa.checkInvariants(), []);
    // the free goes to the per-cpu list (batch 1, high 40 in a 1024-page zone), not back to the buddy
    sys.pa.freePages(pfn, 0);
    assert.equal(sys.memmap.state(0x8000), PS_PCP);
    assert.equal(z.vmStat[NR_FREE_PAGES], 1023);
    assert.equal(z.freeArea.nrFree[10], 0);
    // drained, it merges back into the order-10 block
    sys.pa.drainAllPages(z);
    assert.equal(z.freeArea.nrFree[10], 1);
    for (let o = 0; o < 10; o++) assert.equal(z.freeArea.nrFree[o], 0);
    assert.equal(sys.memmap.state(0x8000), PS_BUDDY);
    assert.equal(sys.memmap.order(0x8000), 10);
    assert.equal(sys.memmap.order(0x8200), ORDER_TAIL);
    assert.deepEqual(sys.pa.checkInvariants(), []);
  });

  it("does not merge buddies of different zones (page_is_buddy())", () => {
    // DMA ends at 0x8200: the two order-9 halves of [0x8000, 0x8400) are in different zones
    const sys = boot([{ startPfn: 0x8000, endPfn: 0x8800 }], [0x8200, 0x8400, 0x40000]);
    const [dma, dma32, normal] = sys.pgdat.zones;
    assert.deepEqual([dma.freeArea.nrFree[9], dma.freeArea.nrFree[10]], [1, 0]);
    assert.deepEqual([dma32.freeArea.nrFree[9], dma32.freeArea.nrFree[10]], [1, 0]);
    assert.equal(normal.freeArea.nrFree[10], 1);
    assert.deepEqual(sys.pa.checkInvariants(), []);
  });

  it("does not merge across an isolated pageblock at order >= pageblock_order", () => {
    const sys = boot([{ startPfn: 0x8000, endPfn: 0x8400 }], NORMAL_ONLY);
    const z = sys.pgdat.zones[ZONE_NORMAL];
    const a = sys.pa.allocPages(9, "user");
    const b = sys.pa.allocPages(9, "user");
    assert.deepEqual([a, b], [0x8000, 0x8200]);
    // isolate the second pageblock (no free pages in it now)
    assert.equal(sys.iso.setMigratetypeIsolate(0x8200, MIGRATE_MOVABLE, 1, 0x8200, 0x8400), 0);
    sys.pa.freePages(a, 9);
    sys.pa.freePages(b, 9);
    assert.deepEqual(z.freeArea.toArray(9, MIGRATE_MOVABLE), [0x8000]);
    assert.deepEqual(z.freeArea.toArray(9, MIGRATE_ISOLATE), [0x8200]);
    assert.equal(z.freeArea.nrFree[10], 0);
    assert.equal(z.vmStat[NR_FREE_PAGES], 512); // isolated pages are not counted free
    assert.deepEqual(sys.pa.checkInvariants(), []);
    // unset_migratetype_isolate() takes the order-9 page out and frees it again: it merges
    sys.iso.unsetMigratetypeIsolate(0x8200, MIGRATE_MOVABLE);
    assert.deepEqual(z.freeArea.toArray(10, MIGRATE_MOVABLE), [0x8000]);
    assert.equal(z.vmStat[NR_FREE_PAGES], 1024);
    assert.deepEqual(sys.pa.checkInvariants(), []);
  });

  it("a first unmovable allocation steals a whole order-10 block and both its pageblocks", () => {
    const sys = boot([{ startPfn: 0x8000, endPfn: 0x10000 }], NORMAL_ONLY);
    const pfn = sys.pa.allocPages(0, "kernel");
    // __rmqueue_fallback() takes the largest block of the fallback type: the list head, 0x8000
    assert.equal(pfn, 0x8000);
    assert.equal(sys.memmap.pageblockMigratetype(0x8000), MIGRATE_UNMOVABLE);
    assert.equal(sys.memmap.pageblockMigratetype(0x8200), MIGRATE_UNMOVABLE);
    assert.equal(sys.memmap.pageblockMigratetype(0x8400), MIGRATE_MOVABLE);
    const z = sys.pgdat.zones[ZONE_NORMAL];
    assert.equal(z.freeArea.count(9, MIGRATE_UNMOVABLE), 1);
    assert.equal(sys.pa.allocPages(0, "kernel"), 0x8001); // the next one splits the unmovable leftovers
    assert.deepEqual(sys.pa.checkInvariants(), []);
  });
});

describe("onlined pages go to the tail of the free lists (FPI_TO_TAIL)", () => {
  it("allocations keep coming from the older free pages first", () => {
    const sys = boot([{ startPfn: 0x8000, endPfn: 0x10000 }], NORMAL_ONLY);
    hotAddOnline(sys, 0x10000, SEC, ZONE_NORMAL);
    assert.deepEqual(sys.pa.checkInvariants(), []);
    // boot memory: 32 order-10 blocks, in address order at the head
    for (let k = 0; k < 32; k++) assert.equal(sys.pa.allocPages(10, "user"), 0x8000 + k * 1024, `block ${k}`);
    assert.equal(sys.pa.allocPages(10, "user"), 0x10000);
  });

  it("a freed page instead goes to the head and is reused first", () => {
    const sys = boot([{ startPfn: 0x8000, endPfn: 0x10000 }], NORMAL_ONLY);
    const a = sys.pa.allocPages(10, "user");
    sys.pa.freePages(a, 10);
    hotAddOnline(sys, 0x10000, SEC, ZONE_NORMAL);
    const z = sys.pgdat.zones[ZONE_NORMAL];
    const list = z.freeArea.toArray(10, MIGRATE_MOVABLE);
    assert.equal(list[0], 0x8000);
    assert.equal(list[list.length - 1], 0x10000 + SEC - 1024); // the onlined blocks are last
  });
});

describe("zone choice (get_page_from_freelist over the zonelist)", () => {
  const ranges = [
    { startPfn: 0x100, endPfn: 0x10000 },
    { startPfn: 0x100000, endPfn: 0x108000 },
  ];

  it("kernel allocations use ZONE_NORMAL while it is above its low watermark, then DMA32", () => {
    const sys = boot(ranges, zoneSizesInitX86(0x108000));
    const normal = sys.pgdat.zones[ZONE_NORMAL];
    // The watermark is checked before each allocation; the pcp list is refilled 7 pages at a
    // time (batch of a 32768-page zone), each refill lowering NR_FREE_PAGES by 7. The
    // allocation whose refill brings it to the low watermark or below is the last from Normal.
    assert.equal(sys.pa.pcpOf(normal).batch, 7);
    const refills = Math.ceil((normal.vmStat[NR_FREE_PAGES] - normal.watermark[WMARK_LOW]) / 7);
    const expectFromNormal = 7 * (refills - 1) + 1;
    let fromNormal = 0;
    for (;;) {
      const pfn = sys.pa.allocPages(0, "kernel");
      assert.ok(pfn >= 0);
      if (pfn >= 0x100000) {
        fromNormal++;
        continue;
      }
      assert.ok(pfn >= 4096, "DMA32 comes before DMA");
      break;
    }
    assert.equal(fromNormal, expectFromNormal);
    assert.deepEqual(sys.pa.checkInvariants(), []);
  });

  it("user allocations may use ZONE_MOVABLE (first), kernel allocations never do", () => {
    const sys = boot([{ startPfn: 0x8000, endPfn: 0x10000 }], NORMAL_ONLY);
    hotAddOnline(sys, 0x10000, SEC, ZONE_MOVABLE);
    assert.deepEqual(sys.pgdat.zonelist, [ZONE_MOVABLE, ZONE_NORMAL]);
    const movable = sys.pgdat.zones[ZONE_MOVABLE];
    const normal = sys.pgdat.zones[ZONE_NORMAL];
    const movableFree = movable.vmStat[NR_FREE_PAGES];
    // the kernel may drain ZONE_NORMAL down to its min watermark (slow path), never into ZONE_MOVABLE
    const expect = normal.vmStat[NR_FREE_PAGES] - normal.watermark[WMARK_MIN];
    let n = 0;
    for (;;) {
      const pfn = sys.pa.allocPages(0, "kernel");
      if (pfn === -ENOMEM) break;
      assert.ok(pfn < 0x10000, `kernel page at ${pfn.toString(16)}`);
      n++;
    }
    assert.equal(n, expect);
    assert.equal(movable.vmStat[NR_FREE_PAGES], movableFree);
    const u = sys.pa.allocPages(0, "user");
    assert.ok(u >= 0x10000 && u < 0x18000);
    assert.deepEqual(sys.pa.checkInvariants(), []);
  });

  it("never picks an empty zone and fails with -ENOMEM when nothing is left", () => {
    const sys = boot([{ startPfn: 0x8000, endPfn: 0x8400 }], NORMAL_ONLY, [], false);
    for (let i = 0; i < 1024; i++) assert.ok(sys.pa.allocPages(0, "user") >= 0x8000);
    assert.equal(sys.pa.allocPages(0, "user"), -ENOMEM);
    assert.equal(sys.pa.allocPages(0, "kernel"), -ENOMEM);
    assert.equal(sys.pa.globalFreePages(), 0);
  });
});

describe("zone spans and zone->contiguous (move_pfn_range_to_zone / remove_pfn_range_from_zone)", () => {
  it("grows and shrinks the span and rescans every pageblock for contiguity", () => {
    const sys = boot([{ startPfn: 0x8000, endPfn: 0x10000 }], NORMAL_ONLY);
    const z = sys.pgdat.zones[ZONE_NORMAL];
    assert.equal(z.contiguous, true);
    assert.equal(sys.work.total.pageblocksScanned, 64);

    // a section after a hole: the span grows over the hole, the scan stops at its first pageblock
    let before = sys.work.snapshot();
    hotAddOnline(sys, 0x18000, SEC, ZONE_NORMAL);
    assert.deepEqual([z.zoneStartPfn, z.spannedPages], [0x8000, 0x18000]);
    assert.equal(z.contiguous, false);
    let d = sys.work.since(before);
    assert.equal(d.pageblocksScanned, 64 + 1);
    assert.equal(d.memmapPagesInit, SEC);
    assert.equal(d.zoneSpanUpdates, 1);
    assert.equal(sys.pgdat.nodeSpannedPages, 0x18000);

    // fill the hole: move_pfn_range_to_zone() scans before online_mem_sections(), so the new
    // (still offline) section stops it: zone->contiguous stays false, as in 6.1
    before = sys.work.snapshot();
    hotAddOnline(sys, 0x10000, SEC, ZONE_NORMAL);
    assert.equal(z.contiguous, false);
    assert.equal(sys.work.since(before).pageblocksScanned, 65);
    before = sys.work.snapshot();
    sys.pa.setZoneContiguous(ZONE_NORMAL);
    assert.equal(z.contiguous, true);
    assert.equal(sys.work.since(before).pageblocksScanned, 192);
    assert.deepEqual(sys.pa.checkInvariants(), []);

    // remove the middle section: neither end of the span moves, the hole breaks contiguity
    before = sys.work.snapshot();
    offlineFree(sys, 0x10000, SEC);
    assert.deepEqual([z.zoneStartPfn, z.spannedPages], [0x8000, 0x18000]);
    assert.equal(z.contiguous, false);
    assert.equal(sys.work.since(before).pageblocksScanned, 64 + 1);
    assert.equal(sys.memmap.state(0x10000), 0 /* PS_UNINIT */);
    assert.deepEqual(sys.pa.checkInvariants(), []);

    // remove the last section: shrink_zone_span() walks down subsection by subsection over the
    // offline hole (64 steps) to the boot section's last page (1 more), then the span is contiguous
    before = sys.work.snapshot();
    offlineFree(sys, 0x18000, SEC);
    assert.deepEqual([z.zoneStartPfn, z.spannedPages], [0x8000, 0x8000]);
    assert.equal(z.contiguous, true);
    d = sys.work.since(before);
    assert.equal(d.pageblocksScanned, 65 + 64);
    assert.equal(sys.pgdat.nodeSpannedPages, 0x8000);
    assert.deepEqual(sys.pa.checkInvariants(), []);
  });

  it("an emptied ZONE_MOVABLE goes back to span 0 and leaves the zonelist", () => {
    const sys = boot([{ startPfn: 0x8000, endPfn: 0x10000 }], NORMAL_ONLY);
    hotAddOnline(sys, 0x10000, SEC, ZONE_MOVABLE);
    const m = sys.pgdat.zones[ZONE_MOVABLE];
    assert.deepEqual([m.zoneStartPfn, m.spannedPages, m.managedPages], [0x10000, SEC, SEC]);
    offlineFree(sys, 0x10000, SEC);
    assert.deepEqual([m.zoneStartPfn, m.spannedPages, m.presentPages, m.managedPages], [0, 0, 0, 0]);
    assert.deepEqual(sys.pgdat.zonelist, [ZONE_NORMAL]);
    assert.equal(sys.pa.totalramPages, sys.pgdat.zones[ZONE_NORMAL].managedPages);
    assert.deepEqual(sys.pa.checkInvariants(), []);
  });
});

describe("checkInvariants() catches corruption", () => {
  const fresh = (): Sys => {
    const sys = boot([{ startPfn: 0x8000, endPfn: 0x10000 }], NORMAL_ONLY);
    sys.pa.allocPages(0, "kernel");
    sys.pa.allocPages(3, "user");
    assert.deepEqual(sys.pa.checkInvariants(), []);
    return sys;
  };
  const expectError = (sys: Sys, re: RegExp): void => {
    const errs = sys.pa.checkInvariants();
    assert.ok(
      errs.some((e) => re.test(e)),
      `expected ${re} in ${JSON.stringify(errs)}`,
    );
  };

  it("a free page marked allocated", () => {
    const sys = fresh();
    sys.memmap.setState(0x9001, PS_KERNEL);
    expectError(sys, /kernel pages counted|allocat/);
  });
  it("NR_FREE_PAGES off by one", () => {
    const sys = fresh();
    sys.pgdat.zones[ZONE_NORMAL].vmStat[NR_FREE_PAGES]++;
    expectError(sys, /NR_FREE_PAGES/);
  });
  it("managed pages that do not match present - reserved", () => {
    const sys = fresh();
    sys.pgdat.zones[ZONE_NORMAL].managedPages--;
    expectError(sys, /managed_pages/);
  });
  it("a buddy head with the wrong order", () => {
    const sys = fresh();
    sys.memmap.setOrder(0x9000, 9);
    expectError(sys, /order-9 buddy on the order-10 list/);
  });
  it("a free page outside its zone's span", () => {
    const sys = fresh();
    sys.pgdat.zones[ZONE_NORMAL].spannedPages -= 1024;
    expectError(sys, /outside the span/);
  });
  it("a page of a free block moved to another zone", () => {
    const sys = fresh();
    sys.memmap.setZone(0x9001, ZONE_DMA32);
    expectError(sys, /zone changes inside a free block|outside the span/);
  });
  it("totalram that is not the sum of managed pages", () => {
    const sys = fresh();
    sys.pa.totalramPages++;
    expectError(sys, /totalram_pages/);
  });
});
