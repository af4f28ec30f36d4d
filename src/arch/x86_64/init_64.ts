// x86_64 kernel page tables for memory hot(un)plug, Linux 6.1, 4-level paging,
// booted with nokaslr (and without LA57: QEMU -cpu max,la57=off).
//
//   arch/x86/mm/init.c        probe_page_size_mask(), split_mem_range(),
//                             init_memory_mapping(), init_mem_mapping()
//   arch/x86/mm/init_64.c     kernel_physical_mapping_init() and phys_*_init(),
//                             arch_add_memory(), arch_remove_memory(),
//                             remove_pagetable() and remove_*_table(),
//                             free_*_table(), vmemmap_populate(), vmemmap_free()
//   arch/x86/mm/pat/set_memory.c  direct_pages_count[], arch_report_meminfo()
//   arch/x86/mm/dump_pagetables.c the kernel_page_tables text
//
// Differences from the kernel are marked "model:" where they happen.

import { EINVAL, ENOMEM, ERANGE } from "../../errno.js";
import { MIN_MEMORY_BLOCK_SIZE, PAGES_PER_SECTION, STRUCT_PAGE_SIZE } from "../../mm/constants.js";
import type { PageAllocator } from "../../mm/gfp.js";
import {
  KernelPageTable,
  LEVEL_PGD,
  LEVEL_PMD,
  LEVEL_PTE,
  LEVEL_PUD,
  LEVEL_SIZE,
  PTRS_PER_TABLE,
  entryIsLeaf,
  entryIsNone,
  entryIsTable,
  entryLeafPfn,
  entryTable,
  levelAddrEnd,
  ptIndex,
  toVa48,
  vmemAltmapFree,
  vmemmapAllocBlockBuf,
  vmemmapPopulateBasepages,
  type PtLevel,
} from "../../mm/pgtable.js";
import { ptdumpWalkPgd } from "../../mm/ptdump.js";
import type { Work } from "../../kernel/work.js";
import type { ArchHotplugCtx, ArchMm, MhpParams, PfnRange, VmemAltmap } from "../arch.js";
import type { MemoryNotifier } from "../../drivers/base/memory.js";

/** arch/x86/include/asm/page_64_types.h: __PAGE_OFFSET_BASE_L4 */
export const X86_PAGE_OFFSET = 0xffff888000000000n;
/** arch/x86/include/asm/pgtable_64_types.h: __VMEMMAP_BASE_L4 (vmemmap = (struct page *)VMEMMAP_START) */
export const X86_VMEMMAP_START = 0xffffea0000000000n;
/** include/linux/mm.h PHYSMEM_END with MAX_PHYSMEM_BITS 46 (4-level). */
const PHYSMEM_END = 2 ** 46 - 1;
/** arch/x86/mm/init_64.c: MAX_BLOCK_SIZE, MEM_SIZE_FOR_LARGE_BLOCK */
const MAX_BLOCK_SIZE = 2 * 2 ** 30;
const MEM_SIZE_FOR_LARGE_BLOCK = 64 * 2 ** 30;
/** arch/x86/include/asm/e820/types.h: ISA_END_ADDRESS */
const ISA_END_ADDRESS = 0x100000;

const PAGE_OFFSET48 = toVa48(X86_PAGE_OFFSET);

/** The direct map's 2 MiB pages split by protectKernelImage() (physical addresses, nokaslr). */
const KERNEL_IMAGE_SPLITS = [0x1e00000, 0x2800000, 0x3200000, 0x3e00000, 0x4400000];
const VMEMMAP48 = toVa48(X86_VMEMMAP_START);

const PAGE = 4096;
const PMD_SIZE = LEVEL_SIZE[LEVEL_PMD];
const PUD_SIZE = LEVEL_SIZE[LEVEL_PUD];
const PMD_PAGES = PMD_SIZE / PAGE;
const PUD_PAGES = PUD_SIZE / PAGE;

/** arch/x86/include/asm/pgtable_types.h: enum pg_level */
const PG_LEVEL_4K = 1;
const PG_LEVEL_2M = 2;
const PG_LEVEL_1G = 3;
const MASK_2M = 1 << PG_LEVEL_2M;
const MASK_1G = 1 << PG_LEVEL_1G;

const roundUp = (x: number, a: number): number => Math.ceil(x / a) * a;
const roundDown = (x: number, a: number): number => Math.floor(x / a) * a;
const aligned = (x: number, a: number): boolean => x % a === 0;

/** arch/x86/mm/init.c: struct map_range (physical addresses). */
interface MapRange {
  start: number;
  end: number;
  pageSizeMask: number;
}

export interface X86MmOptions {
  alloc: PageAllocator;
  work: Work;
  /**
   * Direct-map 1 GiB pages: CONFIG_X86_DIRECT_GBPAGES=y (no `nogbpages`) and
   * a CPU with PDPE1GB, as QEMU -cpu max has. Default true.
   */
  gbpages?: boolean;
  /** X86_FEATURE_PSE (2 MiB pages), without debug_pagealloc. Default true. */
  pse?: boolean;
  /** X86_FEATURE_HYPERVISOR (a guest; decides the block size above 64 GiB). Default true. */
  hypervisor?: boolean;
}

