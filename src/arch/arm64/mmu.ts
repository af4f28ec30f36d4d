// arm64 kernel page tables for memory hot(un)plug, Linux 6.1, 4K granule,
// VA_BITS 48 (4 levels, P4D folded), no KASAN.
//
//   arch/arm64/mm/mmu.c        __create_pgd_mapping() and alloc_init_*(),
//                              map_mem(), arch_add_memory(), arch_remove_memory(),
//                              __remove_pgd_mapping(), unmap_hotplug_*_range(),
//                              free_empty_*_table(), vmemmap_populate(), vmemmap_free()
//   arch/arm64/mm/pageattr.c   can_set_direct_map()
//   arch/arm64/mm/ptdump.c     the kernel_page_tables text
//   arch/arm64/include/asm/memory.h, pgtable.h, kernel-pgtable.h   the layout
//
// Differences from the kernel are marked "model:" where they happen.

import { EEXIST, EINVAL, ENOMEM } from "../../errno.js";
import { MIN_MEMORY_BLOCK_SIZE, PAGES_PER_SECTION, STRUCT_PAGE_SIZE } from "../../mm/constants.js";
import type { PageAllocator } from "../../mm/gfp.js";
import {
  KernelPageTable,
  LEAF_CONT,
  LEVEL_PGD,
  LEVEL_PMD,
  LEVEL_PTE,
  LEVEL_PUD,
  LEVEL_SIZE,
  PTRS_PER_TABLE,
  type PtLevel,
  entryIsLeaf,
  entryIsNone,
  entryIsTable,
  entryLeafFlags,
  entryLeafPfn,
  entryTable,
  levelAddrEnd,
  ptIndex,
  fromVa48,
  toVa48,
  vmemAltmapFree,
  vmemmapAllocBlockBuf,
  vmemmapPopulateBasepages,
} from "../../mm/pgtable.js";
import { ptdumpWalkPgd } from "../../mm/ptdump.js";
import type { Work } from "../../kernel/work.js";
import type {
  ArchHotplugCtx,
  ArchMm,
  EarlySections,
  LinearMapConfig,
  MhpParams,
  PfnRange,
  VmemAltmap,
} from "../arch.js";
import type { MemoryNotifier } from "../../drivers/base/memory.js";
import { preventMemoryRemoveNotifier } from "./memory_notifier.js";

// asm/memory.h with VA_BITS = VA_BITS_MIN = 48, STRUCT_PAGE_MAX_SHIFT = 6:
/** PAGE_OFFSET = _PAGE_OFFSET(VA_BITS) = -(1 << 48) */
export const ARM64_PAGE_OFFSET = 0xffff000000000000n;
/** PAGE_END = _PAGE_END(VA_BITS_MIN) = -(1 << 47) */
export const ARM64_PAGE_END = 0xffff800000000000n;
/** VMEMMAP_START = -(1 << (VA_BITS - VMEMMAP_SHIFT)), VMEMMAP_SHIFT = PAGE_SHIFT - 6 */
export const ARM64_VMEMMAP_START = 0xfffffc0000000000n;
/** VMEMMAP_END = VMEMMAP_START + ((PAGE_END - PAGE_OFFSET) >> VMEMMAP_SHIFT) */
export const ARM64_VMEMMAP_END = 0xfffffe0000000000n;
/** kernel-pgtable.h: ARM64_MEMSTART_ALIGN = 1 << PUD_SHIFT with 4K pages */
export const ARM64_MEMSTART_ALIGN = 1 << 30;

const PAGE_OFFSET48 = toVa48(ARM64_PAGE_OFFSET);
const PAGE_END48 = toVa48(ARM64_PAGE_END);

/**
 * Where the linear map and the vmemmap are, by CONFIG_ARM64_VA_BITS. 48 is
 * 6.1's layout above. 52 (Debian's 6.12 and 7.2, running with 52 bits on
 * QEMU's max CPU): PAGE_OFFSET = -(1 << 52), PAGE_END still -(1 << 47)
 * (VA_BITS_MIN 48), and the vmemmap ends at -1 GiB (VMEMMAP_END) and is
 * (PAGE_END - PAGE_OFFSET) >> PAGE_SHIFT struct pages long (asm/memory.h since
 * "arm64: mm: Move fixmap region above vmemmap", 6.9). The model's tables
 * stay four levels of va48 numbers (the low 48 bits): the linear map of
 * memory below 128 TiB is va48 [0, 2^47), which vaOf() puts back at PAGE_OFFSET.
 */
export interface Arm64VaLayout {
  pageOffset: bigint;
  pageEnd: bigint;
  vmemmapStart: bigint;
  vmemmapEnd: bigint;
}
export const ARM64_VA_LAYOUT: Readonly<Record<48 | 52, Arm64VaLayout>> = {
  48: {
    pageOffset: ARM64_PAGE_OFFSET,
    pageEnd: ARM64_PAGE_END,
    vmemmapStart: ARM64_VMEMMAP_START,
    vmemmapEnd: ARM64_VMEMMAP_END,
  },
  52: {
    pageOffset: 0xfff0000000000000n,
    pageEnd: ARM64_PAGE_END,
    vmemmapStart: 0xffffc1ffc0000000n,
    vmemmapEnd: 0xffffffffc0000000n,
  },
};
/**
 * 48 bits from 6.9 on (the RFC series' 6.12 and 7.2 builds): the vmemmap
 * ends at -1 GiB as with 52, and covers [PAGE_OFFSET, PAGE_END) of 48 bits.
 */
export const ARM64_VA_LAYOUT_48_TOP: Arm64VaLayout = {
  pageOffset: ARM64_PAGE_OFFSET,
  pageEnd: ARM64_PAGE_END,
  vmemmapStart: 0xfffffdffc0000000n,
  vmemmapEnd: 0xffffffffc0000000n,
};

