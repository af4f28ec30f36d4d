// kernel/resource.c model: expectations derived from the 6.1 source (see the
// comment on each test), not from running the model.

import { test } from "node:test";
import assert from "node:assert/strict";
import { EBUSY, EINVAL } from "../src/errno.js";
import { Work } from "../src/kernel/work.js";
import {
  IORESOURCE_BUSY,
  IORESOURCE_EXCLUSIVE,
  IORESOURCE_IO,
  IORESOURCE_MEM,
  IORESOURCE_SYSRAM_DRIVER_MANAGED,
  IORESOURCE_SYSRAM_MERGEABLE,
  IORESOURCE_SYSTEM_RAM,
  IORES_DESC_NONE,
  IORES_DESC_SOFT_RESERVED,
  REGION_DISJOINT,
  REGION_INTERSECTS,
  REGION_MIXED,
  Resource,
  ResourceTree,
} from "../src/kernel/resource.js";

const SZ_128M = 0x8000000n;
const SZ_1G = 0x40000000n;
const RAM_BUSY = IORESOURCE_SYSTEM_RAM | IORESOURCE_BUSY;
const DM_FLAGS = IORESOURCE_SYSTEM_RAM | IORESOURCE_BUSY | IORESOURCE_SYSRAM_DRIVER_MANAGED;
const res = (name: string, start: bigint, end: bigint, flags: number, desc = IORES_DESC_NONE): Resource =>
  new Resource(name, start, end, flags, desc);
const children = (r: Resource): Array<[string, bigint, bigint]> => {
  const out: Array<[string, bigint, bigint]> = [];
  for (let c = r.child; c; c = c.sibling) out.push([c.name, c.start, c.end]);
  return out;
};

/**
 * The memory map of a small x86 guest, built as e820__reserve_resources()
 * (busy entries below 1 MiB and RAM), setup_arch() (kernel code) and
 * e820__reserve_resources_late() (non-busy reserved entries, expand-to-fit) do.
 */
function x86Tree(work?: Work): { tree: ResourceTree; ram: Resource; kcode: Resource } {
  const tree = new ResourceTree(work);
  const root = tree.root;
  assert.equal(tree.insertResource(root, res("Reserved", 0x0n, 0xfffn, IORESOURCE_MEM | IORESOURCE_BUSY)), 0);
  assert.equal(tree.insertResource(root, res("System RAM", 0x1000n, 0x9fbffn, RAM_BUSY)), 0);
  assert.equal(
    tree.insertResource(root, res("Reserved", 0x9fc00n, 0x9ffffn, IORESOURCE_MEM | IORESOURCE_BUSY)),
    0,
  );
  assert.equal(
    tree.insertResource(root, res("Reserved", 0xf0000n, 0xfffffn, IORESOURCE_MEM | IORESOURCE_BUSY)),
    0,
  );
  const ram = res("System RAM", 0x100000n, 0x3ffdffffn, RAM_BUSY);
  assert.equal(tree.insertResource(root, ram), 0);
  const kcode = res("Kernel code", 0x1000000n, 0x1ffffffn, RAM_BUSY);
  assert.equal(tree.insertResource(root, kcode), 0);
  tree.insertResourceExpandToFit(root, res("Reserved", 0x3ffe0000n, 0x3fffffffn, IORESOURCE_MEM));
  return { tree, ram, kcode };
}

test("flag values are the kernel's (include/linux/ioport.h)", () => {
  assert.equal(IORESOURCE_MEM, 0x200);
  assert.equal(IORESOURCE_BUSY, 0x80000000);
  assert.equal(IORESOURCE_SYSTEM_RAM, 0x01000200);
  assert.equal(IORESOURCE_SYSRAM_DRIVER_MANAGED, 0x02000000);
  assert.equal(IORESOURCE_SYSRAM_MERGEABLE, 0x04000000);
  assert.equal(IORESOURCE_EXCLUSIVE, 0x08000000);
  // flags stay unsigned 32-bit through |= (the BUSY bit is bit 31)
  const r = res("x", 0n, 0xfffn, IORESOURCE_MEM);
  r.flags |= IORESOURCE_BUSY;
  assert.equal(r.flags, 0x80000200);
});

