import { test } from "node:test";
import assert from "node:assert/strict";
import { ENOMEM, EEXIST } from "../src/errno.js";
import { FakeAlloc } from "./support/fake-alloc.js";
import { Work } from "../src/kernel/work.js";
import {
  KernelPageTable,
  LEVEL_PMD,
  LEVEL_PTE,
  LEVEL_PUD,
  LEAF_CONT,
  altmapAllocBlockBuf,
  fromVa48,
  toVa48,
  vmemmapPopulateBasepages,
} from "../src/mm/pgtable.js";

/** The tests' allocator hands out pages from PFN 0x100000 (4 GiB) up. */
const FAKE_BASE_PFN = 0x100000;

const G = 2 ** 30;
const M = 2 ** 20;
const BASE = toVa48(0xffff888000000000n);

test("va48 conversion keeps the canonical address", () => {
  assert.equal(fromVa48(toVa48(0xffff888100000000n)), 0xffff888100000000n);
  assert.equal(fromVa48(toVa48(0x00007fffffffe000n)), 0x00007fffffffe000n);
  // arm64's TTBR1 half starts at bit 47 = 0
  assert.equal(fromVa48(toVa48(0xffff000080000000n), 0), 0xffff000080000000n);
});

test("mapping with each leaf size allocates exactly the tables the levels need", () => {
  const alloc = new FakeAlloc(FAKE_BASE_PFN);
  const work = new Work();
  const pt = new KernelPageTable(alloc, work);
  assert.equal(pt.tablePages(), 1); // the static root only
  // 1 GiB leaf: needs a PUD table
  assert.equal(pt.mapRange(BASE + 4 * G, 4 * G, G, LEVEL_PUD), 0);
  assert.equal(pt.tablePages(), 2);
  // 2 MiB leaves in the next GiB: + a PMD table
  assert.equal(pt.mapRange(BASE + 5 * G, 5 * G, 8 * M, LEVEL_PMD), 0);
  assert.equal(pt.tablePages(), 3);
  // 4 KiB leaves across two 2 MiB regions: + two PTE tables
  assert.equal(pt.mapRange(BASE + 6 * G + 2 * M - 8192, 6 * G + 2 * M - 8192, 16384, LEVEL_PTE), 0);
  assert.equal(pt.tablePages(), 6); // PMD table for the 7th GiB + 2 PTE tables
  assert.equal(work.total.tablePagesAllocated, 5);
  assert.equal(work.total.pudWritten, 1 + 2); // the leaf + two PMD table pointers
  assert.equal(work.total.pteWritten, 4);
  assert.deepEqual(pt.tablePfns().sort(), alloc.livePfns("pgtable").sort());
  assert.deepEqual(pt.checkInvariants(), []);

  const l = pt.lookup(BASE + 4 * G + 12345 * 4096 + 17);
  assert.ok(l);
  assert.equal(l.level, LEVEL_PUD);
  assert.equal(l.pfn, (4 * G) / 4096 + 12345);
  assert.equal(pt.lookup(BASE + 5 * G + 8 * M), undefined);
});

test("mapRange refuses misaligned requests and tables in the way", () => {
  const pt = new KernelPageTable(new FakeAlloc(FAKE_BASE_PFN), new Work());
  assert.ok(pt.mapRange(BASE + M, M, 2 * M, LEVEL_PMD) < 0);
  assert.equal(pt.mapRange(BASE, 0, 4096, LEVEL_PTE), 0);
  // a 2 MiB leaf where a PTE table already is
  assert.equal(pt.mapRange(BASE, 0, 2 * M, LEVEL_PMD), -EEXIST);
});

test("forEachLeaf visits in address order, large leaves with their own start", () => {
  const pt = new KernelPageTable(new FakeAlloc(FAKE_BASE_PFN), new Work());
  pt.mapRange(BASE + 2 * G, 0x40000000, G, LEVEL_PUD);
  pt.mapRange(BASE + 4 * M, 0x200000, 2 * M, LEVEL_PMD, LEAF_CONT);
  pt.mapRange(BASE + 4096, 0x7000, 8192, LEVEL_PTE);
  const seen: Array<[number, number, number, number]> = [];
  pt.forEachLeaf(BASE, BASE + 2 * G + 4096, (va, lv, pfn, flags) => seen.push([va - BASE, lv, pfn, flags]));
  assert.deepEqual(seen, [
    [4096, LEVEL_PTE, 7, 0],
    [8192, LEVEL_PTE, 8, 0],
    [4 * M, LEVEL_PMD, 0x200, LEAF_CONT],
    [2 * G, LEVEL_PUD, 0x40000, 0],
  ]);
  // a range starting inside the 1 GiB leaf still reports it
  const inner: number[] = [];
  pt.forEachLeaf(BASE + 2 * G + 64 * M, BASE + 2 * G + 65 * M, (va) => inner.push(va - BASE));
  assert.deepEqual(inner, [2 * G]);
});

