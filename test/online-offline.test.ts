// Onlining and offlining memory blocks as Linux 6.1 does (mm/memory_hotplug.c:
// online_pages(), offline_pages(); drivers/base/memory.c: state_store()), driven
// through sysfs on a booted model, with every invariant checked after each step.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EBUSY, EINVAL, EPERM } from "../src/errno.js";
import { Kernel, type MachineConfig } from "../src/kernel/kernel.js";
import { MEM_GOING_OFFLINE, MEM_GOING_ONLINE } from "../src/drivers/base/memory.js";
import { PS_MOVABLE } from "../src/mm/memmap.js";
import { ZONE_MOVABLE, ZONE_NORMAL } from "../src/mm/mmzone.js";

const G = 2 ** 30;
const MEM = "/sys/devices/system/memory";

function boot(extra: Partial<MachineConfig> = {}): Kernel {
  return Kernel.boot({ arch: "x86_64", memBytes: G, maxmemBytes: 8 * G, ...extra });
}
function ok(k: Kernel): void {
  assert.deepEqual(k.checkInvariants(), []);
}
const read = (k: Kernel, p: string) => String(k.kernfs.read(p)).trimEnd();
const memTotalKb = (k: Kernel) =>
  Number(/MemTotal:\s+(\d+)/.exec(String(k.kernfs.read("/proc/meminfo")))?.[1]);
function write(k: Kernel, p: string, v: string): number {
  const r = k.kernfs.write(p, v);
  k.tick();
  ok(k);
  return r;
}

describe("online and offline through sysfs (x86_64, 1 GiB guest, 1 GiB DIMM at 4 GiB)", () => {
  it("online_movable: zone Movable, MemTotal +131072 kB; the kernel's refusals", () => {
    const k = boot();
    assert.equal(k.host.dimmAdd("d1", G).err, 0);
    const before = memTotalKb(k);
    assert.equal(write(k, `${MEM}/memory32/state`, "online_movable"), 0);
    assert.equal(read(k, `${MEM}/memory32/valid_zones`), "Movable");
    assert.equal(memTotalKb(k) - before, 131072);
    assert.equal(write(k, `${MEM}/memory32/state`, "online"), -EINVAL, "online on an online block");
    assert.equal(write(k, `${MEM}/memory32/state`, "bogus"), -EINVAL, "an unknown word");
    assert.equal(write(k, `${MEM}/memory0/state`, "offline"), -EINVAL, "memory0: holes and two zones");
    assert.equal(write(k, `${MEM}/memory32/state`, "offline"), 0);
    assert.equal(memTotalKb(k), before);
    assert.equal(k.pgdat.zones[ZONE_MOVABLE].spannedPages, 0, "the Movable zone shrinks back");
  });

  it("a block onlined to ZONE_NORMAL takes kernel allocations; offlining it fails with -EBUSY and rolls back", () => {
    const k = boot();
    assert.equal(k.host.dimmAdd("d1", G).err, 0);
    assert.equal(write(k, `${MEM}/memory33/state`, "online"), 0);
    assert.equal(read(k, `${MEM}/memory33/valid_zones`), "Normal");
    const total = memTotalKb(k);
    const managed = k.pgdat.zones[ZONE_NORMAL].managedPages;
    assert.equal(write(k, `${MEM}/memory33/state`, "offline"), -EBUSY);
    assert.equal(read(k, `${MEM}/memory33/state`), "online");
    assert.equal(memTotalKb(k), total);
    assert.equal(k.pgdat.zones[ZONE_NORMAL].managedPages, managed);
  });

  it("offline migrates the movable pages out of the block, counted exactly", () => {
    const k = boot();
    assert.equal(k.host.dimmAdd("d1", G).err, 0);
    assert.equal(write(k, `${MEM}/memory32/state`, "online_movable"), 0);
    // User pages come from the highest zone first: ZONE_MOVABLE, i.e. this block.
    assert.equal(
      k.runWorkload(40, { user: "100", kernel: "0", reclaimable: "0", pinned: "0", fill: "0.05" }),
      0,
    );
    ok(k);
    const start = 32 * 32768;
    let movable = 0;
    for (let pfn = start; pfn < start + 32768; pfn++) if (k.memmap.state(pfn) === PS_MOVABLE) movable++;
    assert.ok(movable > 1000, `the workload put user pages in the block (${movable})`);
    const before = k.work.snapshot();
    assert.equal(k.kernfs.write(`${MEM}/memory32/state`, "offline"), 0);
    const w = k.work.since(before);
    assert.equal(w.pagesMigrated, movable);
    assert.equal(w.bytesCopied, movable * 4096);
    ok(k);
  });

  it("a memory notifier can veto onlining and offlining; nothing is left half done", () => {
    const k = boot();
    assert.equal(k.host.dimmAdd("d1", G).err, 0);
    let veto = MEM_GOING_ONLINE;
    k.memory.registerMemoryNotifier("test-veto", (action) => (action === veto ? -EPERM : 0));
    const spans = k.pgdat.zones.map((z) => [z.zoneStartPfn, z.spannedPages, z.presentPages, z.managedPages]);
    assert.equal(write(k, `${MEM}/memory32/state`, "online_movable"), -EPERM);
    assert.equal(read(k, `${MEM}/memory32/state`), "offline");
    assert.deepEqual(
      k.pgdat.zones.map((z) => [z.zoneStartPfn, z.spannedPages, z.presentPages, z.managedPages]),
      spans,
    );
    veto = MEM_GOING_OFFLINE;
    assert.equal(write(k, `${MEM}/memory32/state`, "online_movable"), 0);
    assert.equal(write(k, `${MEM}/memory32/state`, "offline"), -EPERM);
    assert.equal(read(k, `${MEM}/memory32/state`), "online");
    k.memory.unregisterMemoryNotifier("test-veto");
    assert.equal(write(k, `${MEM}/memory32/state`, "offline"), 0);
  });
});

