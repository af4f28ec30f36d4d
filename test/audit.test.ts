// The hardware-access model and the exposure auditor (src/hw/access.ts,
// src/mm/exposure_audit.ts): what it reports for mappings of inaccessible memory,
// pages left in it, and the kernel's accesses to it; that it is silent for the
// RFC path; and that it costs nothing while all memory is accessible.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EOPNOTSUPP } from "../src/errno.js";
import type { Kernel } from "../src/kernel/kernel.js";
import type { ExposureFinding, ExposureKind } from "../src/mm/exposure_audit.js";
import { MHP_MEMMAP_ON_MEMORY, MHP_NONE } from "../src/mm/memory_hotplug.js";
import { MMOP_OFFLINE } from "../src/drivers/base/memory.js";
import {
  ARCHES,
  BLOCK,
  addDriverManaged,
  assertInvariants,
  boot,
  driverGroup,
  hwOff,
  hwOn,
  offlineRange,
  setState,
} from "./support/rfc-machine.js";

const of = (f: readonly ExposureFinding[], kind: ExposureKind) => f.filter((x) => x.kind === kind);
const bytesOf = (f: readonly ExposureFinding[], kind: ExposureKind) =>
  of(f, kind).reduce((n, x) => n + Number(x.size), 0);

/** Driver-managed memory mapped with pages of at most 2 MiB (see test/rfc.test.ts). */
function setup(arch: string, cmdline: string[] = []): { k: Kernel; dm: number } {
  const { k, base } = boot(arch as "arm64", cmdline);
  return { k, dm: arch === "x86_64" ? base + BLOCK : base };
}

describe("hardware access", () => {
  it("keeps inaccessible ranges merged and splits them when part becomes accessible", () => {
    const { k } = boot("arm64");
    k.hw.setInaccessible(100, 50);
    k.hw.setInaccessible(150, 10);
    k.hw.setInaccessible(300, 1);
    assert.deepEqual(k.hw.inaccessible(), [
      { startPfn: 100, endPfn: 160 },
      { startPfn: 300, endPfn: 301 },
    ]);
    k.hw.setAccessible(120, 10);
    assert.deepEqual(k.hw.inaccessible(), [
      { startPfn: 100, endPfn: 120 },
      { startPfn: 130, endPfn: 160 },
      { startPfn: 300, endPfn: 301 },
    ]);
    assert.ok(k.hw.pfnInaccessible(119) && !k.hw.pfnInaccessible(120) && k.hw.pfnInaccessible(300));
    assert.equal(k.hw.inaccessiblePages(110, 30), 20);
  });
});

