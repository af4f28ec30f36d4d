// The per-cpu page lists (struct per_cpu_pages) against Linux 6.1 mm/page_alloc.c:
// which frees go to them (pcp_allowed_order(), free_unref_page()), the spill at
// pcp->high (free_unref_page_commit(), nr_pcp_free(), free_pcppages_bulk()), the
// refill of an empty list (rmqueue_pcplist(), rmqueue_bulk()), draining, the
// pagesets' high and batch (zone_batchsize(), zone_highsize(), zone_pcp_disable()),
// and what isolation makes of pages on them. Expected numbers come from those
// rules: one 32768-page zone has batch 7 (min(32768 >> 10, 256) / 4 = 8,
// rounddown_pow_of_two(8 + 4) - 1) and high = its low watermark (one CPU).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EBUSY } from "../src/errno.js";
import { Work } from "../src/kernel/work.js";
import { MAX_ORDER } from "../src/mm/constants.js";
import { Memmap, MemmapSections, PS_BUDDY, PS_FREE, PS_PCP } from "../src/mm/memmap.js";
import {
  MIGRATE_ISOLATE,
  MIGRATE_MOVABLE,
  MIGRATE_UNMOVABLE,
  NR_FREE_PAGES,
  NR_LOWORDER_PCP_LISTS,
  PglistData,
  WMARK_LOW,
  ZONE_MOVABLE,
  ZONE_NORMAL,
  type Zone,
} from "../src/mm/mmzone.js";
import { initBootMemory } from "../src/mm/mm_init.js";
import { BuddyAllocator, orderToPindex, pcpAllowedOrder, pindexToOrder } from "../src/mm/page_alloc.js";
import { MEMORY_OFFLINE } from "../src/mm/page_isolation.js";
import { LIMITS, SEC, bootAllocator, hotAddOnline, type AllocatorSys } from "./support/allocator-sys.js";

interface Sys extends AllocatorSys {
  zone: Zone;
}

function boot(nrCpus = 1): Sys {
  const sys = bootAllocator({ nrCpus });
  return { ...sys, zone: sys.pgdat.zones[ZONE_NORMAL] };
}

/**
 * boot() with min_free_kbytes 8192: min 2048 pages, low 2048 + max(2048 / 4, 32768 * 10 / 10000)
 * = 2560, so pcp->high = 2560 and two order-9 blocks fit below it.
 */
function bootBigHigh(): Sys {
  const sys = boot();
  sys.pa.setMinFreeKbytes(8192);
  assert.equal(sys.pa.pcpOf(sys.zone).high, 2560);
  return sys;
}

const free = (z: Zone): number => z.vmStat[NR_FREE_PAGES];

describe("list indexing (order_to_pindex)", () => {
  it("orders 0..3 and pageblock_order use the lists, the rest do not", () => {
    assert.deepEqual(
      Array.from({ length: MAX_ORDER }, (_, o) => pcpAllowedOrder(o)),
      [true, true, true, true, false, false, false, false, false, true, false],
    );
  });
  it("one list per migratetype and order up to 3, two pageblock-order lists (movable / the others)", () => {
    assert.equal(orderToPindex(MIGRATE_UNMOVABLE, 0), 0);
    assert.equal(orderToPindex(MIGRATE_MOVABLE, 0), 1);
    assert.equal(orderToPindex(MIGRATE_MOVABLE, 3), 10);
    assert.equal(orderToPindex(MIGRATE_UNMOVABLE, 9), NR_LOWORDER_PCP_LISTS);
    assert.equal(orderToPindex(2 /* MIGRATE_RECLAIMABLE */, 9), NR_LOWORDER_PCP_LISTS);
    assert.equal(orderToPindex(MIGRATE_MOVABLE, 9), NR_LOWORDER_PCP_LISTS + 1);
    assert.deepEqual([pindexToOrder(5), pindexToOrder(12), pindexToOrder(13)], [1, 9, 9]);
  });
});