const PAGE = 4096;
const PMD_SIZE = LEVEL_SIZE[LEVEL_PMD];
const PUD_SIZE = LEVEL_SIZE[LEVEL_PUD];
const PGDIR_SIZE = LEVEL_SIZE[LEVEL_PGD];
/** pgtable-hwdef.h: CONT_PTE_SIZE (16 x 4K) and CONT_PMD_SIZE (16 x 2M), CONFIG_ARM64_CONT_*_SHIFT 4 */
const CONT_PTE_SIZE = 16 * PAGE;
const CONT_PMD_SIZE = 16 * PMD_SIZE;
/** CONT_PTES = CONT_PMDS: entries in one contiguous run */
const CONT_ENTRIES = CONT_PTE_SIZE / PAGE;

/** asm/tlbflush.h: MAX_TLBI_OPS = PTRS_PER_PTE */
const MAX_TLBI_OPS = 512;

/** arch/arm64/mm/mmu.c flags */
const NO_BLOCK_MAPPINGS = 1;
const NO_CONT_MAPPINGS = 2;
const NO_EXEC_MAPPINGS = 4;

const aligned = (x: number, a: number): boolean => x % a === 0;
const hex = (v: bigint): string => "0x" + v.toString(16);

export interface Arm64MmOptions {
  alloc: PageAllocator;
  work: Work;
  /** rodata=full (CONFIG_RODATA_FULL_DEFAULT_ENABLED=y, the default). Default true. */
  rodataFull?: boolean;
  /**
   * memstart_addr = round_down(lowest RAM, ARM64_MEMSTART_ALIGN); 0 on the
   * QEMU virt guest, whose firmware reports RAM from 0x04000000. Default 0.
   */
  memstartAddr?: number;
  /** CONFIG_ARM64_VA_BITS: 48 (default) or 52 (ARM64_VA_LAYOUT) */
  vaBits?: 48 | 52;
  /** 6.9 and later: the vmemmap ends at -1 GiB with 48 bits too (ARM64_VA_LAYOUT_48_TOP) */
  vmemmapAtTop?: boolean;
  /** CONFIG_KFENCE=y with no early pool (Debian's 6.12 and 7.2; see forcePteMapping()). Default false. */
  kfenceLateInit?: boolean;
  /** ARM64_HAS_BBML2_NOABORT (7.2 on an allow-listed CPU, ./cpufeature.ts; see forcePteMapping()). Default false. */
  bbml2Noabort?: boolean;
}

/**
 * arch/arm64/mm/mmu.c: force_pte_mapping() (7.2; earlier releases test
 * can_set_direct_map() of arch/arm64/mm/pageattr.c in its place): must the
 * linear map be page granular? Not on a CPU with BBML2_NOABORT, which splits a
 * block when a permission change needs it (split_kernel_leaf_mapping());
 * otherwise when rodata=full or KFENCE may change the direct map late. Debian
 * 13's and sid's arm64 configs (6.12, 7.2) build KFENCE with
 * CONFIG_KFENCE_SAMPLE_INTERVAL=0: no early pool, so
 * arm64_kfence_can_set_direct_map() is true and the map is page granular with
 * rodata=off too (seen on 7.2: arm64-v72-leaf-split line 15); Debian 12's 6.1
 * has no KFENCE. debug_pagealloc and realms are not modelled.
 */
export function forcePteMapping(m: LinearMapConfig): boolean {
  if (m.bbml2Noabort) return false;
  return m.rodataFull || m.kfenceLateInit;
}

export class Arm64Mm implements ArchMm {
  readonly arch = "arm64" as const;
  readonly pgtable: KernelPageTable;
  readonly memstartAddr: number;
  readonly kfenceLateInit: boolean;
  readonly bbml2Noabort: boolean;
  /** where the linear map and the vmemmap are (ARM64_VA_LAYOUT) */
  readonly layout: Arm64VaLayout;
  private readonly vmemmapStart48: number;
  private readonly vmemmapEnd48: number;
  readonly rodataFull: boolean;
  /** Kernel WARN_ON()s / BUG_ON()s the model met. */
  readonly warnings: string[] = [];
  private readonly alloc: PageAllocator;
  private readonly work: Work;

  constructor(opts: Arm64MmOptions) {
    this.alloc = opts.alloc;
    this.work = opts.work;
    this.rodataFull = opts.rodataFull ?? true;
    this.memstartAddr = opts.memstartAddr ?? 0;
    if (!aligned(this.memstartAddr, ARM64_MEMSTART_ALIGN))
      throw new Error("memstart_addr must be 1 GiB aligned");
    this.layout =
      (opts.vaBits ?? 48) === 48 && opts.vmemmapAtTop
        ? ARM64_VA_LAYOUT_48_TOP
        : ARM64_VA_LAYOUT[opts.vaBits ?? 48];
    this.kfenceLateInit = opts.kfenceLateInit ?? false;
    this.bbml2Noabort = opts.bbml2Noabort ?? false;
    this.vmemmapStart48 = toVa48(this.layout.vmemmapStart);
    this.vmemmapEnd48 = toVa48(this.layout.vmemmapEnd - 1n) + 1;
    const pageOffset = this.layout.pageOffset;
    this.pgtable = new KernelPageTable(opts.alloc, opts.work, {
      upperHalfFrom48: 0,
      // 52 bits: the linear map's va48 [0, 2^47) sits at PAGE_OFFSET, the rest at 0xffff...
      ...(pageOffset !== ARM64_PAGE_OFFSET
        ? { vaOf: (va48: number) => (va48 < 2 ** 47 ? pageOffset + BigInt(va48) : fromVa48(va48, 0)) }
        : {}),
    });
  }

  /** asm/memory.h: __phys_to_virt(): (pa - PHYS_OFFSET) | PAGE_OFFSET */
  physToVirt(pa: number): bigint {
    return this.layout.pageOffset + BigInt(pa - this.memstartAddr);
  }

  /** asm/pgtable.h: vmemmap = (struct page *)VMEMMAP_START - (memstart_addr >> PAGE_SHIFT) */
  pfnToPageVa(pfn: number): bigint {
    return this.layout.vmemmapStart + BigInt(pfn - this.memstartAddr / PAGE) * BigInt(STRUCT_PAGE_SIZE);
  }

  private linear48(pa: number): number {
    return PAGE_OFFSET48 + pa - this.memstartAddr;
  }
  private vmemmap48(pfn: number): number {
    return this.vmemmapStart48 + (pfn - this.memstartAddr / PAGE) * STRUCT_PAGE_SIZE;
  }

