import { test } from "node:test";
import assert from "node:assert/strict";
import { ENOMEM } from "../src/errno.js";
import { FakeAlloc } from "./support/fake-alloc.js";
import { Work } from "../src/kernel/work.js";
import type { ArchHotplugCtx, MhpParams, PfnRange, VmemAltmap } from "../src/arch/arch.js";
import { Arm64Mm } from "../src/arch/arm64/mmu.js";
import { createArchMm } from "../src/arch/index.js";
import { createBoard } from "../src/hw/board.js";
import { LEAF_CONT, LEVEL_PMD, LEVEL_PTE, LEVEL_PUD, toVa48 } from "../src/mm/pgtable.js";

/** Page allocations start at PFN 0x60000 (inside boot RAM (1.5 GiB), away from hot-added ranges). */
const FAKE_ALLOC_START = 0x60000;

const SECTION_PAGES = 32768;

/** Records calls; like __add_pages()/__remove_pages() it populates/frees the memmap per section. */
class FakeCtx implements ArchHotplugCtx {
  readonly calls: string[] = [];
  result = 0;
  constructor(private readonly mm?: Arm64Mm) {}
  addPages(nid: number, startPfn: number, nrPages: number, params: MhpParams): number {
    this.calls.push(`add ${startPfn.toString(16)} ${nrPages}`);
    if (this.result) return this.result;
    for (let p = startPfn; this.mm && p < startPfn + nrPages; p += SECTION_PAGES)
      assert.equal(this.mm.vmemmapPopulate(p, SECTION_PAGES, nid, params.altmap), 0);
    return 0;
  }
  removePages(startPfn: number, nrPages: number, altmap: VmemAltmap | undefined): void {
    this.calls.push(`remove ${startPfn.toString(16)} ${nrPages}`);
    for (let p = startPfn; this.mm && p < startPfn + nrPages; p += SECTION_PAGES)
      this.mm.vmemmapFree(p, SECTION_PAGES, altmap);
  }
}

const G = 2 ** 30;
const M = 2 ** 20;
const LINEAR = toVa48(0xffff000000000000n);
const VMEMMAP = toVa48(0xfffffc0000000000n);

/** QEMU virt -m 1G with UEFI: 0x04000000-0x07ffffff (flash bank reported as RAM) and 1G at 1 GiB. */
function bootRanges(): PfnRange[] {
  const board = createBoard({ arch: "arm64", memBytes: G, maxmemBytes: 8 * G, slots: 4 });
  return board.firmwareMap
    .filter((r) => r.kind === "ram")
    .map((r) => ({ startPfn: r.start / 4096, endPfn: r.end / 4096 }));
}

function boot(rodataFull = true, vmemmap = true): { mm: Arm64Mm; alloc: FakeAlloc; work: Work } {
  const alloc = new FakeAlloc(FAKE_ALLOC_START);
  const work = new Work();
  const mm = createArchMm({ arch: "arm64", alloc, work, rodataFull }) as Arm64Mm;
  mm.mapBootMemory(bootRanges());
  // sparse_init(): the memmap of the present boot sections (0 and 8..15)
  if (vmemmap)
    for (const s of [0, 8, 9, 10, 11, 12, 13, 14, 15])
      assert.equal(mm.vmemmapPopulate(s * SECTION_PAGES, SECTION_PAGES, 0, undefined), 0);
  return { mm, alloc, work };
}

function leaves(mm: Arm64Mm, start: number, end: number): Array<[number, number, number]> {
  const out: Array<[number, number, number]> = [];
  mm.pgtable.forEachLeaf(start, end, (va, lv, pfn, flags) => out.push([va, lv, flags]));
  return out;
}
const countLevel = (ls: Array<[number, number, number]>, lv: number): number =>
  ls.filter((l) => l[1] === lv).length;