describe("pagesets: batch and high", () => {
  it("batch from zone_batchsize(), high = the low watermark, and they follow the watermarks", () => {
    const sys = boot();
    const pcp = sys.pa.pcpOf(sys.zone);
    assert.equal(pcp.batch, 7);
    assert.equal(pcp.high, sys.zone.watermark[WMARK_LOW]);
    sys.pa.setMinFreeKbytes(8192); // setup_per_zone_wmarks() → zone_pcp_update()
    assert.equal(pcp.high, sys.zone.watermark[WMARK_LOW]);
    assert.ok(pcp.high > 2048);
  });

  it("a small zone gets batch 1; high is at least 4 batches", () => {
    const memmap = new Memmap();
    const secs = new MemmapSections(memmap);
    secs.addSections(0x8000, 0x8400, true);
    const pgdat = new PglistData(LIMITS);
    const pa = new BuddyAllocator(memmap, secs, pgdat, new Work());
    initBootMemory(pa, [{ startPfn: 0x8000, endPfn: 0x8400 }], []);
    const z = pgdat.zones[ZONE_NORMAL];
    assert.equal(pa.pcpOf(z).batch, 1); // 1024 >> 10 = 1, / 4 = 0 → 1 → rounddown_pow_of_two(1) - 1 = 0 → max(1, 0)
    assert.equal(pa.pcpOf(z).high, Math.max(z.watermark[WMARK_LOW], 4));
  });

  it("splits high over the CPUs of the node", () => {
    const one = boot(1);
    const two = boot(2);
    assert.equal(two.pa.pcpOf(two.zone, 1).high, Math.floor(one.pa.pcpOf(one.zone).high / 2));
    assert.equal(two.zone.perCpuPageset.length, 2);
  });

  it("empty zones stay on the boot pagesets, which zone_pcp_update() of for_each_zone() sets to 4 / 1", () => {
    const sys = boot();
    const movable = sys.pgdat.zones[ZONE_MOVABLE];
    assert.equal(sys.pa.usesBootPageset(movable), true);
    assert.equal(sys.pa.usesBootPageset(sys.zone), false);
    // managed 0: batch max(1, 0) = 1, high max(low 0, 1 << 2)
    assert.deepEqual([sys.pa.pcpOf(movable).high, sys.pa.pcpOf(movable).batch], [4, 1]);
  });

  it("zone_pcp_disable() drains and passes frees straight through; zone_pcp_enable() restores", () => {
    const sys = boot();
    const pcp = sys.pa.pcpOf(sys.zone);
    const [high, batch] = [pcp.high, pcp.batch];
    const p = sys.pa.allocPages(0, "kernel");
    const q = sys.pa.allocPages(0, "kernel");
    sys.pa.freePages(p, 0);
    assert.ok(pcp.count > 0);
    const onLists = pcp.count;
    const before = free(sys.zone);
    sys.pa.zonePcpDisable(sys.zone);
    assert.deepEqual([pcp.high, pcp.batch, pcp.count], [0, 1, 0]);
    assert.equal(free(sys.zone), before + onLists);
    sys.pa.freePages(q, 0); // high 0: nr_pcp_free() = 1, the page itself
    assert.equal(pcp.count, 0);
    assert.equal(free(sys.zone), before + onLists + 1);
    sys.pa.zonePcpEnable(sys.zone);
    assert.deepEqual([pcp.high, pcp.batch], [high, batch]);
    assert.deepEqual(sys.pa.checkInvariants(), []);
  });

  it("online_pages() of an empty zone gives it its own pagesets; offlining its last pages gives them back", () => {
    const sys = boot();
    hotAddOnline(sys, 0x10000, SEC, ZONE_MOVABLE);
    const movable = sys.pgdat.zones[ZONE_MOVABLE];
    assert.equal(sys.pa.usesBootPageset(movable), false);
    assert.equal(sys.pa.pcpOf(movable).batch, 7);
    assert.equal(sys.pa.pcpOf(movable).high, movable.watermark[WMARK_LOW]);
    const u = sys.pa.allocPages(0, "user");
    assert.ok(u >= 0x10000);
    sys.pa.freePages(u, 0);
    assert.throws(() => sys.pa.zonePcpReset(movable), /still has/); // pages would be lost
    sys.pa.zonePcpDisable(movable);
    sys.pa.zonePcpReset(movable);
    assert.equal(sys.pa.usesBootPageset(movable), true);
  });
});

