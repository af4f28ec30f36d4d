// The RFC's API on the model: populate_range_driver_managed() /
// depopulate_range_driver_managed() (docs/rfc.md). What depopulate removes (the
// linear map of the range) and what it keeps (memmap, sections, block devices,
// resources), the refusals and their errnos, double calls, removal of a
// depopulated range, rollback of a failing populate, on both architectures.

import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { describe, it } from "node:test";
import { EBUSY, EINVAL, ENOMEM, EOPNOTSUPP } from "../src/errno.js";
import { LockError } from "../src/drivers/base/core.js";
import type { Kernel } from "../src/kernel/kernel.js";
import type { WorkKey } from "../src/kernel/work.js";
import { MHP_MEMMAP_ON_MEMORY, MHP_NONE } from "../src/mm/memory_hotplug.js";
import { PS_PGTABLE, PS_UNINIT } from "../src/mm/memmap.js";
import { packagePath } from "../src/paths.js";
import { parseScenario } from "../src/scenario/parse.js";
import { runScenario } from "../src/scenario/run.js";
import {
  ARCHES,
  BLOCK,
  G,
  M,
  addDriverManaged,
  assertInvariants,
  blockIds,
  boot,
  hwOff,
  hwOn,
  linearRuns,
  offlineRange,
  onlineRange,
  setState,
  stateOf,
  vmemmapRuns,
} from "./support/rfc-machine.js";

/**
 * Driver-managed memory that the linear map covers with pages no larger than
 * 2 MiB (so a block can be unmapped alone): arm64 (rodata=full) maps page by
 * page; x86_64 uses 1 GiB pages where a range is 1 GiB aligned, so its test
 * memory starts 128 MiB past a 1 GiB boundary.
 */
function dmStart(arch: string, base: number): number {
  return arch === "x86_64" ? base + BLOCK : base;
}
const DM_SIZE = 512 * M;

const read = (k: Kernel, path: string): string => k.kernfs.read(path) as string;
const ls = (k: Kernel, path: string): string[] => k.kernfs.list(path) as string[];
const phaseCount = (k: Kernel, phase: string, key: WorkKey): number => k.work.byPhase.get(phase)?.[key] ?? 0;

