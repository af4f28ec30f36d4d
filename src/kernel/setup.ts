// What setup_arch() makes of the firmware's memory map: iomem resources
// (arch/x86/kernel/e820.c: e820__reserve_resources(); arch/arm64/kernel/setup.c:
// request_standard_resources()) with the kernel image under the System RAM that
// holds it, and the range the kernel image occupies (memblock-reserved). The
// arch's parts (its kernel image, firmware resources, low-memory reservation)
// come from src/arch/<arch>/setup.ts.

import type { Board } from "../hw/board.js";
import type { Arch, LinearMapConfig } from "../arch/arch.js";
import { archSetup } from "../arch/index.js";
import type { PfnSpan } from "../mm/page_alloc.js";
import {
  IORESOURCE_BUSY,
  IORESOURCE_MEM,
  IORESOURCE_SYSTEM_RAM,
  Resource,
  type ResourceTree,
} from "./resource.js";
import { DEFAULT_KERNEL_VERSION, kernelAtLeast, type KernelVersion } from "./linux_version.js";
import { kernelKconfig, type Kconfig } from "./kconfig.js";
import { swiotlbNslabs, swiotlbPoolPages } from "./dma/swiotlb.js";

const PAGE = 4096;

/**
 * The kernel image's parts on this machine: x86_64's are fixed (nokaslr);
 * arm64's EFI stub allocates the image from the top of RAM down, so the model
 * keeps the 1 GiB guest's distance from the end of RAM at every size.
 */
function kernelImage(board: Board): { name: string; start: number; end: number }[] {
  const ramEnd = Math.max(...board.firmwareMap.filter((r) => r.kind !== "reserved").map((r) => r.end));
  return archSetup(board.config.arch).placeKernelImage(ramEnd);
}

/** The PFN range the kernel image occupies. */
export function kernelImageRange(board: Board): PfnSpan {
  const parts = kernelImage(board);
  const start = Math.min(...parts.map((p) => p.start));
  const end = Math.max(...parts.map((p) => p.end)) + 1;
  return { startPfn: Math.floor(start / PAGE), endPfn: Math.ceil(end / PAGE) };
}

/**
 * What stays reserved of the kernel image (never in the buddy): the image less
 * what late boot frees of it (free_initmem(), the text/rodata and rodata/data
 * gaps, __bss_decrypted), which the model frees from lateFreedRange() instead,
 * so the image's reservation leaves out as many pages at its end.
 */
export function kernelImageReserved(board: Board, version: KernelVersion = DEFAULT_KERNEL_VERSION): PfnSpan {
  const r = kernelImageRange(board);
  return { startPfn: r.startPfn, endPfn: r.endPfn - lateFreedPages(board.config.arch, version) };
}

export function insertFirmwareResources(tree: ResourceTree, board: Board): void {
  const setup = archSetup(board.config.arch);
  for (const r of board.firmwareMap) {
    // arm64 request_standard_resources(): NOMAP memory shows as "reserved".
    const ram = r.kind === "ram";
    const res = new Resource(
      ram ? "System RAM" : "Reserved",
      BigInt(r.start),
      BigInt(r.end - 1),
      ram ? (IORESOURCE_SYSTEM_RAM | IORESOURCE_BUSY) >>> 0 : (IORESOURCE_MEM | IORESOURCE_BUSY) >>> 0,
    );
    tree.insertResource(tree.root, res);
  }
  for (const f of setup.firmwareResources)
    tree.insertResource(tree.root, new Resource(f.name, BigInt(f.start), BigInt(f.end), IORESOURCE_MEM));
  const inRam = (a: number) => board.firmwareMap.some((r) => r.kind === "ram" && r.start <= a && a < r.end);
  for (const k of kernelImage(board)) {
    if (!inRam(k.start)) continue;
    const res = new Resource(
      k.name,
      BigInt(k.start),
      BigInt(k.end),
      (IORESOURCE_SYSTEM_RAM | IORESOURCE_BUSY) >>> 0,
    );
    tree.insertResource(tree.root, res);
  }
}

/**
 * mm/page_alloc.c: alloc_large_system_hash() for a table of `bucketsize`-byte
 * buckets: `numentries` of them when given, else one per 2^scale bytes of low
 * memory (nr_kernel_pages, the scale growing by 2 per 4x above 64 GiB when
 * there is no high limit), rounded up to a power of two, at least a page, at
 * least lowLimit, at most highLimit (default 1/16 of nr_all_pages). Returns
 * the table's size in bytes.
 */
