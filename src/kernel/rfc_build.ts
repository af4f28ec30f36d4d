// The boot of the RFC v2 patched kernel (`machine ... rfc=v2`): the build of
// linux-patches/build.sh (`make tinyconfig` and linux-patches/config/), not
// Debian's cloud kernel that src/kernel/setup.ts and boot_alloc.ts follow. Its
// differences, as data, each from the build's .config or its boot log on the
// oracle's guests (x86_64 and arm64, 1 and 2 GiB, room for 2 or 3 GiB more;
// docs/rfc.md, "Differential runs"):
// - zones: CONFIG_ZONE_DMA is off on both arches and CONFIG_ZONE_DMA32 on
//   arm64 too, so x86_64 boot memory is all ZONE_DMA32 (first page included)
//   and arm64's all ZONE_NORMAL;
// - no transparent huge pages (CONFIG_TRANSPARENT_HUGEPAGE=n): no khugepaged,
//   so min_free_kbytes stays what init_per_zone_wmark_min() set, and no
//   2 MiB blocks on the per-cpu lists;
// - a smaller image, no swiotlb (x86_64 without NUMA has no SRAT hotplug
//   range, so max_possible_pfn stays below 4 GiB; arm64 from 6.12 has the
//   small one for kmalloc() bouncing, sized by memory), no networking (no
//   alloc_large_system_hash() tables but the dentry, inode and mount ones);
// - late boot frees less: the initrd and the image's init and gap sections.

import type { Arch } from "../arch/arch.js";
import { archSetup } from "../arch/index.js";
import type { Board } from "../hw/board.js";
import type { BuddyAllocator, PfnSpan } from "../mm/page_alloc.js";
import { ZONE_DMA, ZONE_DMA32 } from "../mm/mmzone.js";
import { takeBootPages } from "./boot_alloc.js";
import {
  bootLinearBlockMappings,
  calcNrKernelPages,
  kernelImageRange,
  kmallocBounceSwiotlbPages,
  largeSystemHashBytes,
  machineKernelPages,
  type BootParams,
} from "./setup.js";
import { kernelKconfig } from "./kconfig.js";
import { kernelAtLeast, type KernelVersion } from "./linux_version.js";

const PAGE = 4096;

/** The zones the build leaves out: no CONFIG_ZONE_DMA; on arm64 no CONFIG_ZONE_DMA32 either. */
const RFC_NO_ZONES: Record<Arch, readonly number[]> = { x86_64: [ZONE_DMA], arm64: [ZONE_DMA, ZONE_DMA32] };

/** free_area_init()'s zone limits without the zones the build leaves out (an empty zone). */
export function rfcZoneLimits(arch: Arch, limits: readonly number[]): number[] {
  const out = [...limits];
  for (const z of RFC_NO_ZONES[arch]) out[z] = 0;
  return out;
}

/**
 * CONFIG_TRANSPARENT_HUGEPAGE: off. So no khugepaged (hugepage_init() raises
 * min_free_kbytes), and pcp_allowed_order() keeps no pageblock-order blocks
 * on the per-cpu lists: a 2 MiB vmemmap block comes from the buddy, where
 * Debian's kernel refills the list with two of them and keeps one.
 */
export const RFC_THP = false;

/**
 * The boot log's "Memory: ... (NK kernel code, NK rwdata, NK rodata, NK init,
 * NK bss ...)" and "Freeing ..." lines, in pages:
 * - image: code + rwdata + rodata + bss, reserved for good;
 * - late: what late boot frees (x86_64: SMP alternatives 8K, initrd 1036K,
 *   initmem 692K, text/rodata gap 2044K, rodata/data gap 972K; arm64: initrd
 *   996K, init 384K);
 * - rest: the other memblock reservations and what the model's image
 *   placement leaves out, calibrated on the 1 GiB guests so that MemTotal and
 *   `managed` agree (x86_64: DMA32 managed 255173; arm64: Normal 253328); on
 *   6.12 and 7.2 arm64 on the 2 GiB guests, less the kmalloc() bouncing
 *   swiotlb (1036 pages there), which setup.ts's swiotlbPages() sizes;
 * - allocTotal, allocReclaimable: the initcalls' allocations besides the
 *   mount hash tables, calibrated on the same guests' first MemFree.
 */
interface RfcBoot {
  image: number;
  late: number;
  rest: number;
  allocTotal: number;
  allocReclaimable: number;
}
const RFC_BOOT: Record<KernelVersion, Record<Arch, RfcBoot>> = {
  "6.1": {
    x86_64: { image: 2134, late: 1188, rest: 67, allocTotal: 1564, allocReclaimable: 0 },
    arm64: { image: 1091, late: 345, rest: 90, allocTotal: 5275, allocReclaimable: 0 },
  },
  "6.12": {
    x86_64: { image: 2174, late: 636, rest: 68, allocTotal: 1564, allocReclaimable: 0 },
    arm64: { image: 1160, late: 368, rest: 113, allocTotal: 5275, allocReclaimable: 0 },
  },
  "7.2": {
    x86_64: { image: 1824, late: 946, rest: 69, allocTotal: 1564, allocReclaimable: 0 },
    arm64: { image: 1267, late: 387, rest: 116, allocTotal: 5275, allocReclaimable: 0 },
  },
};