describe("auto-onlining", () => {
  it("auto_online_blocks=online_movable: a DIMM comes up online in ZONE_MOVABLE", () => {
    const k = boot();
    assert.equal(write(k, `${MEM}/auto_online_blocks`, "online_movable"), 0);
    assert.equal(k.host.dimmAdd("d1", G).err, 0);
    for (let b = 32; b < 40; b++) assert.equal(read(k, `${MEM}/memory${b}/valid_zones`), "Movable");
  });

  it("memhp_default_state=online_kernel on the command line: online in ZONE_NORMAL", () => {
    const k = boot({ cmdline: ["memhp_default_state=online_kernel"] });
    assert.equal(read(k, `${MEM}/auto_online_blocks`), "online_kernel");
    assert.equal(k.host.dimmAdd("d1", G).err, 0);
    assert.equal(read(k, `${MEM}/memory39/state`), "online");
    assert.equal(read(k, `${MEM}/memory39/valid_zones`), "Normal");
  });
});

describe("online policies (memory_hotplug.online_policy)", () => {
  it("contig-zones: a plain online follows the neighbouring zone", () => {
    const k = boot();
    assert.equal(k.host.dimmAdd("d1", G).err, 0);
    assert.equal(write(k, `${MEM}/memory32/state`, "online_movable"), 0);
    assert.equal(write(k, `${MEM}/memory34/state`, "online_movable"), 0);
    // memory33 lies inside the Movable span: its default zone is Movable (oracle: "Movable Normal").
    assert.equal(read(k, `${MEM}/memory33/valid_zones`), "Movable Normal");
    assert.equal(write(k, `${MEM}/memory33/state`, "online"), 0);
    assert.equal(read(k, `${MEM}/memory33/valid_zones`), "Movable");
  });

  it("auto-movable: a plain online goes to Movable while the MOVABLE:KERNEL ratio allows it", () => {
    const k = boot({ cmdline: ["memory_hotplug.online_policy=auto-movable"] });
    assert.equal(read(k, "/sys/module/memory_hotplug/parameters/online_policy"), "auto-movable");
    assert.equal(k.host.dimmAdd("d1", G).err, 0);
    // 1 GiB of kernel memory at boot allows 301% of it movable: the whole DIMM.
    assert.equal(write(k, `${MEM}/memory32/state`, "online"), 0);
    assert.equal(read(k, `${MEM}/memory32/valid_zones`), "Movable");
    // With a ratio of 10%, the DIMM (a static group of 1 GiB) no longer fits: ZONE_NORMAL.
    assert.equal(write(k, "/sys/module/memory_hotplug/parameters/auto_movable_ratio", "10"), 0);
    assert.equal(write(k, `${MEM}/memory32/state`, "offline"), 0);
    assert.equal(read(k, `${MEM}/memory33/valid_zones`).split(" ")[0], "Normal");
  });
});

describe("memmap_on_memory", () => {
  it("a 128 MiB block carries its own memmap: MemTotal grows by 129024 kB, managed 32256 of 32768", () => {
    const k = boot({ cmdline: ["memory_hotplug.memmap_on_memory=1"] });
    const before = memTotalKb(k);
    const free = k.alloc.globalFreePages();
    assert.equal(k.host.dimmAdd("d1", 128 * 2 ** 20).err, 0);
    assert.equal(k.alloc.globalFreePages(), free, "the memmap did not come from the buddy");
    assert.equal(write(k, `${MEM}/memory32/state`, "online_movable"), 0);
    assert.equal(memTotalKb(k) - before, 129024);
    const z = k.pgdat.zones[ZONE_MOVABLE];
    assert.equal(z.presentPages, 32768);
    assert.equal(z.managedPages, 32256);
    assert.equal(write(k, `${MEM}/memory32/state`, "offline"), 0);
    assert.equal(memTotalKb(k), before);
  });
});