export function largeSystemHashBytes(
  bucketsize: number,
  scale: number,
  nrKernelPages: number,
  nrAllPages: number,
  limits: { numentries?: number; lowLimit?: number; highLimit?: number } = {},
): number {
  const PAGE_SHIFT = 12;
  let numentries = limits.numentries ?? 0;
  const highLimit = limits.highLimit ?? 0;
  if (!numentries) {
    numentries = Math.ceil(nrKernelPages / 256) * 256; // round_up(.., SZ_1M / PAGE_SIZE)
    if (!highLimit) for (let adapt = 2 ** (36 - PAGE_SHIFT); adapt < numentries; adapt *= 4) scale++; // ADAPT_SCALE_NPAGES
    numentries =
      scale > PAGE_SHIFT
        ? Math.floor(numentries / 2 ** (scale - PAGE_SHIFT))
        : numentries * 2 ** (PAGE_SHIFT - scale);
    if (numentries * bucketsize < PAGE) numentries = PAGE / bucketsize;
  }
  numentries = 2 ** Math.ceil(Math.log2(numentries)); // roundup_pow_of_two()
  const max = Math.min(highLimit || Math.floor((nrAllPages * PAGE) / 16 / bucketsize), 0x80000000);
  numentries = Math.min(Math.max(numentries, limits.lowLimit ?? 0), max);
  return bucketsize * 2 ** Math.floor(Math.log2(numentries));
}

/**
 * mm/page_alloc.c: free_area_init_core(): nr_kernel_pages and nr_all_pages,
 * each zone's present pages less calc_memmap_size() of it, and ZONE_DMA's less
 * dma_reserve (x86_64: memblock_find_dma_reserve(), the reserved pages below
 * 16 MiB at that time: the first MiB).
 */
export function nrKernelPages(
  zoneLimits: readonly number[],
  ram: readonly PfnSpan[],
  dmaReserve: number,
): number {
  const nodeStart = Math.min(...ram.map((r) => r.startPfn));
  const nodeEnd = Math.max(...ram.map((r) => r.endPfn));
  let lo = nodeStart;
  let total = 0;
  for (let j = 0; j < zoneLimits.length; j++) {
    const hi = Math.max(lo, Math.min(zoneLimits[j], nodeEnd));
    const spanned = hi - lo;
    let present = 0;
    for (const r of ram) present += Math.max(0, Math.min(r.endPfn, hi) - Math.max(r.startPfn, lo));
    // calc_memmap_size(): present pages when the zone has holes, 64-byte struct pages
    const pages = spanned > present + (present >> 4) ? present : spanned;
    const memmap = Math.ceil((pages * 64) / PAGE);
    let free = present >= memmap ? present - memmap : present;
    if (j === 0 && free > dmaReserve) free -= dmaReserve;
    total += free;
    lo = hi;
  }
  return total;
}

/**
 * Boot-time memblock reservations the model does not model one by one, as one
 * range at the top of the bank that holds most of boot memory, where memblock
 * allocates top-down. The memmap and the page tables of boot memory are not in
 * it: the model allocates them itself as memblock would (src/kernel/kernel.ts).
 * What is in it, from the boot log's "Memory: ... reserved" at every size of
 * test/fixtures/boot-calibration.json:
 * - the two hash tables taken from memblock (HASH_EARLY): dcache_init_early()
 *   ("Dentry cache", 8-byte buckets, one per 8 KiB of low memory) and
 *   inode_init_early() ("Inode-cache", one per 16 KiB), fs/dcache.c, fs/inode.c;
 * - the swiotlb bounce buffer (kernel/dma/swiotlb.c: swiotlb_init_remap(),
 *   64 MiB plus its slot array, 32768 slots of 24 bytes) when the kernel wants
 *   one: on x86_64 when memory may reach above 4 GiB (pci_swiotlb_detect():
 *   max_possible_pfn, which counts the SRAT's hotpluggable range QEMU describes
 *   when the machine has room for more memory: maxmem above mem, the device
 *   memory region at or above 4 GiB), on arm64 when RAM reaches above
 *   ZONE_DMA (mem_init());
 * - a constant rest: per-cpu areas, ACPI and EFI tables, the initrd until it is
 *   freed, NODE_DATA, mem_section and usemaps, early page tables and the rest
 *   of setup_arch(), calibrated on the 1 GiB machines.
 * x86_64 also keeps the first 1 MiB, as 6.1 always does (setup_arch(): "reserve
 * the first 1M").
 */
const RESERVED_REST_PAGES: Record<Arch, number> = { x86_64: 381, arm64: 332 };

const SWIOTLB_PAGES = swiotlbPoolPages(swiotlbNslabs(undefined));

