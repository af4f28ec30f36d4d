// The seeded workload: deterministic, allocates where the kernel would put each
// kind of allocation, follows its pages when migration moves them, and keeps
// the allocator's invariants.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Work } from "../src/kernel/work.js";
import { MAX_ORDER } from "../src/mm/constants.js";
import { Memmap, MemmapSections } from "../src/mm/memmap.js";
import { Migration, Rmap } from "../src/mm/migrate.js";
import { MIGRATE_ISOLATE, MIGRATE_MOVABLE, PglistData, ZONE_MOVABLE, ZONE_NORMAL } from "../src/mm/mmzone.js";
import { movePfnRangeToZone } from "../src/mm/memory_hotplug.js";
import { initBootMemory } from "../src/mm/mm_init.js";
import { BuddyAllocator } from "../src/mm/page_alloc.js";
import { MEMORY_OFFLINE, PageIsolation } from "../src/mm/page_isolation.js";
import { Rng } from "../src/mm/random.js";
import {
  WL_KERNEL,
  WL_PINNED,
  WL_RECLAIMABLE,
  WL_USER,
  Workload,
  type WorkloadOptions,
  parseWorkloadOptions,
} from "../src/mm/workload.js";

const SEC = 32768;
const LIMITS = [0x1000, 0x2000, 0x40000];

interface Sys {
  pgdat: PglistData;
  work: Work;
  pa: BuddyAllocator;
  iso: PageIsolation;
  mig: Migration;
  wl: Workload;
}

/** Boot: two sections of ZONE_NORMAL at 0x8000, one section onlined to ZONE_MOVABLE at 0x18000. */
function system(opts: WorkloadOptions): Sys {
  const memmap = new Memmap();
  const secs = new MemmapSections(memmap);
  secs.addSections(0x8000, 0x18000, true);
  const pgdat = new PglistData(LIMITS);
  const work = new Work();
  const pa = new BuddyAllocator(memmap, secs, pgdat, work);
  initBootMemory(pa, [{ startPfn: 0x8000, endPfn: 0x18000 }], [{ startPfn: 0x8000, endPfn: 0x8100 }]);
  const iso = new PageIsolation(pa);
  // online_pages() of [0x18000, 0x20000) to ZONE_MOVABLE
  secs.addSections(0x18000, 0x20000, false);
  const zone = pgdat.zones[ZONE_MOVABLE];
  movePfnRangeToZone(pa, ZONE_MOVABLE, 0x18000, SEC, MIGRATE_ISOLATE);
  zone.nrIsolatePageblock += SEC / 512;
  pa.setupZonePageset(zone); // the zone was not populated
  for (let pfn = 0x18000; pfn < 0x20000; pfn += 1 << (MAX_ORDER - 1))
    pa.genericOnlinePage(pfn, MAX_ORDER - 1);
  secs.onlineMemSections(0x18000, 0x20000);
  zone.presentPages += SEC;
  pgdat.nodePresentPages += SEC;
  pa.buildAllZonelists();
  iso.undoIsolatePageRange(0x18000, 0x20000, MIGRATE_MOVABLE);
  pa.initPerZoneWmarkMin();
  const rmap = new Rmap();
  const mig = new Migration(pa, rmap, work);
  return { pgdat, work, pa, iso, mig, wl: new Workload(pa, mig, rmap, opts) };
}

function snapshot(wl: Workload): string {
  const out: number[] = [];
  for (let s = 0; s < wl.items; s++) out.push(wl.slotPfn(s), wl.slotOrder(s), wl.slotKind(s));
  return out.join(",");
}

describe("Rng", () => {
  it("is mulberry32: the same seed gives the same sequence, another seed another", () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const sa = Array.from({ length: 8 }, () => a.nextU32());
    assert.deepEqual(
      sa,
      Array.from({ length: 8 }, () => b.nextU32()),
    );
    assert.notDeepEqual(
      sa,
      Array.from({ length: 8 }, () => c.nextU32()),
    );
    // mulberry32(0) starts with 0x6d2b79f5 stepped once: a known first value
    assert.equal(new Rng(0).nextU32(), 1144304738);
  });
  it("pick() follows the weights", () => {
    const r = new Rng(7);
    const n = [0, 0, 0];
    for (let i = 0; i < 30000; i++) n[r.pick([1, 0, 2])]++;
    assert.equal(n[1], 0);
    assert.ok(Math.abs(n[2] / n[0] - 2) < 0.15, `${n}`);
  });
});