describe("freeing (free_unref_page)", () => {
  it("an order-0 page goes to the head of its list, not to MemFree", () => {
    const sys = boot();
    const z = sys.zone;
    const pcp = sys.pa.pcpOf(z);
    const f0 = free(z);
    const p = sys.pa.allocPages(0, "kernel");
    // the empty list was refilled with a batch of 7 pages; one was handed out
    assert.equal(free(z), f0 - 7);
    assert.equal(pcp.count, 6);
    sys.pa.freePages(p, 0);
    assert.equal(free(z), f0 - 7);
    assert.equal(pcp.count, 7);
    assert.equal(sys.memmap.state(p), PS_PCP);
    assert.equal(pcp.toArray(orderToPindex(MIGRATE_UNMOVABLE, 0))[0], p);
    assert.equal(sys.pa.globalFreePages(), f0 - 7); // MemFree does not see it
    assert.deepEqual(sys.pa.checkInvariants(), []);
  });

  it("an order-9 page goes to the pageblock-order list, not to MemFree", () => {
    const sys = bootBigHigh();
    const z = sys.zone;
    const pcp = sys.pa.pcpOf(z);
    const f0 = free(z);
    const p = sys.pa.allocPages(9, "vmemmap");
    // refill: max(batch 7 >> 9, 2) = 2 order-9 blocks
    assert.equal(free(z), f0 - 1024);
    assert.equal(pcp.count, 512);
    sys.pa.freePages(p, 9);
    assert.equal(free(z), f0 - 1024);
    assert.equal(pcp.count, 1024);
    assert.equal(pcp.length(NR_LOWORDER_PCP_LISTS), 2);
    assert.equal(sys.memmap.state(p + 511), PS_PCP);
    assert.deepEqual(sys.pa.checkInvariants(), []);
  });

  it("with high 452, freeing an order-9 page (count 1024) spills the older block whole", () => {
    const sys = boot();
    const z = sys.zone;
    const pcp = sys.pa.pcpOf(z);
    assert.equal(pcp.high, 452); // low: 1448 kB >> 2 = 362 + max(90, 32)
    const f0 = free(z);
    const a = sys.pa.allocPages(9, "vmemmap");
    const [b] = pcp.toArray(NR_LOWORDER_PCP_LISTS); // the refill's second block
    sys.pa.freePages(a, 9); // list: a, b
    // nr_pcp_free() = clamp(7, 7, 445) = 7 pages: the tail block, b, with all its 512
    assert.equal(free(z), f0 - 512);
    assert.equal(pcp.count, 512);
    assert.equal(sys.memmap.state(a), PS_PCP);
    assert.equal(sys.memmap.state(b), PS_BUDDY);
    assert.deepEqual(sys.pa.checkInvariants(), []);
  });

  it("orders 4..8 and 10 bypass the lists", () => {
    const sys = boot();
    const z = sys.zone;
    const p = sys.pa.allocPages(4, "kernel");
    const f1 = free(z);
    sys.pa.freePages(p, 4);
    assert.equal(free(z), f1 + 16);
    assert.equal(sys.pa.pcpOf(z).count, 0);
  });

  it("at count >= high a batch spills to the buddy, the oldest pages first, doubling while frees continue", () => {
    const sys = boot();
    const z = sys.zone;
    const pcp = sys.pa.pcpOf(z);
    const high = pcp.high;
    const pages: number[] = [];
    for (let i = 0; i < high + 60; i++) pages.push(sys.pa.allocPages(0, "kernel"));
    assert.equal(pcp.freeFactor, 0); // each allocation halves it
    let f = free(z);
    const spills: number[] = [];
    for (const p of pages) {
      sys.pa.freePages(p, 0);
      assert.ok(pcp.count < high);
      if (free(z) !== f) spills.push(free(z) - f);
      f = free(z);
    }
    // nr_pcp_free(): batch << free_factor, free_factor 0, 1, 2, ...
    assert.deepEqual(spills.slice(0, 3), [7, 14, 28]);
    // list_last_entry(): the first page freed is the first back in the buddy
    const s0 = sys.memmap.state(pages[0]);
    assert.ok(s0 === PS_BUDDY || s0 === PS_FREE);
    assert.equal(sys.memmap.state(pages[pages.length - 1]), PS_PCP);
    assert.deepEqual(sys.pa.checkInvariants(), []);
  });

  it("a high-order (1..3) free after a spill frees everything (free_high)", () => {
    const sys = boot();
    const z = sys.zone;
    const pcp = sys.pa.pcpOf(z);
    const big = sys.pa.allocPages(2, "kernel");
    const pages: number[] = [];
    for (let i = 0; i < pcp.high + 1; i++) pages.push(sys.pa.allocPages(0, "kernel"));
    for (const p of pages) sys.pa.freePages(p, 0);
    assert.ok(pcp.freeFactor > 0); // a spill happened
    const onLists = pcp.count;
    const f = free(z);
    sys.pa.freePages(big, 2);
    assert.equal(pcp.count, 0);
    assert.equal(free(z), f + onLists + 4);
    assert.deepEqual(sys.pa.checkInvariants(), []);
  });

  it("a page of an isolated pageblock goes straight to the isolate list", () => {
    const sys = boot();
    const z = sys.zone;
    const p = sys.pa.allocPages(0, "user");
    const pb = p - (p % 512);
    sys.pa.drainAllPages(z);
    assert.equal(sys.iso.setMigratetypeIsolate(pb, MIGRATE_MOVABLE, MEMORY_OFFLINE, pb, pb + 512), 0);
    const count = sys.pa.pcpOf(z).count;
    sys.pa.freePages(p, 0);
    assert.equal(sys.pa.pcpOf(z).count, count);
    assert.equal(sys.memmap.state(pb), PS_BUDDY);
    assert.equal(z.freeArea.listMigratetype(pb), MIGRATE_ISOLATE);
    assert.deepEqual(sys.pa.checkInvariants(), []);
  });
});