/** memblock_phys_mem_size(): the firmware's memory, NOMAP ranges included. */
export function memblockPhysMemSize(board: Board): number {
  return board.firmwareMap.filter((r) => r.kind !== "reserved").reduce((n, r) => n + (r.end - r.start), 0);
}

/**
 * The pages of the swiotlb pool boot sets up (0: none): the default 64 MiB one
 * when the kernel wants bouncing (bootSwiotlb()); otherwise the one the arch
 * may still ask for, for kmalloc() bouncing (kmallocBounceSwiotlbPages()).
 */
export function swiotlbPages(board: Board, kconfig: Pick<Kconfig, "dmaBounceUnalignedKmalloc">): number {
  return bootSwiotlb(board) ? SWIOTLB_PAGES : kmallocBounceSwiotlbPages(board, kconfig);
}

/**
 * The pages of the pool for kmalloc() bouncing alone: arm64 from 6.5 with all
 * RAM in ZONE_DMA asks for 1 MiB per GiB of memory (memblock_phys_mem_size()
 * / 1024), rounded up to a power of two of slabs: 2 MiB on the 1 GiB guest,
 * 4 MiB on the 2 GiB one (memblock=debug: swiotlb_init_remap()'s 2097152- and
 * 4194304-byte allocations, with 24576- and 49152-byte slot arrays).
 */
export function kmallocBounceSwiotlbPages(
  board: Board,
  kconfig: Pick<Kconfig, "dmaBounceUnalignedKmalloc">,
): number {
  const bytes = archSetup(board.config.arch).kmallocBounceSwiotlbBytes(
    memblockPhysMemSize(board),
    kconfig.dmaBounceUnalignedKmalloc,
  );
  return bytes === undefined ? 0 : swiotlbPoolPages(swiotlbNslabs(bytes));
}

/** Whether the kernel sets up the swiotlb at boot on this machine (see RESERVED_REST_PAGES). */
export function bootSwiotlb(board: Board): boolean {
  const c = board.config;
  const ramEnd = Math.max(...board.firmwareMap.filter((r) => r.kind === "ram").map((r) => r.end));
  return archSetup(c.arch).bootSwiotlb({ ramEnd, memBytes: c.memBytes, maxmemBytes: c.maxmemBytes });
}

/**
 * nr_kernel_pages from 6.3 on (mm/mm_init.c: calc_nr_kernel_pages()): the free
 * memblock ranges when free_area_init() runs, so no NOMAP memory, no memmap
 * (sparse_init() ran) and no kernel image (`imagePages`). On the arm64 guests
 * the firmware's 64 MiB NOMAP bank and the memmap keep it below 2^18 pages on
 * 1 GiB and below 2^19 on 2 GiB, so the dentry and inode tables are half
 * 6.1's (the boot logs: 131072 and 65536 entries on 1 GiB, 262144 and 131072
 * on 2 GiB).
 */
export function calcNrKernelPages(board: Board, imagePages: number): number {
  let ram = 0;
  let present = 0;
  for (const r of board.firmwareMap) {
    const pages = Math.floor(r.end / PAGE) - Math.ceil(r.start / PAGE);
    if (r.kind !== "reserved") present += pages;
    if (r.kind === "ram") ram += pages;
  }
  return ram - Math.ceil((present * 64) / PAGE) - imagePages;
}

/**
 * The nr_kernel_pages that sizes the early hash tables (dcache_init_early(),
 * inode_init_early()): calcNrKernelPages() from 6.3 on, 6.1's otherwise.
 */
export function earlyHashKernelPages(board: Board, version: KernelVersion): number {
  if (!kernelAtLeast(version, "6.12")) return machineKernelPages(board);
  const image = kernelImageRange(board);
  return calcNrKernelPages(board, image.endPfn - image.startPfn);
}

/**
 * nr_kernel_pages of the machine as 6.1 counts it (free_area_init_core():
 * present pages less the memmap), which sizes the boot-time hash tables, the
 * early ones and those allocated after memblock (boot_alloc.ts); from 6.3
 * earlyHashKernelPages() counts it.
 */
export function machineKernelPages(board: Board): number {
  const arch = board.config.arch;
  const ram = board.firmwareMap
    .filter((r) => r.kind !== "reserved")
    .map((r) => ({ startPfn: Math.ceil(r.start / PAGE), endPfn: Math.floor(r.end / PAGE) }));
  const minPfn = Math.min(...ram.map((r) => r.startPfn));
  const maxPfn = Math.max(...ram.map((r) => r.endPfn));
  const setup = archSetup(arch);
  const zoneLimits = setup.zoneSizesInit(minPfn, maxPfn);
  // memblock_find_dma_reserve() (x86_64): what setup_arch() reserved below 16 MiB by then
  let dmaReserve = 0;
  if (setup.dmaReserve)
    for (const r of setup.reserveLowMemory(board.firmwareMap.filter((f) => f.kind === "ram")))
      dmaReserve += Math.max(0, Math.min(r.endPfn, (16 << 20) / PAGE) - r.startPfn);
  return nrKernelPages(zoneLimits, ram, dmaReserve);
}

