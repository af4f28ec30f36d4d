// What the kernel allocates from the page allocator while it boots, between
// mem_init() and the first statement: the hash tables its initcalls size from
// memory (alloc_large_system_hash() without HASH_EARLY, from alloc_pages_exact()
// since one node means no hashdist: fs/namespace.c mnt_init(), net/ipv4/route.c
// ip_rt_init(), net/ipv4/tcp.c tcp_init(), net/mptcp/token.c, net/ipv4/udp.c
// udp_table_init()), and the rest, the same at every size up to 1 GiB: slab
// caches and their objects (dentries and inodes of sysfs, procfs and the
// initramfs), the page cache of the initramfs, kernel stacks of the boot
// threads, vmalloc'd areas (modules, the other fixed-size hash tables). The
// model allocates as much, as unmovable and reclaimable kernel pages, so that
// its first MemFree is the kernel's (test/fixtures/boot-calibration.json).

import type { Arch } from "../arch/arch.js";
import { archSetup } from "../arch/index.js";
import type { Board } from "../hw/board.js";
import { MIGRATE_UNMOVABLE, ZONE_DMA, ZONE_DMA32, ZONE_NORMAL } from "../mm/mmzone.js";
import { PS_KERNEL } from "../mm/memmap.js";
import type { BuddyAllocator } from "../mm/page_alloc.js";
import { bootRestDeltaPages, earlyHashKernelPages, largeSystemHashBytes } from "./setup.js";
import { DEFAULT_KERNEL_VERSION, kernelAtLeast, type KernelVersion } from "./linux_version.js";

const PAGE = 4096;

interface BootHash {
  name: string;
  bucketsize: number;
  scale: number;
  lowLimit?: number;
  highLimit?: number;
  /** the table has as many buckets as the named one */
  entriesOf?: string;
}

/**
 * The tables of the boot log's "NAME hash table entries: N (order: O, B bytes,
 * linear)" lines that scale with memory, as 6.1 and 6.12 have them (7.2:
 * bootHashes()).
 */
const BOOT_HASHES: readonly BootHash[] = [
  { name: "Mount-cache", bucketsize: 8, scale: 19 },
  { name: "Mountpoint-cache", bucketsize: 8, scale: 19 },
  { name: "IP idents", bucketsize: 8, scale: 16, lowLimit: 2048, highLimit: 256 * 1024 },
  { name: "tcp_listen_portaddr_hash", bucketsize: 16, scale: 21, highLimit: 64 * 1024 },
  { name: "TCP established", bucketsize: 8, scale: 17, highLimit: 512 * 1024 },
  { name: "TCP bind", bucketsize: 32, scale: 17, highLimit: 64 * 1024, entriesOf: "TCP established" },
  { name: "MPTCP token", bucketsize: 24, scale: 20, highLimit: 64 * 1024 },
  { name: "UDP", bucketsize: 32, scale: 21, lowLimit: 256, highLimit: 64 * 1024 },
  { name: "UDP-Lite", bucketsize: 32, scale: 21, lowLimit: 256, highLimit: 64 * 1024 },
];

/**
 * 7.2's: UDP's slot is 64 bytes (net/ipv4/udp.c: udp_table_init() sizes a
 * slot as struct udp_hslot, udp_hslot_main and the hash4 slot, 6.13's
 * four-tuple hash), and UDP-Lite has no table of its own (the boot logs of
 * Debian's 7.2: "UDP hash table entries: 512 (order: 3, 32768 bytes)" on the
 * 1 GiB guests, no UDP-Lite line).
 */
function bootHashes(version: KernelVersion): readonly BootHash[] {
  if (!kernelAtLeast(version, "7.2")) return BOOT_HASHES;
  return BOOT_HASHES.filter((h) => h.name !== "UDP-Lite").map((h) =>
    h.name === "UDP" ? { ...h, bucketsize: 64 } : h,
  );
}