test("clearLeaves leaves partly covered leaves; freeEmptyTables frees what emptied, bottom-up", () => {
  const alloc = new FakeAlloc(FAKE_BASE_PFN);
  const work = new Work();
  const pt = new KernelPageTable(alloc, work);
  pt.mapRange(BASE + G, G, 4 * M, LEVEL_PMD);
  pt.mapRange(BASE + 2 * G, 2 * G, 64 * 4096, LEVEL_PTE);
  const before = pt.tablePages(); // root, PUD, 2 PMD, 1 PTE
  assert.equal(before, 5);
  // [G + 1M, 2G + 128K): the first 2M leaf is only partly inside
  const partial = pt.clearLeaves(BASE + G + M, BASE + 2 * G + 128 * 1024);
  assert.equal(partial, 1);
  assert.ok(pt.lookup(BASE + G));
  assert.equal(pt.lookup(BASE + G + 2 * M), undefined);
  assert.equal(pt.lookup(BASE + 2 * G), undefined);
  assert.ok(pt.lookup(BASE + 2 * G + 64 * 4096 - 1));
  assert.equal(pt.freeEmptyTables(BASE, BASE + 4 * G), 0); // the PTE table still has 32 entries
  pt.clearLeaves(BASE, BASE + 4 * G);
  // the PTE table, then its PMD table, then the PMD table of the first GiB; never the PUD (span 512G)
  assert.equal(pt.freeEmptyTables(BASE, BASE + 4 * G), 3);
  assert.equal(pt.tablePages(), 2);
  assert.equal(work.total.tablePagesFreed, 3);
  assert.deepEqual(pt.checkInvariants(), []);
  assert.deepEqual(pt.tablePfns(), alloc.livePfns());
});

test("a failing table allocation gives -ENOMEM and nothing leaks", () => {
  const alloc = new FakeAlloc(FAKE_BASE_PFN);
  const pt = new KernelPageTable(alloc, new Work());
  alloc.failAfter = 2; // PUD and PMD tables, not the PTE table
  assert.equal(pt.mapRange(BASE, 0, 4096, LEVEL_PTE), -ENOMEM);
  assert.deepEqual(pt.checkInvariants(), []);
  assert.equal(pt.tablePages(), 3);
});

test("checkInvariants reports a table that nothing points to", () => {
  const pt = new KernelPageTable(new FakeAlloc(FAKE_BASE_PFN), new Work());
  assert.ok(pt.allocTable(LEVEL_PMD) >= 0);
  assert.equal(pt.checkInvariants().length, 1);
});

test("the pool grows past its first slab of tables", () => {
  const alloc = new FakeAlloc(FAKE_BASE_PFN);
  const pt = new KernelPageTable(alloc, new Work());
  // 200 PTE tables: 200 x 2 MiB of 4 KiB pages
  assert.equal(pt.mapRange(BASE, 0, 400 * M, LEVEL_PTE), 0);
  assert.equal(pt.tablePages(), 1 + 1 + 1 + 200);
  assert.equal(pt.lookup(BASE + 399 * M)?.pfn, (399 * M) / 4096);
  assert.deepEqual(pt.checkInvariants(), []);
});

test("altmap allocation aligns to the block size, from base + reserve + alloc + align", () => {
  const altmap = { basePfn: 0x100000, reserve: 3, free: 2048, alloc: 0, align: 0 };
  // 512 pages: next pfn 0x100003 rounds up to 0x100200, 509 pages of alignment
  assert.equal(altmapAllocBlockBuf(altmap, 512), 0x100200);
  assert.equal(altmap.alloc, 512);
  assert.equal(altmap.align, 509);
  assert.equal(altmapAllocBlockBuf(altmap, 1), 0x100400);
  // next pfn 0x100401: 511 pages of alignment + 512 fit in the 2048 - (513 + 509) = 1026 left
  assert.equal(altmapAllocBlockBuf(altmap, 512), 0x100600);
  // then 2048 - (1025 + 1020) = 3 pages are left
  assert.equal(altmapAllocBlockBuf(altmap, 512), -ENOMEM);
});

test("vmemmap base pages: one backing page per PTE, from the allocator as 'vmemmap'", () => {
  const alloc = new FakeAlloc(FAKE_BASE_PFN);
  const work = new Work();
  const pt = new KernelPageTable(alloc, work);
  const vm = toVa48(0xffffea0000000000n);
  assert.equal(vmemmapPopulateBasepages(pt, alloc, work, vm, vm + 8 * 4096, undefined), 0);
  assert.equal(alloc.livePfns("vmemmap").length, 8);
  assert.equal(alloc.livePfns("pgtable").length, 3);
  assert.equal(work.total.vmemmapPagesAllocated, 8);
  // populating again adds nothing
  assert.equal(vmemmapPopulateBasepages(pt, alloc, work, vm, vm + 8 * 4096, undefined), 0);
  assert.equal(alloc.livePfns("vmemmap").length, 8);
});
