// The boundary between generic memory-hotplug code (src/mm, src/drivers) and the
// architectures (src/arch/<arch>). Generic code never asks which arch it runs on;
// it calls these hooks, as mm/memory_hotplug.c calls arch_add_memory() and friends.

import type { KernelPageTable } from "../mm/pgtable.js";

/** The architectures memhp models (the `machine` statement's ARCH). */
export type Arch = "x86_64" | "arm64";

/** include/linux/memremap.h: struct vmem_altmap (PFNs, counts in pages). */
export interface VmemAltmap {
  /** first PFN of the range the memmap is carved from */
  basePfn: number;
  /** pages reserved at the start (not used for the memmap) */
  reserve: number;
  /** pages available for the memmap */
  free: number;
  /** pages handed out so far */
  alloc: number;
  /** pages lost to alignment */
  align: number;
}

/** include/linux/memory_hotplug.h: struct mhp_params */
export interface MhpParams {
  altmap?: VmemAltmap;
}

/** What arch_add_memory()/arch_remove_memory() call back in generic code. */
export interface ArchHotplugCtx {
  /** mm/memory_hotplug.c: __add_pages() — sections, memmap, vmemmap. */
  addPages(nid: number, startPfn: number, nrPages: number, params: MhpParams): number;
  /** mm/memory_hotplug.c: __remove_pages() */
  removePages(startPfn: number, nrPages: number, altmap: VmemAltmap | undefined): void;
}

/** A physical range of boot RAM (PFNs). */
export interface PfnRange {
  startPfn: number;
  endPfn: number;
}

export interface ArchMm {
  readonly arch: Arch;
  /** The kernel's page tables (init_mm / swapper_pg_dir). */
  readonly pgtable: KernelPageTable;
  /** Virtual address of the linear (direct) map of physical address `pa`. */
  physToVirt(pa: number): bigint;
  /** Virtual address of the struct page of `pfn` in the vmemmap. */
  pfnToPageVa(pfn: number): bigint;
  /** Boot: map the boot RAM in the linear map (x86 init_mem_mapping(), arm64 map_mem()). */
  mapBootMemory(ranges: readonly PfnRange[]): void;
  /**
   * arch_create_linear_mapping() (the name powerpc has used since 5.11; the RFC
   * splits it out on x86_64 and arm64 too): map physical [start, start + size)
   * in the linear map. 0 or -errno; nothing is left mapped on failure.
   */
  archCreateLinearMapping(nid: number, start: number, size: number, params: MhpParams): number;
  /**
   * arch_remove_linear_mapping(): unmap physical [start, start + size) from the
   * linear map, flush the TLB and free the tables that became empty. The memmap
   * (vmemmap) is not touched.
   */
  archRemoveLinearMapping(start: number, size: number): void;
  /**
   * Would removing the linear mapping of [start, start + size) split a leaf
   * (an x86 2M/1G page, an arm64 block or contiguous run) at either edge? The
   * vmemmap is not looked at (compare archMemoryRemovalSplitsLeaf()).
   */
  archLinearMappingSplitsLeaf(start: number, size: number): boolean;
  /** arch_add_memory(): map the range, then ctx.addPages(). 0 or -errno; nothing left on failure. */
  archAddMemory(ctx: ArchHotplugCtx, nid: number, start: number, size: number, params: MhpParams): number;
  /** arch_remove_memory(): ctx.removePages(), then unmap the range and free empty tables. */
  archRemoveMemory(ctx: ArchHotplugCtx, start: number, size: number, altmap: VmemAltmap | undefined): void;
  /** vmemmap_populate() for the struct pages of [startPfn, startPfn+nrPages). 0 or -ENOMEM. */
  vmemmapPopulate(startPfn: number, nrPages: number, nid: number, altmap: VmemAltmap | undefined): number;
  /** vmemmap_free() */
  vmemmapFree(startPfn: number, nrPages: number, altmap: VmemAltmap | undefined): void;
  /** arch_report_meminfo(): extra /proc/meminfo lines as [name, kB] (x86 DirectMap*). */
  archReportMeminfo(): Array<[string, number]>;
  /** memory_block_size_bytes(): x86 probe_memory_block_size(), arm64 the 128 MiB default. */
  memoryBlockSizeBytes(): number;
  /**
   * arm64 (upstream 2026, "Reject memory removal that splits a kernel leaf mapping"):
   * would taking [start, start+size) away split a block or contiguous leaf of the
   * linear map or the vmemmap? Always false on x86.
   */
  archMemoryRemovalSplitsLeaf(start: number, size: number): boolean;
  /** /sys/kernel/debug/kernel_page_tables in the arch's ptdump text format. */
  kernelPageTablesShow(): string;
}