for (const arch of ARCHES) {
  describe(`${arch}: the auditor`, () => {
    it("flags strategy 1 (offline only): the linear map still covers the powered-down range", () => {
      const { k, dm } = setup(arch);
      addDriverManaged(k, dm, 2 * BLOCK);
      offlineRange(k, dm, 2 * BLOCK);
      assert.deepEqual(k.auditor.audit(), [], "nothing is inaccessible yet");
      hwOff(k, dm, 2 * BLOCK);
      const f = k.auditor.audit();
      assert.equal(bytesOf(f, "linear-map"), 2 * BLOCK, "all of the range is mapped");
      assert.equal(of(f, "linear-map")[0].start, "0x" + dm.toString(16));
      assert.equal(of(f, "vmemmap").length, 0, "the memmap lives elsewhere");
      assert.equal(of(f, "page-in-use").length + of(f, "page-free").length, 0, "offline pages are nobody's");
      hwOn(k, dm, 2 * BLOCK);
      assert.deepEqual(k.auditor.audit(), []);
    });

    it("is clean for offline_and_depopulate_memory(), and flags what a later populate maps while still off", () => {
      const { k, dm } = setup(arch);
      addDriverManaged(k, dm, BLOCK);
      assert.equal(k.hotplug.offlineAndDepopulateMemory(driverGroup(k), dm, BLOCK), 0);
      hwOff(k, dm, BLOCK);
      assert.deepEqual(k.auditor.audit(), []);
      // populate before power-on: the order matters, the auditor sees the window
      assert.equal(k.hotplug.populateAndOnlineMemory(driverGroup(k), dm, BLOCK, MMOP_OFFLINE), 0);
      assert.equal(bytesOf(k.auditor.audit(), "linear-map"), BLOCK);
      hwOn(k, dm, BLOCK);
    });

    it("flags memmap_on_memory: the vmemmap maps the powered-down block and onlining touches its struct pages", () => {
      const { k, dm } = setup(arch, ["memory_hotplug.memmap_on_memory=1"]);
      addDriverManaged(k, dm, BLOCK, MHP_MEMMAP_ON_MEMORY, false);
      assert.equal(
        k.hotplug.offlineAndDepopulateMemory(driverGroup(k), dm, BLOCK),
        -EOPNOTSUPP,
        "the design refuses",
      );
      hwOff(k, dm, BLOCK);
      let f = k.auditor.audit();
      // 32768 struct pages of 64 bytes: 2 MiB at the start of the block
      assert.equal(bytesOf(f, "vmemmap"), 2 * 2 ** 20);
      assert.equal(of(f, "vmemmap")[0].start, "0x" + dm.toString(16));
      assert.equal(of(f, "struct-page-access").length, 0, "nothing touched them yet");
      // onlining initialises every struct page of the block: writes to the powered-down memmap
      assert.equal(
        k.auditor.during("online", () => setState(k, dm / BLOCK, "online_movable")),
        0,
      );
      f = k.auditor.audit();
      const writes = of(f, "struct-page-access").filter((x) => x.detail === "write during online");
      assert.equal(writes.length, 1);
      assert.ok(writes[0].count >= BLOCK / 4096 - 512, "at least the struct pages of every onlined page");
      assert.equal(Number(writes[0].start), dm, "the accesses land in the block's first 2 MiB");
      assert.ok(bytesOf(f, "page-free") > 0, "the onlined pages are in the buddy");
      hwOn(k, dm, BLOCK);
    });

    it("reports pages handed out of, and migrated out of, memory that went off while in use", () => {
      const { k, dm } = setup(arch);
      addDriverManaged(k, dm, 2 * BLOCK);
      k.runWorkload(20, { intensity: "256" });
      hwOff(k, dm, 2 * BLOCK); // a driver bug: powered down while online
      let f = k.auditor.audit();
      assert.ok(bytesOf(f, "page-in-use") > 0, "the workload's pages are there");
      assert.ok(bytesOf(f, "page-free") > 0);
      k.auditor.during("workload", () => k.runWorkload(5, { intensity: "256" }));
      f = k.auditor.audit();
      assert.ok(of(f, "page-alloc").some((x) => x.detail === "movable during workload"));
      // offlining migrates the pages out: copies from inaccessible memory
      k.auditor.during("offline", () => offlineRange(k, dm, 2 * BLOCK));
      f = k.auditor.audit();
      const copies = of(f, "migration").filter((x) => x.detail === "copy from during offline");
      assert.equal(copies.length, 1);
      assert.ok(copies[0].count > 0);
      assert.equal(of(f, "page-in-use").length, 0, "offline: nothing left in use");
      hwOn(k, dm, 2 * BLOCK);
      assertInvariants(k);
    });

    it("costs nothing while all memory is accessible: its access hooks exist only while some is not", () => {
      const { k, dm } = setup(arch);
      addDriverManaged(k, dm, BLOCK, MHP_NONE, false);
      const hooked = () => Object.hasOwn(k.memmap, "state") || Object.hasOwn(k.alloc, "allocPagesGfp");
      assert.ok(!hooked() && !k.auditor.armed);
      hwOff(k, dm, BLOCK);
      assert.ok(hooked() && k.auditor.armed);
      hwOn(k, dm, BLOCK);
      assert.ok(!hooked() && !k.auditor.armed);
    });
  });
}