test("layout: linear map and vmemmap addresses of VA_BITS 48, memstart_addr 0 or 1 GiB", () => {
  const { mm } = boot(true, false);
  assert.equal(mm.physToVirt(0x80000000), 0xffff000080000000n);
  assert.equal(mm.pfnToPageVa(0x80000), 0xfffffc0002000000n);
  assert.deepEqual(mm.archReportMeminfo(), []);
  const m1 = new Arm64Mm({ alloc: new FakeAlloc(FAKE_ALLOC_START), work: new Work(), memstartAddr: G });
  assert.equal(m1.physToVirt(G), 0xffff000000000000n);
  assert.equal(m1.pfnToPageVa(G / 4096), 0xfffffc0000000000n);
});

test("boot with rodata=full maps all RAM with 4K PTEs", () => {
  const { mm } = boot(true, false);
  const ranges = bootRanges();
  const ls = leaves(mm, LINEAR, LINEAR + 4 * G);
  // Every page of System RAM (the firmware's NOMAP regions stay out of the linear map).
  assert.equal(
    ls.length,
    ranges.reduce((n, r) => n + r.endPfn - r.startPfn, 0),
  );
  assert.equal(countLevel(ls, LEVEL_PTE), ls.length);
  // root, PUD table, one PMD table for [1G,2G), and a PTE table per 2 MiB the RAM touches
  const pteTables = new Set<number>();
  for (const r of ranges) for (let p = r.startPfn; p < r.endPfn; p += 1) pteTables.add(Math.floor(p / 512));
  assert.equal(mm.pgtable.tablePages(), 1 + 1 + 1 + pteTables.size);
});

test("rodata=full: a 128 MiB block at 2 GiB is 32768 PTEs in 64 PTE tables + a PMD table; removal frees them", () => {
  const { mm, alloc, work } = boot();
  const ctx = new FakeCtx(mm);
  const tables = mm.pgtable.tablePages();
  const pages = alloc.snapshot();
  const ptes = work.total.pteWritten;

  assert.equal(mm.archAddMemory(ctx, 0, 2 * G, 128 * M, {}), 0);
  const ls = leaves(mm, LINEAR + 2 * G, LINEAR + 2 * G + 128 * M);
  assert.equal(ls.length, 32768);
  assert.equal(countLevel(ls, LEVEL_PTE), 32768);
  assert.ok(ls.every((l) => !(l[2] & LEAF_CONT))); // NO_CONT_MAPPINGS
  assert.equal(work.total.pteWritten - ptes, 32768);
  // no PMD table covers [2G, 3G) after boot: 64 PTE tables + 1 PMD table
  assert.equal(mm.pgtable.tablePages(), tables + 65);

  const freed = work.total.tablePagesFreed;
  mm.archRemoveMemory(ctx, 2 * G, 128 * M, undefined);
  assert.equal(leaves(mm, LINEAR + 2 * G, LINEAR + 3 * G).length, 0);
  assert.equal(work.total.tablePagesFreed - freed, 65);
  assert.equal(mm.pgtable.tablePages(), tables);
  assert.deepEqual(alloc.snapshot(), pages);
  assert.deepEqual(mm.pgtable.checkInvariants(), []);
  assert.deepEqual(mm.warnings, []);
});

test("oracle: 1 GiB DIMM at 0x80000000 with rodata=full: 262144 PTEs, 513 table pages, 16 MiB of vmemmap in 8 blocks", () => {
  const { mm, alloc } = boot();
  const ctx = new FakeCtx(mm);
  const tables = mm.pgtable.tablePages();
  const pages = alloc.snapshot();

  assert.equal(mm.archAddMemory(ctx, 0, 0x80000000, G, {}), 0);
  const ls = leaves(mm, LINEAR + 0x80000000, LINEAR + 0xc0000000);
  assert.equal(ls.length, 262144);
  assert.equal(countLevel(ls, LEVEL_PTE), 262144);
  // 512 PTE tables + the PMD table for PUD slot 2; the PUD table (PGD slot 0) exists since boot
  assert.equal(mm.pgtable.tablePages() - tables, 513);
  // memmap: pfn 0x80000..0xc0000 x 64 B = [VMEMMAP+32M, VMEMMAP+48M), in the boot PMD table
  const vm = leaves(mm, VMEMMAP + 0x2000000, VMEMMAP + 0x3000000);
  assert.equal(vm.length, 8);
  assert.equal(countLevel(vm, LEVEL_PMD), 8);

  mm.archRemoveMemory(ctx, 0x80000000, G, undefined);
  assert.equal(leaves(mm, LINEAR + 0x80000000, LINEAR + 0xc0000000).length, 0);
  assert.equal(leaves(mm, VMEMMAP + 0x2000000, VMEMMAP + 0x3000000).length, 0);
  assert.equal(mm.pgtable.tablePages(), tables); // the real guest: 1037 before, 524 after
  assert.deepEqual(alloc.snapshot(), pages);
});