export class X86Mm implements ArchMm {
  readonly arch = "x86_64" as const;
  readonly pgtable: KernelPageTable;
  /** arch/x86/mm/pat/set_memory.c: direct_pages_count[], indexed by enum pg_level. */
  readonly directPagesCount = [0, 0, 0, 0];
  /** Kernel paths the model met that the kernel WARNs about or mishandles. */
  readonly warnings: string[] = [];

  private readonly alloc: PageAllocator;
  private readonly work: Work;
  private readonly pse: boolean;
  private readonly hypervisor: boolean;
  /** max_pfn: end of boot RAM (e820__end_of_ram_pfn()). */
  private maxPfn = 0;
  private pageSizeMask = 0;
  private directGbpages: boolean;
  private afterBootmem = true;
  /** memblock.memory as seen at boot (merged ranges, bytes). */
  private memblock: Array<[number, number]> = [];
  /**
   * The PAGE_UNUSED (0xFD) marking of partly used 2 MiB vmemmap blocks
   * (vmemmap_use_sub_pmd() and friends), one byte per 4 KiB of the block:
   * 1 = unused. Kept eagerly instead of through unused_pmd_start, which gives
   * the same answers because every check flushes the lazy range first.
   */
  private readonly subPmdUnused = new Map<number, Uint8Array>();
  /** Tables allocated by the init_memory_mapping() in progress (va48, level), for rollback. */
  private newTables: Array<[number, PtLevel]> | undefined;

  constructor(opts: X86MmOptions) {
    this.alloc = opts.alloc;
    this.work = opts.work;
    this.pse = opts.pse ?? true;
    this.hypervisor = opts.hypervisor ?? true;
    this.directGbpages = opts.gbpages ?? true;
    this.pgtable = new KernelPageTable(opts.alloc, opts.work);
    this.probePageSizeMask();
  }

  physToVirt(pa: number): bigint {
    return X86_PAGE_OFFSET + BigInt(pa);
  }

  pfnToPageVa(pfn: number): bigint {
    return X86_VMEMMAP_START + BigInt(pfn) * BigInt(STRUCT_PAGE_SIZE);
  }

  // ---- arch/x86/mm/init.c ----

  // arch/x86/mm/init.c: probe_page_size_mask()
  private probePageSizeMask(): void {
    if (this.pse) this.pageSizeMask |= MASK_2M;
    else this.directGbpages = false;
    if (this.directGbpages) this.pageSizeMask |= MASK_1G;
  }

  // arch/x86/mm/pat/set_memory.c: update_page_count()
  private updatePageCount(level: number, pages: number): void {
    this.directPagesCount[level] += pages;
  }

  // mm/memblock.c: memblock_is_region_memory()
  private isRegionMemory(base: number, size: number): boolean {
    return this.memblock.some(([s, e]) => base >= s && base + size <= e);
  }

  // arch/x86/mm/init.c: adjust_range_page_size_mask()
  private adjustRangePageSizeMask(mr: MapRange[]): void {
    for (const r of mr) {
      if (this.pageSizeMask & MASK_2M && !(r.pageSizeMask & MASK_2M)) {
        const s = roundDown(r.start, PMD_SIZE);
        const e = roundUp(r.end, PMD_SIZE);
        if (this.isRegionMemory(s, e - s)) r.pageSizeMask |= MASK_2M;
      }
      if (this.pageSizeMask & MASK_1G && !(r.pageSizeMask & MASK_1G)) {
        const s = roundDown(r.start, PUD_SIZE);
        const e = roundUp(r.end, PUD_SIZE);
        if (this.isRegionMemory(s, e - s)) r.pageSizeMask |= MASK_1G;
      }
    }
  }

  // arch/x86/mm/init.c: split_mem_range() (CONFIG_X86_64 branch)
  splitMemRange(start: number, end: number): MapRange[] {
    const mr: MapRange[] = [];
    const save = (s: number, e: number, mask: number): void => {
      if (s < e) mr.push({ start: s * PAGE, end: e * PAGE, pageSizeMask: mask });
    };
    const limitPfn = Math.floor(end / PAGE);
    let pfn = Math.floor(start / PAGE);
    let startPfn = pfn;
    // head if not big page alignment
    let endPfn = Math.min(roundUp(pfn, PMD_PAGES), limitPfn);
    if (startPfn < endPfn) {
      save(startPfn, endPfn, 0);
      pfn = endPfn;
    }
    // big page (2M) range up to the next 1G boundary
    startPfn = roundUp(pfn, PMD_PAGES);
    endPfn = roundUp(pfn, PUD_PAGES);
    if (endPfn > roundDown(limitPfn, PMD_PAGES)) endPfn = roundDown(limitPfn, PMD_PAGES);
    if (startPfn < endPfn) {
      save(startPfn, endPfn, this.pageSizeMask & MASK_2M);
      pfn = endPfn;
    }
    // big page (1G) range
    startPfn = roundUp(pfn, PUD_PAGES);
    endPfn = roundDown(limitPfn, PUD_PAGES);
    if (startPfn < endPfn) {
      save(startPfn, endPfn, this.pageSizeMask & (MASK_2M | MASK_1G));
      pfn = endPfn;
    }
    // tail is not big page (1G) alignment
    startPfn = roundUp(pfn, PMD_PAGES);
    endPfn = roundDown(limitPfn, PMD_PAGES);
    if (startPfn < endPfn) {
      save(startPfn, endPfn, this.pageSizeMask & MASK_2M);
      pfn = endPfn;
    }
    // tail is not big page (2M) alignment
    save(pfn, limitPfn, 0);

    if (!this.afterBootmem) this.adjustRangePageSizeMask(mr);

    // try to merge same page size and continuous
    for (let i = 0; mr.length > 1 && i < mr.length - 1; i++) {
      if (mr[i].end !== mr[i + 1].start || mr[i].pageSizeMask !== mr[i + 1].pageSizeMask) continue;
      mr[i + 1].start = mr[i].start;
      mr.splice(i, 1);
      i--;
    }
    return mr;
  }

