// Fault injection (src/kernel/fault_inject.ts): for every allocation site and
// every call of it an operation makes, fail that call and demand what the kernel
// does — the operation completes (the failure was absorbed, e.g. a 2 MiB vmemmap
// block falling back to base pages) or fails with the kernel's errno and leaves
// nothing behind. "Nothing behind" is a fingerprint (src/fuzz/fingerprint.ts:
// pages per zone and state, free pages, page-table pages and leaves, iomem,
// blocks, groups, sections, sysfs nodes, locks) equal to the one taken before.
//
// Where the kernel itself leaves something behind (add_memory_resource()'s
// `goto error` does not undo arch_add_memory(): the sections __add_pages() added
// before the failing one stay, and x86 keeps the range's direct map — see the
// TODO in drivers/virtio/virtio_mem.c: virtio_mem_add_memory()), the test checks
// that exactly that is left: the present sections are a prefix of the range,
// with no block device and no resource, and remove_memory() of the range, which
// the kernel allows there, brings the fingerprint back to the one before.
//
// Per-site errnos (kernel source, 6.1):
//   resource       __request_region() → NULL → register_memory_resource(): -EEXIST
//   pgtable        vmemmap_populate() (tables of the vmemmap) → -ENOMEM; the direct
//                  map's tables: x86 alloc_low_pages() → NULL and arm64
//                  pgtable_alloc() → BUG(), where the model fails with -ENOMEM
//   vmemmap        vmemmap_alloc_block_buf() → -ENOMEM unless the base-page
//                  fallback takes over (it does, except with an altmap on x86)
//   memmap, section_usage  section_activate() → ERR_PTR(-ENOMEM)
//   memory_block   add_memory_block(): kzalloc → -ENOMEM
//   ACPI (dimm-add) turns every __add_memory() error into -EINVAL
//                  ("add_memory failed") — except -EEXIST, which it takes for
//                  "already added" and counts the range as enabled.
//   virtio-mem     passes add_memory_driver_managed()'s errno on (lastResult).

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Kernel, type MachineConfig } from "../src/kernel/kernel.js";
import { fingerprint, fingerprintDiff, type Fingerprint } from "../src/fuzz/fingerprint.js";
import { DriverCalls } from "../src/kernel/calls.js";
import { EEXIST, EINVAL, ENOMEM } from "../src/errno.js";
import { MEM_GOING_ONLINE } from "../src/drivers/base/memory.js";
import { PAGE_SIZE, SECTION_SIZE } from "../src/mm/constants.js";

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const SITES = ["pgtable", "vmemmap", "memmap", "section_usage", "resource", "memory_block"] as const;
const MEM = "/sys/devices/system/memory";

/** Figures for docs/robustness.md, printed at the end. */
const figures = { runs: 0, injected: 0, failedOps: 0, absorbed: 0, leftovers: 0 };

interface OpCase {
  name: string;
  cfg: MachineConfig;
  /** Steps before the operation (not under fault). */
  setup?: (k: Kernel) => void;
  /** The operation: 0 or -errno. */
  run: (k: Kernel) => number;
  /** The range an add touches, for the leftover check. */
  range?: (k: Kernel) => [number, number];
  /** The errno the kernel gives for a failure at `site`. */
  errno: (site: string) => number;
}

function boot(cfg: MachineConfig): Kernel {
  return Kernel.boot(cfg);
}

const x86: MachineConfig = { arch: "x86_64", memBytes: 128 * MiB, maxmemBytes: 128 * MiB + 2 * GiB };
const arm: MachineConfig = { arch: "arm64", memBytes: 128 * MiB, maxmemBytes: 128 * MiB + 2 * GiB };
const armBlocks: MachineConfig = { ...arm, cmdline: ["rodata=off"] };
const devBase = (k: Kernel) => Math.ceil(k.board.deviceMemoryBase / SECTION_SIZE) * SECTION_SIZE;
const directAdd = (site: string) => (site === "resource" ? -EEXIST : -ENOMEM);