  // ---- arch/arm64/mm/mmu.c: __create_pgd_mapping() ----

  /**
   * __create_pgd_mapping(swapper_pg_dir, phys, virt, size, ..., flags):
   * 0, or -ENOMEM / -EEXIST where the kernel BUG()s (pgtable_alloc() failing,
   * a block replaced by a table). What was mapped so far stays.
   */
  private createPgdMapping(phys: number, virt: number, size: number, flags: number): number {
    let addr = virt;
    const end = virt + size;
    while (addr !== end) {
      const next = levelAddrEnd(addr, end, LEVEL_PGD);
      const r = this.allocInitPud(addr, next, phys, flags);
      if (r < 0) return r;
      phys += next - addr;
      addr = next;
    }
    return 0;
  }

  // alloc_init_pud(): the PGD entry is the (folded) p4d
  private allocInitPud(addr: number, end: number, phys: number, flags: number): number {
    const pt = this.pgtable;
    const gi = ptIndex(addr, LEVEL_PGD);
    let e = pt.get(pt.root, gi);
    if (entryIsNone(e)) {
      const pud = pt.allocTable(LEVEL_PUD);
      if (pud < 0) return pud;
      pt.setTable(pt.root, gi, pud);
      e = pt.get(pt.root, gi);
    }
    const pud = entryTable(e);
    do {
      const next = levelAddrEnd(addr, end, LEVEL_PUD);
      const i = ptIndex(addr, LEVEL_PUD);
      // pud_sect_supported(): 4K granule, try a 1G block
      if (
        aligned(addr, PUD_SIZE) &&
        aligned(next, PUD_SIZE) &&
        aligned(phys, PUD_SIZE) &&
        !(flags & NO_BLOCK_MAPPINGS)
      ) {
        if (entryIsTable(pt.get(pud, i)))
          return this.bug(`pud_set_huge over a table at ${hex(this.pgtable.vaOf(addr))}`);
        pt.setLeaves(pud, i, phys / PAGE, 0);
      } else {
        const r = this.allocInitContPmd(pud, i, addr, next, phys, flags);
        if (r < 0) return r;
      }
      phys += next - addr;
      addr = next;
    } while (addr !== end);
    return 0;
  }

  // alloc_init_cont_pmd()
  private allocInitContPmd(
    pud: number,
    pi: number,
    addr: number,
    end: number,
    phys: number,
    flags: number,
  ): number {
    const pt = this.pgtable;
    let e = pt.get(pud, pi);
    if (entryIsLeaf(e)) return this.bug(`BUG_ON(pud_sect) at ${hex(this.pgtable.vaOf(addr))}`);
    if (entryIsNone(e)) {
      const pmd = pt.allocTable(LEVEL_PMD);
      if (pmd < 0) return pmd;
      pt.setTable(pud, pi, pmd);
      e = pt.get(pud, pi);
    }
    const pmd = entryTable(e);
    do {
      const next = contAddrEnd(addr, end, CONT_PMD_SIZE);
      const cont =
        aligned(addr, CONT_PMD_SIZE) &&
        aligned(next, CONT_PMD_SIZE) &&
        aligned(phys, CONT_PMD_SIZE) &&
        !(flags & NO_CONT_MAPPINGS)
          ? LEAF_CONT
          : 0;
      const r = this.initPmd(pmd, addr, next, phys, cont, flags);
      if (r < 0) return r;
      phys += next - addr;
      addr = next;
    } while (addr !== end);
    return 0;
  }

  // init_pmd()
  private initPmd(pmd: number, addr: number, end: number, phys: number, cont: number, flags: number): number {
    const pt = this.pgtable;
    do {
      const next = levelAddrEnd(addr, end, LEVEL_PMD);
      const i = ptIndex(addr, LEVEL_PMD);
      if (
        aligned(addr, PMD_SIZE) &&
        aligned(next, PMD_SIZE) &&
        aligned(phys, PMD_SIZE) &&
        !(flags & NO_BLOCK_MAPPINGS)
      ) {
        if (entryIsTable(pt.get(pmd, i)))
          return this.bug(`pmd_set_huge over a table at ${hex(this.pgtable.vaOf(addr))}`);
        pt.setLeaves(pmd, i, phys / PAGE, cont);
      } else {
        const r = this.allocInitContPte(pmd, i, addr, next, phys, cont, flags);
        if (r < 0) return r;
      }
      phys += next - addr;
      addr = next;
    } while (addr !== end);
    return 0;
  }

  // alloc_init_cont_pte() + init_pte()
  // model: init_pte()'s BUG_ON(!pgattr_change_is_safe()) on remapping a live
  // PTE to another page is not checked; the entry is overwritten.
  private allocInitContPte(
    pmd: number,
    mi: number,
    addr: number,
    end: number,
    phys: number,
    prot: number,
    flags: number,
  ): number {
    const pt = this.pgtable;
    let e = pt.get(pmd, mi);
    if (entryIsLeaf(e)) return this.bug(`BUG_ON(pmd_sect) at ${hex(this.pgtable.vaOf(addr))}`);
    if (entryIsNone(e)) {
      const pte = pt.allocTable(LEVEL_PTE);
      if (pte < 0) return pte;
      pt.setTable(pmd, mi, pte);
      e = pt.get(pmd, mi);
    }
    const pte = entryTable(e);
    if (flags & NO_CONT_MAPPINGS) {
      // every CONT_PTE_SIZE step writes plain PTEs: one run (same entries, same count)
      pt.setLeaves(pte, ptIndex(addr, LEVEL_PTE), phys / PAGE, prot, (end - addr) / PAGE);
      return 0;
    }
    do {
      const next = contAddrEnd(addr, end, CONT_PTE_SIZE);
      const cont =
        aligned(addr, CONT_PTE_SIZE) &&
        aligned(next, CONT_PTE_SIZE) &&
        aligned(phys, CONT_PTE_SIZE) &&
        !(flags & NO_CONT_MAPPINGS)
          ? LEAF_CONT
          : prot;
      pt.setLeaves(pte, ptIndex(addr, LEVEL_PTE), phys / PAGE, cont, (next - addr) / PAGE);
      phys += next - addr;
      addr = next;
    } while (addr !== end);
    return 0;
  }