  /**
   * arch/x86/mm/init.c: init_memory_mapping(): the direct map of [start, end).
   * 0, or -ENOMEM when a table page could not be had (model: the kernel has
   * no failure path there; the model undoes what this call mapped).
   */
  initMemoryMapping(start: number, end: number): number {
    const mr = this.splitMemRange(start, end);
    this.newTables = [];
    let ret = 0;
    for (const r of mr) {
      ret = this.kernelPhysicalMappingInit(r.start, r.end, r.pageSizeMask);
      if (ret < 0) break;
    }
    const created = this.newTables;
    this.newTables = undefined;
    if (ret < 0) {
      this.kernelPhysicalMappingRemove(start, end);
      // remove_pagetable() never frees PUD tables on 4-level paging; drop
      // the empty tables this call created so the failure leaves nothing.
      for (let k = created.length - 1; k >= 0; k--) {
        const [va, level] = created[k];
        const parent = this.pgtable.tableAt(va, (level - 1) as PtLevel);
        if (parent < 0) continue;
        const idx = ptIndex(va, level - 1);
        const e = this.pgtable.get(parent, idx);
        if (!entryIsTable(e) || !this.pgtable.tableEmpty(entryTable(e))) continue;
        this.pgtable.clear(parent, idx);
        this.pgtable.freeTable(entryTable(e));
      }
    }
    return ret;
  }

  /**
   * arch/x86/mm/init.c: init_mem_mapping() at boot: the ISA range, then the
   * RAM ranges (memblock.memory), with adjust_range_page_size_mask() upgrading
   * ranges whose surrounding 2M/1G is all RAM.
   * model: the RAM ranges are mapped whole, bottom-up, instead of in
   * memory_map_top_down()'s growing steps; and the boot-time re-count of
   * reused entries (`if (!after_bootmem) pages++`) is left out, so
   * direct_pages_count[] equals what is mapped. Boot figures are compared only
   * as differences.
   */
  mapBootMemory(ranges: readonly PfnRange[]): void {
    const sorted = [...ranges].sort((a, b) => a.startPfn - b.startPfn);
    this.memblock = [];
    for (const r of sorted) {
      const s = r.startPfn * PAGE;
      const e = r.endPfn * PAGE;
      const last = this.memblock[this.memblock.length - 1];
      if (last && last[1] >= s) last[1] = Math.max(last[1], e);
      else this.memblock.push([s, e]);
    }
    this.maxPfn = sorted.reduce((m, r) => Math.max(m, r.endPfn), 0);
    this.afterBootmem = false;
    try {
      const mapRange = (s: number, e: number): void => {
        if (s < e && this.initMemoryMapping(s, e) < 0) throw new Error("init_mem_mapping: out of memory");
      };
      // the ISA range is always mapped regardless of memory holes
      mapRange(0, ISA_END_ADDRESS);
      for (const [s, e] of this.memblock) mapRange(Math.max(s, ISA_END_ADDRESS), e);
    } finally {
      this.afterBootmem = true;
    }
  }

  /**
   * Late boot's protections of the kernel image (arch/x86/mm/init.c:
   * free_kernel_image_pages(), mark_rodata_ro(), set_memory_*() through
   * arch/x86/mm/pat/set_memory.c __split_large_page()): the 2 MiB pages of the
   * direct map that hold a boundary of the image's sections, and two just past
   * the image, are split to 4 KiB pages, as the oracle's ptdump of boot memory
   * shows on every x86_64 guest (scenarios/oracle/x86-ptdump-boot.mhp). Each
   * split is counted in DirectMap4k/2M (split_page_count()), and so is the split
   * of the same pages in the kernel's high mapping of its image, which
   * virt_addr_valid() also accepts: the model has no high mapping, only its count.
   * The PTE tables come from the page allocator (after mem_init()).
   */
  protectKernelImage(): void {
    const pt = this.pgtable;
    for (const pa of KERNEL_IMAGE_SPLITS) {
      const va = PAGE_OFFSET48 + pa;
      const pmd = pt.tableAt(va, LEVEL_PMD);
      if (pmd < 0) continue;
      const i = ptIndex(va, LEVEL_PMD);
      const e = pt.get(pmd, i);
      if (!entryIsLeaf(e)) continue;
      const pte = this.allocTable(LEVEL_PTE, va);
      if (pte < 0) continue; // set_memory_*() fails with -ENOMEM: the page stays whole
      pt.setLeaves(pte, 0, pa / PAGE, 0, PTRS_PER_TABLE);
      pt.clear(pmd, i);
      pt.setTable(pmd, i, pte);
      for (let k = 0; k < 2; k++) {
        this.updatePageCount(PG_LEVEL_2M, -1);
        this.updatePageCount(PG_LEVEL_4K, PTRS_PER_TABLE);
      }
    }
  }

  // ---- arch/x86/mm/init_64.c: building the direct map ----