const ADDS: OpCase[] = [];
for (const [tag, cfg] of [
  ["x86_64", x86],
  ["arm64", arm],
  ["arm64 rodata=off", armBlocks],
] as const) {
  ADDS.push({
    name: `${tag}: add_memory() of 256M (two sections)`,
    cfg,
    run: (k) => k.hotplug.addMemory(0, devBase(k), 256 * MiB, 0),
    range: (k) => [devBase(k), 256 * MiB],
    errno: directAdd,
  });
  ADDS.push({
    name: `${tag}: add_memory_driver_managed() of 128M with MHP_MEMMAP_ON_MEMORY`,
    cfg: { ...cfg, cmdline: [...(cfg.cmdline ?? []), "memory_hotplug.memmap_on_memory=1"] },
    // the test module's memory group exists before (it registers it on first use and keeps it)
    setup: (k) => void k.calls.groupOf(1),
    run: (k) => k.calls.call("add_memory_driver_managed", [`${devBase(k)}`, "128M", "MHP_MEMMAP_ON_MEMORY"]),
    range: (k) => [devBase(k), 128 * MiB],
    errno: directAdd,
  });
  ADDS.push({
    name: `${tag}: dimm-add of 256M (ACPI)`,
    cfg,
    // QEMU's device_add succeeds (err 0); the guest's refusal is guestErr
    run: (k) => {
      const r = k.host.dimmAdd("d1", 256 * MiB);
      return r.err || (r.guestErr ?? 0);
    },
    range: (k) => [devBase(k), 256 * MiB],
    // acpi_memory_enable_device(): -EEXIST counts as enabled; anything else is "add_memory failed"
    errno: (site) => (site === "resource" ? 0 : -EINVAL),
  });
  ADDS.push({
    // One block: virtio-mem adds block by block, and blocks added before a
    // failing one stay plugged (they are not leftovers, they are plugged memory).
    name: `${tag}: vmem-resize 0 → 128M (virtio-mem plug)`,
    cfg: { ...cfg, vmems: [{ id: "vm0", sizeBytes: 512 * MiB }] },
    run: (k) => {
      const r = k.host.vmemResize("vm0", 128 * MiB);
      return r.err || (k.virtioMem.get("vm0")?.lastResult ?? 0);
    },
    range: (k) => [k.virtioMem.get("vm0")!.addr, 128 * MiB],
    errno: directAdd,
  });
}

/** Sites reached by `op` in a clean run, and the fingerprint after it. */
function probe(op: OpCase): { reached: Map<string, number>; after: Fingerprint } {
  const k = boot(op.cfg);
  op.setup?.(k);
  const before = new Map(k.faults.reached);
  const rc = op.run(k);
  assert.equal(rc, 0, `${op.name}: the clean run must succeed`);
  assert.deepEqual(k.checkInvariants(), []);
  const reached = new Map<string, number>();
  for (const site of SITES) reached.set(site, (k.faults.reached.get(site) ?? 0) - (before.get(site) ?? 0));
  return { reached, after: fingerprint(k) };
}

/** Every nth up to `count`, or an even sample of `cap` of them (first and last included). */
function nths(count: number, cap = 160): number[] {
  if (count <= cap) return Array.from({ length: count }, (_, i) => i + 1);
  const out = new Set<number>([1, 2, 3, count - 1, count]);
  for (let i = 0; out.size < cap; i++) out.add(1 + Math.floor((i * (count - 1)) / (cap - 1)));
  return [...out].sort((a, b) => a - b);
}

/** Run `op` with call `nth` of `site` failing; check the outcome. */
function injectOnce(op: OpCase, site: string, nth: number, clean: Fingerprint): void {
  const k = boot(op.cfg);
  op.setup?.(k);
  const before = fingerprint(k);
  k.faults.add(site, nth, 1);
  const rc = op.run(k);
  const injected = k.faults.injected.get(site) ?? 0;
  k.faults.clear();
  figures.runs++;
  figures.injected += injected;
  const where = `${op.name}, ${site} call ${nth}`;
  assert.equal(injected, 1, `${where}: the fault must have been injected`);
  assert.deepEqual(k.checkInvariants(), [], `${where}: invariants`);
  if (rc === 0 && op.errno(site) !== 0) {
    // Absorbed: the operation completed some other way (a fallback).
    figures.absorbed++;
    assert.equal(k.memory.blocks.size, probeBlocks(clean), `${where}: completed, so its blocks exist`);
    return;
  }
  figures.failedOps++;
  assert.equal(rc, op.errno(site), `${where}: errno`);
  if (rc === 0) return; // ACPI's -EEXIST quirk: nothing added, device counted as enabled
  let after = fingerprint(k);
  const diff = fingerprintDiff(before, after);
  if (diff.length && op.range) {
    // Only the kernel's own leftovers may differ: see the file comment.
    const [start, size] = op.range(k);
    const first = start / SECTION_SIZE;
    const n = size / SECTION_SIZE;
    let prefix = true;
    for (let i = 0; i < n; i++) {
      const present = k.sparse.presentSectionNr(first + i);
      if (present && !prefix) assert.fail(`${where}: present section ${first + i} after a missing one`);
      if (!present) prefix = false;
      assert.ok(
        k.hotplug.addFailureLeftovers.has(first + i),
        `${where}: section ${first + i} differs but is not a recorded arch_add_memory() leftover:\n${diff.join("\n")}`,
      );
    }
    assert.equal(after.blocks.join(), before.blocks.join(), `${where}: no block device may be left`);
    assert.equal(after.iomem, before.iomem, `${where}: the resource must be released`);
    figures.leftovers++;
    assert.equal(k.hotplug.removeMemory(start, size), 0, `${where}: remove_memory() of the leftovers`);
    assert.deepEqual(k.checkInvariants(), [], `${where}: invariants after removing the leftovers`);
    after = fingerprint(k);
  }
  assert.deepEqual(fingerprintDiff(before, after), [], `${where}: something leaked`);
}

