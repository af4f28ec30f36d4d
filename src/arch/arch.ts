// The boundary between generic memory-hotplug code (src/mm, src/drivers) and the
// architectures (src/arch/<arch>). Generic code never asks which arch it runs on;
// it calls these hooks, as mm/memory_hotplug.c calls arch_add_memory() and friends.

import type { MemoryNotifier } from "../drivers/base/memory.js";
import type { FirmwareRange } from "../hw/board.js";
import type { PfnSpan } from "../mm/pfn_span.js";
import type { KernelPageTable } from "../mm/pgtable.js";
import type { KernelVersion } from "../kernel/linux_version.js";

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

/**
 * The Kconfig options of Debian's 6.1 cloud kernel that differ between the
 * architectures and that generic code tests (its IS_ENABLED(CONFIG_...)).
 */
/** What sections the arch's memory notifiers ask about (mm/sparse.c: early_section()). */
export interface EarlySections {
  earlySectionNr(nr: number): boolean;
}

/** A named physical range [start, end] (inclusive end, as /proc/iomem prints it). */
export interface NamedRange {
  name: string;
  start: number;
  end: number;
}

/**
 * The arch side of boot before the page tables exist: setup_arch() and the
 * arch's early parameters and zone limits (arch/x86/kernel/setup.c,
 * arch/arm64/kernel/setup.c and their mm/init.c). Generic boot code
 * (src/kernel/) calls these instead of asking which arch it runs on;
 * archSetup() in src/arch/index.ts gives the machine's.
 */
export interface ArchSetup {
  readonly arch: Arch;
  /** rodata_full before the command line is parsed (arm64: CONFIG_RODATA_FULL_DEFAULT_ENABLED). */
  readonly rodataFullDefault: boolean;
  /** arch_parse_debug_rodata() for rodata=VAL: the new rodata_full (x86_64 has none: unchanged). */
  parseDebugRodata(val: string | undefined, rodataFull: boolean): boolean;
  /** zone_sizes_init(): max_zone_pfn[] for free_area_init(), from the boot DRAM's PFN range. */
  zoneSizesInit(minPfn: number, maxPfn: number): number[];
  /** The kernel image's parts as setup_arch() inserts them under System RAM ("Kernel code", ...). */
  readonly kernelImage: readonly NamedRange[];
  /** Firmware-described non-RAM resources setup_arch() inserts in iomem (x86_64: the legacy holes, APIC, HPET). */
  readonly firmwareResources: readonly NamedRange[];
  /** memblock reservations setup_arch() makes of low RAM (x86_64: the first 1 MiB, always). */
  reserveLowMemory(ram: readonly FirmwareRange[]): PfnSpan[];
  /** The kernel image's parts on a machine whose RAM ends at ramEnd (arm64's EFI stub places it from the top). */
  placeKernelImage(ramEnd: number): NamedRange[];
  /** Page tables of the direct map taken from the image's brk area, not memblock (x86_64: INIT_PGT_BUF_SIZE). */
  readonly bootPgtBufPages: number;
  /** Does ZONE_DMA's size lose the pages setup_arch() reserved below 16 MiB (x86_64 memblock_find_dma_reserve())? */
  readonly dmaReserve: boolean;
  /** Is the swiotlb set up at boot on this machine (x86_64 pci_swiotlb_detect(), arm64 mem_init())? */
  bootSwiotlb(m: { ramEnd: number; memBytes: number; maxmemBytes: number }): boolean;
  /**
   * Without bootSwiotlb(), the bytes of the pool the arch still asks for
   * (swiotlb_adjust_size()), given memblock_phys_mem_size() and whether the
   * build has CONFIG_DMA_BOUNCE_UNALIGNED_KMALLOC; undefined: none.
   */
  kmallocBounceSwiotlbBytes(physMemBytes: number, dmaBounceUnalignedKmalloc: boolean): number | undefined;
  /** Do the DMA atomic pools come from the page allocator (arm64: from its CMA area, which the model lacks)? */
  readonly dmaPoolsFromBuddy: boolean;
  /** The CPU models the machine may have (`machine ... cpu=`, QEMU's -cpu); the first is the default. */
  readonly cpuModels: readonly string[];
  /** arm64: cpu_supports_bbml2_noabort() of the CPU model on release `version` (x86_64: false). */
  bbml2Noabort(cpu: string, version: KernelVersion): boolean;
  /** May the linear map use block mappings (arm64: !force_pte_mapping(); x86_64: always)? */
  linearBlockMappings(linearMap: LinearMapConfig): boolean;
  /**
   * Boot reservations the model does not build when the linear map may use
   * block mappings (arm64; measured per release, not explained).
   */
  extraBootReservedPages(linearBlockMappings: boolean, version: KernelVersion): number;
}

/** What decides whether the linear map may use block mappings (arm64's force_pte_mapping()). */
export interface LinearMapConfig {
  /** rodata=full */
  rodataFull: boolean;
  /** CONFIG_KFENCE without an early pool (Debian's 6.12 and 7.2) */
  kfenceLateInit: boolean;
  /** ARM64_HAS_BBML2_NOABORT (7.2, on the CPUs of its allow-list) */
  bbml2Noabort: boolean;
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
  /** Late boot: the protections of the kernel image that split the linear map (x86_64). */
  protectKernelImage(): void;
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
  /**
   * The series' arch_linear_mapping_split_leaves() (7.2): split the leaves
   * that cross the edges of [start, start + size) where the architecture can
   * split a live mapping (arm64: split_kernel_leaf_mapping(), which splits only
   * with BBML2_NOABORT under rodata=full). 0, or -ENOMEM when a table page
   * cannot be had; what was split stays split.
   */
  archLinearMappingSplitLeaves(start: number, size: number): number;
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
  /**
   * The memory notifiers the arch registers at boot, as [name, callback]
   * (arm64: prevent_memory_remove_notifier(); x86_64: none).
   */
  archMemoryNotifiers(sections: EarlySections, rejectLeafSplit: boolean): Array<[string, MemoryNotifier]>;
}