  private allocTable(level: PtLevel, va48: number): number {
    const id = this.pgtable.allocTable(level);
    if (id >= 0) this.newTables?.push([va48, level]);
    return id;
  }

  // arch/x86/mm/init_64.c: kernel_physical_mapping_init() / __kernel_physical_mapping_init()
  private kernelPhysicalMappingInit(paddrStart: number, paddrEnd: number, mask: number): number {
    const pt = this.pgtable;
    const vaddrEnd = PAGE_OFFSET48 + paddrEnd;
    for (let vaddr = PAGE_OFFSET48 + paddrStart; vaddr < vaddrEnd;) {
      const vnext = levelAddrEnd(vaddr, vaddrEnd, LEVEL_PGD);
      const idx = ptIndex(vaddr, LEVEL_PGD);
      const e = pt.get(pt.root, idx);
      let pud: number;
      if (entryIsTable(e)) pud = entryTable(e);
      else {
        // 4-level: the "p4d" page is the PUD table, hung in the PGD (p4d folded)
        pud = this.allocTable(LEVEL_PUD, vaddr);
        if (pud < 0) return pud;
        pt.setTable(pt.root, idx, pud);
      }
      const r = this.physPudInit(pud, vaddr - PAGE_OFFSET48, vnext - PAGE_OFFSET48, mask);
      if (r < 0) return r;
      vaddr = vnext;
    }
    return 0;
  }

  // arch/x86/mm/init_64.c: phys_pud_init()
  private physPudInit(pud: number, paddr: number, paddrEnd: number, mask: number): number {
    const pt = this.pgtable;
    let pages = 0;
    let ret = 0;
    for (let i = ptIndex(PAGE_OFFSET48 + paddr, LEVEL_PUD); i < 512 && paddr < paddrEnd; i++) {
      const paddrNext = roundDown(paddr, PUD_SIZE) + PUD_SIZE;
      const e = pt.get(pud, i);
      if (entryIsTable(e)) {
        ret = this.physPmdInit(entryTable(e), paddr, paddrEnd, mask);
        if (ret < 0) break;
        paddr = paddrNext;
        continue;
      }
      // an existing 1G page is kept when 1G pages are fine; otherwise it is
      // split (its other parts are lost, as in the kernel: that path is for
      // kernel_physical_mapping_change(), never reached by hot-add)
      if (entryIsLeaf(e) && mask & MASK_1G) {
        paddr = paddrNext;
        continue;
      }
      if (mask & MASK_1G) {
        pt.setLeaves(pud, i, roundDown(paddr, PUD_SIZE) / PAGE, 0);
        pages++;
        paddr = paddrNext;
        continue;
      }
      const pmd = this.allocTable(LEVEL_PMD, PAGE_OFFSET48 + paddr);
      if (pmd < 0) {
        ret = pmd;
        break;
      }
      // model: linked before it is filled, so a failure can be unwound
      pt.setTable(pud, i, pmd);
      ret = this.physPmdInit(pmd, paddr, paddrEnd, mask);
      if (ret < 0) break;
      paddr = paddrNext;
    }
    this.updatePageCount(PG_LEVEL_1G, pages);
    return ret;
  }

  // arch/x86/mm/init_64.c: phys_pmd_init()
  private physPmdInit(pmd: number, paddr: number, paddrEnd: number, mask: number): number {
    const pt = this.pgtable;
    let pages = 0;
    let ret = 0;
    for (let i = ptIndex(PAGE_OFFSET48 + paddr, LEVEL_PMD); i < 512 && paddr < paddrEnd; i++) {
      const paddrNext = roundDown(paddr, PMD_SIZE) + PMD_SIZE;
      const e = pt.get(pmd, i);
      if (entryIsTable(e)) {
        this.physPteInit(entryTable(e), paddr, paddrEnd);
        paddr = paddrNext;
        continue;
      }
      if (entryIsLeaf(e) && mask & MASK_2M) {
        paddr = paddrNext;
        continue;
      }
      if (mask & MASK_2M) {
        pt.setLeaves(pmd, i, roundDown(paddr, PMD_SIZE) / PAGE, 0);
        pages++;
        paddr = paddrNext;
        continue;
      }
      const pte = this.allocTable(LEVEL_PTE, PAGE_OFFSET48 + paddr);
      if (pte < 0) {
        ret = pte;
        break;
      }
      pt.setTable(pmd, i, pte);
      this.physPteInit(pte, paddr, paddrEnd);
      paddr = paddrNext;
    }
    this.updatePageCount(PG_LEVEL_2M, pages);
    return ret;
  }

  // arch/x86/mm/init_64.c: phys_pte_init(): existing entries are reused.
  private physPteInit(pte: number, paddr: number, paddrEnd: number): void {
    const pt = this.pgtable;
    let pages = 0;
    for (let i = ptIndex(PAGE_OFFSET48 + paddr, LEVEL_PTE); i < 512 && paddr < paddrEnd; i++, paddr += PAGE) {
      if (!entryIsNone(pt.get(pte, i))) continue;
      pt.setLeaves(pte, i, Math.floor(paddr / PAGE), 0);
      pages++;
    }
    this.updatePageCount(PG_LEVEL_4K, pages);
  }

  // ---- memory hotplug ----