test("request_resource: nesting, ordering and conflicts", () => {
  const tree = new ResourceTree();
  const root = tree.root;
  const ram = res("System RAM", 0x100000n, 0x3ffdffffn, RAM_BUSY);
  assert.equal(tree.requestResource(root, ram), 0);
  assert.equal(ram.parent, root);

  // Partial overlap with a sibling: __request_resource() returns the sibling.
  const over = res("over", 0x3ff00000n, 0x40ffffffn, IORESOURCE_MEM);
  assert.equal(tree.requestResourceConflict(root, over), ram);
  assert.equal(tree.requestResource(root, over), -EBUSY);
  assert.equal(over.parent, null);
  // Contained in a sibling is a conflict too: request_resource() never descends.
  assert.equal(tree.requestResourceConflict(root, res("in", 0x200000n, 0x2fffffn, IORESOURCE_MEM)), ram);
  // Outside the parent, or end < start: the parent itself is the conflict.
  assert.equal(tree.requestResourceConflict(ram, res("low", 0x0n, 0x1fffn, IORESOURCE_MEM)), ram);
  assert.equal(tree.requestResourceConflict(root, res("empty", 0x2000n, 0x1fffn, IORESOURCE_MEM)), root);

  // Children go under the given parent, siblings stay sorted; touching is no overlap.
  const kcode = res("Kernel code", 0x1000000n, 0x1ffffffn, RAM_BUSY);
  assert.equal(tree.requestResource(ram, kcode), 0);
  assert.equal(kcode.parent, ram);
  const low = res("System RAM", 0x1000n, 0x9fbffn, RAM_BUSY);
  const mid = res("Reserved", 0x9fc00n, 0x9ffffn, IORESOURCE_MEM | IORESOURCE_BUSY);
  assert.equal(tree.requestResource(root, low), 0);
  assert.equal(tree.requestResource(root, mid), 0);
  assert.deepEqual(children(root), [
    ["System RAM", 0x1000n, 0x9fbffn],
    ["Reserved", 0x9fc00n, 0x9ffffn],
    ["System RAM", 0x100000n, 0x3ffdffffn],
  ]);
  assert.deepEqual(children(ram), [["Kernel code", 0x1000000n, 0x1ffffffn]]);
  assert.deepEqual(tree.checkInvariants(), []);
  assert.equal(tree.lookupResource(root, 0x9fc00n), mid);
  assert.equal(tree.lookupResource(root, 0x1000000n), null); // direct children only
});

test("insert_resource: descends into containers, adopts contained resources, rejects partial overlap", () => {
  const tree = new ResourceTree();
  const root = tree.root;
  // Kernel sections first, then the RAM around them: the RAM adopts them.
  const kcode = res("Kernel code", 0x1000000n, 0x1ffffffn, RAM_BUSY);
  const kdata = res("Kernel data", 0x2000000n, 0x2ffffffn, RAM_BUSY);
  assert.equal(tree.insertResource(root, kcode), 0);
  assert.equal(tree.insertResource(root, kdata), 0);
  const ram = res("System RAM", 0x100000n, 0x3ffdffffn, RAM_BUSY);
  assert.equal(tree.insertResource(root, ram), 0);
  assert.equal(root.child, ram);
  assert.equal(ram.sibling, null);
  assert.equal(kcode.parent, ram);
  assert.equal(kdata.parent, ram);
  assert.deepEqual(children(ram), [
    ["Kernel code", 0x1000000n, 0x1ffffffn],
    ["Kernel data", 0x2000000n, 0x2ffffffn],
  ]);

  // Inserted at the root, it lands inside the RAM that contains it.
  const bss = res("Kernel bss", 0x3000000n, 0x30fffffn, RAM_BUSY);
  assert.equal(tree.insertResource(root, bss), 0);
  assert.equal(bss.parent, ram);
  assert.equal(kdata.sibling, bss);

  // Partial overlap at the top level, and with a child one level down.
  const over = res("over", 0x3ff00000n, 0x40ffffffn, IORESOURCE_MEM);
  assert.equal(tree.insertResourceConflict(root, over), ram);
  assert.equal(tree.insertResource(root, over), -EBUSY);
  assert.equal(tree.insertResourceConflict(root, res("x", 0x1800000n, 0x27fffffn, IORESOURCE_MEM)), kcode);

  // An identical range nests above the existing one (__insert_resource() breaks
  // on equality and adopts it); remove_resource() puts the child back.
  const dup = res("dup", 0x1000000n, 0x1ffffffn, RAM_BUSY);
  assert.equal(tree.insertResource(root, dup), 0);
  assert.equal(ram.child, dup);
  assert.equal(dup.child, kcode);
  assert.equal(kcode.parent, dup);
  assert.equal(dup.sibling, kdata);
  assert.deepEqual(tree.checkInvariants(), []);
  assert.equal(tree.removeResource(dup), 0);
  assert.equal(ram.child, kcode);
  assert.equal(kcode.parent, ram);
  assert.equal(kcode.sibling, kdata);
  assert.deepEqual(tree.checkInvariants(), []);
});

