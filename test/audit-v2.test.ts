// The exposure auditor's RFC v2 findings (src/mm/exposure_audit.ts,
// docs/rfc-v2.md): a linear-map leaf made across the range of an add, a
// removal that splits a leaf, memory powered off with dirty cache lines over
// it, and powered-off System RAM a crash dump would read. Each with a case
// that must be flagged and one that must not.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MMOP_OFFLINE } from "../src/drivers/base/memory.js";
import { Kernel } from "../src/kernel/kernel.js";
import type { ExposureFinding, ExposureKind } from "../src/mm/exposure_audit.js";
import { MHP_NID_IS_MGID, MHP_NONE } from "../src/mm/memory_hotplug.js";
import { createStrategy } from "../src/drivers/memory/strategies.js";
import {
  ARCHES,
  BLOCK,
  DM_NAME,
  G,
  M,
  addDriverManaged,
  boot,
  driverGroup,
  hwOff,
  hwOn,
  offlineRange,
} from "./support/rfc-machine.js";

const kinds = (f: readonly ExposureFinding[]) => [...new Set(f.map((x) => x.kind))].sort();
const of = (f: readonly ExposureFinding[], kind: ExposureKind) => f.filter((x) => x.kind === kind);

describe("leaf-across-add", () => {
  it("x86_64: a 1 GiB leaf made over two adds (v1's joined populate) is flagged when it is made", () => {
    const { k, base } = boot("x86_64");
    const mgid = driverGroup(k);
    for (const s of [base, base + 512 * M])
      assert.equal(k.hotplug.addMemoryDriverManaged(mgid, s, 512 * M, DM_NAME, MHP_NID_IS_MGID), 0);
    assert.equal(k.hotplug.offlineAndDepopulateMemory(mgid, base, G), 0);
    k.auditor.audit();
    // what v1's populate did: one arch_create_linear_mapping() of the joined run
    assert.equal(k.arch.archCreateLinearMapping(0, base, G, {}), 0);
    const f = k.auditor.audit();
    assert.deepEqual(kinds(f), ["leaf-across-add"]);
    assert.equal(f[0].start, "0x" + base.toString(16));
    assert.equal(f[0].size, "0x40000000");
    assert.match(
      f[0].detail,
      /pud leaf made by arch_create_linear_mapping\(\).*crosses the ranges of 2 adds/,
    );
  });

  it("x86_64: not for v2's per-block populate, nor for one add mapped with a 1 GiB leaf", () => {
    const { k, base } = boot("x86_64");
    const mgid = driverGroup(k);
    for (const s of [base, base + 512 * M])
      assert.equal(k.hotplug.addMemoryDriverManaged(mgid, s, 512 * M, DM_NAME, MHP_NID_IS_MGID), 0);
    assert.equal(k.hotplug.offlineAndDepopulateMemory(mgid, base, G), 0);
    assert.equal(k.hotplug.populateAndOnlineMemory(mgid, base, G, MMOP_OFFLINE), 0);
    assert.deepEqual(k.auditor.audit(), []);
    addDriverManaged(k, base + G, G, MHP_NONE, false); // 1 GiB aligned: one 1G page, inside its add
    assert.deepEqual(k.auditor.audit(), []);
  });
});

describe("leaf-split", () => {
  it("x86_64 stock: flagged for part of a 1 GiB page, not for the whole of it", () => {
    const k = Kernel.boot({ arch: "x86_64", memBytes: 256 * M, maxmemBytes: 2304 * M, seed: 7 });
    const base = k.board.deviceMemoryBase;
    assert.equal(k.hotplug.addMemory(0, base, G, MHP_NONE), 0);
    assert.equal(k.hotplug.addMemory(0, base + G, G, MHP_NONE), 0);
    assert.equal(k.hotplug.removeMemory(base + G, G), 0);
    assert.deepEqual(k.auditor.audit(), [], "the whole leaf");
    assert.equal(k.hotplug.removeMemory(base, BLOCK), 0);
    assert.deepEqual(kinds(k.auditor.audit()), ["leaf-split"]);
  });
});