  /** arch/x86/mm/init_64.c: add_pages() */
  private addPages(
    ctx: ArchHotplugCtx,
    nid: number,
    startPfn: number,
    nrPages: number,
    params: MhpParams,
  ): number {
    const end = (startPfn + nrPages) * PAGE - 1;
    if (end > PHYSMEM_END) {
      this.warnings.push(`add_pages: end 0x${end.toString(16)} beyond PHYSMEM_END`);
      return -ERANGE;
    }
    return ctx.addPages(nid, startPfn, nrPages, params);
  }

  /**
   * arch_create_linear_mapping() for x86_64 (the RFC's split of
   * arch_add_memory(); powerpc's name): init_memory_mapping() of the range.
   * 0, or -ENOMEM with nothing left mapped (see initMemoryMapping()).
   */
  archCreateLinearMapping(_nid: number, start: number, size: number, _params: MhpParams): number {
    return this.initMemoryMapping(start, start + size);
  }

  /**
   * arch_remove_linear_mapping() for x86_64: kernel_physical_mapping_remove()
   * (remove_pagetable(direct = true): leaves cleared, empty PTE and PMD tables
   * freed, flush_tlb_all()).
   */
  archRemoveLinearMapping(start: number, size: number): void {
    this.kernelPhysicalMappingRemove(start, start + size);
  }

  /**
   * A direct-map leaf (2M or 1G page) across either edge of [start, start +
   * size): remove_pud_table() would walk a partly covered 1G page as a PMD
   * table, and remove_pmd_table() frees a partly covered 2M page as if it were
   * memmap (see the "model:" notes there). A range added as a whole never has
   * one; a part of what was added may.
   */
  /** The series' default arch_linear_mapping_split_leaves(): x86 splits nothing, and the check refuses. */
  archLinearMappingSplitLeaves(_start: number, _size: number): number {
    return 0;
  }

  archLinearMappingSplitsLeaf(start: number, size: number): boolean {
    const edge = (pa: number): boolean => {
      const va = PAGE_OFFSET48 + pa;
      const hit = this.pgtable.lookup(va);
      return hit !== undefined && hit.leafVa48 !== va;
    };
    return edge(start) || edge(start + size);
  }

  /**
   * arch/x86/mm/init_64.c: arch_add_memory(): arch_create_linear_mapping()
   * (init_memory_mapping()), then add_pages(). As in the kernel, a failing
   * add_pages() leaves the direct mapping in place (x86 has no undo there; a
   * later add of the same range reuses it).
   */
  archAddMemory(ctx: ArchHotplugCtx, nid: number, start: number, size: number, params: MhpParams): number {
    const ret = this.archCreateLinearMapping(nid, start, size, params);
    if (ret < 0) return ret;
    return this.addPages(ctx, nid, start / PAGE, size / PAGE, params);
  }

  /** arch/x86/mm/init_64.c: arch_remove_memory(): __remove_pages(), then arch_remove_linear_mapping(). */
  archRemoveMemory(ctx: ArchHotplugCtx, start: number, size: number, altmap: VmemAltmap | undefined): void {
    ctx.removePages(start / PAGE, size / PAGE, altmap);
    this.archRemoveLinearMapping(start, size);
  }

  /**
   * drivers/base/memory.c: memory_block_size_bytes() →
   * arch/x86/mm/init_64.c: probe_memory_block_size(): 128 MiB below 64 GiB of
   * boot RAM; above, under a hypervisor (X86_FEATURE_HYPERVISOR, as under QEMU)
   * the largest size up to 2 GiB that divides the end of boot RAM.
   */
  memoryBlockSizeBytes(): number {
    const bootMemEnd = this.maxPfn * PAGE;
    if (bootMemEnd < MEM_SIZE_FOR_LARGE_BLOCK) return MIN_MEMORY_BLOCK_SIZE;
    if (!this.hypervisor) return MAX_BLOCK_SIZE;
    let bz = MAX_BLOCK_SIZE;
    for (; bz > MIN_MEMORY_BLOCK_SIZE; bz /= 2) if (aligned(bootMemEnd, bz)) break;
    return bz;
  }

  /** x86 has no such check (upstream's is arm64-only): removal never splits here. */
  archMemoryRemovalSplitsLeaf(_start: number, _size: number): boolean {
    return false;
  }

  // arch/x86/mm/init_64.c: kernel_physical_mapping_remove()
  private kernelPhysicalMappingRemove(start: number, end: number): void {
    this.removePagetable(PAGE_OFFSET48 + start, PAGE_OFFSET48 + end, true, undefined);
  }

  // arch/x86/mm/init_64.c: remove_pagetable() (start, end: va48)
  private removePagetable(start: number, end: number, direct: boolean, altmap: VmemAltmap | undefined): void {
    const pt = this.pgtable;
    for (let addr = start; addr < end;) {
      const next = levelAddrEnd(addr, end, LEVEL_PGD);
      // remove_p4d_table(): p4d folded into the PGD; PUD tables are never
      // freed on 4-level paging (free_pud_table() only with LA57)
      const e = pt.get(pt.root, ptIndex(addr, LEVEL_PGD));
      if (entryIsTable(e)) this.removePudTable(entryTable(e), addr, next, altmap, direct);
      addr = next;
    }
    this.work.add("tlbFlushAll");
  }

