import { test } from "node:test";
import assert from "node:assert/strict";
import type { AllocPurpose, PageAllocator } from "../src/mm/gfp.js";
import { Work } from "../src/kernel/work.js";
import type { ArchHotplugCtx, VmemAltmap } from "../src/arch/arch.js";
import { createArchMm, type ArchMmImpl } from "../src/arch/index.js";
import { LEVEL_PMD, LEVEL_PTE, LEVEL_PUD, toVa48 } from "../src/mm/pgtable.js";
import { kernelPageTablesText, ptdumpRange } from "../src/mm/ptdump.js";

class FakeAlloc implements PageAllocator {
  next = 0x20000;
  readonly live = new Set<number>();
  allocPages(order: number, _purpose: AllocPurpose): number {
    const n = 1 << order;
    this.next = Math.ceil(this.next / n) * n;
    const pfn = this.next;
    this.next += n;
    this.live.add(pfn);
    return pfn;
  }
  freePages(pfn: number, _order: number): void {
    assert.ok(this.live.delete(pfn));
  }
}

const noCtx: ArchHotplugCtx = {
  addPages: () => 0,
  removePages: () => undefined,
};
const G = 2 ** 30;
const M = 2 ** 20;

function x86(): ArchMmImpl {
  const mm = createArchMm({ arch: "x86_64", alloc: new FakeAlloc(), work: new Work() });
  mm.mapBootMemory([
    { startPfn: 1, endPfn: 0x9f },
    { startPfn: 0x100, endPfn: 0x3ffe0 },
  ]);
  return mm;
}
function arm64(rodataFull = true): ArchMmImpl {
  const mm = createArchMm({ arch: "arm64", alloc: new FakeAlloc(), work: new Work(), rodataFull });
  mm.mapBootMemory([
    { startPfn: 0x4000, endPfn: 0x8000 },
    { startPfn: 0x40000, endPfn: 0x80000 },
  ]);
  return mm;
}

test("x86: 64 2M leaves of a 128 MiB block merge into one pmd run; its memmap is one 2M block", () => {
  const mm = x86();
  assert.equal(mm.archAddMemory(noCtx, 0, 4 * G, 128 * M, {}), 0);
  assert.equal(mm.vmemmapPopulate((4 * G) / 4096, 32768, 0, undefined), 0);
  const r = ptdumpRange(mm, 0x100000000n, 0x8000000n);
  assert.deepEqual(r.linear, [
    { va: "0xffff888100000000", size: "0x8000000", level: "pmd", pa: "0x100000000" },
  ]);
  // struct pages of pfn 0x100000.. at 0xffffea0000000000 + 0x100000 * 64
  assert.deepEqual(r.vmemmap, [{ va: "0xffffea0004000000", size: "0x200000", level: "pmd", inRange: false }]);
  assert.equal(r.tablePages, mm.pgtable.tablePages());
});

test("a leaf only partly inside the range is reported whole", () => {
  const mm = x86();
  assert.equal(mm.archAddMemory(noCtx, 0, 4 * G, G, {}), 0);
  const r = ptdumpRange(mm, 0x108000000n, 0x8000000n);
  assert.deepEqual(r.linear, [
    { va: "0xffff888100000000", size: "0x40000000", level: "pud", pa: "0x100000000" },
  ]);
  assert.deepEqual(r.vmemmap, []);
});

test("runs break where the level changes or the physical addresses do not continue", () => {
  const mm = x86();
  const pt = mm.pgtable;
  const va = (pa: number): number => toVa48(0xffff888000000000n) + pa;
  // [8G, 8G+2M) in 4K pages, [8G+2M, 8G+6M) in 2M, [8G+6M, 8G+8M) 2M but backed by 16G
  assert.equal(pt.mapRange(va(8 * G), 8 * G, 2 * M, LEVEL_PTE), 0);
  assert.equal(pt.mapRange(va(8 * G + 2 * M), 8 * G + 2 * M, 4 * M, LEVEL_PMD), 0);
  assert.equal(pt.mapRange(va(8 * G + 6 * M), 16 * G, 2 * M, LEVEL_PMD), 0);
  assert.equal(pt.mapRange(va(9 * G), 9 * G, G, LEVEL_PUD), 0);
  assert.deepEqual(ptdumpRange(mm, BigInt(8 * G), BigInt(2 * G)).linear, [
    { va: "0xffff888200000000", size: "0x200000", level: "pte", pa: "0x200000000" },
    { va: "0xffff888200200000", size: "0x400000", level: "pmd", pa: "0x200200000" },
    { va: "0xffff888200600000", size: "0x200000", level: "pmd", pa: "0x400000000" },
    { va: "0xffff888240000000", size: "0x40000000", level: "pud", pa: "0x240000000" },
  ]);
});

