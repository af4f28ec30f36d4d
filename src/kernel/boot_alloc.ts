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
import { bootRestDeltaPages, largeSystemHashBytes, machineKernelPages } from "./setup.js";
import { DEFAULT_KERNEL_VERSION, type KernelVersion } from "./linux_version.js";

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

/** The tables of the boot log's "NAME hash table entries: N (order: O, B bytes, linear)" lines that scale with memory. */
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

/** The sizes in bytes of BOOT_HASHES on this machine, by name. */
export function bootHashBytes(board: Board): Map<string, number> {
  const nkp = machineKernelPages(board);
  const out = new Map<string, number>();
  for (const h of BOOT_HASHES) {
    const of = h.entriesOf ? out.get(h.entriesOf) : undefined;
    const numentries =
      of === undefined ? undefined : of / BOOT_HASHES.find((x) => x.name === h.entriesOf)!.bucketsize;
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
  for (const bytes of bootHashBytes(board).values()) take(Math.ceil(bytes / PAGE), "kernel", 10);
  const rest = BOOT_REST_PAGES[board.config.arch];
  take(rest.reclaimable, "reclaimable", 2);
  take(rest.total - rest.reclaimable + bootRestDeltaPages(board.config.arch, version), "kernel", 3);
  return taken;
}