  // arch/x86/mm/init_64.c: remove_pud_table()
  private removePudTable(
    pud: number,
    addr: number,
    end: number,
    altmap: VmemAltmap | undefined,
    direct: boolean,
  ): void {
    const pt = this.pgtable;
    let pages = 0;
    for (; addr < end;) {
      const next = levelAddrEnd(addr, end, LEVEL_PUD);
      const i = ptIndex(addr, LEVEL_PUD);
      const e = pt.get(pud, i);
      if (entryIsNone(e)) {
        addr = next;
        continue;
      }
      if (entryIsLeaf(e)) {
        if (aligned(addr, PUD_SIZE) && aligned(next, PUD_SIZE)) {
          pt.clear(pud, i);
          pages++;
        } else {
          // model: the kernel would walk the 1G page as if it were a PMD table
          // (pmd_offset() on a leaf); the model leaves the leaf alone.
          this.warnings.push(
            `remove_pud_table: partial 1G leaf at ${hex(this.pgtable.vaOf(addr))} left in place`,
          );
        }
        addr = next;
        continue;
      }
      const pmd = entryTable(e);
      this.removePmdTable(pmd, addr, next, direct, altmap);
      this.freePmdTable(pmd, pud, i);
      addr = next;
    }
    if (direct) this.updatePageCount(PG_LEVEL_1G, -pages);
  }

  // arch/x86/mm/init_64.c: remove_pmd_table()
  private removePmdTable(
    pmd: number,
    addr: number,
    end: number,
    direct: boolean,
    altmap: VmemAltmap | undefined,
  ): void {
    const pt = this.pgtable;
    let pages = 0;
    for (; addr < end;) {
      const next = levelAddrEnd(addr, end, LEVEL_PMD);
      const i = ptIndex(addr, LEVEL_PMD);
      const e = pt.get(pmd, i);
      if (entryIsNone(e)) {
        addr = next;
        continue;
      }
      if (entryIsLeaf(e)) {
        if (aligned(addr, PMD_SIZE) && aligned(next, PMD_SIZE)) {
          if (!direct) this.freeHugepageTable(entryLeafPfn(e), altmap);
          pt.clear(pmd, i);
          this.subPmdUnused.delete(Math.floor(addr / PMD_SIZE));
          pages++;
        } else if (this.vmemmapPmdIsUnused(addr, next)) {
          if (!direct) this.freeHugepageTable(entryLeafPfn(e), altmap);
          else {
            // model: the kernel also takes this path for the direct map and
            // frees the 2M of memory the leaf maps as if it were memmap
            // (free_pagetable(page, 9)), without update_page_count(); the model
            // clears the leaf but gives nothing to the allocator.
            this.warnings.push(
              `remove_pmd_table: partial direct-map 2M leaf at ${hex(this.pgtable.vaOf(addr))} cleared`,
            );
          }
          pt.clear(pmd, i);
        }
        addr = next;
        continue;
      }
      const pte = entryTable(e);
      this.removePteTable(pte, addr, next, direct);
      this.freePteTable(pte, pmd, i);
      addr = next;
    }
    if (direct) this.updatePageCount(PG_LEVEL_2M, -pages);
  }

  // arch/x86/mm/init_64.c: remove_pte_table()
  // model: the "phys_addr < 0x40000000" guard (head_64.S identity map) never
  // fires for kernel virtual addresses and is left out.
  private removePteTable(pte: number, addr: number, end: number, direct: boolean): void {
    const pt = this.pgtable;
    let pages = 0;
    for (; addr < end; addr += PAGE) {
      const i = ptIndex(addr, LEVEL_PTE);
      const e = pt.get(pte, i);
      if (entryIsNone(e)) continue;
      if (!direct) {
        this.alloc.freePages(entryLeafPfn(e), 0); // free_pagetable(pte_page(*pte), 0)
        this.work.add("vmemmapPagesFreed");
      }
      pt.clear(pte, i);
      pages++;
    }
    this.work.add("tlbFlushAll");
    if (direct) this.updatePageCount(PG_LEVEL_4K, -pages);
  }

  // arch/x86/mm/init_64.c: free_pte_table(): only when all 512 entries are none
  private freePteTable(pte: number, pmd: number, idx: number): void {
    if (!this.pgtable.tableEmpty(pte)) return;
    this.pgtable.clear(pmd, idx);
    this.pgtable.freeTable(pte);
  }

  // arch/x86/mm/init_64.c: free_pmd_table()
  private freePmdTable(pmd: number, pud: number, idx: number): void {
    if (!this.pgtable.tableEmpty(pmd)) return;
    this.pgtable.clear(pud, idx);
    this.pgtable.freeTable(pmd);
  }

  // arch/x86/mm/init_64.c: free_hugepage_table()
  private freeHugepageTable(pfn: number, altmap: VmemAltmap | undefined): void {
    if (altmap) vmemAltmapFree(altmap, PMD_PAGES);
    else this.alloc.freePages(pfn, 9);
    this.work.add("vmemmapPagesFreed", PMD_PAGES);
  }

  // ---- vmemmap ----

  private subPmdMap(addr: number, init: number): Uint8Array {
    const key = Math.floor(addr / PMD_SIZE);
    let m = this.subPmdUnused.get(key);
    if (!m) {
      m = new Uint8Array(PMD_PAGES).fill(init);
      this.subPmdUnused.set(key, m);
    }
    return m;
  }