test("insert_resource_expand_to_fit grows over a partial conflict and adopts it", () => {
  const tree = new ResourceTree();
  const ram = res("System RAM", 0x100000n, 0x3ffdffffn, RAM_BUSY);
  assert.equal(tree.insertResource(tree.root, ram), 0);
  const r = res("Reserved", 0x3ff00000n, 0x40ffffffn, IORESOURCE_MEM);
  tree.insertResourceExpandToFit(tree.root, r);
  assert.equal(r.start, 0x100000n);
  assert.equal(r.end, 0x40ffffffn);
  assert.equal(ram.parent, r);
  assert.equal(tree.root.child, r);
  assert.deepEqual(tree.checkInvariants(), []);
});

test("reserve_region_with_split fills the gaps around existing children (arm64 'reserved')", () => {
  const tree = new ResourceTree();
  const mem = res("System RAM", 0x40000000n, 0x7fffffffn, RAM_BUSY);
  assert.equal(tree.insertResource(tree.root, mem), 0);
  const kcode = res("Kernel code", 0x40210000n, 0x41ffffffn, RAM_BUSY);
  assert.equal(tree.insertResource(tree.root, kcode), 0);
  tree.reserveRegionWithSplit(mem, 0x40000000n, 0x4fffffffn, "reserved");
  assert.deepEqual(children(mem), [
    ["reserved", 0x40000000n, 0x4020ffffn],
    ["Kernel code", 0x40210000n, 0x41ffffffn],
    ["reserved", 0x42000000n, 0x4fffffffn],
  ]);
  // type of the root (IORESOURCE_MEM) | IORESOURCE_BUSY
  assert.equal(mem.child?.flags, 0x80000200);
  // A request beyond the root is clipped to it.
  tree.reserveRegionWithSplit(mem, 0x7ff00000n, 0x80ffffffn, "reserved");
  assert.deepEqual(children(mem).at(-1), ["reserved", 0x7ff00000n, 0x7fffffffn]);
  assert.deepEqual(tree.checkInvariants(), []);
});

test("__request_region descends into a non-busy device resource (virtio-mem, add_memory_driver_managed)", () => {
  const work = new Work();
  const { tree, ram } = x86Tree(work);
  const before = work.total.resourcesRequested;
  const base = 0x100000000n;

  // virtio_mem_create_resource(): __request_mem_region(..., SYSTEM_RAM | EXCLUSIVE).
  const virtio0 = tree.requestMemRegion(
    base,
    0x80000000n,
    "virtio0",
    IORESOURCE_SYSTEM_RAM | IORESOURCE_EXCLUSIVE,
  );
  assert.ok(virtio0);
  assert.equal(virtio0.parent, tree.root);
  // MEM (type of iomem_resource) | no ext type | BUSY | SYSTEM_RAM | EXCLUSIVE
  assert.equal(virtio0.flags, 0x89000200);

  // While it is busy, a request inside it is a busy conflict.
  assert.equal(tree.requestMemRegion(base, SZ_128M, "System RAM (virtio_mem)", DM_FLAGS), null);

  // "The memory is not actually busy - make add_memory() work."
  virtio0.flags &= ~IORESOURCE_BUSY;
  assert.equal(virtio0.flags, 0x09000200);

  // register_memory_resource(): names other than "System RAM" add DRIVER_MANAGED.
  const sr = tree.requestMemRegion(base, SZ_128M, "System RAM (virtio_mem)", DM_FLAGS);
  assert.ok(sr);
  assert.equal(sr.parent, virtio0);
  assert.equal(sr.start, base);
  assert.equal(sr.end, base + SZ_128M - 1n);
  assert.ok((sr.flags & IORESOURCE_SYSRAM_DRIVER_MANAGED) !== 0);
  // type(virtio0)=MEM | ext(virtio0)=SYSRAM | BUSY | SYSTEM_RAM | DRIVER_MANAGED
  assert.equal(sr.flags, 0x83000200);

  // Busy overlap: the same block again fails.
  assert.equal(tree.requestMemRegion(base + 0x4000000n, SZ_128M, "System RAM (virtio_mem)", DM_FLAGS), null);
  // Crossing the end of the non-busy device resource: __request_resource(virtio0)
  // returns virtio0 itself, which is the parent, so -EBUSY.
  assert.equal(tree.requestMemRegion(0x170000000n, 0x20000000n, "System RAM (virtio_mem)", DM_FLAGS), null);
  // Overlapping boot RAM (busy).
  assert.equal(tree.requestMemRegion(0x3f000000n, SZ_128M, "System RAM", RAM_BUSY), null);
  assert.equal(ram.child?.name, "Kernel code");

  // add_memory() of an ACPI DIMM outside the device: at the root, no DRIVER_MANAGED.
  const dimm = tree.requestMemRegion(0x180000000n, SZ_1G, "System RAM", RAM_BUSY);
  assert.ok(dimm);
  assert.equal(dimm.parent, tree.root);
  assert.equal(dimm.flags, 0x81000200);
  // The parent-less form is __request_mem_region(): same descent from the root.
  const sr2 = tree.requestRegion(base + SZ_128M, SZ_128M, "System RAM (virtio_mem)", DM_FLAGS);
  assert.ok(sr2);
  assert.equal(sr2.parent, virtio0);

  assert.equal(work.total.resourcesRequested - before, 4);
  assert.deepEqual(tree.checkInvariants(), []);

  // __release_region() finds the busy resource through the non-busy parent; the
  // range must match exactly.
  assert.equal(tree.releaseMemRegion(base, SZ_128M * 2n), false);
  assert.equal(tree.releaseMemRegion(base, SZ_128M), true);
  assert.equal(virtio0.child, sr2);
  assert.equal(sr.parent, null);
  assert.equal(work.total.resourcesReleased, 1);
});

