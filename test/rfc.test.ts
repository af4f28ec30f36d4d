// RFC v2 on the model (docs/rfc-v2.md): offline_and_depopulate_memory(mgid,
// start, size) / populate_and_online_memory(mgid, start, size, online_type).
// What depopulate removes (the linear map) and keeps (memmap, sections, block
// devices, resources); every errno in the contract's order (the refusal
// reason tells apart checks that share an errno); every rollback (fault
// injection and notifier vetoes); the skip rules; the owner check; the lock
// held from the first check to the end; removal; try_remove_memory()'s v2
// refusal; and scenarios/rfc with every invariant checked after every statement.

import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { describe, it } from "node:test";
import { EBUSY, EHWPOISON, EINVAL, ENOMEM, EOPNOTSUPP } from "../src/errno.js";
import { LockError } from "../src/drivers/base/core.js";
import {
  MEM_GOING_OFFLINE,
  MEM_GOING_ONLINE,
  MMOP_OFFLINE,
  MMOP_ONLINE_KERNEL,
  MMOP_ONLINE_MOVABLE,
} from "../src/drivers/base/memory.js";
import { Kernel } from "../src/kernel/kernel.js";
import type { WorkKey } from "../src/kernel/work.js";
import {
  CACHE_LINE_SIZE,
  MHP_MEMMAP_ON_MEMORY,
  MHP_NID_IS_MGID,
  MHP_NONE,
} from "../src/mm/memory_hotplug.js";
import { PS_PGTABLE, PS_UNINIT } from "../src/mm/memmap.js";
import { packagePath } from "../src/paths.js";
import { parseScenario } from "../src/scenario/parse.js";
import { runScenario } from "../src/scenario/run.js";
import {
  ARCHES,
  BLOCK,
  DM_NAME,
  G,
  M,
  addDriverManaged,
  assertInvariants,
  blockIds,
  boot,
  driverGroup,
  hwOff,
  hwOn,
  linearRuns,
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
const hex = (x: number) => "0x" + x.toString(16);
const zoneOf = (k: Kernel, id: number) =>
  read(k, `/sys/devices/system/memory/memory${id}/valid_zones`).trim();

/** A second driver: its own static group, its own memory. mgid. */
function otherDriver(k: Kernel, start: number, size: number): number {
  const mgid = k.memory.memoryGroupRegisterStatic(0, size / 4096);
  assert.equal(k.hotplug.addMemoryDriverManaged(mgid, start, size, "System RAM (other)", MHP_NID_IS_MGID), 0);
  return mgid;
}

for (const arch of ARCHES) {
  describe(`${arch}: offline_and_depopulate_memory + populate_and_online_memory`, () => {
    it("depopulate offlines and unmaps in one call; memmap, devices and resources stay; populate+online brings it back", () => {
      const { k, base } = boot(arch);
      const dm = dmStart(arch, base);
      addDriverManaged(k, dm, DM_SIZE);
      const mgid = driverGroup(k);
      k.runWorkload(20, { intensity: "256" });
      const r = dm + BLOCK;
      const n = 2 * BLOCK;
      const memTotal = k.alloc.totalramPages;
      const before = {
        linear: linearRuns(k, r, n),
        vmemmap: vmemmapRuns(k, r, n),
        iomem: read(k, "/proc/iomem"),
        blocks: ls(k, "/sys/devices/system/memory"),
        tables: k.arch.pgtable.tablePages(),
      };
      assert.notDeepEqual(before.linear, []);
      for (const id of blockIds(r, n)) assert.equal(stateOf(k, id), "online", "online before the call");

      const w = k.work.snapshot();
      assert.equal(k.hotplug.offlineAndDepopulateMemory(mgid, r, n), 0);
      const work = k.work.since(w);
      assert.deepEqual(linearRuns(k, r, n), []);
      assert.notDeepEqual(linearRuns(k, dm, BLOCK), [], "the block before the range keeps its mapping");
      assert.notDeepEqual(linearRuns(k, r + n, BLOCK), [], "the block after the range keeps its mapping");
      assert.deepEqual(vmemmapRuns(k, r, n), before.vmemmap, "the memmap stays mapped");
      assert.deepEqual(ls(k, "/sys/devices/system/memory"), before.blocks);
      for (const id of blockIds(r, n)) {
        assert.equal(stateOf(k, id), "offline");
        assert.equal(zoneOf(k, id), "none", "valid_zones of a depopulated block");
      }
      assert.equal(read(k, "/proc/iomem"), before.iomem);
      assert.equal(
        read(k, "/sys/kernel/debug/memhp/depopulated"),
        blockIds(r, n)
          .map((id) => `memory${id} ${hex(id * BLOCK)}-${hex((id + 1) * BLOCK - 1)}\n`)
          .join(""),
      );
      // the clean, PageOffline, memblock nomap / pfn_mapped, and what they cost
      for (const pfn of [r / 4096, (r + n) / 4096 - 1]) {
        assert.ok(k.hotplug.isPageOffline(pfn), "PageOffline while depopulated");
        assert.ok(!k.hotplug.pfnIsMapMemory(pfn), "nomap / not in pfn_mapped");
      }
      assert.ok(!k.hotplug.isPageOffline(dm / 4096) && k.hotplug.pfnIsMapMemory(dm / 4096));
      assert.deepEqual(k.hw.cache.dirtyIn(r / 4096, n / 4096), [], "no dirty line left over the range");
      assert.equal(work.cacheLinesCleaned, n / CACHE_LINE_SIZE);
      assert.equal(work.pagesMarkedOffline, n / 4096);
      assertInvariants(k);

      // Power it down: nothing maps it, nothing touches it, no dirty line, no crash-dump read.
      hwOff(k, r, n);
      assert.deepEqual(k.auditor.audit(), []);
      k.runWorkload(10, { intensity: "256" });
      assert.deepEqual(k.auditor.audit(), []);
      hwOn(k, r, n);

      assert.equal(k.hotplug.populateAndOnlineMemory(mgid, r, n, MMOP_ONLINE_MOVABLE), 0);
      assert.deepEqual(
        linearRuns(k, r, n),
        before.linear,
        "per block, with the leaves arch_add_memory() used",
      );
      assert.equal(k.arch.pgtable.tablePages(), before.tables, "the tables freed by depopulate are back");
      assert.equal(read(k, "/sys/kernel/debug/memhp/depopulated"), "");
      for (const id of blockIds(r, n)) assert.equal(stateOf(k, id), "online");
      assert.ok(!k.hotplug.isPageOffline(r / 4096) && k.hotplug.pfnIsMapMemory(r / 4096));
      assert.equal(k.alloc.totalramPages, memTotal, "MemTotal is what it was");
      for (let pfn = r / 4096; pfn < (r + n) / 4096; pfn += 4096)
        assert.notEqual(k.memmap.state(pfn), PS_UNINIT, "every page is initialised again");
      k.runWorkload(10, { intensity: "256" });
      assertInvariants(k);
    });

    it("refuses in the contract's order: each refusal's errno and reason, nothing changed", () => {
      const { k, base } = boot(arch, ["memory_hotplug.memmap_on_memory=1"]);
      const dm = dmStart(arch, base);
      addDriverManaged(k, dm, DM_SIZE, MHP_NONE, false);
      const mgid = driverGroup(k);
      // the same group, but add_memory() ("System RAM", not driver-managed)
      const plain = dm + DM_SIZE + BLOCK;
      assert.equal(k.hotplug.addMemory(mgid, plain, BLOCK, MHP_NID_IS_MGID), 0);
      // the same group, driver-managed, memmap on memory
      const mom = plain + BLOCK;
      assert.equal(
        k.hotplug.addMemoryDriverManaged(mgid, mom, BLOCK, DM_NAME, MHP_NID_IS_MGID | MHP_MEMMAP_ON_MEMORY),
        0,
      );
      // another driver's memory
      const other = mom + 2 * BLOCK;
      const otherMgid = otherDriver(k, other, BLOCK);
      const snap = () => ({
        linear: linearRuns(k, dm, 4 * G),
        depop: read(k, "/sys/kernel/debug/memhp/depopulated"),
        iomem: read(k, "/proc/iomem"),
        states: blockIds(dm, DM_SIZE).map((id) => stateOf(k, id)),
      });
      const before = snap();
      const D =
        (s: number, n: number, g = mgid) =>
        () =>
          k.hotplug.offlineAndDepopulateMemory(g, s, n);
      const P =
        (s: number, n: number, g = mgid, t = MMOP_OFFLINE) =>
        () =>
          k.hotplug.populateAndOnlineMemory(g, s, n, t);
      // [what, call, errno, a word of the reason]; several checks fail at once
      // where possible: the earlier one must decide
      const cases: Array<[string, () => number, number, RegExp]> = [
        ["1: size 0 (with no such group)", D(dm, 0, 99), -EINVAL, /aligned/],
        ["1: start unaligned (with no such group)", D(dm + 4096, BLOCK, 99), -EINVAL, /aligned/],
        ["1: size not a multiple of the block", D(dm, BLOCK / 2), -EINVAL, /aligned/],
        [
          "2: no such group (with a missing block)",
          D(dm + DM_SIZE, BLOCK, 99),
          -EINVAL,
          /group 99 does not exist/,
        ],
        ["3: a block missing (with a foreign block)", D(other, 2 * BLOCK), -EINVAL, /does not exist/],
        ["4: another group's block", D(other, BLOCK), -EINVAL, /not in memory group/],
        ["4: boot memory (no group)", D(G, BLOCK), -EINVAL, /not in memory group/],
        ["4: our memory, their mgid", D(dm, BLOCK, otherMgid), -EINVAL, /not in memory group/],
        ["5: not driver-managed", D(plain, BLOCK), -EINVAL, /driver-managed/],
        ["5: not driver-managed (with a memmap block)", D(plain, 2 * BLOCK), -EINVAL, /driver-managed/],
        ["6: memmap in the range", D(mom, BLOCK), -EOPNOTSUPP, /memmap/],
        ["populate 1: bad online type (with no such group)", P(dm, BLOCK, 99, 7), -EINVAL, /online type/],
        ["populate 1: unaligned", P(dm + 4096, BLOCK), -EINVAL, /aligned/],
        ["populate 2: no such group", P(dm, BLOCK, 99), -EINVAL, /does not exist/],
        ["populate 3: a block missing", P(dm + DM_SIZE, BLOCK), -EINVAL, /does not exist/],
        ["populate 4: another group's block", P(other, BLOCK), -EINVAL, /not in memory group/],
        ["populate 5: not driver-managed", P(plain, BLOCK), -EINVAL, /driver-managed/],
      ];
      for (const [what, call, errno, why] of cases) {
        assert.equal(call(), errno, what);
        assert.match(k.hotplug.lastRefusal ?? "", why, what);
        assert.deepEqual(snap(), before, `${what}: nothing changed`);
        assertInvariants(k);
      }
    });

    it("offline failure (a notifier's veto on the second block): the first block is onlined again with its type", () => {
      const { k, base } = boot(arch);
      const dm = dmStart(arch, base);
      addDriverManaged(k, dm, DM_SIZE, MHP_NONE, false);
      const mgid = driverGroup(k);
      const [b0, b1] = blockIds(dm, 2 * BLOCK);
      assert.equal(setState(k, b0, "online_kernel"), 0);
      assert.equal(setState(k, b1, "online_movable"), 0);
      const zones = [zoneOf(k, b0), zoneOf(k, b1)];
      const vetoPfn = (dm + BLOCK) / 4096;
      k.memory.registerMemoryNotifier("veto", (action, arg) =>
        action === MEM_GOING_OFFLINE && arg.startPfn === vetoPfn ? -EBUSY : 0,
      );
      const linear = linearRuns(k, dm, 2 * BLOCK);
      assert.equal(k.hotplug.offlineAndDepopulateMemory(mgid, dm, 2 * BLOCK), -EBUSY);
      assert.match(k.hotplug.lastRefusal ?? "", new RegExp(`memory${b1}`));
      assert.equal(stateOf(k, b0), "online", "re-onlined");
      assert.equal(stateOf(k, b1), "online");
      assert.deepEqual([zoneOf(k, b0), zoneOf(k, b1)], zones, "with the type it had");
      assert.deepEqual(linearRuns(k, dm, 2 * BLOCK), linear, "nothing unmapped");
      assert.equal(read(k, "/sys/kernel/debug/memhp/depopulated"), "");
      assertInvariants(k);
      k.memory.unregisterMemoryNotifier("veto");
      assert.equal(k.hotplug.offlineAndDepopulateMemory(mgid, dm, 2 * BLOCK), 0);
      assert.equal(
        k.hotplug.populateAndOnlineMemory(mgid, dm, 2 * BLOCK, MMOP_ONLINE_KERNEL),
        0,
        "the type is the caller's on the way back",
      );
      assertInvariants(k);
    });

    it("populate: -ENOMEM mapping the second block depopulates the first again; nothing leaks", () => {
      const { k, base } = boot(arch);
      const dm = dmStart(arch, base);
      addDriverManaged(k, dm, DM_SIZE, MHP_NONE, false);
      const mgid = driverGroup(k);
      assert.equal(k.hotplug.offlineAndDepopulateMemory(mgid, dm, DM_SIZE), 0);
      const tables = k.arch.pgtable.tablePages();
      const pgtablePages = () => k.pgdat.zones.reduce((n, z) => n + z.nrPages[PS_PGTABLE], 0);
      const held = pgtablePages();
      // a table page of the first block (arm64 and x86), one later on (arm64: many tables per block)
      for (const nth of arch === "arm64" ? [1, 100] : [1]) {
        k.faults.add("pgtable", nth);
        assert.equal(
          k.hotplug.populateAndOnlineMemory(mgid, dm, DM_SIZE, MMOP_ONLINE_MOVABLE),
          -ENOMEM,
          `nth ${nth}`,
        );
        k.faults.clear();
        assert.deepEqual(linearRuns(k, dm, DM_SIZE), []);
        assert.equal(k.arch.pgtable.tablePages(), tables, "no table page leaked");
        assert.equal(pgtablePages(), held, "no page-table page leaked");
        for (const id of blockIds(dm, DM_SIZE)) {
          assert.ok(k.memory.findMemoryBlockById(id)!.depopulated);
          assert.equal(stateOf(k, id), "offline");
        }
        assertInvariants(k);
      }
      assert.equal(k.hotplug.populateAndOnlineMemory(mgid, dm, DM_SIZE, MMOP_ONLINE_MOVABLE), 0);
      assertInvariants(k);
    });

    it("populate: a veto onlining the third block offlines the two onlined and depopulates all again", () => {
      const { k, base } = boot(arch);
      const dm = dmStart(arch, base);
      addDriverManaged(k, dm, DM_SIZE);
      const mgid = driverGroup(k);
      assert.equal(k.hotplug.offlineAndDepopulateMemory(mgid, dm, DM_SIZE), 0);
      const vetoPfn = (dm + 2 * BLOCK) / 4096;
      k.memory.registerMemoryNotifier("veto", (action, arg) =>
        action === MEM_GOING_ONLINE && arg.startPfn === vetoPfn ? -ENOMEM : 0,
      );
      const totalram = k.alloc.totalramPages;
      const w = k.work.snapshot();
      assert.equal(k.hotplug.populateAndOnlineMemory(mgid, dm, DM_SIZE, MMOP_ONLINE_MOVABLE), -ENOMEM);
      assert.ok((k.work.since(w).pagesToBuddy ?? 0) > 0, "two blocks were onlined before the veto");
      assert.equal(k.alloc.totalramPages, totalram);
      assert.deepEqual(linearRuns(k, dm, DM_SIZE), []);
      for (const id of blockIds(dm, DM_SIZE)) {
        assert.equal(stateOf(k, id), "offline");
        assert.ok(k.memory.findMemoryBlockById(id)!.depopulated);
      }
      assert.deepEqual(k.hw.cache.dirtyIn(dm / 4096, DM_SIZE / 4096), [], "cleaned again after the online");
      assertInvariants(k);
      k.memory.unregisterMemoryNotifier("veto");
      assert.equal(k.hotplug.populateAndOnlineMemory(mgid, dm, DM_SIZE, MMOP_ONLINE_MOVABLE), 0);
      assertInvariants(k);
    });

    it("populate: a block the rollback cannot offline again stays online and mapped, with a warning", () => {
      const { k, base } = boot(arch);
      const dm = dmStart(arch, base);
      addDriverManaged(k, dm, DM_SIZE);
      const mgid = driverGroup(k);
      assert.equal(k.hotplug.offlineAndDepopulateMemory(mgid, dm, DM_SIZE), 0);
      const first = dm / 4096;
      const third = (dm + 2 * BLOCK) / 4096;
      // onlining the third block is vetoed; the first, onlined by the call, then refuses to go offline
      // (on the kernel: unmovable pages in a kernel zone)
      k.memory.registerMemoryNotifier("veto", (action, arg) =>
        (action === MEM_GOING_ONLINE && arg.startPfn === third) ||
        (action === MEM_GOING_OFFLINE && arg.startPfn === first)
          ? -EBUSY
          : 0,
      );
      const seq = k.printk.begin();
      assert.equal(k.hotplug.populateAndOnlineMemory(mgid, dm, DM_SIZE, MMOP_ONLINE_KERNEL), -EBUSY);
      const [b0, b1, ...rest] = blockIds(dm, DM_SIZE);
      assert.equal(stateOf(k, b0), "online");
      assert.ok(!k.memory.findMemoryBlockById(b0)!.depopulated, "online memory is never unmapped");
      assert.deepEqual(linearRuns(k, dm, BLOCK).length > 0, true, "the stuck block keeps its mapping");
      assert.equal(stateOf(k, b1), "offline");
      for (const id of [b1, ...rest]) assert.ok(k.memory.findMemoryBlockById(id)!.depopulated);
      assert.match(
        k.printk
          .since(seq)
          .map((r) => r.text)
          .join("\n"),
        new RegExp(`memory${b0}: cannot restore its state: -16`),
      );
      assertInvariants(k);
      k.memory.unregisterMemoryNotifier("veto");
    });

    it("-EHWPOISON: a depopulated block with a poisoned page stays depopulated until removed", () => {
      const { k, base } = boot(arch);
      const dm = dmStart(arch, base);
      addDriverManaged(k, dm, 2 * BLOCK);
      const mgid = driverGroup(k);
      const bad = (dm + BLOCK + 5 * 4096) / 4096;
      assert.equal(k.memoryFailure.memoryFailure(bad), 0);
      assert.equal(k.memoryFailure.memoryFailure(bad), -EHWPOISON, "poisoned before: counted once");
      assert.equal(k.memory.findMemoryBlockById((dm + BLOCK) / BLOCK)!.nrHwpoison, 1);
      assert.equal(k.hotplug.offlineAndDepopulateMemory(mgid, dm, 2 * BLOCK), 0);
      assert.equal(k.memoryFailure.memoryFailure(bad), -6, "offline memory: outside kernel control (-ENXIO)");
      // the group check comes first
      assert.equal(k.hotplug.populateAndOnlineMemory(99, dm, 2 * BLOCK, MMOP_OFFLINE), -EINVAL);
      assert.equal(k.hotplug.populateAndOnlineMemory(mgid, dm, 2 * BLOCK, MMOP_OFFLINE), -EHWPOISON);
      assert.deepEqual(linearRuns(k, dm, 2 * BLOCK), [], "nothing mapped, not even the clean block");
      // the clean block alone can come back
      assert.equal(k.hotplug.populateAndOnlineMemory(mgid, dm, BLOCK, MMOP_ONLINE_MOVABLE), 0);
      assert.equal(k.hotplug.populateAndOnlineMemory(mgid, dm + BLOCK, BLOCK, MMOP_OFFLINE), -EHWPOISON);
      assertInvariants(k);
      assert.equal(k.hotplug.removeMemory(dm + BLOCK, BLOCK), 0, "removal is the way out");
      assert.ok(!k.memoryFailure.isPoisoned(bad));
      assertInvariants(k);
    });

    it("skip rules: a second call does no page-table work; a mixed range is completed", () => {
      const { k, base } = boot(arch);
      const dm = dmStart(arch, base);
      addDriverManaged(k, dm, DM_SIZE);
      const mgid = driverGroup(k);
      const r = dm + BLOCK;
      assert.equal(k.hotplug.offlineAndDepopulateMemory(mgid, r, BLOCK), 0);
      const leafKey: WorkKey = arch === "arm64" ? "pteCleared" : "pmdCleared";
      const tlb: WorkKey[] = ["tlbFlushAll", "tlbFlushRange", "tlbFlushPage"];
      let w = k.work.snapshot();
      assert.equal(k.hotplug.offlineAndDepopulateMemory(mgid, r, BLOCK), 0);
      let d = k.work.since(w);
      assert.equal(d[leafKey] ?? 0, 0, "no entry cleared");
      for (const t of tlb) assert.equal(d[t] ?? 0, 0, "no TLB flush");
      assert.equal(d.cacheLinesCleaned ?? 0, 0, "no clean");
      // the range of two blocks: memory(r) depopulated, memory(r+1) online: only the latter is offlined and unmapped
      w = k.work.snapshot();
      assert.equal(k.hotplug.offlineAndDepopulateMemory(mgid, r, 2 * BLOCK), 0);
      d = k.work.since(w);
      assert.equal(d[leafKey], arch === "arm64" ? BLOCK / 4096 : BLOCK / (2 * M));
      assert.equal(d.cacheLinesCleaned, BLOCK / CACHE_LINE_SIZE);
      assert.equal(read(k, "/sys/kernel/debug/memhp/depopulated").split("\n").length - 1, 2);
      assertInvariants(k);
      // populate: already-populated (and online) blocks are skipped, offline ones onlined
      assert.equal(k.hotplug.populateAndOnlineMemory(mgid, dm, 3 * BLOCK, MMOP_ONLINE_MOVABLE), 0);
      w = k.work.snapshot();
      assert.equal(k.hotplug.populateAndOnlineMemory(mgid, dm, 3 * BLOCK, MMOP_ONLINE_MOVABLE), 0);
      d = k.work.since(w);
      const written: WorkKey[] = ["pteWritten", "pmdWritten", "pudWritten"];
      for (const x of written) assert.equal(d[x] ?? 0, 0, "no page-table work the second time");
      assert.equal(d.pagesToBuddy ?? 0, 0, "nothing onlined again");
      assertInvariants(k);
    });

    it("the owner is the memory group: another driver's memory is refused both ways", () => {
      const { k, base } = boot(arch);
      const dm = dmStart(arch, base);
      addDriverManaged(k, dm, BLOCK);
      const mine = driverGroup(k);
      const theirs = otherDriver(k, dm + BLOCK, BLOCK);
      assert.equal(k.hotplug.offlineAndDepopulateMemory(mine, dm + BLOCK, BLOCK), -EINVAL);
      assert.equal(k.hotplug.offlineAndDepopulateMemory(theirs, dm, BLOCK), -EINVAL);
      assert.equal(k.hotplug.offlineAndDepopulateMemory(mine, dm, 2 * BLOCK), -EINVAL, "a range across both");
      assert.equal(stateOf(k, dm / BLOCK), "online", "untouched");
      assert.equal(k.hotplug.offlineAndDepopulateMemory(theirs, dm + BLOCK, BLOCK), 0);
      assert.equal(k.hotplug.populateAndOnlineMemory(mine, dm + BLOCK, BLOCK, MMOP_OFFLINE), -EINVAL);
      assert.ok(k.memory.findMemoryBlockById((dm + BLOCK) / BLOCK)!.depopulated);
      assertInvariants(k);
    });

    it("onlining a depopulated block: -EBUSY through both attributes, with the kernel's message", () => {
      const { k, base } = boot(arch);
      const dm = dmStart(arch, base);
      addDriverManaged(k, dm, BLOCK);
      assert.equal(k.hotplug.offlineAndDepopulateMemory(driverGroup(k), dm, BLOCK), 0);
      const id = dm / BLOCK;
      const acq = k.locks.memHotplug.acquisitions;
      assert.equal(setState(k, id, "online_movable"), -EBUSY);
      assert.equal(k.locks.memHotplug.acquisitions, acq + 1, "refused after mem_hotplug_begin()");
      assert.equal(
        k.memory.lastRefusal,
        `memory${id}: cannot online: linear map removed by offline_and_depopulate_memory()`,
      );
      assert.equal(k.kernfs.write(`/sys/devices/system/memory/memory${id}/online`, "1"), -EBUSY);
      assert.equal(stateOf(k, id), "offline");
      assert.equal(zoneOf(k, id), "none");
      assert.deepEqual(linearRuns(k, dm, BLOCK), []);
      assertInvariants(k);
    });

    it("removal of a (partly) depopulated range needs no special path: nothing is unmapped twice", () => {
      const { k, base } = boot(arch);
      const dm = dmStart(arch, base);
      addDriverManaged(k, dm, DM_SIZE, MHP_NONE, false);
      const mgid = driverGroup(k);
      const leafKey: WorkKey = arch === "arm64" ? "pteCleared" : "pmdCleared";
      const perBlock = arch === "arm64" ? BLOCK / 4096 : BLOCK / (2 * M);
      const linearCleared = () => phaseCount(k, "arch_remove_memory", leafKey);
      assert.equal(k.hotplug.offlineAndDepopulateMemory(mgid, dm, 2 * BLOCK), 0);
      let c = linearCleared();
      assert.equal(k.hotplug.removeMemory(dm, 2 * BLOCK), 0);
      assert.equal(linearCleared() - c, 0, "the walkers found nothing to clear");
      assert.equal(k.memory.findMemoryBlockById(dm / BLOCK), undefined, "the block devices are gone");
      assertInvariants(k);
      const r = dm + 2 * BLOCK;
      assert.equal(k.hotplug.offlineAndDepopulateMemory(mgid, r, BLOCK), 0);
      c = linearCleared();
      assert.equal(k.hotplug.offlineAndRemoveMemory(r, 2 * BLOCK), 0);
      assert.equal(linearCleared() - c, perBlock, "only the populated block's entries");
      assert.deepEqual(linearRuns(k, r, 2 * BLOCK), []);
      assertInvariants(k);
    });

    it("holds device_hotplug_lock from the first check to the end: nobody can online in between", () => {
      const { k, base } = boot(arch);
      const dm = dmStart(arch, base);
      addDriverManaged(k, dm, 2 * BLOCK);
      const mgid = driverGroup(k);
      // a caller that already holds it deadlocks (the model's lock refuses)
      k.locks.lockDeviceHotplug("test");
      assert.throws(() => k.hotplug.offlineAndDepopulateMemory(mgid, dm, BLOCK), LockError);
      assert.throws(() => k.hotplug.populateAndOnlineMemory(mgid, dm, BLOCK, MMOP_OFFLINE), LockError);
      k.locks.unlockDeviceHotplug();
      // During the offline of the first block (the window v1 left open), user
      // space tries to online the second block again, and the page-table step
      // (after the offlines) looks at the lock.
      const seen: string[] = [];
      k.memory.registerMemoryNotifier("racer", (action) => {
        if (action !== MEM_GOING_OFFLINE) return 0;
        seen.push(`held:${k.locks.deviceHotplug.held}`);
        // lock_device_hotplug_sysfs() is a trylock: the sysfs write restarts; it cannot get in
        seen.push(`trylock:${k.locks.deviceHotplug.tryLock("state_store")}`);
        return 0;
      });
      const remove = k.arch.archRemoveLinearMapping.bind(k.arch);
      Object.defineProperty(k.arch, "archRemoveLinearMapping", {
        configurable: true,
        value: (s: number, n: number) => {
          seen.push(`unmap:${k.locks.deviceHotplug.held}:${k.locks.memHotplug.held}`);
          remove(s, n);
        },
      });
      const acq = k.locks.deviceHotplug.acquisitions;
      assert.equal(k.hotplug.offlineAndDepopulateMemory(mgid, dm, 2 * BLOCK), 0);
      assert.equal(k.locks.deviceHotplug.acquisitions - acq, 1, "taken once: never dropped in between");
      assert.deepEqual(seen, ["held:true", "trylock:false", "held:true", "trylock:false", "unmap:true:true"]);
      assert.ok(!k.locks.deviceHotplug.held && !k.locks.memHotplug.held);
      Reflect.deleteProperty(k.arch, "archRemoveLinearMapping");
      k.memory.unregisterMemoryNotifier("racer");
      assertInvariants(k);
    });
  });
}

describe("linear-map leaves and the ranges of adds", () => {
  it("x86_64: a 1 GiB page: one block of it cannot be depopulated (-EINVAL); the GiB can, and comes back per block", () => {
    const { k, base } = boot("x86_64");
    addDriverManaged(k, base, G, MHP_NONE, false); // 4 GiB, 1 GiB aligned: one 1G page
    const mgid = driverGroup(k);
    assert.equal(linearRuns(k, base, G)[0].level, "pud");
    assert.equal(k.hotplug.offlineAndDepopulateMemory(mgid, base + BLOCK, BLOCK), -EINVAL);
    assert.match(k.hotplug.lastRefusal ?? "", /split/);
    assert.equal(k.hotplug.offlineAndDepopulateMemory(mgid, base, G), 0);
    assert.deepEqual(linearRuns(k, base, G), []);
    assert.equal(k.hotplug.populateAndOnlineMemory(mgid, base, G, MMOP_OFFLINE), 0);
    assert.ok(
      linearRuns(k, base, G).every((r) => r.level === "pmd"),
      "never a leaf across a memory block: 2M pages now",
    );
    assert.equal(k.hotplug.removeMemory(base, BLOCK), 0, "so one block can go alone now");
    assert.deepEqual(k.auditor.audit(), []);
    assertInvariants(k);
  });

  it("arm64 without rodata=full: a 1 GiB block: -EINVAL for one block; the GiB comes back per block", () => {
    const { k, base } = boot("arm64", ["rodata=on"]);
    addDriverManaged(k, base, G, MHP_NONE, false);
    const mgid = driverGroup(k);
    assert.equal(linearRuns(k, base, G)[0].level, "pud");
    assert.equal(k.hotplug.offlineAndDepopulateMemory(mgid, base, BLOCK), -EINVAL);
    assert.equal(k.hotplug.offlineAndDepopulateMemory(mgid, base, G), 0);
    assert.equal(k.hotplug.populateAndOnlineMemory(mgid, base, G, MMOP_ONLINE_MOVABLE), 0);
    assert.ok(
      linearRuns(k, base, G).every((r) => r.level !== "pud"),
      "no 1G block across the blocks",
    );
    assertInvariants(k);
  });

  for (const [arch, cmdline] of [
    ["x86_64", []],
    ["arm64", ["rodata=off"]],
  ] as const) {
    it(`${arch}${cmdline.length ? " " + cmdline[0] : ""}: the v1 crash: two adds in one GiB, depopulate+populate the GiB, remove one`, () => {
      const { k, base } = boot(arch, [...cmdline]);
      const mgid = driverGroup(k);
      for (const s of [base, base + DM_SIZE])
        assert.equal(k.hotplug.addMemoryDriverManaged(mgid, s, DM_SIZE, DM_NAME, MHP_NID_IS_MGID), 0);
      assert.equal(k.hotplug.offlineAndDepopulateMemory(mgid, base, G), 0);
      assert.equal(k.hotplug.populateAndOnlineMemory(mgid, base, G, MMOP_OFFLINE), 0);
      const second = (base + DM_SIZE) / BLOCK;
      onlineRange(k, base + DM_SIZE, DM_SIZE);
      assert.equal(k.hotplug.removeMemory(base, DM_SIZE), 0);
      assert.deepEqual(linearRuns(k, base, DM_SIZE), [], "removed memory is not mapped");
      for (const id of blockIds(base + DM_SIZE, DM_SIZE)) {
        assert.equal(stateOf(k, id), "online");
        assert.notDeepEqual(linearRuns(k, id * BLOCK, BLOCK), [], `online memory${id} is mapped`);
      }
      assert.ok(second > 0);
      assert.deepEqual(k.auditor.audit(), [], "no leaf across an add, no split removal");
      assertInvariants(k);
    });
  }
});

describe("try_remove_memory() and a leaf split", () => {
  function dimmMachine(rfc?: "v2"): { k: Kernel; base: number } {
    const k = Kernel.boot({ arch: "x86_64", memBytes: 256 * M, maxmemBytes: 1280 * M, seed: 7, rfc });
    const base = k.board.deviceMemoryBase;
    assert.equal(k.hotplug.addMemory(0, base, G, MHP_NONE), 0); // one 1G page
    return { k, base };
  }
  it("rfc=v2: removing one block of a 1 GiB page is refused (-EINVAL) before anything changes", () => {
    const { k, base } = dimmMachine("v2");
    const iomem = read(k, "/proc/iomem");
    assert.equal(k.hotplug.removeMemory(base, BLOCK), -EINVAL);
    assert.equal(read(k, "/proc/iomem"), iomem);
    assert.ok(k.memory.findMemoryBlockById(base / BLOCK));
    assert.deepEqual(k.auditor.audit(), []);
    assert.equal(k.hotplug.removeMemory(base, G), 0, "the whole leaf: fine");
    assertInvariants(k);
  });
  it("stock: the removal goes ahead; the auditor names the split leaf and the invariants see the left-over mapping", () => {
    const { k, base } = dimmMachine();
    assert.equal(k.hotplug.removeMemory(base, BLOCK), 0);
    const f = k.auditor.audit();
    assert.equal(f.length, 1);
    assert.equal(f[0].kind, "leaf-split");
    assert.match(f[0].detail, /splits a pud leaf/);
    assert.ok(k.checkInvariants().some((v) => /not present but mapped/.test(v)));
  });
});

/**
 * Each scenario of `dir` runs on the model with every invariant checked after
 * every statement, and each statement line ending in `# expect: RESULT` gets
 * that result (an audit: clean or flagged).
 */
function expectLinesHold(dir: string, f: string): void {
  const text = readFileSync(`${dir}/${f}`, "utf8");
  const recs = runScenario(parseScenario(text, f), { checkInvariants: true }).records as Array<
    Record<string, unknown>
  >;
  let checked = 0;
  text.split("\n").forEach((ln, i) => {
    const m = /#\s*expect:\s*(\S+)/.exec(ln);
    if (!m || ln.trimStart().startsWith("#")) return;
    const rec = recs.find((r) => r.line === i + 1);
    assert.ok(rec, `${f}:${i + 1}: no record`);
    const got = rec.op === "audit" ? (rec.clean ? "clean" : "flagged") : rec.result;
    assert.equal(got, m[1], `${f}:${i + 1}: ${ln.trim()}`);
    checked++;
  });
  assert.ok(checked > 0, `${f}: no # expect: line`);
}

describe("scenarios/rfc", () => {
  const dir = packagePath("scenarios", "rfc");
  const files = readdirSync(dir).filter((f) => f.endsWith(".mhp"));
  it("has scenarios for both architectures", () => {
    assert.ok(files.some((f) => f.startsWith("arm64-")));
    assert.ok(files.some((f) => f.startsWith("x86-")));
  });
  for (const f of files) {
    it(`${f} runs with every invariant checked after every statement; its # expect: lines hold`, () =>
      expectLinesHold(dir, f));
  }
});

// The RFC corpus (recorded on the patched kernel; test/corpus.test.ts holds the
// model to the traces) must also pass `memhp run --check` on the model: v1's
// crash scenario and its virtio-mem variants never leave online memory
// unmapped or removed memory mapped.
describe("scenarios/oracle-rfc on the model", () => {
  const dir = packagePath("scenarios", "oracle-rfc");
  const files = readdirSync(dir).filter((f) => f.endsWith(".mhp"));
  it("has v1's crash scenario and its virtio-mem variants on both architectures", () => {
    for (const name of [
      "x86-rfc-v1-crash",
      "arm64-rfc-v1-crash-rodata-off",
      "x86-rfc-vmem",
      "arm64-rfc-vmem",
      "arm64-rfc-vmem-rodata-off",
    ])
      assert.ok(files.includes(`${name}.mhp`), name);
  });
  for (const f of files) {
    it(`${f} runs with every invariant checked after every statement; its # expect: lines hold`, () =>
      expectLinesHold(dir, f));
  }
});