  private markSubPmd(addr: number, end: number, unused: number): void {
    const m = this.subPmdMap(addr, 0);
    const base = roundDown(addr, PMD_SIZE);
    m.fill(unused, (addr - base) / PAGE, (end - base) / PAGE);
  }

  // arch/x86/mm/init_64.c: vmemmap_pmd_is_unused(): mark [addr, end) unused, then is all of the 2M unused?
  private vmemmapPmdIsUnused(addr: number, end: number): boolean {
    this.markSubPmd(addr, end, 1);
    const key = Math.floor(addr / PMD_SIZE);
    const m = this.subPmdUnused.get(key) as Uint8Array;
    if (m.indexOf(0) >= 0) return false;
    this.subPmdUnused.delete(key);
    return true;
  }

  // arch/x86/mm/init_64.c: vmemmap_use_new_sub_pmd(): a fresh block of which only [start, end) is used
  private vmemmapUseNewSubPmd(start: number, end: number): void {
    this.subPmdMap(start, 1);
    this.markSubPmd(start, end, 0);
  }

  // arch/x86/mm/init_64.c: vmemmap_use_sub_pmd()
  private vmemmapUseSubPmd(start: number, end: number): void {
    if (this.subPmdUnused.has(Math.floor(start / PMD_SIZE))) this.markSubPmd(start, end, 0);
  }

  /** arch/x86/mm/init_64.c: vmemmap_populate() for the struct pages of [startPfn, startPfn + nrPages). */
  vmemmapPopulate(startPfn: number, nrPages: number, _nid: number, altmap: VmemAltmap | undefined): number {
    const start = VMEMMAP48 + startPfn * STRUCT_PAGE_SIZE;
    const end = start + nrPages * STRUCT_PAGE_SIZE;
    // model: VM_BUG_ON(!PAGE_ALIGNED(start/end)) becomes -EINVAL
    if (!aligned(start, PAGE) || !aligned(end, PAGE)) return -EINVAL;
    let err: number;
    if (end - start < PAGES_PER_SECTION * STRUCT_PAGE_SIZE)
      err = vmemmapPopulateBasepages(this.pgtable, this.alloc, this.work, start, end, undefined);
    else if (this.pse) err = this.vmemmapPopulateHugepages(start, end, altmap);
    else if (altmap)
      err = -ENOMEM; // no cpu support for altmap allocations
    else err = vmemmapPopulateBasepages(this.pgtable, this.alloc, this.work, start, end, undefined);
    // As in the kernel, a failure leaves what was populated; the caller,
    // section_activate(), undoes it through section_deactivate() → vmemmap_free().
    return err < 0 ? -ENOMEM : 0;
  }

  // arch/x86/mm/init_64.c: vmemmap_populate_hugepages()
  private vmemmapPopulateHugepages(start: number, end: number, altmap: VmemAltmap | undefined): number {
    const pt = this.pgtable;
    for (let addr = start; addr < end;) {
      const next = levelAddrEnd(addr, end, LEVEL_PMD);
      const pmd = pt.ensureTable(addr, LEVEL_PMD); // vmemmap_{pgd,p4d,pud}_populate()
      if (pmd < 0) return -ENOMEM;
      const i = ptIndex(addr, LEVEL_PMD);
      const e = pt.get(pmd, i);
      if (entryIsNone(e)) {
        const p = vmemmapAllocBlockBuf(this.alloc, this.work, 9, altmap);
        if (p >= 0) {
          pt.setLeaves(pmd, i, p, 0);
          if (!aligned(addr, PMD_SIZE) || !aligned(next, PMD_SIZE)) this.vmemmapUseNewSubPmd(addr, next);
          addr = next;
          continue;
        }
        if (altmap) return -ENOMEM; // no fallback
      } else if (entryIsLeaf(e)) {
        this.vmemmapUseSubPmd(addr, next);
        addr = next;
        continue;
      }
      if (vmemmapPopulateBasepages(pt, this.alloc, this.work, addr, next, undefined) < 0) return -ENOMEM;
      addr = next;
    }
    return 0;
  }

  /** arch/x86/mm/init_64.c: vmemmap_free() → remove_pagetable(direct = false) */
  vmemmapFree(startPfn: number, nrPages: number, altmap: VmemAltmap | undefined): void {
    const start = VMEMMAP48 + startPfn * STRUCT_PAGE_SIZE;
    this.removePagetable(start, start + nrPages * STRUCT_PAGE_SIZE, false, altmap);
  }

  /** arch/x86/mm/pat/set_memory.c: arch_report_meminfo() */
  archReportMeminfo(): Array<[string, number]> {
    const c = this.directPagesCount;
    const out: Array<[string, number]> = [
      ["DirectMap4k", c[PG_LEVEL_4K] * 4],
      ["DirectMap2M", c[PG_LEVEL_2M] * 2048],
    ];
    if (this.directGbpages) out.push(["DirectMap1G", c[PG_LEVEL_1G] * 1048576]);
    return out;
  }

  /** /sys/kernel/debug/kernel_page_tables (arch/x86/mm/dump_pagetables.c). */
  kernelPageTablesShow(): string {
    return x86DumpPagetables(this.pgtable);
  }

  /** x86_64 registers no memory notifier of its own. */
  archMemoryNotifiers(): Array<[string, MemoryNotifier]> {
    return [];
  }
}

const hex = (v: bigint): string => "0x" + v.toString(16);

// ---- arch/x86/mm/dump_pagetables.c ----