test("__request_region inherits desc from the non-busy parent it lands in", () => {
  const tree = new ResourceTree();
  const soft = res("Soft Reserved", 0x100000000n, 0x13fffffffn, IORESOURCE_MEM, IORES_DESC_SOFT_RESERVED);
  assert.equal(tree.insertResource(tree.root, soft), 0);
  const r = tree.requestMemRegion(0x100000000n, SZ_128M, "dax0.0", 0);
  assert.ok(r);
  assert.equal(r.parent, soft);
  assert.equal(r.desc, IORES_DESC_SOFT_RESERVED);
  assert.equal(r.flags, 0x80000200);
});

test("release_mem_region_adjustable trims the head, the tail, splits the middle and frees the rest", () => {
  const work = new Work();
  const tree = new ResourceTree(work);
  const dimm = tree.requestMemRegion(0x100000000n, SZ_1G, "System RAM", RAM_BUSY);
  assert.ok(dimm);

  // Head: [0x100000000, +128M) -> resource starts at 0x108000000.
  assert.equal(tree.releaseMemRegionAdjustable(0x100000000n, SZ_128M), true);
  assert.equal(dimm.start, 0x108000000n);
  assert.equal(dimm.end, 0x13fffffffn);
  // Tail: [0x138000000, +128M) -> ends at 0x137ffffff.
  assert.equal(tree.releaseMemRegionAdjustable(0x138000000n, SZ_128M), true);
  assert.equal(dimm.end, 0x137ffffffn);
  // Middle: [0x110000000, +128M) -> lower part kept, upper part is a new resource.
  assert.equal(tree.releaseMemRegionAdjustable(0x110000000n, SZ_128M), true);
  assert.equal(dimm.start, 0x108000000n);
  assert.equal(dimm.end, 0x10fffffffn);
  const upper = dimm.sibling;
  assert.ok(upper);
  assert.notEqual(upper, dimm);
  assert.equal(upper.start, 0x118000000n);
  assert.equal(upper.end, 0x137ffffffn);
  assert.equal(upper.name, "System RAM");
  assert.equal(upper.flags, dimm.flags);
  assert.equal(upper.parent, tree.root);
  assert.deepEqual(tree.checkInvariants(), []);

  // A range spanning two resources fits into neither: nothing happens.
  assert.equal(tree.releaseMemRegionAdjustable(0x108000000n, 0x18000000n), false);
  assert.equal(dimm.end, 0x10fffffffn);
  // A range in the hole between them: nothing either.
  assert.equal(tree.releaseMemRegionAdjustable(0x110000000n, SZ_128M), false);

  // Exact match: freed.
  assert.equal(tree.releaseMemRegionAdjustable(0x118000000n, 0x20000000n), true);
  assert.deepEqual(children(tree.root), [["System RAM", 0x108000000n, 0x10fffffffn]]);
  assert.equal(work.total.resourcesRequested, 2); // the DIMM and the split-off upper part
  assert.equal(work.total.resourcesReleased, 1);
});