describe("allocation (rmqueue_pcplist)", () => {
  it("takes the last freed page of its list first, without touching MemFree", () => {
    const sys = boot();
    const z = sys.zone;
    const a = sys.pa.allocPages(0, "kernel");
    sys.pa.freePages(a, 0);
    const f = free(z);
    assert.equal(sys.pa.allocPages(0, "kernel"), a);
    assert.equal(free(z), f);
    // another migratetype has its own list: a user page needs a refill of its own
    const u = sys.pa.allocPages(0, "user");
    assert.notEqual(u, a);
    assert.equal(free(z), f - 7);
    assert.deepEqual(sys.pa.checkInvariants(), []);
  });

  it("hands out a refill in physical order (list_add_tail of the split)", () => {
    const sys = boot();
    const first = sys.pa.allocPages(0, "user");
    for (let i = 1; i < 7; i++) assert.equal(sys.pa.allocPages(0, "user"), first + i);
  });

  it("an allocation that fails the watermarks drains the lists and tries again", () => {
    const memmap = new Memmap();
    const secs = new MemmapSections(memmap);
    secs.addSections(0x8000, 0x10000, true);
    const pgdat = new PglistData(LIMITS);
    const pa = new BuddyAllocator(memmap, secs, pgdat, new Work(), { watermarks: false });
    initBootMemory(pa, [{ startPfn: 0x8000, endPfn: 0x10000 }], []);
    const z = pgdat.zones[ZONE_NORMAL];
    const user: number[] = [];
    for (let i = 0; i < 7; i++) user.push(pa.allocPages(0, "user"));
    for (const p of user) pa.freePages(p, 0); // 7 pages on the movable list
    let n = 0;
    while (pa.allocPages(0, "kernel") >= 0) n++;
    assert.equal(n, SEC); // the 7 pcp pages were drained and used as well
    assert.equal(pa.pcpOf(z).count, 0);
    assert.deepEqual(pa.checkInvariants(), []);
  });
});