test("rodata=off: block mappings, 1G where aligned, else 2M with the contiguous bit per 32 MiB", () => {
  const { mm } = boot(false);
  const ctx = new FakeCtx(mm);
  assert.equal(mm.archAddMemory(ctx, 0, 2 * G, G, {}), 0);
  assert.deepEqual(leaves(mm, LINEAR + 2 * G, LINEAR + 3 * G), [[LINEAR + 2 * G, LEVEL_PUD, 0]]);
  mm.archRemoveMemory(ctx, 2 * G, G, undefined);

  const tables = mm.pgtable.tablePages();
  assert.equal(mm.archAddMemory(ctx, 0, 2 * G, 128 * M, {}), 0);
  const ls = leaves(mm, LINEAR + 2 * G, LINEAR + 3 * G);
  assert.equal(ls.length, 64);
  assert.ok(ls.every((l) => l[1] === LEVEL_PMD && l[2] & LEAF_CONT));
  assert.equal(mm.pgtable.tablePages(), tables + 1);
  // 48 MiB at 2G+16M: [16M,32M) 2M blocks without CONT, [32M,64M) with CONT
  mm.archRemoveMemory(ctx, 2 * G, 128 * M, undefined);
  assert.equal(mm.archAddMemory(ctx, 0, 2 * G + 16 * M, 48 * M, {}), 0);
  const ls2 = leaves(mm, LINEAR + 2 * G, LINEAR + 3 * G);
  assert.deepEqual(
    ls2.map((l) => l[2] & LEAF_CONT),
    [...Array(8).fill(0), ...Array(16).fill(LEAF_CONT)],
  );
});

test("6.1 unmaps a whole block even when the removal covers part of it", () => {
  const { mm } = boot(false);
  const ctx = new FakeCtx();
  assert.equal(mm.archAddMemory(ctx, 0, 2 * G, G, {}), 0);
  mm.archRemoveMemory(ctx, 2 * G + 128 * M, 128 * M, undefined);
  // unmap_hotplug_pud_range() clears the 1G block: [2G, 2G+128M) is gone too
  assert.equal(mm.pgtable.lookup(LINEAR + 2 * G), undefined);
});

test("2026 check: a removal whose edge falls inside a block or contiguous leaf would split it", () => {
  const off = boot(false).mm;
  const ctx = new FakeCtx(off);
  assert.equal(off.archAddMemory(ctx, 0, 2 * G, G, {}), 0);
  assert.equal(off.archMemoryRemovalSplitsLeaf(2 * G, G), false);
  assert.equal(off.archMemoryRemovalSplitsLeaf(2 * G + 128 * M, 128 * M), true); // inside the 1G block
  off.archRemoveMemory(ctx, 2 * G, G, undefined);
  assert.equal(off.archAddMemory(ctx, 0, 2 * G, 128 * M, {}), 0);
  assert.equal(off.archMemoryRemovalSplitsLeaf(2 * G, 128 * M), false);
  // linear-map edges alone: the CONT groups of 2M blocks are 32M
  assert.equal(off.addrSplitsKernelLeaf(LINEAR + 2 * G + 32 * M), false);
  assert.equal(off.addrSplitsKernelLeaf(LINEAR + 2 * G + 2 * M), true);
  assert.equal(off.addrSplitsKernelLeaf(LINEAR + 2 * G + 4096), true);
  // but less than a section also ends inside the section's 2M vmemmap block
  assert.equal(off.archMemoryRemovalSplitsLeaf(2 * G, 32 * M), true);
  // rodata=full: the linear map is pages, only the memmap blocks can be split
  const full = boot(true).mm;
  const ctx2 = new FakeCtx(full);
  assert.equal(full.archAddMemory(ctx2, 0, 2 * G, 128 * M, {}), 0);
  assert.equal(full.archMemoryRemovalSplitsLeaf(2 * G, 128 * M), false);
  assert.equal(full.addrSplitsKernelLeaf(LINEAR + 2 * G + 4096), false);
  assert.equal(full.addrSplitsKernelLeaf(LINEAR + 2 * G + 2048), true); // not even page aligned
  assert.equal(full.archMemoryRemovalSplitsLeaf(2 * G, 2 * M), true); // 32 KiB of a 2M vmemmap block
});