test("release_mem_region_adjustable works under virtio0 and keeps children in the lower part", () => {
  const tree = new ResourceTree();
  const base = 0x100000000n;
  const virtio0 = tree.requestMemRegion(
    base,
    0x80000000n,
    "virtio0",
    IORESOURCE_SYSTEM_RAM | IORESOURCE_EXCLUSIVE,
  );
  assert.ok(virtio0);
  virtio0.flags &= ~IORESOURCE_BUSY;
  const sr = tree.requestMemRegion(base, SZ_1G, "System RAM (virtio_mem)", DM_FLAGS);
  assert.ok(sr);
  // Tail trim through the non-busy parent.
  assert.equal(tree.releaseMemRegionAdjustable(base + 0x38000000n, SZ_128M), true);
  assert.equal(sr.end, base + 0x37ffffffn);
  assert.equal(sr.parent, virtio0);

  // A child at the low end stays with the lower part of a split.
  const child = res("child", base, base + 0xfffffn, IORESOURCE_MEM | IORESOURCE_BUSY);
  assert.equal(tree.requestResource(sr, child), 0);
  assert.equal(tree.releaseMemRegionAdjustable(base + 0x10000000n, SZ_128M), true);
  assert.equal(sr.end, base + 0xfffffffn);
  assert.equal(child.parent, sr);
  assert.equal(sr.sibling?.start, base + 0x18000000n);
  assert.equal(sr.sibling?.child, null);

  // A head trim that would cut the child away fails (__adjust_resource() -EBUSY, WARN).
  assert.equal(tree.releaseMemRegionAdjustable(base, SZ_128M), false);
  assert.equal(sr.start, base);
  assert.deepEqual(tree.checkInvariants(), []);
});

test("merge_system_ram_resource merges adjacent mergeable siblings (MHP_MERGE_RESOURCE)", () => {
  const work = new Work();
  const tree = new ResourceTree(work);
  const base = 0x100000000n;
  const virtio0 = tree.requestMemRegion(
    base,
    0x80000000n,
    "virtio0",
    IORESOURCE_SYSTEM_RAM | IORESOURCE_EXCLUSIVE,
  );
  assert.ok(virtio0);
  virtio0.flags &= ~IORESOURCE_BUSY;
  const add = (off: bigint): Resource => {
    const r = tree.requestMemRegion(base + off, SZ_128M, "System RAM (virtio_mem)", DM_FLAGS);
    assert.ok(r);
    return r;
  };

  const a = add(0n);
  assert.equal(tree.mergeSystemRamResource(a), a);
  assert.equal(a.flags, 0x87000200); // DM flags | MERGEABLE
  const b = add(SZ_128M);
  assert.equal(tree.mergeSystemRamResource(b), a); // merged into the previous one
  assert.equal(b.parent, null);
  assert.deepEqual(children(virtio0), [["System RAM (virtio_mem)", base, base + 2n * SZ_128M - 1n]]);

  // Not adjacent: stays separate.
  const d = add(3n * SZ_128M);
  assert.equal(tree.mergeSystemRamResource(d), d);
  assert.equal(children(virtio0).length, 2);
  // Filling the gap merges with the next one, then with the previous one.
  const c = add(2n * SZ_128M);
  assert.equal(tree.mergeSystemRamResource(c), a);
  assert.deepEqual(children(virtio0), [["System RAM (virtio_mem)", base, base + 4n * SZ_128M - 1n]]);
  assert.equal(work.total.resourcesReleased, 3);
  assert.deepEqual(tree.checkInvariants(), []);
});