test("arm64 rodata=full: 32768 PTEs of a 128 MiB block are one pte run; memmap_on_memory backing is inRange", () => {
  const mm = arm64();
  assert.equal(mm.archAddMemory(noCtx, 0, 2 * G, 128 * M, {}), 0);
  const pfn = (2 * G) / 4096;
  const altmap: VmemAltmap = { basePfn: pfn, reserve: 0, free: 32768, alloc: 0, align: 0 };
  assert.equal(mm.vmemmapPopulate(pfn, 32768, 0, altmap), 0);
  const r = ptdumpRange(mm, 0x80000000n, 0x8000000n);
  assert.deepEqual(r.linear, [
    { va: "0xffff000080000000", size: "0x8000000", level: "pte", pa: "0x80000000" },
  ]);
  assert.deepEqual(r.vmemmap, [{ va: "0xfffffc0002000000", size: "0x200000", level: "pmd", inRange: true }]);
  // the same block asked about through a range that does not hold its backing
  const other = ptdumpRange(mm, 0x80200000n, 0x200000n);
  assert.deepEqual(other.vmemmap, [
    { va: "0xfffffc0002000000", size: "0x200000", level: "pmd", inRange: false },
  ]);
});

test("vmemmap runs merge on level, virtual continuity and inRange, not on where the backing is", () => {
  const mm = arm64();
  const pfn = (2 * G) / 4096;
  for (let s = 0; s < 4; s++) assert.equal(mm.vmemmapPopulate(pfn + s * 32768, 32768, 0, undefined), 0);
  const r = ptdumpRange(mm, 0x80000000n, 0x20000000n);
  assert.deepEqual(r.vmemmap, [{ va: "0xfffffc0002000000", size: "0x800000", level: "pmd", inRange: false }]);
});

test("x86 kernel_page_tables: markers in order and the 1G leaf line in dump_pagetables.c format", () => {
  const mm = x86();
  assert.equal(mm.archAddMemory(noCtx, 0, 4 * G, G, {}), 0);
  const text = kernelPageTablesText(mm);
  const markers = [...text.matchAll(/^---\[ (.*) \]---$/gm)].map((m) => m[1]);
  assert.deepEqual(markers.slice(0, 6), [
    "User Space",
    "Kernel Space",
    "LDT remap",
    "Low Kernel Mapping",
    "vmalloc() Area",
    "Vmemmap",
  ]);
  // "0x%016lx-0x%016lx   " "%9lu%c " then printk_prot(): USR, RW, PWT, PCD, PSE, PAT, GLB, NX, level
  const line =
    "0xffff888100000000-0xffff888140000000   " +
    "        1G " +
    "    " +
    "RW " +
    "    " +
    "    " +
    "PSE " +
    "    " +
    "GLB " +
    "NX " +
    "pud";
  assert.ok(text.split("\n").includes(line), text);
  // the ISA page 0 is a 4K pte; holes print 30 blanks
  assert.match(text, /^0xffff888000000000-0xffff888000001000 {11}4K {5}RW {17}GLB NX pte$/m);
  assert.match(text, /^0xffff888140000000-0xffff890000000000 {9}507G {31}pud$/m);
  // the last run ends at the final flush, address 0
  assert.match(text, /-0x0000000000000000 .*\n$/);
});

test("arm64 kernel_page_tables: ptdump.c format, PTE pages and the BLK of a vmemmap block", () => {
  const mm = arm64();
  assert.equal(mm.archAddMemory(noCtx, 0, 2 * G, 128 * M, {}), 0);
  assert.equal(mm.vmemmapPopulate((2 * G) / 4096, 32768, 0, undefined), 0);
  const text = kernelPageTablesText(mm);
  assert.ok(text.startsWith("---[ Linear Mapping start ]---\n"));
  // dump_prot() over pte_bits[]: " %s" each of valid, USR, RDONLY, PXN, SHARED, AF, NG, CONT, TABLE, UXN, GP, ATTRINDX
  // (PTE_TABLE_BIT set on page descriptors prints "   ", clear on blocks "BLK")
  const prot = (table: string): string =>
    [" ", "   ", "RW", "NX", "SHD", "AF", "  ", "   ", table, "UXN", "  ", "MEM/NORMAL"]
      .map((f) => " " + f)
      .join("");
  const pageProt = prot("   ");
  const blockProt = prot("BLK");
  // boot RAM [1G, 2G) and the new [2G, 2G+128M) are one run of 1152M of pages
  const lines = text.split("\n");
  assert.ok(
    lines.includes("0xffff000040000000-0xffff000088000000        1152M PTE" + pageProt),
    text.slice(0, 600),
  );
  assert.ok(lines.includes("0xfffffc0002000000-0xfffffc0002200000           2M PMD" + blockProt));
  assert.ok(lines.includes("0xffff000008000000-0xffff000040000000         896M PMD"));
  // the last run ends at the final flush, address 0
  assert.equal(lines.at(-2), "0xfffffe0000000000-0x0000000000000000           2T PGD");
});