test("arch_add_memory() unmaps again when __add_pages() fails", () => {
  const { mm, alloc } = boot();
  const ctx = new FakeCtx(mm);
  const tables = mm.pgtable.tablePages();
  const pages = alloc.snapshot();
  ctx.result = -ENOMEM;
  assert.equal(mm.archAddMemory(ctx, 0, 2 * G, 128 * M, {}), -ENOMEM);
  assert.equal(leaves(mm, LINEAR + 2 * G, LINEAR + 3 * G).length, 0);
  assert.equal(mm.pgtable.tablePages(), tables);
  assert.deepEqual(alloc.snapshot(), pages);
  // a table page that cannot be had: no mapping, nothing left either
  ctx.result = 0;
  alloc.failAfter = 10;
  assert.equal(mm.archAddMemory(ctx, 0, 2 * G, 128 * M, {}), -ENOMEM);
  assert.deepEqual(ctx.calls, ["add 80000 32768"]);
  assert.deepEqual(alloc.snapshot(), pages);
});

test("memmap_on_memory: the memmap comes from the altmap, base pages too, and is not freed to the allocator", () => {
  const { mm, alloc } = boot();
  const pfn = (2 * G) / 4096;
  const altmap: VmemAltmap = { basePfn: pfn, reserve: 0, free: SECTION_PAGES, alloc: 0, align: 0 };
  const pages = alloc.snapshot();
  assert.equal(mm.vmemmapPopulate(pfn, SECTION_PAGES, 0, altmap), 0);
  assert.equal(mm.pgtable.lookup(VMEMMAP + pfn * 64)?.leafPfn, pfn);
  assert.equal(altmap.alloc, 512);
  assert.deepEqual(alloc.snapshot(), pages); // the vmemmap PMD table of the boot sections is reused
  mm.vmemmapFree(pfn, SECTION_PAGES, altmap);
  assert.equal(altmap.alloc, 0);
  assert.deepEqual(alloc.snapshot(), pages);
  // less than a section: vmemmap_populate_basepages() with the altmap (x86 passes NULL there)
  const pfn2 = (3 * G) / 4096;
  const alt2: VmemAltmap = { basePfn: pfn2, reserve: 0, free: 512, alloc: 0, align: 0 };
  assert.equal(mm.vmemmapPopulate(pfn2, 512, 0, alt2), 0);
  const ls = leaves(mm, VMEMMAP + pfn2 * 64, VMEMMAP + pfn2 * 64 + 32768);
  assert.equal(ls.length, 8);
  assert.equal(countLevel(ls, LEVEL_PTE), 8);
  assert.equal(mm.pgtable.lookup(VMEMMAP + pfn2 * 64 + 7 * 4096)?.pfn, pfn2 + 7);
  assert.equal(alt2.alloc, 8);
});

test("6.1 vmemmap_populate() leaves a PMD that is already a table as it is", () => {
  const { mm } = boot();
  const pfn = (2 * G) / 4096;
  assert.equal(mm.vmemmapPopulate(pfn, 512, 0, undefined), 0); // one sub-section: 8 base pages
  assert.equal(mm.vmemmapPopulate(pfn, SECTION_PAGES, 0, undefined), 0); // the PMD is not none: vmemmap_verify() only
  assert.equal(leaves(mm, VMEMMAP + pfn * 64, VMEMMAP + (pfn + SECTION_PAGES) * 64).length, 8);
});