for (const arch of ARCHES) {
  describe(`${arch}: dirty-cache and crash-dump`, () => {
    const dmOf = (base: number) => (arch === "x86_64" ? base + BLOCK : base);

    it("offline only: powered off with dirty lines, and a crash dump would read it", () => {
      const { k, base } = boot(arch);
      const dm = dmOf(base);
      addDriverManaged(k, dm, 2 * BLOCK);
      k.runWorkload(5, { intensity: "64" });
      offlineRange(k, dm, 2 * BLOCK);
      hwOff(k, dm, 2 * BLOCK);
      const f = k.auditor.audit();
      assert.deepEqual(
        of(f, "dirty-cache").map((x) => [x.start, x.size]),
        [["0x" + dm.toString(16), "0x" + (2 * BLOCK).toString(16)]],
      );
      assert.match(of(f, "dirty-cache")[0].detail, /written since the last clean/);
      assert.equal(Number(of(f, "crash-dump")[0].size), 2 * BLOCK);
      // the state finding stays while it is off; the power-off event was reported once
      assert.deepEqual(kinds(k.auditor.audit()), ["crash-dump", "linear-map"]);
      hwOn(k, dm, 2 * BLOCK);
      assert.deepEqual(k.auditor.audit(), []);
    });

    it("RFC v2: neither (cleaned, PageOffline); memory never onlined has no dirty line", () => {
      const { k, base } = boot(arch);
      const dm = dmOf(base);
      addDriverManaged(k, dm, 2 * BLOCK);
      const mgid = driverGroup(k);
      assert.equal(k.hotplug.offlineAndDepopulateMemory(mgid, dm, 2 * BLOCK), 0);
      hwOff(k, dm, 2 * BLOCK);
      assert.deepEqual(k.auditor.audit(), []);
      hwOn(k, dm, 2 * BLOCK);
      // never onlined: no dirty line, but System RAM that is not PageOffline
      const fresh = dm + 4 * BLOCK;
      addDriverManaged(k, fresh, BLOCK, MHP_NONE, false);
      hwOff(k, fresh, BLOCK);
      assert.deepEqual(kinds(k.auditor.audit()), ["crash-dump", "linear-map"]);
    });

    it("written again after a populate + online: dirty again until the next depopulate", () => {
      const { k, base } = boot(arch);
      const dm = dmOf(base);
      addDriverManaged(k, dm, BLOCK);
      const mgid = driverGroup(k);
      assert.equal(k.hotplug.offlineAndDepopulateMemory(mgid, dm, BLOCK), 0);
      assert.deepEqual(k.hw.cache.dirtyIn(dm / 4096, BLOCK / 4096), []);
      assert.equal(k.hotplug.populateAndOnlineMemory(mgid, dm, BLOCK, 3), 0);
      assert.equal(k.hw.cache.dirtyIn(dm / 4096, BLOCK / 4096).length, 1, "online: may be written");
      offlineRange(k, dm, BLOCK);
      hwOff(k, dm, BLOCK);
      assert.equal(of(k.auditor.audit(), "dirty-cache").length, 1, "offline does not clean");
    });

    it("remove + add: no crash-dump (not System RAM any more), but dirty lines: removal cleans nothing", () => {
      const { k, base } = boot(arch);
      const dm = dmOf(base);
      addDriverManaged(k, dm, 2 * BLOCK);
      const r = createStrategy(k, "remove").powerDown(dm, 2 * BLOCK);
      assert.equal(r.err, 0);
      assert.deepEqual(kinds(k.auditor.audit()), ["dirty-cache"]);
    });

    it("fake-offline: PageOffline pages are skipped by dumps (no crash-dump), but still mapped and dirty", () => {
      const { k, base } = boot(arch);
      const dm = dmOf(base);
      addDriverManaged(k, dm, BLOCK);
      assert.equal(createStrategy(k, "fake-offline").powerDown(dm, BLOCK).err, 0);
      assert.deepEqual(kinds(k.auditor.audit()), ["dirty-cache", "linear-map"]);
    });
  });
}