test("merge_system_ram_resource leaves non-mergeable, differently named, child-bearing or non-busy neighbours", () => {
  const tree = new ResourceTree();
  const root = tree.root;
  // An ACPI DIMM (add_memory(): no MHP_MERGE_RESOURCE, so no MERGEABLE flag) ...
  const acpi = tree.requestMemRegion(0x100000000n, SZ_128M, "System RAM", RAM_BUSY);
  assert.ok(acpi);
  // ... next to a resource that is merged: flags differ, no merge.
  const next = tree.requestMemRegion(0x108000000n, SZ_128M, "System RAM", RAM_BUSY);
  assert.ok(next);
  assert.equal(tree.mergeSystemRamResource(next), next);
  assert.equal(children(root).length, 2);
  assert.equal(acpi.flags & IORESOURCE_SYSRAM_MERGEABLE, 0);

  // Same flags, adjacent, different names: no merge.
  const foo = tree.requestMemRegion(0x200000000n, SZ_128M, "System RAM (foo)", DM_FLAGS);
  const bar = tree.requestMemRegion(0x208000000n, SZ_128M, "System RAM (bar)", DM_FLAGS);
  assert.ok(foo && bar);
  assert.equal(tree.mergeSystemRamResource(foo), foo);
  assert.equal(tree.mergeSystemRamResource(bar), bar);
  assert.equal(foo.end, 0x207ffffffn);
  assert.equal(bar.start, 0x208000000n);

  // Same name and flags but one has a child: no merge.
  const p = tree.requestMemRegion(0x300000000n, SZ_128M, "System RAM (p)", DM_FLAGS);
  assert.ok(p);
  assert.equal(tree.mergeSystemRamResource(p), p);
  assert.equal(tree.requestResource(p, res("kid", 0x300000000n, 0x300000fffn, IORESOURCE_MEM)), 0);
  const q = tree.requestMemRegion(0x308000000n, SZ_128M, "System RAM (p)", DM_FLAGS);
  assert.ok(q);
  assert.equal(tree.mergeSystemRamResource(q), q);
  assert.equal(p.end, 0x307ffffffn);

  // Not busy System RAM: WARN, nothing changed.
  const plain = res("plain", 0x400000000n, 0x407ffffffn, IORESOURCE_MEM);
  assert.equal(tree.requestResource(root, plain), 0);
  assert.equal(tree.mergeSystemRamResource(plain), null);
  assert.equal(plain.flags, IORESOURCE_MEM);
  assert.equal(children(root).length, 7);
});

test("walk_system_ram_range / page_is_ram / walk_iomem_res_desc", () => {
  const { tree } = x86Tree();
  const base = 0x100000000n;
  const virtio0 = tree.requestMemRegion(
    base,
    0x80000000n,
    "virtio0",
    IORESOURCE_SYSTEM_RAM | IORESOURCE_EXCLUSIVE,
  );
  assert.ok(virtio0);
  virtio0.flags &= ~IORESOURCE_BUSY;
  const sr = tree.requestMemRegion(base, SZ_128M, "System RAM (virtio_mem)", DM_FLAGS);
  assert.ok(sr);

  // The first GiB: 0x1000-0x9fbff gives PFN_UP(0x1000)=1 .. PFN_DOWN(0x9fc00)=0x9f,
  // 0x100000-0x3ffdffff gives 0x100 .. 0x3ffe0. "Kernel code" inside is not
  // reported again (the walk continues after the matching parent's end).
  const runs: Array<[number, number]> = [];
  const collect = (pfn: number, n: number): number => {
    runs.push([pfn, n]);
    return 0;
  };
  assert.equal(tree.walkSystemRamRange(0, 0x40000, collect), 0);
  assert.deepEqual(runs, [
    [0x1, 0x9e],
    [0x100, 0x3fee0],
  ]);

  // Inside the non-busy virtio0: its busy child is found.
  runs.length = 0;
  assert.equal(tree.walkSystemRamRange(0x100000, 0x10000, collect), 0);
  assert.deepEqual(runs, [[0x100000, 0x8000]]);

  // A hole (0xa0000-0xaffff): no callback, -EINVAL.
  runs.length = 0;
  assert.equal(tree.walkSystemRamRange(0xa0, 0x10, collect), -EINVAL);
  assert.deepEqual(runs, []);
  // A non-zero callback return stops the walk and is returned.
  assert.equal(
    tree.walkSystemRamRange(0, 0x40000, () => 7),
    7,
  );

  assert.equal(tree.pageIsRam(0), false); // Reserved
  assert.equal(tree.pageIsRam(1), true);
  assert.equal(tree.pageIsRam(0x9f), false); // RAM ends at 0x9fbff: no whole page
  assert.equal(tree.pageIsRam(0x100000), true);
  assert.equal(tree.pageIsRam(0x108000), false);

  // walk_system_ram_res() clips to the searched range.
  const ranges: Array<[bigint, bigint]> = [];
  tree.walkSystemRamRes(0x80000n, 0x1fffffn, (r) => {
    ranges.push([r.start, r.end]);
    return 0;
  });
  assert.deepEqual(ranges, [
    [0x80000n, 0x9fbffn],
    [0x100000n, 0x1fffffn],
  ]);

  // virtio_mem_has_memory_added(): 1 while a busy System RAM child exists.
  const hasMemory = (): boolean =>
    tree.walkIomemResDesc(IORES_DESC_NONE, RAM_BUSY, base, base + 0x80000000n, () => 1) === 1;
  assert.equal(hasMemory(), true);
  assert.equal(tree.releaseMemRegionAdjustable(base, SZ_128M), true);
  assert.equal(hasMemory(), false);

  // desc filter: only resources with that desc match.
  const soft = res("Soft Reserved", 0x200000000n, 0x23fffffffn, IORESOURCE_MEM, IORES_DESC_SOFT_RESERVED);
  assert.equal(tree.insertResource(tree.root, soft), 0);
  const found: bigint[] = [];
  const ret = tree.walkIomemResDesc(IORES_DESC_SOFT_RESERVED, IORESOURCE_MEM, 0n, 0x2ffffffffn, (r) => {
    found.push(r.start);
    return 0;
  });
  assert.equal(ret, 0);
  assert.deepEqual(found, [0x200000000n]);
});