const probeBlocks = (f: Fingerprint): number => f.blocks.length;

describe("fault injection: additions fail cleanly at every allocation", () => {
  for (const op of ADDS) {
    it(op.name, () => {
      const { reached, after } = probe(op);
      let sites = 0;
      for (const site of SITES) {
        const count = reached.get(site) ?? 0;
        if (count) sites++;
        for (const nth of nths(count)) injectOnce(op, site, nth, after);
      }
      // Every addition takes a resource, the memmap and block devices.
      for (const site of ["resource", "memmap", "section_usage", "memory_block"])
        assert.ok((reached.get(site) ?? 0) > 0, `${op.name}: ${site} reached`);
      assert.ok(sites >= 5, `${op.name}: ${sites} sites reached`);
    });
  }
});

/** Operations after an addition: they allocate nothing the sites cover. */
function withDimm(cfg: MachineConfig, online?: string): (k: Kernel) => void {
  return (k) => {
    assert.equal(k.host.dimmAdd("d1", 256 * MiB).err, 0);
    if (online) {
      const first = devBase(k) / SECTION_SIZE;
      for (const id of [first, first + 1])
        assert.equal(k.kernfs.write(`${MEM}/memory${id}/state`, online), 0);
    }
    void cfg;
  };
}

const block = (k: Kernel) => devBase(k) / SECTION_SIZE;
const LATER: OpCase[] = [];
for (const [tag, cfg] of [
  ["x86_64", x86],
  ["arm64", arm],
] as const) {
  LATER.push(
    {
      name: `${tag}: online_movable`,
      cfg,
      setup: withDimm(cfg),
      run: (k) => k.kernfs.write(`${MEM}/memory${block(k)}/state`, "online_movable"),
      errno: () => -ENOMEM,
    },
    {
      name: `${tag}: offline`,
      cfg,
      setup: withDimm(cfg, "online_movable"),
      run: (k) => k.kernfs.write(`${MEM}/memory${block(k)}/state`, "offline"),
      errno: () => -ENOMEM,
    },
    {
      name: `${tag}: dimm-del (offline and remove, ACPI eject)`,
      cfg,
      setup: withDimm(cfg, "online_movable"),
      run: (k) => k.host.dimmDel("d1").err,
      errno: () => -ENOMEM,
    },
    {
      name: `${tag}: offline_and_remove_memory()`,
      cfg,
      setup: (k) => {
        assert.equal(k.calls.call("add_memory_driver_managed", [`${devBase(k)}`, "256M"]), 0);
        assert.equal(k.kernfs.write(`${MEM}/memory${block(k)}/state`, "online_movable"), 0);
      },
      run: (k) => k.calls.call("offline_and_remove_memory", [`${devBase(k)}`, "256M"]),
      errno: () => -ENOMEM,
    },
    {
      name: `${tag}: vmem-resize 256M → 0 (virtio-mem unplug)`,
      cfg: { ...cfg, vmems: [{ id: "vm0", sizeBytes: 512 * MiB }] },
      setup: (k) => {
        assert.equal(k.host.vmemResize("vm0", 256 * MiB).err, 0);
        assert.equal(k.virtioMem.get("vm0")!.plugged, 256 * MiB);
      },
      run: (k) => k.host.vmemResize("vm0", 0).err || (k.virtioMem.get("vm0")?.lastResult ?? 0),
      errno: () => -ENOMEM,
    },
  );
}

describe("fault injection: online, offline and removal allocate nothing the sites cover", () => {
  for (const op of LATER) {
    it(`${op.name}: no site is reached, so no fault can make it fail`, () => {
      const { reached } = probe(op);
      for (const site of SITES) assert.equal(reached.get(site), 0, `${op.name}: ${site}`);
    });
  }

  it("a failing MEM_GOING_ONLINE notifier (slab_memory_callback() → -ENOMEM) rolls online_pages() back", () => {
    for (const cfg of [x86, arm]) {
      const k = boot(cfg);
      withDimm(cfg)(k);
      const before = fingerprint(k);
      // mm/slub.c: slab_mem_going_online_callback() fails when kmalloc of the
      // kmem_cache_node fails; online_pages() → notifier_to_errno() → -ENOMEM.
      k.memory.registerMemoryNotifier("slab_memory_callback", (action) =>
        action === MEM_GOING_ONLINE && k.faults.shouldFail("slab") ? -ENOMEM : 0,
      );
      k.faults.add("slab", 1, 1);
      const rc = k.kernfs.write(`${MEM}/memory${block(k)}/state`, "online_movable");
      assert.equal(rc, -ENOMEM);
      figures.runs++;
      figures.injected++;
      figures.failedOps++;
      assert.deepEqual(k.checkInvariants(), []);
      assert.deepEqual(fingerprintDiff(before, fingerprint(k)), []);
      // and the next attempt, with nothing failing, onlines the block
      assert.equal(k.kernfs.write(`${MEM}/memory${block(k)}/state`, "online_movable"), 0);
      assert.deepEqual(k.checkInvariants(), []);
    }
  });
});

