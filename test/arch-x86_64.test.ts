import { test } from "node:test";
import assert from "node:assert/strict";
import { ENOMEM } from "../src/errno.js";
import { FakeAlloc } from "./support/fake-alloc.js";
import { Work } from "../src/kernel/work.js";
import type { ArchHotplugCtx, MhpParams, PfnRange, VmemAltmap } from "../src/arch/arch.js";
import { X86Mm } from "../src/arch/x86_64/init_64.js";
import { createBoard } from "../src/hw/board.js";
import { LEVEL_PMD, LEVEL_PTE, LEVEL_PUD, toVa48 } from "../src/mm/pgtable.js";

/** Page allocations start at PFN 0x20000 (512 MiB: inside boot RAM, away from the hot-added ranges). */
const FAKE_ALLOC_START = 0x20000;

class FakeCtx implements ArchHotplugCtx {
  readonly calls: string[] = [];
  result = 0;
  addPages(nid: number, startPfn: number, nrPages: number, _params: MhpParams): number {
    this.calls.push(`add ${nid} ${startPfn.toString(16)} ${nrPages}`);
    return this.result;
  }
  removePages(startPfn: number, nrPages: number, _altmap: VmemAltmap | undefined): void {
    this.calls.push(`remove ${startPfn.toString(16)} ${nrPages}`);
  }
}

const G = 2 ** 30;
const M = 2 ** 20;
const SECTION_PAGES = 32768;

/** The e820 RAM of QEMU pc with -m 1G, as memblock sees it (whole pages). */
function bootRanges(memBytes = G): PfnRange[] {
  const board = createBoard({ arch: "x86_64", memBytes, maxmemBytes: 8 * G, slots: 4 });
  return board.firmwareMap
    .filter((r) => r.kind === "ram")
    .map((r) => ({ startPfn: Math.ceil(r.start / 4096), endPfn: Math.floor(r.end / 4096) }));
}

function boot(opts: { gbpages?: boolean } = {}): { mm: X86Mm; alloc: FakeAlloc; work: Work } {
  const alloc = new FakeAlloc(FAKE_ALLOC_START);
  const work = new Work();
  const mm = new X86Mm({ alloc, work, gbpages: opts.gbpages });
  mm.mapBootMemory(bootRanges());
  return { mm, alloc, work };
}

const meminfo = (mm: X86Mm): Record<string, number> => Object.fromEntries(mm.archReportMeminfo());
const va = (pa: number): number => toVa48(0xffff888000000000n) + pa;

function leafLevels(mm: X86Mm, start: number, size: number): Map<number, number> {
  const counts = new Map<number, number>();
  mm.pgtable.forEachLeaf(va(start), va(start + size), (_v, lv) => counts.set(lv, (counts.get(lv) ?? 0) + 1));
  return counts;
}

test("boot: 1 GiB guest maps the ISA range and RAM with 4K heads/tails and 2M in between", () => {
  const { mm } = boot();
  // ISA [0, 1M) and [1M, 2M) in 4K; [2M, 0x3fe00000) in 2M; [0x3fe00000, 0x3ffe0000) in 4K
  const m = meminfo(mm);
  assert.equal(m.DirectMap4k, (2 * M + 0x1e0000) / 1024);
  assert.equal(m.DirectMap2M, (0x3fe00000 - 2 * M) / 1024);
  assert.equal(m.DirectMap1G, 0);
  // root + linear-map PUD table + PMD table of the first GiB + 2 PTE tables
  assert.equal(mm.pgtable.tablePages(), 5);
  assert.deepEqual(mm.pgtable.checkInvariants(), []);
});

test("a 1 GiB DIMM at 4 GiB is one 1G leaf: DirectMap1G += 1048576 kB, no new table page", () => {
  const { mm, alloc, work } = boot();
  const ctx = new FakeCtx();
  const before = meminfo(mm);
  const tables = mm.pgtable.tablePages();
  const pages = alloc.snapshot();

  assert.equal(mm.archAddMemory(ctx, 0, 4 * G, G, {}), 0);
  assert.deepEqual(ctx.calls, ["add 0 100000 262144"]);
  assert.deepEqual([...leafLevels(mm, 4 * G, G)], [[LEVEL_PUD, 1]]);
  assert.equal(mm.pgtable.lookup(va(4 * G + 5 * M))?.pfn, (4 * G + 5 * M) / 4096);
  const after = meminfo(mm);
  assert.equal(after.DirectMap1G - before.DirectMap1G, 1048576);
  assert.equal(after.DirectMap2M, before.DirectMap2M);
  assert.equal(after.DirectMap4k, before.DirectMap4k);
  // the linear map's PUD table (PGD slot of 0xffff888000000000 covers 512 GiB) exists since boot
  assert.equal(mm.pgtable.tablePages(), tables);

  mm.archRemoveMemory(ctx, 4 * G, G, undefined);
  assert.deepEqual(ctx.calls, ["add 0 100000 262144", "remove 100000 262144"]);
  assert.equal(leafLevels(mm, 4 * G, G).size, 0);
  assert.deepEqual(meminfo(mm), before);
  assert.equal(mm.pgtable.tablePages(), tables);
  assert.deepEqual(alloc.snapshot(), pages);
  assert.ok(work.total.tlbFlushAll >= 1);
  assert.deepEqual(mm.pgtable.checkInvariants(), []);
});