for (const arch of ARCHES) {
  describe(`${arch}: depopulate + populate`, () => {
    it("after depopulate no linear-map leaf covers the range; memmap, block devices and /proc/iomem are unchanged", () => {
      const { k, base } = boot(arch);
      const dm = dmStart(arch, base);
      addDriverManaged(k, dm, DM_SIZE);
      k.runWorkload(20, { intensity: "256" });
      const r = dm + BLOCK;
      const n = 2 * BLOCK;
      const memTotal = k.alloc.totalramPages;
      offlineRange(k, r, n);
      const before = {
        linear: linearRuns(k, r, n),
        vmemmap: vmemmapRuns(k, r, n),
        iomem: read(k, "/proc/iomem"),
        blocks: ls(k, "/sys/devices/system/memory"),
        tables: k.arch.pgtable.tablePages(),
      };
      assert.notDeepEqual(before.linear, [], "the offline range is still mapped before depopulate");

      assert.equal(k.hotplug.depopulateRangeDriverManaged(r, n), 0);
      assert.deepEqual(linearRuns(k, r, n), []);
      assert.notDeepEqual(linearRuns(k, dm, BLOCK), [], "the block before the range keeps its mapping");
      assert.notDeepEqual(linearRuns(k, r + n, BLOCK), [], "the block after the range keeps its mapping");
      assert.deepEqual(vmemmapRuns(k, r, n), before.vmemmap, "the memmap stays mapped");
      for (let pfn = r / 4096; pfn < (r + n) / 4096; pfn += 32768) {
        assert.ok(k.sparse.validSectionNr(pfn / 32768), "the section keeps its memmap");
        assert.ok(k.memmap.hasPage(pfn));
      }
      assert.deepEqual(ls(k, "/sys/devices/system/memory"), before.blocks);
      for (const id of blockIds(r, n)) assert.equal(stateOf(k, id), "offline");
      assert.equal(read(k, "/proc/iomem"), before.iomem);
      const hex = (x: number) => "0x" + x.toString(16);
      assert.equal(
        read(k, "/sys/kernel/debug/memhp/depopulated"),
        blockIds(r, n)
          .map((id) => `memory${id} ${hex(id * BLOCK)}-${hex((id + 1) * BLOCK - 1)}\n`)
          .join(""),
      );
      assertInvariants(k);

      // Power it down: nothing maps it and nothing touches it, even with the workload running.
      hwOff(k, r, n);
      assert.deepEqual(k.auditor.audit(), []);
      k.runWorkload(10, { intensity: "256" });
      assert.deepEqual(k.auditor.audit(), []);
      hwOn(k, r, n);

      // populate + online returns it to use.
      assert.equal(k.hotplug.populateRangeDriverManaged(r, n), 0);
      assert.deepEqual(linearRuns(k, r, n), before.linear);
      assert.equal(k.arch.pgtable.tablePages(), before.tables, "the tables freed by depopulate are back");
      assert.equal(read(k, "/sys/kernel/debug/memhp/depopulated"), "");
      onlineRange(k, r, n);
      for (const id of blockIds(r, n)) assert.equal(stateOf(k, id), "online");
      assert.equal(k.alloc.totalramPages, memTotal, "MemTotal is what it was");
      for (let pfn = r / 4096; pfn < (r + n) / 4096; pfn += 4096)
        assert.notEqual(k.memmap.state(pfn), PS_UNINIT, "every page is initialised again");
      k.runWorkload(10, { intensity: "256" });
      assertInvariants(k);
    });

    it("every refused call returns its errno and changes nothing", () => {
      const { k, base } = boot(arch);
      const dm = dmStart(arch, base);
      addDriverManaged(k, dm, DM_SIZE);
      // ordinary hot-added memory (add_memory(): "System RAM", not driver-managed)
      const plain = dm + DM_SIZE + BLOCK;
      assert.equal(k.hotplug.addMemory(0, plain, BLOCK, MHP_NONE), 0);
      const r = dm + BLOCK;
      offlineRange(k, r, 2 * BLOCK);
      const snap = () => ({
        linear: linearRuns(k, dm, DM_SIZE),
        depop: read(k, "/sys/kernel/debug/memhp/depopulated"),
        iomem: read(k, "/proc/iomem"),
      });
      const before = snap();
      const cases: Array<[string, () => number, number]> = [
        ["size 0", () => k.hotplug.depopulateRangeDriverManaged(r, 0), -EINVAL],
        ["start not block-aligned", () => k.hotplug.depopulateRangeDriverManaged(r + 4096, BLOCK), -EINVAL],
        [
          "size not a multiple of the block",
          () => k.hotplug.depopulateRangeDriverManaged(r, BLOCK / 2),
          -EINVAL,
        ],
        [
          "range past the added memory",
          () => k.hotplug.depopulateRangeDriverManaged(dm + DM_SIZE - BLOCK, 2 * BLOCK),
          -EINVAL,
        ],
        [
          "not driver-managed (add_memory)",
          () => k.hotplug.depopulateRangeDriverManaged(plain, BLOCK),
          -EINVAL,
        ],
        ["boot memory", () => k.hotplug.depopulateRangeDriverManaged(G, BLOCK), -EINVAL],
        ["partly online", () => k.hotplug.depopulateRangeDriverManaged(dm, 2 * BLOCK), -EBUSY],
        ["populate of an online block", () => k.hotplug.populateRangeDriverManaged(dm, BLOCK), -EBUSY],
        ["populate, not driver-managed", () => k.hotplug.populateRangeDriverManaged(plain, BLOCK), -EINVAL],
      ];
      for (const [what, call, errno] of cases) {
        assert.equal(call(), errno, what);
        assert.deepEqual(snap(), before, `${what}: nothing changed`);
        assertInvariants(k);
      }
      // Onlining a depopulated block: -EBUSY through both sysfs attributes.
      assert.equal(k.hotplug.depopulateRangeDriverManaged(r, BLOCK), 0);
      const id = r / BLOCK;
      assert.equal(setState(k, id, "online_movable"), -EBUSY);
      assert.equal(k.kernfs.write(`/sys/devices/system/memory/memory${id}/online`, "1"), -EBUSY);
      assert.equal(stateOf(k, id), "offline");
      assert.deepEqual(linearRuns(k, r, BLOCK), []);
      assertInvariants(k);
    });

    it("memmap_on_memory: the memmap lives in the range, so depopulate refuses with -EOPNOTSUPP", () => {
      const { k, base } = boot(arch, ["memory_hotplug.memmap_on_memory=1"]);
      const dm = dmStart(arch, base);
      addDriverManaged(k, dm, BLOCK, MHP_MEMMAP_ON_MEMORY, false);
      assert.ok(k.memory.findMemoryBlockById(dm / BLOCK)!.nrVmemmapPages > 0, "the block carries its memmap");
      const linear = linearRuns(k, dm, BLOCK);
      assert.equal(k.hotplug.depopulateRangeDriverManaged(dm, BLOCK), -EOPNOTSUPP);
      assert.deepEqual(linearRuns(k, dm, BLOCK), linear);
      assertInvariants(k);
    });

    it("a double call does nothing the second time; a range with depopulated blocks is completed", () => {
      const { k, base } = boot(arch);
      const dm = dmStart(arch, base);
      addDriverManaged(k, dm, DM_SIZE, MHP_NONE, false);
      const r = dm + BLOCK;
      assert.equal(k.hotplug.depopulateRangeDriverManaged(r, BLOCK), 0);
      let w = k.work.snapshot();
      assert.equal(k.hotplug.depopulateRangeDriverManaged(r, BLOCK), 0);
      assert.deepEqual(k.work.since(w), {}, "no page-table work, no TLB flush");
      // Two blocks, one of them already depopulated: only the other one is unmapped.
      w = k.work.snapshot();
      assert.equal(k.hotplug.depopulateRangeDriverManaged(r, 2 * BLOCK), 0);
      const cleared = k.work.since(w);
      assert.deepEqual(linearRuns(k, r, 2 * BLOCK), []);
      assert.equal(read(k, "/sys/kernel/debug/memhp/depopulated").split("\n").length - 1, 2);
      assertInvariants(k);
      assert.equal(k.hotplug.populateRangeDriverManaged(r, 2 * BLOCK), 0);
      w = k.work.snapshot();
      assert.equal(k.hotplug.populateRangeDriverManaged(r, 2 * BLOCK), 0);
      assert.deepEqual(k.work.since(w), {});
      // The one-block depopulate cleared as many leaf entries as one block has.
      const leafKey: WorkKey = arch === "arm64" ? "pteCleared" : "pmdCleared";
      assert.equal(cleared[leafKey], arch === "arm64" ? BLOCK / 4096 : BLOCK / (2 * M));
      assertInvariants(k);
    });

    it("removing a depopulated range works and tears no linear mapping down twice", () => {
      const { k, base } = boot(arch);
      const dm = dmStart(arch, base);
      addDriverManaged(k, dm, DM_SIZE, MHP_NONE, false);
      const leafKey: WorkKey = arch === "arm64" ? "pteCleared" : "pmdCleared";
      const perBlock = arch === "arm64" ? BLOCK / 4096 : BLOCK / (2 * M);
      const linearCleared = () => phaseCount(k, "arch_remove_memory", leafKey);
      const flushes = () =>
        phaseCount(k, "arch_remove_memory", "tlbFlushAll") +
        phaseCount(k, "arch_remove_memory", "tlbFlushRange") +
        phaseCount(k, "arch_remove_memory", "tlbFlushPage");
      // fully depopulated: arch_remove_memory() clears no linear-map entry and flushes nothing for it
      assert.equal(k.hotplug.depopulateRangeDriverManaged(dm, 2 * BLOCK), 0);
      let c = linearCleared();
      const f = flushes();
      assert.equal(k.hotplug.removeMemory(dm, 2 * BLOCK), 0);
      assert.equal(linearCleared() - c, 0);
      assert.equal(flushes() - f, 0);
      assert.equal(k.memory.findMemoryBlockById(dm / BLOCK), undefined, "the block devices are gone");
      assert.ok(
        !read(k, "/proc/iomem").includes(dm.toString(16).padStart(8, "0") + "-"),
        "the resource is released",
      );
      assertInvariants(k);
      // half depopulated: only the populated block's entries are cleared
      const r = dm + 2 * BLOCK;
      assert.equal(k.hotplug.depopulateRangeDriverManaged(r, BLOCK), 0);
      c = linearCleared();
      assert.equal(k.hotplug.offlineAndRemoveMemory(r, 2 * BLOCK), 0);
      assert.equal(linearCleared() - c, perBlock);
      assert.deepEqual(linearRuns(k, r, 2 * BLOCK), []);
      assertInvariants(k);
    });

    it("a page-table page that cannot be had fails populate with -ENOMEM and leaves the range depopulated", () => {
      const { k, base } = boot(arch);
      const dm = dmStart(arch, base);
      addDriverManaged(k, dm, DM_SIZE, MHP_NONE, false);
      assert.equal(k.hotplug.depopulateRangeDriverManaged(dm, DM_SIZE), 0);
      const tables = k.arch.pgtable.tablePages();
      const pgtablePages = () => k.pgdat.zones.reduce((n, z) => n + z.nrPages[PS_PGTABLE], 0);
      const held = pgtablePages();
      // the first table page fails; on arm64 also one in the middle of the mapping
      for (const nth of arch === "arm64" ? [1, 100] : [1]) {
        k.faults.add("pgtable", nth);
        assert.equal(
          k.hotplug.populateRangeDriverManaged(dm, DM_SIZE),
          -ENOMEM,
          `failure at table page ${nth}`,
        );
        k.faults.clear();
        assert.deepEqual(linearRuns(k, dm, DM_SIZE), []);
        assert.equal(k.arch.pgtable.tablePages(), tables, "no table page leaked");
        assert.equal(pgtablePages(), held, "no page-table page leaked");
        for (const id of blockIds(dm, DM_SIZE)) assert.ok(k.memory.findMemoryBlockById(id)!.depopulated);
        assertInvariants(k);
      }
      assert.equal(k.hotplug.populateRangeDriverManaged(dm, DM_SIZE), 0);
      assert.notDeepEqual(linearRuns(k, dm, DM_SIZE), []);
      assertInvariants(k);
    });

    it("takes device_hotplug_lock (it would deadlock under it) and releases both locks", () => {
      const { k, base } = boot(arch);
      const dm = dmStart(arch, base);
      addDriverManaged(k, dm, BLOCK, MHP_NONE, false);
      k.locks.lockDeviceHotplug("test");
      assert.throws(() => k.hotplug.depopulateRangeDriverManaged(dm, BLOCK), LockError);
      assert.throws(() => k.hotplug.populateRangeDriverManaged(dm, BLOCK), LockError);
      k.locks.unlockDeviceHotplug();
      assert.equal(k.hotplug.depopulateRangeDriverManaged(dm, BLOCK), 0);
      assert.ok(!k.locks.deviceHotplug.held && !k.locks.memHotplug.held);
      const before = k.locks.memHotplug.acquisitions;
      assert.equal(k.hotplug.populateRangeDriverManaged(dm, BLOCK), 0);
      assert.equal(
        k.locks.memHotplug.acquisitions - before,
        1,
        "mem_hotplug_lock around the page-table change",
      );
    });
  });
}

