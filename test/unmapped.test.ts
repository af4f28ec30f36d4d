// memhp issue 18 in the model (src/mm/unmapped_alloc.ts, docs/unmapped-alloc.md
// on the kernel branch): alloc_contig_range_unmapped() changes nothing when it
// fails, the invariants see an unmapped allocation that is mapped again, and the
// whole-range depopulate rolls back as v2 does.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EBUSY, EINVAL } from "../src/errno.js";
import { PS_KERNEL } from "../src/mm/memmap.js";
import {
  BLOCK,
  G,
  addDriverManaged,
  assertInvariants,
  boot,
  driverGroup,
  stateOf,
} from "./support/rfc-machine.js";

const PAGES = (n: number) => n / 4096;

describe("alloc_contig_range_unmapped()", () => {
  it("an unmovable page fails it with -EBUSY and nothing is held, unmapped or PageOffline", () => {
    const { k, base } = boot("arm64");
    addDriverManaged(k, base, BLOCK, 0, false);
    assert.equal(
      k.kernfs.write(`/sys/devices/system/memory/memory${base / BLOCK}/state`, "online_kernel"),
      0,
    );
    // a kernel page in the block (ZONE_NORMAL: the block is the only memory there with room)
    let pfn = -1;
    const got: number[] = [];
    while (pfn < base / 4096) {
      pfn = k.alloc.allocPages(0, "kernel");
      assert.ok(pfn >= 0);
      got.push(pfn);
    }
    const first = base / 4096;
    assert.equal(k.unmapped.allocContigRangeUnmapped(first, PAGES(BLOCK)), -EBUSY);
    assert.deepEqual(k.unmapped.ranges(), []);
    assert.deepEqual(k.contig.held(), []);
    assert.ok(!k.hotplug.isPageOffline(first));
    assert.ok(k.arch.pgtable.lookup(k.arch.physToVirt(base)) !== undefined, "still mapped");
    assertInvariants(k);
    for (const p of got) k.alloc.freePages(p, 0);
    assert.equal(k.unmapped.allocContigRangeUnmapped(first, PAGES(BLOCK)), 0);
    assert.ok(k.hotplug.isPageOffline(first) && !k.hotplug.pfnIsMapMemory(first));
    assert.equal(
      k.memmap.state(first),
      PS_KERNEL,
      "allocated, refcount 1, as alloc_contig_range() leaves it",
    );
    assertInvariants(k);
    // the invariants see a mapping over it
    k.arch.archCreateLinearMapping(0, base, BLOCK, {});
    assert.ok(k.checkInvariants().some((v) => /unmapped .*linear-map leaves cover it/.test(v)));
    k.arch.archRemoveLinearMapping(base, BLOCK);
    assert.equal(k.unmapped.freeContigRangeUnmapped(first, PAGES(BLOCK)), 0);
    assert.equal(k.unmapped.freeContigRangeUnmapped(first, PAGES(BLOCK)), -EINVAL);
    assertInvariants(k);
  });

  it("MemTotal keeps the range while it is held; MemFree loses it", () => {
    const { k, base } = boot("x86_64");
    addDriverManaged(k, base, G);
    const total = k.alloc.totalramPages;
    assert.equal(k.unmapped.allocContigRangeUnmapped(base / 4096, PAGES(G)), 0);
    assert.equal(k.alloc.totalramPages, total);
    assert.equal(k.unmapped.freeContigRangeUnmapped(base / 4096, PAGES(G)), 0);
    assertInvariants(k);
  });
});

describe("offline_and_depopulate_memory_whole()", () => {
  it("a run that fails leaves every block online as it was, and nothing depopulated", () => {
    const { k, base } = boot("arm64");
    addDriverManaged(k, base, 4 * BLOCK);
    k.runWorkload(8, { intensity: "256" });
    // the last block held by an unmapped allocation: its notifier vetoes the offline
    const last = (base + 3 * BLOCK) / 4096;
    assert.equal(k.unmapped.allocContigRangeUnmapped(last, PAGES(BLOCK)), 0);
    assert.equal(k.hotplug.offlineAndDepopulateMemoryWhole(driverGroup(k), base, 4 * BLOCK), -EBUSY);
    for (let i = 0; i < 4; i++) assert.equal(stateOf(k, base / BLOCK + i), "online");
    assert.equal(k.hotplug.depopulatedShow(), "");
    assertInvariants(k);
    assert.equal(k.unmapped.freeContigRangeUnmapped(last, PAGES(BLOCK)), 0);
    // blocks 0-1 offline already: one run of the two online blocks left
    for (const i of [0, 1])
      assert.equal(
        k.kernfs.write(`/sys/devices/system/memory/memory${base / BLOCK + i}/state`, "offline"),
        0,
      );
    const before = k.work.snapshot();
    assert.equal(k.hotplug.offlineAndDepopulateMemoryWhole(driverGroup(k), base, 4 * BLOCK), 0);
    const w = k.work.since(before);
    assert.equal(w.uevents, 2, "a KOBJ_OFFLINE per block it offlined");
    for (let i = 0; i < 4; i++) assert.equal(stateOf(k, base / BLOCK + i), "offline");
    assert.equal(k.hotplug.depopulatedShow().split("\n").filter(Boolean).length, 4);
    assertInvariants(k);
  });
});