test("a 128 MiB block at 4 GiB is 64 2M leaves in a new PMD table that removal frees", () => {
  const { mm, alloc, work } = boot();
  const ctx = new FakeCtx();
  const before = meminfo(mm);
  const tables = mm.pgtable.tablePages();
  const pages = alloc.snapshot();

  assert.equal(mm.archAddMemory(ctx, 0, 4 * G, 128 * M, {}), 0);
  assert.deepEqual([...leafLevels(mm, 4 * G, 128 * M)], [[LEVEL_PMD, 64]]);
  assert.equal(meminfo(mm).DirectMap2M - before.DirectMap2M, 131072);
  assert.equal(meminfo(mm).DirectMap1G, before.DirectMap1G);
  assert.equal(mm.pgtable.tablePages(), tables + 1);
  assert.equal(alloc.count("pgtable"), pages.length + 1);

  const freedBefore = work.total.tablePagesFreed;
  mm.archRemoveMemory(ctx, 4 * G, 128 * M, undefined);
  assert.deepEqual(meminfo(mm), before);
  assert.equal(mm.pgtable.tablePages(), tables);
  assert.equal(work.total.tablePagesFreed - freedBefore, 1); // free_pmd_table(): all 512 entries none
  assert.deepEqual(alloc.snapshot(), pages);
  assert.deepEqual(mm.pgtable.checkInvariants(), []);
});

test("split_mem_range: 4K head up to 2M, 2M middle, 4K tail", () => {
  const { mm } = boot();
  assert.deepEqual(mm.splitMemRange(4 * G + M, 4 * G + 5 * M), [
    { start: 4 * G + M, end: 4 * G + 2 * M, pageSizeMask: 0 },
    { start: 4 * G + 2 * M, end: 4 * G + 4 * M, pageSizeMask: 1 << 2 },
    { start: 4 * G + 4 * M, end: 4 * G + 5 * M, pageSizeMask: 0 },
  ]);
  // 2M up to the 1G boundary, then 1G ranges (2M|1G allowed), then the 2M tail
  assert.deepEqual(mm.splitMemRange(4 * G - 4 * M, 6 * G + 4 * M), [
    { start: 4 * G - 4 * M, end: 4 * G, pageSizeMask: 1 << 2 },
    { start: 4 * G, end: 6 * G, pageSizeMask: (1 << 2) | (1 << 3) },
    { start: 6 * G, end: 6 * G + 4 * M, pageSizeMask: 1 << 2 },
  ]);
});

test("an unaligned range is mapped with 4K PTEs where 2M does not fit", () => {
  const { mm, alloc } = boot();
  const ctx = new FakeCtx();
  const before = meminfo(mm);
  const tables = mm.pgtable.tablePages();
  const pages = alloc.snapshot();

  // [4G+4K, 4G+20K): four 4K pages
  assert.equal(mm.archAddMemory(ctx, 0, 4 * G + 4096, 16384, {}), 0);
  assert.deepEqual([...leafLevels(mm, 4 * G, 2 * M)], [[LEVEL_PTE, 4]]);
  assert.equal(meminfo(mm).DirectMap4k - before.DirectMap4k, 16);
  assert.equal(mm.pgtable.tablePages(), tables + 2); // PMD + PTE table
  mm.archRemoveMemory(ctx, 4 * G + 4096, 16384, undefined);
  assert.deepEqual(alloc.snapshot(), pages);

  // [4G+1M, 4G+5M): 256 PTEs, one 2M leaf, 256 PTEs
  assert.equal(mm.archAddMemory(ctx, 0, 4 * G + M, 4 * M, {}), 0);
  assert.deepEqual([...leafLevels(mm, 4 * G, 6 * M)].sort(), [
    [LEVEL_PMD, 1],
    [LEVEL_PTE, 512],
  ]);
  assert.equal(meminfo(mm).DirectMap4k - before.DirectMap4k, 2048);
  assert.equal(meminfo(mm).DirectMap2M - before.DirectMap2M, 2048);
  assert.equal(mm.pgtable.tablePages(), tables + 3);
  mm.archRemoveMemory(ctx, 4 * G + M, 4 * M, undefined);
  assert.deepEqual(meminfo(mm), before);
  assert.equal(mm.pgtable.tablePages(), tables);
  assert.deepEqual(alloc.snapshot(), pages);
});