interface AddrMarker {
  start: bigint;
  name: string;
  maxLines: number;
}

/**
 * address_markers[] of a Debian cloud 6.1 x86_64 kernel (CONFIG_MODIFY_LDT_SYSCALL,
 * X86_ESPFIX64, EFI, RANDOMIZE_BASE so KERNEL_IMAGE_SIZE 1G; no KASAN), 4-level,
 * nokaslr. model: "Fixmap Area" is left out (FIXADDR_START depends on the
 * fixmap enum of the exact config).
 */
const X86_MARKERS: readonly AddrMarker[] = [
  { start: 0n, name: "User Space", maxLines: 0 },
  { start: 1n << 63n, name: "Kernel Space", maxLines: 0 },
  { start: 0xffff880000000000n, name: "LDT remap", maxLines: 0 },
  { start: X86_PAGE_OFFSET, name: "Low Kernel Mapping", maxLines: 0 },
  { start: 0xffffc90000000000n, name: "vmalloc() Area", maxLines: 0 },
  { start: X86_VMEMMAP_START, name: "Vmemmap", maxLines: 0 },
  { start: 0xfffffe0000000000n, name: "CPU entry Area", maxLines: 0 },
  { start: 0xffffff0000000000n, name: "ESPfix Area", maxLines: 16 },
  { start: 0xffffffef00000000n, name: "EFI Runtime Services", maxLines: 0 },
  { start: 0xffffffff80000000n, name: "High Kernel Mapping", maxLines: 0 },
  { start: 0xffffffffc0000000n, name: "Modules", maxLines: 0 },
  { start: 0xffffffffff000000n, name: "End Modules", maxLines: 0 },
  { start: 0xffffffffffffffffn, name: "", maxLines: 0 },
];

const P_PRESENT = 1;
const P_RW = 2;
const P_PSE = 4;
const P_GLB = 8;
const P_NX = 16;
const LEVEL_NAME = ["pgd", "p4d", "pud", "pmd", "pte"];
const U64 = 1n << 64n;

/**
 * model: permissions are not tracked; every present leaf of the modelled
 * regions (direct map, vmemmap) is PAGE_KERNEL / PAGE_KERNEL_LARGE: RW, GLB
 * (no PTI under TCG -cpu max), NX, and PSE on pud/pmd leaves.
 */
function x86Prot(depth: number, e: number): number {
  if (!entryIsLeaf(e)) return 0;
  return P_PRESENT | P_RW | P_GLB | P_NX | (depth === 2 || depth === 3 ? P_PSE : 0);
}

// arch/x86/mm/dump_pagetables.c: printk_prot()
function printkProt(pr: number, level: number): string {
  let s = "";
  if (!(pr & P_PRESENT)) s = " ".repeat(30);
  else {
    s += "    "; // USR
    s += pr & P_RW ? "RW " : "ro ";
    s += "    "; // PWT
    s += "    "; // PCD
    s += level <= 3 && pr & P_PSE ? "PSE " : "    ";
    s += "    "; // PAT
    s += pr & P_GLB ? "GLB " : "    ";
    s += pr & P_NX ? "NX " : "x  ";
  }
  return s + LEVEL_NAME[level] + "\n";
}

function x86DumpPagetables(pt: KernelPageTable): string {
  const out: string[] = [];
  const units = "BKMGTPE";
  let level = -1;
  let curProt = 0;
  let start = 0n;
  let mi = 0;
  let lines = 0;
  // arch/x86/mm/dump_pagetables.c: note_page()
  const note = (va48: number, depth: number, e: number): void => {
    const addr = depth < 0 ? 0n : pt.vaOf(va48); // the final flush is note_page(st, 0, -1, 0)
    const prot = x86Prot(depth, e);
    if (level === -1) {
      curProt = prot;
      level = depth;
      mi = 0;
      lines = 0;
      out.push(`---[ ${X86_MARKERS[0].name} ]---\n`);
    } else if (prot !== curProt || depth !== level || addr >= X86_MARKERS[mi + 1].start) {
      const m = X86_MARKERS[mi];
      if (!m.maxLines || lines < m.maxLines) {
        let delta = (((addr - start) % U64) + U64) % U64;
        let u = 0;
        while ((delta & 1023n) === 0n && u < units.length - 1) {
          delta >>= 10n;
          u++;
        }
        out.push(
          `0x${start.toString(16).padStart(16, "0")}-0x${addr.toString(16).padStart(16, "0")}   ` +
            `${delta.toString().padStart(9)}${units[u]} ` +
            printkProt(curProt, level),
        );
      }
      lines++;
      if (addr >= X86_MARKERS[mi + 1].start) {
        if (m.maxLines && lines > m.maxLines) {
          const nskip = lines - m.maxLines;
          out.push(`... ${nskip} entr${nskip === 1 ? "y" : "ies"} skipped ... \n`);
        }
        mi++;
        lines = 0;
        out.push(`---[ ${X86_MARKERS[mi].name} ]---\n`);
      }
      start = addr;
      curProt = prot;
      level = depth;
    }
  };
  // ptdump_walk_pgd_level_core(): {0, 128T} and {GUARD_HOLE_END_ADDR, ~0}
  ptdumpWalkPgd(
    pt,
    [
      [0, 2 ** 47],
      [toVa48(0xffff880000000000n), 2 ** 48],
    ],
    note,
  );
  return out.join("");
}