describe("a leaf mapping the range shares with memory outside it", () => {
  it("x86_64: a 1 GiB direct-map page: depopulating one block would split it: -EINVAL; the whole GiB is fine", () => {
    const { k, base } = boot("x86_64");
    addDriverManaged(k, base, G, MHP_NONE, false); // 4 GiB, 1 GiB aligned: one 1G page
    assert.equal(linearRuns(k, base, G)[0].level, "pud");
    assert.equal(k.hotplug.depopulateRangeDriverManaged(base + BLOCK, BLOCK), -EINVAL);
    assert.equal(linearRuns(k, base, G)[0].size, "0x40000000");
    assert.equal(k.hotplug.depopulateRangeDriverManaged(base, G), 0);
    assert.deepEqual(linearRuns(k, base, G), []);
    assertInvariants(k);
  });

  it("arm64 without rodata=full: a 1 GiB block mapping: -EINVAL for one block, fine for the whole GiB", () => {
    const { k, base } = boot("arm64", ["rodata=on"]);
    addDriverManaged(k, base, G, MHP_NONE, false);
    assert.equal(linearRuns(k, base, G)[0].level, "pud");
    assert.equal(k.hotplug.depopulateRangeDriverManaged(base, BLOCK), -EINVAL);
    assert.equal(k.hotplug.depopulateRangeDriverManaged(base, G), 0);
    assert.deepEqual(linearRuns(k, base, G), []);
    assert.equal(k.hotplug.populateRangeDriverManaged(base, G), 0);
    assert.equal(linearRuns(k, base, G)[0].level, "pud", "populate maps it the way arch_add_memory() did");
    assertInvariants(k);
  });
});