  private bug(msg: string): number {
    this.warnings.push(`BUG: ${msg}`);
    return -EEXIST;
  }

  private linearFlags(): number {
    let flags = NO_EXEC_MAPPINGS;
    if (forcePteMapping(this)) flags |= NO_BLOCK_MAPPINGS | NO_CONT_MAPPINGS;
    return flags;
  }

  /**
   * arch/arm64/mm/mmu.c: map_mem(): every memblock range into the linear map,
   * page granular (NO_BLOCK_MAPPINGS | NO_CONT_MAPPINGS) when
   * can_set_direct_map(). model: the kernel image's linear alias
   * ([_stext, __init_begin), re-mapped with NO_CONT_MAPPINGS only), the
   * crashkernel and KFENCE pool are not modelled, nor NOMAP memblocks.
   */
  /** The image's alias in the linear map is not modelled on arm64 (docs/divergences.md boot-linear-map-layout). */
  protectKernelImage(): void {}

  mapBootMemory(ranges: readonly PfnRange[]): void {
    const flags = this.linearFlags();
    for (const r of ranges) {
      const start = r.startPfn * PAGE;
      const size = (r.endPfn - r.startPfn) * PAGE;
      if (size <= 0) continue;
      if (this.createPgdMapping(start, this.linear48(start), size, flags) < 0)
        throw new Error("map_mem: out of memory");
    }
  }

  // ---- memory hotplug ----

  /**
   * arch_create_linear_mapping() for arm64 (the RFC's split of
   * arch_add_memory(); powerpc's name): __create_pgd_mapping() of the range
   * into the linear map, page granular (NO_BLOCK_MAPPINGS | NO_CONT_MAPPINGS)
   * when can_set_direct_map(). 0, or -ENOMEM / -EEXIST with nothing left
   * mapped (model: the kernel BUG()s when pgtable_alloc() fails; the model
   * undoes the partial mapping with __remove_pgd_mapping()).
   */
  archCreateLinearMapping(_nid: number, start: number, size: number, _params: MhpParams): number {
    const virt = this.linear48(start);
    const ret = this.createPgdMapping(start, virt, size, this.linearFlags());
    if (ret < 0) this.removePgdMapping(virt, size);
    return ret;
  }

  /**
   * arch_remove_linear_mapping() for arm64: __remove_pgd_mapping() of the
   * range (unmap_hotplug_range() without freeing what is mapped,
   * flush_tlb_kernel_range(), free_empty_tables()).
   */
  archRemoveLinearMapping(start: number, size: number): void {
    this.removePgdMapping(this.linear48(start), size);
  }

  /**
   * addr_splits_kernel_leaf() at both edges of the range in the linear map
   * only: 6.1's unmap_hotplug_*_range() would clear a partly covered block or
   * contiguous run whole, unmapping memory outside the range.
   */
  archLinearMappingSplitsLeaf(start: number, size: number): boolean {
    return (
      this.addrSplitsKernelLeaf(this.linear48(start)) ||
      this.addrSplitsKernelLeaf(this.linear48(start + size))
    );
  }

  /**
   * The series' arch_linear_mapping_split_leaves() for arm64 (7.2):
   * split_kernel_leaf_mapping() of the range's edges in the linear map.
   */
  archLinearMappingSplitLeaves(start: number, size: number): number {
    return this.splitKernelLeafMapping(this.linear48(start), this.linear48(start + size));
  }

  /**
   * arch/arm64/mm/mmu.c (7.2): linear_map_requires_bbml2, set at boot to
   * !force_pte_mapping() && can_set_direct_map(): the linear map kept block
   * mappings that permission changes will have to split live.
   */
  private linearMapRequiresBbml2(): boolean {
    return !forcePteMapping(this) && (this.rodataFull || this.kfenceLateInit);
  }

  /**
   * arch/arm64/mm/mmu.c (7.2): split_kernel_leaf_mapping(start, end), va48
   * page aligned: nothing unless linear_map_requires_bbml2 (and then the CPU
   * has BBML2_NOABORT, so the split needs no break-before-make nor TLB flush);
   * else split_kernel_leaf_mapping_locked() at start, then at end. 0 or -ENOMEM.
   * model: the single-page shortcut (end - start == PAGE_SIZE) splits at the
   * less aligned edge only, which leaves the same tables; it is not told apart.
   */
  splitKernelLeafMapping(start: number, end: number): number {
    if (!this.linearMapRequiresBbml2() || !this.bbml2Noabort) return 0;
    if (!aligned(start, PAGE) || !aligned(end, PAGE)) return -EINVAL;
    const ret = this.splitKernelLeafMappingLocked(start);
    return ret || this.splitKernelLeafMappingLocked(end);
  }

  // split_kernel_leaf_mapping_locked(): level by level, an address aligned to
  // the level's size is a boundary there and a none entry has nothing to split;
  // a PUD block becomes contiguous PMD blocks, a contiguous PMD run plain PMD
  // blocks, a PMD block contiguous PTEs, a contiguous PTE run plain PTEs.
  private splitKernelLeafMappingLocked(addr: number): number {
    const pt = this.pgtable;
    if (aligned(addr, PGDIR_SIZE)) return 0;
    const pgd = pt.get(pt.root, ptIndex(addr, LEVEL_PGD));
    if (!entryIsTable(pgd)) return 0;
    if (aligned(addr, PUD_SIZE)) return 0;
    const pud = entryTable(pgd);
    const pi = ptIndex(addr, LEVEL_PUD);
    let e = pt.get(pud, pi);
    if (entryIsNone(e)) return 0;
    if (entryIsLeaf(e)) {
      if (this.splitToContTable(pud, pi, LEVEL_PMD) < 0) return -ENOMEM; // split_pud()
      e = pt.get(pud, pi);
    }
    if (aligned(addr, CONT_PMD_SIZE)) return 0;
    const pmd = entryTable(e);
    const mi = ptIndex(addr, LEVEL_PMD);
    let m = pt.get(pmd, mi);
    if (entryIsNone(m)) return 0;
    if (entryIsLeaf(m)) {
      if (entryLeafFlags(m) & LEAF_CONT) this.splitContRun(pmd, mi); // split_contpmd()
      if (aligned(addr, PMD_SIZE)) return 0;
      if (this.splitToContTable(pmd, mi, LEVEL_PTE) < 0) return -ENOMEM; // split_pmd()
      m = pt.get(pmd, mi);
    }
    if (aligned(addr, CONT_PTE_SIZE)) return 0;
    const pte = entryTable(m);
    const ti = ptIndex(addr, LEVEL_PTE);
    const p = pt.get(pte, ti);
    if (entryIsNone(p)) return 0;
    if (entryLeafFlags(p) & LEAF_CONT) this.splitContRun(pte, ti); // split_contpte()
    return 0;
  }