describe("fault injection: the driver calls of the RFC", () => {
  const hasRfc = DriverCalls.names().includes("populate_range_driver_managed");
  it(
    "populate_range_driver_managed() fails cleanly at every page-table allocation",
    { skip: !hasRfc },
    () => {
      for (const cfg of [x86, arm, armBlocks]) {
        const op: OpCase = {
          name: `${cfg.arch}${cfg.cmdline ? " " + cfg.cmdline.join(" ") : ""}: populate_range_driver_managed()`,
          cfg,
          setup: (k) => {
            assert.equal(k.calls.call("add_memory_driver_managed", [`${devBase(k)}`, "256M"]), 0);
            assert.equal(k.calls.call("depopulate_range_driver_managed", [`${devBase(k)}`, "256M"]), 0);
          },
          run: (k) => k.calls.call("populate_range_driver_managed", [`${devBase(k)}`, "256M"]),
          errno: () => -ENOMEM,
        };
        const { reached, after } = probe(op);
        for (const site of SITES)
          for (const nth of nths(reached.get(site) ?? 0)) injectOnce(op, site, nth, after);
        assert.ok((reached.get("pgtable") ?? 0) > 0 || cfg.arch === "x86_64", `${op.name}: pgtable reached`);
      }
    },
  );
  it("depopulate_range_driver_managed() allocates nothing", { skip: !hasRfc }, () => {
    for (const cfg of [x86, arm]) {
      const { reached } = probe({
        name: "depopulate",
        cfg,
        setup: (k) => assert.equal(k.calls.call("add_memory_driver_managed", [`${devBase(k)}`, "256M"]), 0),
        run: (k) => k.calls.call("depopulate_range_driver_managed", [`${devBase(k)}`, "256M"]),
        errno: () => -ENOMEM,
      });
      for (const site of SITES) assert.equal(reached.get(site), 0, site);
    }
  });
});

describe("fault injection: the kernel's quirks on failure paths", () => {
  it("ACPI counts a range whose resource request failed (-EEXIST) as enabled; the eject still works", () => {
    const k = boot(x86);
    const before = fingerprint(k);
    k.faults.add("resource", 1, 1);
    assert.equal(k.host.dimmAdd("d1", 256 * MiB).err, 0, "acpi_memory_enable_device() ignores -EEXIST");
    assert.equal(k.acpi.devices.get("d1")?.enabled, true);
    assert.equal(k.memory.blocks.size, before.blocks.length, "but no memory was added");
    assert.deepEqual(k.checkInvariants(), []);
    // acpi_memory_remove_memory() → __remove_memory() of a range that has nothing: it succeeds
    assert.equal(k.host.dimmDel("d1").err, 0);
    assert.deepEqual(k.checkInvariants(), []);
  });

  it("after an __add_pages() failure on its second section the range cannot be added again until removed", () => {
    for (const cfg of [x86, arm]) {
      const k = boot(cfg);
      const start = devBase(k);
      k.faults.add("memmap", 2, 1); // the second section of the range
      assert.equal(k.hotplug.addMemory(0, start, 256 * MiB, 0), -ENOMEM);
      assert.equal(
        k.sparse.presentSectionNr(start / SECTION_SIZE),
        true,
        "the first section stays (kernel leak)",
      );
      assert.deepEqual(k.checkInvariants(), []);
      // sparse_add_section() of the leftover section: fill_subsection_map() → -EEXIST
      assert.equal(k.hotplug.addMemory(0, start, 256 * MiB, 0), -EEXIST);
      assert.equal(k.hotplug.removeMemory(start, 256 * MiB), 0);
      assert.equal(k.hotplug.addMemory(0, start, 256 * MiB, 0), 0, "after remove_memory() it adds again");
      assert.equal(k.memory.blocks.has(start / PAGE_SIZE / 32768 + 1), true);
      assert.deepEqual(k.checkInvariants(), []);
    }
  });

  it("prints the figures", () => {
    process.stdout.write(
      `# fault injection: ${figures.runs} runs, ${figures.injected} faults injected, ` +
        `${figures.failedOps} failed operations, ${figures.absorbed} absorbed, ${figures.leftovers} with kernel leftovers\n`,
    );
    assert.ok(figures.injected > 100);
  });
});