describe("scenarios/rfc", () => {
  const dir = packagePath("scenarios", "rfc");
  const files = readdirSync(dir).filter((f) => f.endsWith(".mhp"));
  it("has scenarios for both architectures", () => {
    assert.ok(files.some((f) => f.startsWith("arm64-")));
    assert.ok(files.some((f) => f.startsWith("x86-")));
  });
  for (const f of files) {
    it(`${f} runs with every invariant checked after every statement; its # expect: lines hold`, () => {
      const text = readFileSync(`${dir}/${f}`, "utf8");
      const recs = runScenario(parseScenario(text, f), { checkInvariants: true }).records as Array<
        Record<string, unknown>
      >;
      // `# expect: RESULT` at the end of a statement line: its record's result (or clean audit).
      text.split("\n").forEach((ln, i) => {
        const m = /#\s*expect:\s*(\S+)/.exec(ln);
        if (!m || ln.trimStart().startsWith("#")) return;
        const rec = recs.find((r) => r.line === i + 1);
        assert.ok(rec, `${f}:${i + 1}: no record`);
        const got = rec.op === "audit" ? (rec.clean ? "clean" : "flagged") : rec.result;
        assert.equal(got, m[1], `${f}:${i + 1}: ${ln.trim()}`);
      });
    });
  }
});