  // split_pud() / split_pmd() with to_cont: the block at entry idx of table
  // becomes a new table of `level` whose 512 leaves map the same memory, each
  // with PTE_CONT. -ENOMEM when the table page cannot be had.
  private splitToContTable(table: number, idx: number, level: PtLevel): number {
    const pt = this.pgtable;
    const child = pt.allocTable(level);
    if (child < 0) return -ENOMEM;
    pt.setLeaves(child, 0, entryLeafPfn(pt.get(table, idx)), LEAF_CONT, PTRS_PER_TABLE);
    pt.setTable(table, idx, child);
    return 0;
  }

  // split_contpmd() / split_contpte(): the 16 entries of the contiguous run
  // holding entry idx lose PTE_CONT.
  private splitContRun(table: number, idx: number): void {
    const pt = this.pgtable;
    const first = idx - (idx % CONT_ENTRIES);
    pt.setLeaves(table, first, entryLeafPfn(pt.get(table, first)), 0, CONT_ENTRIES);
  }

  /**
   * arch/arm64/mm/mmu.c: arch_add_memory(): arch_create_linear_mapping(),
   * then __add_pages(); when that fails, arch_remove_linear_mapping().
   */
  archAddMemory(ctx: ArchHotplugCtx, nid: number, start: number, size: number, params: MhpParams): number {
    let ret = this.archCreateLinearMapping(nid, start, size, params);
    if (ret < 0) return ret;
    ret = ctx.addPages(nid, start / PAGE, size / PAGE, params);
    if (ret) this.archRemoveLinearMapping(start, size);
    return ret;
  }

  /** arch/arm64/mm/mmu.c: arch_remove_memory(): __remove_pages(), then arch_remove_linear_mapping(). */
  archRemoveMemory(ctx: ArchHotplugCtx, start: number, size: number, altmap: VmemAltmap | undefined): void {
    ctx.removePages(start / PAGE, size / PAGE, altmap);
    this.archRemoveLinearMapping(start, size);
  }

  // __remove_pgd_mapping()
  private removePgdMapping(start: number, size: number): void {
    const end = start + size;
    if (start < PAGE_OFFSET48 || end > PAGE_END48)
      this.warnings.push("__remove_pgd_mapping: range outside the linear map");
    this.unmapHotplugRange(start, end, false, undefined);
    this.freeEmptyTables(start, end, PAGE_OFFSET48, PAGE_END48);
  }

  // free_hotplug_page_range()
  private freeHotplugPageRange(pfn: number, nrPages: number, altmap: VmemAltmap | undefined): void {
    if (altmap) vmemAltmapFree(altmap, nrPages);
    else this.alloc.freePages(pfn, Math.log2(nrPages));
    this.work.add("vmemmapPagesFreed", nrPages);
  }

  // unmap_hotplug_range(): clear every leaf in [addr, end); a block only
  // partly inside is cleared whole (6.1 does not split). With free_mapped the
  // backing is freed (vmemmap), with a one-page TLB flush per leaf.
  private unmapHotplugRange(
    addr: number,
    end: number,
    freeMapped: boolean,
    altmap: VmemAltmap | undefined,
  ): void {
    const pt = this.pgtable;
    const start = addr;
    if (!freeMapped && altmap) this.warnings.push("unmap_hotplug_range: altmap without free_mapped");
    do {
      const next = levelAddrEnd(addr, end, LEVEL_PGD);
      const e = pt.get(pt.root, ptIndex(addr, LEVEL_PGD));
      if (entryIsTable(e)) this.unmapHotplugPudRange(entryTable(e), addr, next, freeMapped, altmap);
      addr = next;
    } while (addr < end);
    // flush_tlb_kernel_range(start, end): one TLBI per page up to MAX_TLBI_OPS
    // (PTRS_PER_PTE) pages, flush_tlb_all() above (asm/tlbflush.h)
    if (!freeMapped) this.work.add(end - start > MAX_TLBI_OPS * PAGE ? "tlbFlushAll" : "tlbFlushRange");
  }

  // unmap_hotplug_pud_range()
  private unmapHotplugPudRange(
    pud: number,
    addr: number,
    end: number,
    freeMapped: boolean,
    altmap: VmemAltmap | undefined,
  ): void {
    const pt = this.pgtable;
    do {
      const next = levelAddrEnd(addr, end, LEVEL_PUD);
      const i = ptIndex(addr, LEVEL_PUD);
      const e = pt.get(pud, i);
      if (entryIsLeaf(e)) {
        pt.clear(pud, i);
        if (freeMapped) {
          this.work.add("tlbFlushPage");
          this.freeHotplugPageRange(entryLeafPfn(e), PUD_SIZE / PAGE, altmap);
        }
      } else if (entryIsTable(e)) this.unmapHotplugPmdRange(entryTable(e), addr, next, freeMapped, altmap);
      addr = next;
    } while (addr < end);
  }