describe("Workload", () => {
  it("is deterministic for a seed", () => {
    const a = system({ seed: 1234 });
    const b = system({ seed: 1234 });
    const c = system({ seed: 4321 });
    a.wl.step(200);
    b.wl.step(200);
    c.wl.step(200);
    assert.equal(snapshot(a.wl), snapshot(b.wl));
    assert.notEqual(snapshot(a.wl), snapshot(c.wl));
  });

  it("puts user pages in ZONE_MOVABLE first, kernel, reclaimable and pinned pages never there", () => {
    const s = system({ seed: 5, targetFill: 0.2, mix: { user: 60, kernel: 20, reclaimable: 15, pinned: 5 } });
    s.wl.step(300);
    const perZone = new Map<string, number>();
    for (let slot = 0; slot < s.wl.items; slot++) {
      const kind = s.wl.slotKind(slot);
      const zone = s.pa.zoneOfPfn(s.wl.slotPfn(slot)).idx;
      perZone.set(`${kind}:${zone}`, (perZone.get(`${kind}:${zone}`) ?? 0) + 1);
      if (kind !== WL_USER) assert.notEqual(zone, ZONE_MOVABLE, `kind ${kind} in ZONE_MOVABLE`);
    }
    // fill 0.2 of totalram is less than ZONE_MOVABLE holds: every user page fits there
    assert.ok((perZone.get(`${WL_USER}:${ZONE_MOVABLE}`) ?? 0) > 0);
    assert.equal(perZone.get(`${WL_USER}:${ZONE_NORMAL}`) ?? 0, 0);
    assert.ok((perZone.get(`${WL_KERNEL}:${ZONE_NORMAL}`) ?? 0) > 0);
    assert.ok((perZone.get(`${WL_RECLAIMABLE}:${ZONE_NORMAL}`) ?? 0) > 0);
    assert.ok((perZone.get(`${WL_PINNED}:${ZONE_NORMAL}`) ?? 0) > 0);
    assert.deepEqual(s.wl.checkInvariants(), []);
    assert.deepEqual(s.pa.checkInvariants(), []);
  });

  it("holds about targetFill of totalram", () => {
    const s = system({ seed: 9, targetFill: 0.4 });
    s.wl.step(2000);
    const share = s.wl.pagesHeld() / s.pa.totalramPages;
    assert.ok(share > 0.35 && share < 0.45, `holds ${share}`);
    s.wl.configure({ targetFill: 0.1 });
    s.wl.step(2000);
    const share2 = s.wl.pagesHeld() / s.pa.totalramPages;
    assert.ok(share2 > 0.05 && share2 < 0.15, `holds ${share2}`);
    assert.deepEqual(s.pa.checkInvariants(), []);
  });

  it("does nothing at intensity 0, and only kernel allocations with that mix", () => {
    const s = system({ seed: 3, intensity: 0 });
    assert.equal(s.wl.step(10).allocs, 0);
    s.wl.configure({ intensity: 50, mix: { user: 0, kernel: 1, reclaimable: 0, pinned: 0 } });
    const r = s.wl.step(10);
    assert.ok(r.allocs > 0);
    assert.equal(s.wl.pagesHeld(), s.wl.pagesHeld(WL_KERNEL));
  });

  it("follows its pages when offlining migrates them, and keeps running", () => {
    const s = system({ seed: 77, targetFill: 0.3, thpPercent: 5 });
    s.wl.step(500);
    const inMovable = (): number => {
      let n = 0;
      for (let slot = 0; slot < s.wl.items; slot++)
        if (s.wl.slotPfn(slot) >= 0x18000) n += 1 << s.wl.slotOrder(slot);
      return n;
    };
    const moving = inMovable();
    assert.ok(moving > 0);
    // the first steps of offline_pages() on ZONE_MOVABLE (zone_pcp_disable() drains its per-cpu lists)
    s.pa.zonePcpDisable(s.pgdat.zones[ZONE_MOVABLE]);
    assert.equal(s.iso.startIsolatePageRange(0x18000, 0x20000, MIGRATE_MOVABLE, MEMORY_OFFLINE), 0);
    const before = s.work.snapshot();
    const movedBefore = s.wl.pagesMovedByMigration; // pins already moved some out of ZONE_MOVABLE
    assert.ok(movedBefore > 0);
    for (;;) {
      const pfn = s.mig.scanMovablePages(0x18000, 0x20000);
      if (pfn < 0) break;
      s.mig.doMigrateRange(pfn, 0x20000);
    }
    assert.equal(s.work.since(before).pagesMigrated, moving);
    assert.equal(s.wl.pagesMovedByMigration - movedBefore, moving);
    assert.equal(inMovable(), 0);
    assert.equal(s.iso.testPagesIsolated(0x18000, 0x20000, MEMORY_OFFLINE), 0);
    assert.deepEqual(s.wl.checkInvariants(), []);
    assert.deepEqual(s.pa.checkInvariants(), []);
    s.wl.step(200);
    assert.equal(inMovable(), 0); // isolated: nothing is allocated there
    assert.deepEqual(s.wl.checkInvariants(), []);
    assert.deepEqual(s.pa.checkInvariants(), []);
    const freed = s.wl.releaseAll();
    assert.ok(freed > 0);
    assert.equal(s.wl.items, 0);
    assert.deepEqual(s.pa.checkInvariants(), []);
  });
});

describe("parseWorkloadOptions()", () => {
  it("maps the scenario's key=value options to knobs", () => {
    const p = parseWorkloadOptions({ seed: "7", fill: "0.5", kernel: "30", thp: "10", intensity: "8" });
    assert.equal(p.seed, 7);
    assert.deepEqual(p.knobs, { targetFill: 0.5, mix: { kernel: 30 }, thpPercent: 10, intensity: 8 });
    assert.throws(() => parseWorkloadOptions({ speed: "1" }), /unknown option speed/);
    assert.throws(() => parseWorkloadOptions({ fill: "lots" }), /not a number/);
  });
  it("knobs from it change what the workload does", () => {
    const s = system({
      seed: 1,
      ...parseWorkloadOptions({ user: "0", reclaimable: "0", pinned: "0" }).knobs,
    });
    s.wl.step(5);
    assert.ok(s.wl.pagesHeld() > 0);
    assert.equal(s.wl.pagesHeld(), s.wl.pagesHeld(WL_KERNEL));
  });
});