test("nogbpages: a 1 GiB DIMM is 512 2M leaves and /proc/meminfo has no DirectMap1G", () => {
  const { mm } = boot({ gbpages: false });
  const ctx = new FakeCtx();
  const before = meminfo(mm);
  assert.equal("DirectMap1G" in before, false);
  assert.equal(mm.archAddMemory(ctx, 0, 4 * G, G, {}), 0);
  assert.deepEqual([...leafLevels(mm, 4 * G, G)], [[LEVEL_PMD, 512]]);
  assert.equal(meminfo(mm).DirectMap2M - before.DirectMap2M, 1048576);
});

test("a failing __add_pages() leaves the x86 direct map (arch_add_memory has no undo); a retry reuses it", () => {
  const { mm } = boot();
  const ctx = new FakeCtx();
  const before = meminfo(mm);
  ctx.result = -ENOMEM;
  assert.equal(mm.archAddMemory(ctx, 0, 4 * G, G, {}), -ENOMEM);
  assert.equal(leafLevels(mm, 4 * G, G).get(LEVEL_PUD), 1);
  ctx.result = 0;
  assert.equal(mm.archAddMemory(ctx, 0, 4 * G, G, {}), 0);
  // phys_pud_init() keeps the existing 1G page and, after boot, does not count it again
  assert.equal(meminfo(mm).DirectMap1G - before.DirectMap1G, 1048576);
});

test("a table page that cannot be had fails the mapping and leaves nothing", () => {
  const { mm, alloc } = boot();
  const ctx = new FakeCtx();
  const before = meminfo(mm);
  const pages = alloc.snapshot();
  alloc.failAfter = 1; // the PMD table of [4G, 5G), not the PTE table
  assert.equal(mm.archAddMemory(ctx, 0, 4 * G + 4096, 4096, {}), -ENOMEM);
  assert.deepEqual(ctx.calls, []);
  assert.deepEqual(alloc.snapshot(), pages);
  assert.deepEqual(meminfo(mm), before);
  assert.deepEqual(mm.pgtable.checkInvariants(), []);
});

/** sparse_init(): the memmap of the boot sections (the model's generic code does this at boot). */
function bootVmemmap(mm: X86Mm): void {
  for (let s = 0; s < 8; s++)
    assert.equal(mm.vmemmapPopulate(s * SECTION_PAGES, SECTION_PAGES, 0, undefined), 0);
}

test("a section's memmap is one 2M PMD leaf (order-9 'vmemmap'); vmemmap_free() gives it back", () => {
  const { mm, alloc, work } = boot();
  bootVmemmap(mm);
  const tables = mm.pgtable.tablePages();
  const vm = toVa48(0xffffea0000000000n);
  const pfn = (4 * G) / 4096;
  const vmemmapBlocks = alloc.count("vmemmap");

  assert.equal(mm.vmemmapPopulate(pfn, SECTION_PAGES, 0, undefined), 0);
  const leaf = mm.pgtable.lookup(vm + pfn * 64);
  assert.equal(leaf?.level, LEVEL_PMD);
  assert.equal(leaf?.leafVa48, vm + pfn * 64); // 32768 x 64 B = exactly one 2 MiB block
  assert.equal(alloc.live.get(leaf.leafPfn)?.order, 9);
  assert.equal(alloc.count("vmemmap"), vmemmapBlocks + 1);
  // the vmemmap PMD table of the boot sections covers this one too
  assert.equal(mm.pgtable.tablePages(), tables);

  mm.vmemmapFree(pfn, SECTION_PAGES, undefined);
  assert.equal(mm.pgtable.lookup(vm + pfn * 64), undefined);
  assert.deepEqual(alloc.freed.at(-1), [leaf.leafPfn, 9]);
  assert.equal(work.total.vmemmapPagesFreed, 512);
  assert.equal(mm.pgtable.tablePages(), tables);
  assert.deepEqual(mm.pgtable.checkInvariants(), []);
});

test("a sub-section's memmap (32 KiB) uses base pages, freed page by page with the PTE table", () => {
  const { mm, alloc } = boot();
  bootVmemmap(mm);
  const tables = mm.pgtable.tablePages();
  const pages = alloc.snapshot();
  const pfn = (4 * G) / 4096;
  assert.equal(mm.vmemmapPopulate(pfn, 512, 0, undefined), 0);
  const vm = toVa48(0xffffea0000000000n) + pfn * 64;
  let ptes = 0;
  mm.pgtable.forEachLeaf(vm, vm + 2 * M, (_v, lv) => {
    assert.equal(lv, LEVEL_PTE);
    ptes++;
  });
  assert.equal(ptes, 8); // 512 x 64 B = 8 pages
  assert.equal(mm.pgtable.tablePages(), tables + 1);
  mm.vmemmapFree(pfn, 512, undefined);
  assert.equal(mm.pgtable.tablePages(), tables);
  assert.deepEqual(alloc.snapshot(), pages);
});