  // unmap_hotplug_pmd_range()
  private unmapHotplugPmdRange(
    pmd: number,
    addr: number,
    end: number,
    freeMapped: boolean,
    altmap: VmemAltmap | undefined,
  ): void {
    const pt = this.pgtable;
    do {
      const next = levelAddrEnd(addr, end, LEVEL_PMD);
      const i = ptIndex(addr, LEVEL_PMD);
      const e = pt.get(pmd, i);
      if (entryIsLeaf(e)) {
        pt.clear(pmd, i);
        if (freeMapped) {
          if (entryLeafFlags(e) & LEAF_CONT)
            this.warnings.push("unmap_hotplug_pmd_range: CONT block in the vmemmap");
          this.work.add("tlbFlushPage");
          this.freeHotplugPageRange(entryLeafPfn(e), PMD_SIZE / PAGE, altmap);
        }
      } else if (entryIsTable(e)) this.unmapHotplugPteRange(entryTable(e), addr, next, freeMapped, altmap);
      addr = next;
    } while (addr < end);
  }

  // unmap_hotplug_pte_range()
  private unmapHotplugPteRange(
    pte: number,
    addr: number,
    end: number,
    freeMapped: boolean,
    altmap: VmemAltmap | undefined,
  ): void {
    const pt = this.pgtable;
    if (!freeMapped) {
      // the linear map: clear every live entry of [addr, end) (each counted)
      pt.clearRange(pte, ptIndex(addr, LEVEL_PTE), (end - addr) / PAGE);
      return;
    }
    do {
      const i = ptIndex(addr, LEVEL_PTE);
      const e = pt.get(pte, i);
      if (!entryIsNone(e)) {
        pt.clear(pte, i);
        if (freeMapped) {
          if (entryLeafFlags(e) & LEAF_CONT)
            this.warnings.push("unmap_hotplug_pte_range: CONT page in the vmemmap");
          this.work.add("tlbFlushPage");
          this.freeHotplugPageRange(entryLeafPfn(e), 1, altmap);
        }
      }
      addr += PAGE;
    } while (addr < end);
  }

  // pgtable_range_aligned()
  private static rangeAligned(
    start: number,
    end: number,
    floor: number,
    ceiling: number,
    size: number,
  ): boolean {
    start = Math.floor(start / size) * size;
    if (start < floor) return false;
    if (ceiling) {
      ceiling = Math.floor(ceiling / size) * size;
      if (!ceiling) return false;
    }
    return !(end - 1 > ceiling - 1);
  }

  // free_empty_tables() → free_empty_p4d_table() (folded) → free_empty_pud_table()
  private freeEmptyTables(addr: number, end: number, floor: number, ceiling: number): void {
    const pt = this.pgtable;
    do {
      const next = levelAddrEnd(addr, end, LEVEL_PGD);
      const gi = ptIndex(addr, LEVEL_PGD);
      const e = pt.get(pt.root, gi);
      if (entryIsTable(e)) this.freeEmptyPudTable(pt.root, gi, entryTable(e), addr, next, floor, ceiling);
      addr = next;
    } while (addr < end);
  }

  // free_empty_pud_table()
  private freeEmptyPudTable(
    pgd: number,
    gi: number,
    pud: number,
    addr: number,
    end: number,
    floor: number,
    ceiling: number,
  ): void {
    const pt = this.pgtable;
    const start = addr;
    do {
      const next = levelAddrEnd(addr, end, LEVEL_PUD);
      const i = ptIndex(addr, LEVEL_PUD);
      const e = pt.get(pud, i);
      if (entryIsLeaf(e)) this.warnings.push(`free_empty_pud_table: leaf at ${hex(this.pgtable.vaOf(addr))}`);
      else if (entryIsTable(e)) this.freeEmptyPmdTable(pud, i, entryTable(e), addr, next, floor, ceiling);
      addr = next;
    } while (addr < end);
    // CONFIG_PGTABLE_LEVELS = 4 > 3
    if (!Arm64Mm.rangeAligned(start, end, floor, ceiling, PGDIR_SIZE)) return;
    if (!pt.tableEmpty(pud)) return;
    pt.clear(pgd, gi); // p4d_clear()
    this.work.add("tlbFlushPage"); // __flush_tlb_kernel_pgtable()
    pt.freeTable(pud);
  }

  // free_empty_pmd_table()
  private freeEmptyPmdTable(
    pud: number,
    pi: number,
    pmd: number,
    addr: number,
    end: number,
    floor: number,
    ceiling: number,
  ): void {
    const pt = this.pgtable;
    const start = addr;
    do {
      const next = levelAddrEnd(addr, end, LEVEL_PMD);
      const i = ptIndex(addr, LEVEL_PMD);
      const e = pt.get(pmd, i);
      if (entryIsLeaf(e)) this.warnings.push(`free_empty_pmd_table: leaf at ${hex(this.pgtable.vaOf(addr))}`);
      else if (entryIsTable(e)) this.freeEmptyPteTable(pmd, i, entryTable(e), addr, next, floor, ceiling);
      addr = next;
    } while (addr < end);
    if (!Arm64Mm.rangeAligned(start, end, floor, ceiling, PUD_SIZE)) return;
    if (!pt.tableEmpty(pmd)) return;
    pt.clear(pud, pi);
    this.work.add("tlbFlushPage");
    pt.freeTable(pmd);
  }

  // free_empty_pte_table()
  private freeEmptyPteTable(
    pmd: number,
    mi: number,
    pte: number,
    addr: number,
    end: number,
    floor: number,
    ceiling: number,
  ): void {
    const pt = this.pgtable;
    const start = addr;
    for (let a = addr; a < end && !pt.tableEmpty(pte); a += PAGE)
      if (!entryIsNone(pt.get(pte, ptIndex(a, LEVEL_PTE)))) {
        this.warnings.push(`free_empty_pte_table: live pte at ${hex(this.pgtable.vaOf(a))}`);
        break;
      }
    if (!Arm64Mm.rangeAligned(start, end, floor, ceiling, PMD_SIZE)) return;
    if (!pt.tableEmpty(pte)) return;
    pt.clear(pmd, mi);
    this.work.add("tlbFlushPage");
    pt.freeTable(pte);
  }

  // ---- vmemmap ----