/** The image's reserved pages: from its start, as many as the build keeps. */
export function rfcKernelImageReserved(board: Board, version: KernelVersion): PfnSpan {
  const r = kernelImageRange(board);
  return { startPfn: r.startPfn, endPfn: r.startPfn + RFC_BOOT[version][board.config.arch].image };
}

/**
 * nr_kernel_pages, which sizes the hash tables: 6.1's count, or from 6.3 on
 * calcNrKernelPages() less the build's image (the builds' boot logs: 262144
 * and 131072 dentry and inode entries on the 2 GiB arm64 guest on 6.12,
 * 524288 and 262144 on 6.1).
 */
function rfcNrKernelPages(board: Board, version: KernelVersion): number {
  if (!kernelAtLeast(version, "6.12")) return machineKernelPages(board);
  return calcNrKernelPages(board, RFC_BOOT[version][board.config.arch].image);
}

/**
 * Pages reserved beyond a page-granular linear map's with block mappings
 * (below), per arch: with rodata=off, and with rodata=full on a
 * BBML2_NOABORT CPU (7.2's builds only; one page fewer: arm64-rfc-bbml2,
 * the 2 GiB guest, the only recording).
 */
const RFC_BLOCK_MAPPINGS_EXTRA: Record<Arch, { rodataOff: number; bbml2: number }> = {
  x86_64: { rodataOff: 0, bbml2: 0 },
  arm64: { rodataOff: 2, bbml2: 1 },
};

/** The early hash tables (dcache_init_early(), inode_init_early()) and the rest, in pages. */
function topReservedPages(board: Board, version: KernelVersion, params?: BootParams): number {
  const arch = board.config.arch;
  const nkp = rfcNrKernelPages(board, version);
  const hashBytes = largeSystemHashBytes(8, 13, nkp, nkp) + largeSystemHashBytes(8, 14, nkp, nkp);
  // arm64 rodata=off: 506 pages more managed than rodata=full on the 1 GiB
  // guest, where the model's page tables make 504 (Debian's kernel: 10 more
  // reserved, archSetup().extraBootReservedPages())
  const blocks = params !== undefined && bootLinearBlockMappings(board, params, version, true);
  const extra = !blocks ? 0 : RFC_BLOCK_MAPPINGS_EXTRA[arch][params.rodataFull ? "bbml2" : "rodataOff"];
  // arm64 from 6.12: the swiotlb pool for kmalloc() bouncing, sized by memory
  // (the oracle's guests keep all RAM in ZONE_DMA, below 4 GiB)
  const swiotlb = kmallocBounceSwiotlbPages(board, kernelKconfig(arch, version, true));
  return RFC_BOOT[version][arch].rest + Math.ceil(hashBytes / PAGE) + extra + swiotlb;
}

/** As bootReservations() (src/kernel/setup.ts): low memory and one range at the top of the main bank. */
export function rfcBootReservations(board: Board, version: KernelVersion, params?: BootParams): PfnSpan[] {
  const ram = board.firmwareMap.filter((r) => r.kind === "ram");
  const out = [...archSetup(board.config.arch).reserveLowMemory(ram)];
  const bank = ram.reduce((a, b) => (b.end - b.start > a.end - a.start ? b : a));
  const endPfn = Math.floor(bank.end / PAGE);
  const n = Math.min(
    topReservedPages(board, version, params),
    Math.floor((endPfn - Math.ceil(bank.start / PAGE)) / 2),
  );
  out.push({ startPfn: endPfn - n, endPfn });
  return out;
}

/** The reserved range late boot gives back, just below the top range. */
export function rfcLateFreedRange(board: Board, version: KernelVersion, params?: BootParams): PfnSpan {
  const all = rfcBootReservations(board, version, params);
  const top = all[all.length - 1];
  return { startPfn: top.startPfn - RFC_BOOT[version][board.config.arch].late, endPfn: top.startPfn };
}

export function rfcBootReservationsWithInit(
  board: Board,
  version: KernelVersion,
  params?: BootParams,
): PfnSpan[] {
  return [...rfcBootReservations(board, version, params), rfcLateFreedRange(board, version, params)];
}

/** As bootTimeAllocations() (src/kernel/boot_alloc.ts), for this build; returns the pages taken. */
export function rfcBootTimeAllocations(alloc: BuddyAllocator, board: Board, version: KernelVersion): number {
  let taken = 0;
  const take = (pages: number, purpose: "kernel" | "reclaimable", maxOrder: number): void => {
    taken += takeBootPages(alloc, pages, purpose, maxOrder);
  };
  // fs/namespace.c mnt_init(): "Mount-cache" and "Mountpoint-cache", 8-byte buckets, scale 19
  const nkp = rfcNrKernelPages(board, version);
  for (let i = 0; i < 2; i++) take(Math.ceil(largeSystemHashBytes(8, 19, nkp, nkp) / PAGE), "kernel", 10);
  const b = RFC_BOOT[version][board.config.arch];
  take(b.allocReclaimable, "reclaimable", 2);
  take(b.allocTotal - b.allocReclaimable, "kernel", 3);
  return taken;
}