/** The pages of the early hash tables and the swiotlb and the rest, as RESERVED_REST_PAGES says. */
export function bootReservedPages(board: Board, version: KernelVersion = DEFAULT_KERNEL_VERSION): number {
  const arch = board.config.arch;
  const nkp = earlyHashKernelPages(board, version);
  const hashBytes = largeSystemHashBytes(8, 13, nkp, nkp) + largeSystemHashBytes(8, 14, nkp, nkp);
  return (
    RESERVED_REST_PAGES[arch] +
    Math.ceil(hashBytes / PAGE) +
    swiotlbPages(board, kernelKconfig(arch, version, false))
  );
}

/**
 * What each release's Debian cloud kernel reserves at boot beyond 6.1's (a
 * larger image and more boot-time allocations), and how many more pages its
 * late boot frees (LATE_FREED_PAGES), measured on the same 1 GiB guests:
 *   6.12  x86_64 DMA32 managed 227380 against 6.1's 228740; arm64 DMA managed
 *         246806 against 248774; late frees as 6.1's.
 *   7.2   x86_64 DMA32 managed 226457 (923 fewer than 6.12's), of which
 *         223776 when the per-cpu pagesets were sized (high_max 27972 =
 *         managed / 8): 2681 pages freed late, 278 more than 6.1. arm64
 *         DMA managed 244984 (1822 fewer than 6.12's), 244128..244135 when
 *         the pagesets were sized (high_max 30516): about 852 freed late,
 *         561 fewer than 6.1.
 */
const BOOT_DELTA: Record<
  KernelVersion,
  Record<Arch, { reserved: number; lateFreed: number; rest?: number }>
> = {
  "6.1": { x86_64: { reserved: 0, lateFreed: 0 }, arm64: { reserved: 0, lateFreed: 0 } },
  // arm64: less the kmalloc() bouncing swiotlb of those 1 GiB guests (518
  // pages), plus the early hash tables' halving there (384 pages: 2 MiB +
  // 1 MiB on 6.1's count, 1 MiB + 512 KiB on 6.3's), which swiotlbPages() and
  // earlyHashKernelPages() now size for every machine
  // rest (arm64): the hash tables allocated after memblock (boot_alloc.ts),
  // 136 pages smaller on the 1 GiB guests on 6.3's nr_kernel_pages, which
  // bootHashBytes() now sizes by release, went into the fitted rest before
  "6.12": {
    x86_64: { reserved: 1360, lateFreed: 0 },
    arm64: { reserved: 1968 - 518 + 384, lateFreed: 0, rest: 136 },
  },
  "7.2": {
    x86_64: { reserved: 1360 + 923 + 278, lateFreed: 278 },
    // rest: fitted again (the 7.2 recordings' first free pages, 702..741
    // pages fewer than the model's) when the boot's memblock allocations
    // stopped leaving pages on the per-cpu lists and 6.1's rest was refitted
    arm64: { reserved: 1968 - 518 + 384 + 1822 - 561, lateFreed: -561, rest: 720 + 136 },
  },
};

/**
 * Pages the release's boot allocates (and keeps) beyond 6.1's
 * (boot_alloc.ts: BOOT_REST_PAGES), as fitted to its recordings.
 */
export function bootRestDeltaPages(arch: Arch, version: KernelVersion): number {
  return BOOT_DELTA[version][arch].rest ?? 0;
}

function lateFreedPages(arch: Arch, version: KernelVersion): number {
  return LATE_FREED_PAGES[arch] + BOOT_DELTA[version][arch].lateFreed;
}

/**
 * Memory the kernel frees late in boot, page by page through the per-cpu lists
 * (free_initrd_mem(), free_initmem() and the image's gaps → free_reserved_area()
 * → __free_page()), after it computed the watermarks and the lowmem reserves
 * (init_per_zone_wmark_min(), hugepage_init()): the sum of the boot log's
 * "Freeing initrd memory", "Freeing unused decrypted memory" and "Freeing
 * unused kernel image (...) memory" lines, the same at every size
 * (test/fixtures/boot-calibration.json). x86_64: 1032 + 2036 + 2612 + 2040 +
 * 1892 kB; arm64: 1044 + 4608 kB.
 */