/**
 * The sizes in bytes of the release's boot hash tables on this machine, by
 * name. They are sized by nr_kernel_pages, which from 6.3 calc_nr_kernel_pages()
 * counts over free memblock ranges (earlyHashKernelPages()): on arm64 about
 * half 6.1's tables (Debian's 6.12 and 7.2 at 1 and 2 GiB).
 */
export function bootHashBytes(
  board: Board,
  version: KernelVersion = DEFAULT_KERNEL_VERSION,
): Map<string, number> {
  const nkp = earlyHashKernelPages(board, version);
  const out = new Map<string, number>();
  const hashes = bootHashes(version);
  for (const h of hashes) {
    const of = h.entriesOf ? out.get(h.entriesOf) : undefined;
    const numentries =
      of === undefined ? undefined : of / hashes.find((x) => x.name === h.entriesOf)!.bucketsize;
    out.set(h.name, largeSystemHashBytes(h.bucketsize, h.scale, nkp, nkp, { ...h, numentries }));
  }
  return out;
}

/**
 * The rest, in pages (kB / 4): x86_64 and arm64 measured at every size of the
 * calibration up to 1 GiB (MemTotal - MemFree - the per-cpu lists, less the
 * tables above), and the part of it that is reclaimable slab (SReclaimable).
 * arm64's was fitted again to its machines of 512 MiB to 2 GiB when memblock's
 * allocations stopped leaving pages on the per-cpu lists (about 550 of them,
 * which had stood in for as many allocated pages).
 */
const BOOT_REST_PAGES: Record<Arch, { total: number; reclaimable: number }> = {
  x86_64: { total: 6428, reclaimable: 2246 },
  arm64: { total: 7860, reclaimable: 2246 },
};

/**
 * Takes `pages` pages in blocks of at most `maxOrder`, largest first, as
 * alloc_pages_exact() does (the table's pages, its tail beyond the size freed
 * again); returns the pages taken (fewer when memory ran out).
 */
export function takeBootPages(
  alloc: BuddyAllocator,
  pages: number,
  purpose: "kernel" | "reclaimable",
  maxOrder: number,
): number {
  let taken = 0;
  for (let order = maxOrder; order >= 0; order--)
    while (pages >= 1 << order) {
      if (alloc.allocPages(order, purpose) < 0) return taken;
      pages -= 1 << order;
      taken += 1 << order;
    }
  return taken;
}

/** Allocates what the kernel allocates while booting; returns the pages taken. */
export function bootTimeAllocations(
  alloc: BuddyAllocator,
  board: Board,
  version: KernelVersion = DEFAULT_KERNEL_VERSION,
): number {
  let taken = 0;
  const take = (pages: number, purpose: "kernel" | "reclaimable", maxOrder: number): void => {
    taken += takeBootPages(alloc, pages, purpose, maxOrder);
  };
  // kernel/dma/pool.c: dma_atomic_pool_init(): 128 KiB per GiB of memory (at
  // least 128 KiB) for each of GFP_KERNEL, GFP_DMA and GFP_DMA32, one block each.
  // arm64 takes them from its CMA area (dma_alloc_from_contiguous()), which the
  // model does not have (docs/divergences.md arm64-cma).
  if (archSetup(board.config.arch).dmaPoolsFromBuddy) {
    const pages = Math.max(32, Math.min(Math.floor(alloc.totalramPages / 8192), 1024));
    const order = Math.ceil(Math.log2(pages));
    for (const zone of [ZONE_NORMAL, ZONE_DMA, ZONE_DMA32])
      if (
        alloc.allocPagesGfp(order, {
          highestZoneIdx: zone,
          migratetype: MIGRATE_UNMOVABLE,
          state: PS_KERNEL,
        }) >= 0
      )
        taken += 1 << order;
  }
  for (const bytes of bootHashBytes(board, version).values()) take(Math.ceil(bytes / PAGE), "kernel", 10);
  const rest = BOOT_REST_PAGES[board.config.arch];
  take(rest.reclaimable, "reclaimable", 2);
  take(rest.total - rest.reclaimable + bootRestDeltaPages(board.config.arch, version), "kernel", 3);
  return taken;
}