test("region_intersects: DISJOINT, INTERSECTS, MIXED", () => {
  const { tree } = x86Tree();
  const base = 0x100000000n;
  const virtio0 = tree.requestMemRegion(
    base,
    0x80000000n,
    "virtio0",
    IORESOURCE_SYSTEM_RAM | IORESOURCE_EXCLUSIVE,
  );
  assert.ok(virtio0);
  virtio0.flags &= ~IORESOURCE_BUSY;
  assert.ok(tree.requestMemRegion(base, SZ_128M, "System RAM (virtio_mem)", DM_FLAGS));

  assert.equal(tree.regionIntersects(0x200000n, 0x1000n, RAM_BUSY, IORES_DESC_NONE), REGION_INTERSECTS);
  assert.equal(tree.regionIntersects(0xa0000n, 0x1000n, RAM_BUSY, IORES_DESC_NONE), REGION_DISJOINT);
  // System RAM 0x1000-0x9fbff and Reserved 0x9fc00-: both touched.
  assert.equal(tree.regionIntersects(0x9f000n, 0x1000n, RAM_BUSY, IORES_DESC_NONE), REGION_MIXED);
  // Inside virtio0: its busy child covers the block entirely ...
  assert.equal(tree.regionIntersects(base, SZ_128M, RAM_BUSY, IORES_DESC_NONE), REGION_INTERSECTS);
  // ... but only half of two blocks: the rest of virtio0 counts as "other".
  assert.equal(tree.regionIntersects(base, 2n * SZ_128M, RAM_BUSY, IORES_DESC_NONE), REGION_MIXED);
});

test("/proc/iomem text of a small x86 guest with a hot-added DIMM (r_show format)", () => {
  const { tree } = x86Tree();
  // add_memory() of a 1 GiB DIMM at 4 GiB, as in docs/oracle-notes.md.
  assert.ok(tree.requestMemRegion(0x100000000n, SZ_1G, "System RAM", RAM_BUSY));
  // width 8 (iomem_resource ends above 0x10000), zero-padded, lower-case hex;
  // 4 GiB needs 9 digits; one level of nesting indents by 2 spaces.
  const expected = [
    "00000000-00000fff : Reserved",
    "00001000-0009fbff : System RAM",
    "0009fc00-0009ffff : Reserved",
    "000f0000-000fffff : Reserved",
    "00100000-3ffdffff : System RAM",
    "  01000000-01ffffff : Kernel code",
    "3ffe0000-3fffffff : Reserved",
    "100000000-13fffffff : System RAM",
  ];
  assert.equal(tree.procIomem(), expected.map((l) => l + "\n").join(""));
  // Without CAP_SYS_ADMIN the addresses read as zero.
  assert.equal(tree.procIomem(false).split("\n")[5], "  00000000-00000000 : Kernel code");
});