  /**
   * arch/arm64/mm/mmu.c: vmemmap_populate() (6.1 has its own loop, not
   * vmemmap_populate_hugepages()): less than a section's memmap → base pages
   * (from the altmap when given); else a 2 MiB block per PMD, falling back to
   * base pages when the block cannot be had; a PMD already present (block or
   * table) is left as it is.
   */
  vmemmapPopulate(startPfn: number, nrPages: number, _nid: number, altmap: VmemAltmap | undefined): number {
    const pt = this.pgtable;
    const start = this.vmemmap48(startPfn);
    const end = start + nrPages * STRUCT_PAGE_SIZE;
    if (!aligned(start, PAGE) || !aligned(end, PAGE)) return -EINVAL; // model: VM_BUG_ON in the caller
    if (start < this.vmemmapStart48 || end > this.vmemmapEnd48)
      this.warnings.push("vmemmap_populate: outside the vmemmap");
    if (end - start > PAGES_PER_SECTION * STRUCT_PAGE_SIZE)
      this.warnings.push("vmemmap_populate: more than one section");
    let err = 0;
    if (end - start < PAGES_PER_SECTION * STRUCT_PAGE_SIZE) {
      err = vmemmapPopulateBasepages(pt, this.alloc, this.work, start, end, altmap);
    } else {
      let addr = start;
      do {
        const next = levelAddrEnd(addr, end, LEVEL_PMD);
        const pmd = pt.ensureTable(addr, LEVEL_PMD); // vmemmap_{pgd,p4d,pud}_populate()
        if (pmd < 0) {
          err = -ENOMEM;
          break;
        }
        const i = ptIndex(addr, LEVEL_PMD);
        if (entryIsNone(pt.get(pmd, i))) {
          const p = vmemmapAllocBlockBuf(this.alloc, this.work, 9, altmap);
          if (p < 0) {
            if (vmemmapPopulateBasepages(pt, this.alloc, this.work, addr, next, altmap) < 0) {
              err = -ENOMEM;
              break;
            }
          } else pt.setLeaves(pmd, i, p, 0); // pmd_set_huge(PROT_SECT_NORMAL)
        } // else vmemmap_verify()
        addr = next;
      } while (addr !== end);
    }
    // As in the kernel, a failure leaves what was populated; the caller,
    // section_activate(), undoes it through section_deactivate() → vmemmap_free().
    return err < 0 ? -ENOMEM : 0;
  }

  /** arch/arm64/mm/mmu.c: vmemmap_free() */
  vmemmapFree(startPfn: number, nrPages: number, altmap: VmemAltmap | undefined): void {
    const start = this.vmemmap48(startPfn);
    const end = start + nrPages * STRUCT_PAGE_SIZE;
    this.unmapHotplugRange(start, end, true, altmap);
    this.freeEmptyTables(start, end, this.vmemmapStart48, this.vmemmapEnd48);
  }

  /** drivers/base/memory.c: memory_block_size_bytes(), the __weak default (arm64 has none of its own). */
  memoryBlockSizeBytes(): number {
    return MIN_MEMORY_BLOCK_SIZE;
  }

  /** arm64 has no arch_report_meminfo(): no extra /proc/meminfo lines. */
  archReportMeminfo(): Array<[string, number]> {
    return [];
  }

  // ---- upstream 2026: "arm64/mm: Reject memory removal that splits a kernel leaf mapping" ----

  /**
   * addr_splits_kernel_leaf() (mainline arch/arm64/mm/mmu.c, commit
   * 95a58852b0e5): would an edge at va48 fall inside a block or contiguous
   * leaf? Checked level by level: an address aligned to a level's size is a
   * boundary there; a none entry means nothing to split.
   */
  addrSplitsKernelLeaf(addr: number): boolean {
    const pt = this.pgtable;
    if (aligned(addr, PGDIR_SIZE)) return false;
    const pgd = pt.get(pt.root, ptIndex(addr, LEVEL_PGD));
    if (!entryIsTable(pgd)) return false; // p4d_present() of the folded p4d
    if (aligned(addr, PUD_SIZE)) return false;
    const pud = pt.get(entryTable(pgd), ptIndex(addr, LEVEL_PUD));
    if (entryIsNone(pud)) return false;
    if (entryIsLeaf(pud)) return true;
    if (aligned(addr, CONT_PMD_SIZE)) return false;
    const pmd = pt.get(entryTable(pud), ptIndex(addr, LEVEL_PMD));
    if (entryIsNone(pmd)) return false;
    if (entryIsLeaf(pmd) && entryLeafFlags(pmd) & LEAF_CONT) return true;
    if (aligned(addr, PMD_SIZE)) return false;
    if (entryIsLeaf(pmd)) return true;
    if (aligned(addr, CONT_PTE_SIZE)) return false;
    const pte = pt.get(entryTable(pmd), ptIndex(addr, LEVEL_PTE));
    if (entryIsNone(pte)) return false;
    if (entryLeafFlags(pte) & LEAF_CONT) return true;
    return !aligned(addr, PAGE);
  }

  /**
   * !can_unmap_without_split(): true when removing physical [start,
   * start + size) would split a block or contiguous leaf of the linear map or
   * of the vmemmap at either edge. Upstream calls it from the memory notifier
   * (prevent_memory_remove_notifier(), MEM_GOING_OFFLINE → NOTIFY_BAD, which
   * offline_pages() turns into -EPERM); generic code can use it to refuse.
   */
  archMemoryRemovalSplitsLeaf(start: number, size: number): boolean {
    const startPfn = Math.floor(start / PAGE);
    const endPfn = startPfn + Math.floor(size / PAGE);
    if (
      this.addrSplitsKernelLeaf(this.linear48(start)) ||
      this.addrSplitsKernelLeaf(this.linear48(start + size))
    )
      return true;
    return (
      this.addrSplitsKernelLeaf(this.vmemmap48(startPfn)) || this.addrSplitsKernelLeaf(this.vmemmap48(endPfn))
    );
  }

  /** /sys/kernel/debug/kernel_page_tables (arch/arm64/mm/ptdump.c). */
  kernelPageTablesShow(): string {
    return arm64Ptdump(this.pgtable);
  }

  /** arch/arm64/mm/mmu.c: prevent_bootmem_remove_init() registers prevent_memory_remove_notifier(). */
  archMemoryNotifiers(sections: EarlySections, rejectLeafSplit: boolean): Array<[string, MemoryNotifier]> {
    return [["prevent_memory_remove", preventMemoryRemoveNotifier(this, sections, rejectLeafSplit)]];
  }
}