describe("draining and isolation", () => {
  it("drain_all_pages() puts every page back, merged and counted free", () => {
    const sys = bootBigHigh();
    const z = sys.zone;
    const f0 = free(z);
    const blocks = z.freeArea.nrFree[10];
    const ps = [
      sys.pa.allocPages(0, "kernel"),
      sys.pa.allocPages(0, "user"),
      sys.pa.allocPages(9, "vmemmap"),
    ];
    sys.pa.freePages(ps[0], 0);
    sys.pa.freePages(ps[1], 0);
    sys.pa.freePages(ps[2], 9);
    assert.ok(sys.pa.pcpOf(z).count > 0);
    const before = sys.work.snapshot();
    sys.pa.drainAllPages(undefined);
    assert.equal(sys.work.since(before).drainAllPages, 1);
    assert.equal(sys.pa.pcpOf(z).count, 0);
    assert.equal(free(z), f0);
    assert.equal(z.freeArea.nrFree[10], blocks);
    assert.deepEqual(sys.pa.checkInvariants(), []);
  });

  it("has_unmovable_pages() passes pcp pages; test_pages_isolated() fails on them until they are drained", () => {
    const sys = boot();
    const z = sys.zone;
    const p = sys.pa.allocPages(0, "kernel");
    sys.pa.freePages(p, 0);
    const pb = p - (p % 512);
    assert.equal(sys.iso.hasUnmovablePages(pb, pb + 512, MIGRATE_MOVABLE, MEMORY_OFFLINE), -1);
    assert.equal(sys.iso.startIsolatePageRange(pb, pb + 512, MIGRATE_MOVABLE, MEMORY_OFFLINE), 0);
    assert.equal(sys.iso.testPagesIsolated(pb, pb + 512, MEMORY_OFFLINE), -EBUSY);
    const f = free(z);
    sys.pa.drainAllPages(z); // alloc_contig_range()'s drain after isolation
    // the zone has an isolated pageblock: the pages go to the list of their pageblock (isolate)
    assert.equal(free(z), f);
    assert.equal(sys.iso.testPagesIsolated(pb, pb + 512, MEMORY_OFFLINE), 0);
    assert.equal(z.freeArea.count(9, MIGRATE_ISOLATE), 1);
    assert.deepEqual(sys.pa.checkInvariants(), []);
  });
});

describe("checkInvariants() catches pcp corruption", () => {
  it("a pcp page whose memmap says otherwise, and a wrong count", () => {
    const sys = boot();
    const p = sys.pa.allocPages(0, "kernel");
    sys.pa.freePages(p, 0);
    assert.deepEqual(sys.pa.checkInvariants(), []);
    sys.memmap.setState(p, PS_FREE);
    assert.ok(sys.pa.checkInvariants().some((e) => /on pcp list/.test(e)));
    sys.memmap.setState(p, PS_PCP);
    sys.pa.pcpOf(sys.zone).count++;
    assert.ok(sys.pa.checkInvariants().some((e) => /pcp count/.test(e)));
  });
});