test("half a hugepage-mapped memmap freed keeps the 2M block until the other half goes (vmemmap_pmd_is_unused)", () => {
  const { mm, alloc } = boot();
  bootVmemmap(mm);
  const pfn = (4 * G) / 4096;
  const vm = toVa48(0xffffea0000000000n) + pfn * 64;
  assert.equal(mm.vmemmapPopulate(pfn, SECTION_PAGES, 0, undefined), 0);
  const block = mm.pgtable.lookup(vm)?.leafPfn;
  assert.ok(block !== undefined);
  mm.vmemmapFree(pfn + SECTION_PAGES / 2, SECTION_PAGES / 2, undefined);
  assert.equal(mm.pgtable.lookup(vm)?.leafPfn, block);
  assert.ok(alloc.live.has(block));
  mm.vmemmapFree(pfn, SECTION_PAGES / 2, undefined);
  assert.equal(mm.pgtable.lookup(vm), undefined);
  assert.equal(alloc.live.has(block), false);
});

test("memmap_on_memory: the 2M block comes from the altmap (the hot-added range) and is not freed to the allocator", () => {
  const { mm, alloc } = boot();
  bootVmemmap(mm);
  const pfn = (4 * G) / 4096;
  const altmap: VmemAltmap = { basePfn: pfn, reserve: 0, free: SECTION_PAGES, alloc: 0, align: 0 };
  const vmemmapBlocks = alloc.count("vmemmap");
  assert.equal(mm.vmemmapPopulate(pfn, SECTION_PAGES, 0, altmap), 0);
  assert.equal(mm.pgtable.lookup(toVa48(0xffffea0000000000n) + pfn * 64)?.leafPfn, pfn);
  assert.equal(altmap.alloc, 512);
  assert.equal(alloc.count("vmemmap"), vmemmapBlocks);
  const freed = alloc.freed.length;
  mm.vmemmapFree(pfn, SECTION_PAGES, altmap);
  assert.equal(altmap.alloc, 0);
  assert.equal(alloc.freed.length, freed);
  // an altmap too small for a 2M block has no fallback
  const tiny: VmemAltmap = { basePfn: pfn, reserve: 0, free: 100, alloc: 0, align: 0 };
  const tables = mm.pgtable.tablePages();
  assert.equal(mm.vmemmapPopulate(pfn, SECTION_PAGES, 0, tiny), -ENOMEM);
  assert.equal(mm.pgtable.lookup(toVa48(0xffffea0000000000n) + pfn * 64), undefined);
  mm.vmemmapFree(pfn, SECTION_PAGES, tiny); // section_deactivate()
  assert.equal(mm.pgtable.tablePages(), tables);
  assert.equal(tiny.alloc, 0);
});

test("memory block size: 128 MiB below 64 GiB of boot RAM, else the largest size up to 2 GiB dividing its end", () => {
  assert.equal(boot().mm.memoryBlockSizeBytes(), 128 * M);
  const big = new X86Mm({ alloc: new FakeAlloc(FAKE_ALLOC_START), work: new Work() });
  big.mapBootMemory([{ startPfn: 0x100, endPfn: (65 * G) / 4096 }]);
  assert.equal(big.memoryBlockSizeBytes(), G); // 65 GiB is 1 GiB aligned, not 2 GiB
  const metal = new X86Mm({ alloc: new FakeAlloc(FAKE_ALLOC_START), work: new Work(), hypervisor: false });
  metal.mapBootMemory([{ startPfn: 0x100, endPfn: (65 * G) / 4096 }]);
  assert.equal(metal.memoryBlockSizeBytes(), 2 * G);
});

test("removing part of a 1G leaf is refused by the model (the kernel would walk the leaf as a PMD table)", () => {
  const { mm } = boot();
  const ctx = new FakeCtx();
  assert.equal(mm.archAddMemory(ctx, 0, 4 * G, G, {}), 0);
  mm.archRemoveMemory(ctx, 4 * G, 128 * M, undefined);
  assert.equal(leafLevels(mm, 4 * G, G).get(LEVEL_PUD), 1);
  assert.equal(mm.warnings.length, 1);
  assert.equal(mm.archMemoryRemovalSplitsLeaf(4 * G, 128 * M), false); // no such check on x86
});