const LATE_FREED_PAGES: Record<Arch, number> = { x86_64: 2403, arm64: 1413 };

/** The reserved range whose pages late boot gives back (see LATE_FREED_PAGES). */
export function lateFreedRange(
  board: Board,
  params?: BootParams,
  version: KernelVersion = DEFAULT_KERNEL_VERSION,
): PfnSpan {
  const all = bootReservations(board, params, version);
  const top = all[all.length - 1];
  return { startPfn: top.startPfn - lateFreedPages(board.config.arch, version), endPfn: top.startPfn };
}

/** What of the command line changes the boot reservations. */
export interface BootParams {
  /** arm64 rodata=full (the default) or not */
  rodataFull: boolean;
}

/**
 * May boot memory's linear map use block mappings (archSetup().linearBlockMappings():
 * arm64's force_pte_mapping() from rodata=, the build's KFENCE and the CPU)?
 */
export function bootLinearBlockMappings(
  board: Board,
  params: BootParams,
  version: KernelVersion,
  rfc: boolean,
): boolean {
  return archSetup(board.config.arch).linearBlockMappings(
    linearMapConfig(board.config.arch, board.config.cpu, version, rfc, params.rodataFull),
  );
}

/**
 * What decides how a machine's linear map is built (LinearMapConfig): rodata=,
 * the build's KFENCE (kernelKconfig()) and the CPU's BBML2_NOABORT
 * (archSetup().bbml2Noabort() of `cpu`, the arch's first model when unset).
 */
export function linearMapConfig(
  arch: Arch,
  cpu: string | undefined,
  version: KernelVersion,
  rfc: boolean,
  rodataFull: boolean,
): LinearMapConfig {
  const setup = archSetup(arch);
  return {
    rodataFull,
    kfenceLateInit: kernelKconfig(arch, version, rfc).kfenceLateInit,
    bbml2Noabort: setup.bbml2Noabort(cpu ?? setup.cpuModels[0], version),
  };
}

export function bootReservations(
  board: Board,
  params?: BootParams,
  version: KernelVersion = DEFAULT_KERNEL_VERSION,
): PfnSpan[] {
  const out: PfnSpan[] = [];
  const ram = board.firmwareMap.filter((r) => r.kind === "ram");
  out.push(...archSetup(board.config.arch).reserveLowMemory(ram));
  // The bank that holds most of boot memory (x86: 1 MiB .. the low-memory split; arm64: from 1 GiB).
  const bank = ram.reduce((a, b) => (b.end - b.start > a.end - a.start ? b : a));
  const endPfn = Math.floor(bank.end / PAGE);
  const arch = board.config.arch;
  const extra =
    (params
      ? archSetup(arch).extraBootReservedPages(
          bootLinearBlockMappings(board, params, version, false),
          version,
        )
      : 0) + BOOT_DELTA[version][arch].reserved;
  const n = Math.min(
    bootReservedPages(board, version) + extra,
    Math.floor((endPfn - Math.ceil(bank.start / PAGE)) / 2),
  );
  // RAM above 4 GiB: memblock allocates top-down from the end of RAM, but the
  // swiotlb's buffer must stay below 4 GiB (swiotlb_init_remap():
  // memblock_alloc_low()), so it sits at the top of the low bank and the rest
  // at the end of RAM; late boot's frees (the image, the initrd) stay low.
  const top = ram.reduce((a, b) => (b.end > a.end ? b : a));
  const topEnd = Math.floor(top.end / PAGE);
  const swiotlb = bootSwiotlb(board) ? SWIOTLB_PAGES : 0;
  const low = ram.filter((r) => r.start < 2 ** 32).reduce((a, b) => (b.end > a.end ? b : a));
  const lowEnd = Math.floor(low.end / PAGE);
  if (low !== top && lowEnd <= FOUR_GIB_PFN && swiotlb < n) {
    const high = Math.min(n - swiotlb, Math.floor((topEnd - Math.ceil(top.start / PAGE)) / 2));
    out.push({ startPfn: topEnd - high, endPfn: topEnd });
    out.push({ startPfn: lowEnd - swiotlb, endPfn: lowEnd });
    return out;
  }
  out.push({ startPfn: endPfn - n, endPfn });
  return out;
}

const FOUR_GIB_PFN = 2 ** 32 / PAGE;

/** Everything reserved at boot, including what late boot frees again. */
export function bootReservationsWithInit(
  board: Board,
  params?: BootParams,
  version: KernelVersion = DEFAULT_KERNEL_VERSION,
): PfnSpan[] {
  return [...bootReservations(board, params, version), lateFreedRange(board, params, version)];
}