test("/proc/iomem: virtio-mem layout, indentation capped at MAX_IORES_LEVEL, width 4 for small roots", () => {
  const tree = new ResourceTree();
  const base = 0x100000000n;
  const virtio0 = tree.requestMemRegion(
    base,
    0x80000000n,
    "virtio0",
    IORESOURCE_SYSTEM_RAM | IORESOURCE_EXCLUSIVE,
  );
  assert.ok(virtio0);
  virtio0.flags &= ~IORESOURCE_BUSY;
  const a = tree.requestMemRegion(base, SZ_128M, "System RAM (virtio_mem)", DM_FLAGS);
  assert.ok(a);
  tree.mergeSystemRamResource(a);
  const b = tree.requestMemRegion(base + SZ_128M, SZ_128M, "System RAM (virtio_mem)", DM_FLAGS);
  assert.ok(b);
  tree.mergeSystemRamResource(b);
  assert.equal(
    tree.procIomem(),
    "100000000-17fffffff : virtio0\n  100000000-10fffffff : System RAM (virtio_mem)\n",
  );

  // Seven nested levels: r_show() stops counting depth at 5 (10 spaces).
  const deep = new ResourceTree();
  let parent = deep.root;
  for (let i = 0; i < 7; i++) {
    const r = res(`l${i}`, BigInt(i) * 0x1000n, 0xffffffn - BigInt(i) * 0x1000n, IORESOURCE_MEM);
    assert.equal(deep.requestResource(parent, r), 0);
    parent = r;
  }
  const indents = deep
    .procIomem()
    .trimEnd()
    .split("\n")
    .map((l) => l.length - l.trimStart().length);
  assert.deepEqual(indents, [0, 2, 4, 6, 8, 10, 10]);

  // /proc/ioports: the root ends at 0xffff, so width 4.
  const io = new ResourceTree(undefined, new Resource("PCI IO", 0n, 0xffffn, IORESOURCE_IO));
  assert.ok(io.requestRegion(io.root, 0x0n, 0x20n, "dma1", 0));
  assert.ok(io.requestRegion(io.root, 0x3f8n, 0x8n, "serial", 0));
  assert.equal(io.procIomem(), "0000-001f : dma1\n03f8-03ff : serial\n");
});

test("release_resource takes the subtree, remove_resource lifts the children; -EINVAL when unlinked", () => {
  const work = new Work();
  const { tree, ram, kcode } = x86Tree(work);
  const released = work.total.resourcesReleased;
  assert.equal(tree.removeResource(ram), 0);
  assert.equal(kcode.parent, tree.root);
  assert.equal(ram.parent, null);
  assert.deepEqual(tree.checkInvariants(), []);
  assert.ok(!tree.procIomem().includes("00100000-3ffdffff"));
  assert.ok(tree.procIomem().includes("\n01000000-01ffffff : Kernel code\n"));

  const dev = res("dev", 0x80000000n, 0x8fffffffn, IORESOURCE_MEM);
  assert.equal(tree.requestResource(tree.root, dev), 0);
  const inner = res("inner", 0x80000000n, 0x80000fffn, IORESOURCE_MEM | IORESOURCE_BUSY);
  assert.equal(tree.requestResource(dev, inner), 0);
  assert.equal(tree.releaseResource(dev), 0);
  assert.ok(!tree.procIomem().includes("inner"));
  assert.equal(inner.parent, dev); // the subtree goes with it
  assert.equal(tree.releaseResource(dev), -EINVAL);
  assert.equal(work.total.resourcesReleased - released, 2);
});

test("checkInvariants reports broken trees", () => {
  const tree = new ResourceTree();
  const a = res("a", 0x1000n, 0x1fffn, IORESOURCE_MEM);
  const b = res("b", 0x3000n, 0x3fffn, IORESOURCE_MEM);
  assert.equal(tree.requestResource(tree.root, a), 0);
  assert.equal(tree.requestResource(tree.root, b), 0);
  assert.deepEqual(tree.checkInvariants(), []);
  b.start = 0x1800n; // overlaps a
  assert.equal(tree.checkInvariants().length, 1);
  b.start = 0x5000n; // start > end
  assert.equal(tree.checkInvariants().length, 1);
  b.start = 0x3000n;
  const c = res("c", 0x800n, 0x2fffn, IORESOURCE_MEM);
  assert.equal(tree.requestResource(a, c), -EBUSY); // out of a's range
  a.child = c; // forced: outside a, and parent link missing
  assert.equal(tree.checkInvariants().length, 2);
});