/** pte_cont_addr_end() / pmd_cont_addr_end() */
function contAddrEnd(addr: number, end: number, size: number): number {
  const boundary = (Math.floor(addr / size) + 1) * size;
  return boundary < end ? boundary : end;
}

// ---- arch/arm64/mm/ptdump.c ----

/** asm/fixmap.h: __end_of_permanent_fixed_addresses with FDT (4M), GHES+SDEI, UNMAP_KERNEL_AT_EL0, RELOCATABLE. */
const FIX_PERMANENT = 1035;
const FIXADDR_TOP = ARM64_VMEMMAP_START - 32n * 1024n * 1024n;
const PCI_IO_END = ARM64_VMEMMAP_START - 8n * 1024n * 1024n;
const MODULES_END = ARM64_PAGE_END + 128n * 1024n * 1024n;

/** address_markers[] (no KASAN). */
const ARM64_MARKERS: ReadonlyArray<{ start: bigint; name: string }> = [
  { start: ARM64_PAGE_OFFSET, name: "Linear Mapping start" },
  { start: ARM64_PAGE_END, name: "Linear Mapping end" },
  { start: ARM64_PAGE_END, name: "Modules start" }, // MODULES_VADDR
  { start: MODULES_END, name: "Modules end" },
  { start: MODULES_END, name: "vmalloc() area" }, // VMALLOC_START
  { start: ARM64_VMEMMAP_START - 256n * 1024n * 1024n, name: "vmalloc() end" },
  { start: FIXADDR_TOP - BigInt(FIX_PERMANENT * PAGE), name: "Fixmap start" },
  { start: FIXADDR_TOP, name: "Fixmap end" },
  { start: PCI_IO_END - 16n * 1024n * 1024n, name: "PCI I/O start" },
  { start: PCI_IO_END, name: "PCI I/O end" },
  { start: ARM64_VMEMMAP_START, name: "vmemmap start" },
  { start: ARM64_VMEMMAP_END, name: "vmemmap end" },
  { start: 0xffffffffffffffffn, name: "" },
];

const PGLEVEL_NAME = ["PGD", "P4D", "PUD", "PMD", "PTE"];
const A_VALID = 1;
const A_PXN = 2;
const A_SHD = 4;
const A_AF = 8;
const A_CONT = 16;
const A_TABLE = 32; // PTE_TABLE_BIT: set on page descriptors, clear on blocks
const A_UXN = 64;
const A_NORMAL = 128;
const U64 = 1n << 64n;

/**
 * model: permissions are not tracked; every present leaf is PAGE_KERNEL
 * (pages) or PROT_SECT_NORMAL (blocks): valid, RW, PXN, UXN, inner shareable,
 * AF, MT_NORMAL, no nG (no KPTI under TCG -cpu max), CON when the model set it.
 */
function arm64Prot(depth: number, e: number): number {
  if (!entryIsLeaf(e)) return 0;
  return (
    A_VALID |
    A_PXN |
    A_SHD |
    A_AF |
    A_UXN |
    A_NORMAL |
    (depth === 4 ? A_TABLE : 0) |
    (entryLeafFlags(e) & LEAF_CONT ? A_CONT : 0)
  );
}

// dump_prot() over pte_bits[]
function dumpProt(p: number): string {
  let s = "";
  s += " " + (p & A_VALID ? " " : "F");
  s += " " + "   "; // USR
  s += " " + "RW"; // PTE_RDONLY clear
  s += " " + (p & A_PXN ? "NX" : "x ");
  s += " " + (p & A_SHD ? "SHD" : "   ");
  s += " " + (p & A_AF ? "AF" : "  ");
  s += " " + "  "; // NG
  s += " " + (p & A_CONT ? "CON" : "   ");
  s += " " + (p & A_TABLE ? "   " : "BLK");
  s += " " + (p & A_UXN ? "UXN" : "   ");
  s += " " + "  "; // GP
  if (p & A_NORMAL) s += " MEM/NORMAL";
  return s;
}

function arm64Ptdump(pt: KernelPageTable): string {
  const out: string[] = [];
  const units = "KMGTPE";
  let level = -1;
  let curProt = 0;
  let start = 0n;
  let mi = 0;
  // arch/arm64/mm/ptdump.c: note_page()
  const note = (va48: number, depth: number, e: number): void => {
    const addr = depth < 0 ? 0n : pt.vaOf(va48); // the final flush is note_page(st, 0, -1, 0)
    const prot = depth >= 0 ? arm64Prot(depth, e) : 0;
    if (level === -1) {
      level = depth;
      curProt = prot;
      start = addr;
      out.push(`---[ ${ARM64_MARKERS[mi].name} ]---\n`);
    } else if (prot !== curProt || depth !== level || addr >= ARM64_MARKERS[mi + 1].start) {
      let delta = ((((addr - start) % U64) + U64) % U64) >> 10n;
      let u = 0;
      while ((delta & 1023n) === 0n && u < units.length - 1) {
        delta >>= 10n;
        u++;
      }
      let line =
        `0x${start.toString(16).padStart(16, "0")}-0x${addr.toString(16).padStart(16, "0")}   ` +
        `${delta.toString().padStart(9)}${units[u]} ${PGLEVEL_NAME[level]}`;
      if (curProt) line += dumpProt(curProt);
      out.push(line + "\n");
      if (addr >= ARM64_MARKERS[mi + 1].start) {
        mi++;
        out.push(`---[ ${ARM64_MARKERS[mi].name} ]---\n`);
      }
      start = addr;
      curProt = prot;
      level = depth;
    }
    if (addr >= ARM64_MARKERS[mi + 1].start) {
      mi++;
      out.push(`---[ ${ARM64_MARKERS[mi].name} ]---\n`);
    }
  };
  // ptdump_walk(): {PAGE_OFFSET, ~0UL}
  ptdumpWalkPgd(pt, [[PAGE_OFFSET48, 2 ** 48]], note);
  return out.join("");
}
