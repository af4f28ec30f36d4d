// mm/memory_hotplug.c: adding and removing memory, onlining and offlining pages.
//
// Adding (add_memory_resource()): check the range, take mem_hotplug_lock, arch_add_memory()
// (linear map + __add_pages() → sections, memmap, vmemmap), create the memory block
// devices, register them under the node, drop the lock, merge the resource if asked,
// online the blocks if auto-onlining is on. Each step is undone in reverse on failure.
// Removing (try_remove_memory()): every block must be offline; then the block devices,
// arch_remove_memory() (__remove_pages() + unmapping), and the resource.
//
// Lock order: device_hotplug_lock → mem_hotplug_lock (see src/drivers/base/core.ts).

import type { ArchHotplugCtx, MhpParams, VmemAltmap } from "../arch/arch.js";
import { E2BIG, EBUSY, EEXIST, EHWPOISON, EINTR, EINVAL, ENOENT, ENOMEM, EOPNOTSUPP } from "../errno.js";
import type { Kernel } from "../kernel/kernel.js";
import { KernelBug } from "../kernel/bug.js";
import { hex016, hexAlt, hexPa } from "../kernel/printk.js";
import {
  IORESOURCE_BUSY,
  IORESOURCE_SYSRAM_DRIVER_MANAGED,
  IORESOURCE_SYSTEM_RAM,
  type Resource,
} from "../kernel/resource.js";
import {
  MEM_CANCEL_OFFLINE,
  MEM_CANCEL_ONLINE,
  MEM_GOING_OFFLINE,
  MEM_GOING_ONLINE,
  MEM_OFFLINE,
  MEM_ONLINE,
  MMOP_OFFLINE,
  MMOP_ONLINE,
  MMOP_ONLINE_KERNEL,
  MMOP_ONLINE_MOVABLE,
  type MemoryBlock,
  type MemoryGroup,
  type OnlineType,
} from "../drivers/base/memory.js";
import {
  MAX_ORDER,
  PAGE_SIZE,
  PAGEBLOCK_NR_PAGES,
  PAGES_PER_SECTION,
  PAGES_PER_SUBSECTION,
  STRUCT_PAGE_SIZE,
  SZ_2M,
  pfnToSectionNr,
} from "./constants.js";
import {
  type PglistData,
  type Zone,
  MIGRATE_ISOLATE,
  MIGRATE_MOVABLE,
  MIGRATE_UNMOVABLE,
  ZONE_MOVABLE,
  ZONE_NORMAL,
} from "./mmzone.js";
import {
  NR_PAGE_STATES,
  PAGE_STATE_NAMES,
  PS_BUDDY,
  PS_FREE,
  PS_KERNEL,
  PS_MOVABLE,
  PS_OFFLINE,
  PS_OFFLINE_FREE,
  PS_PCP,
  PS_PGTABLE,
  PS_PINNED,
  PS_RECLAIMABLE,
  PS_RESERVED,
  PS_UNINIT,
  PS_VMEMMAP,
  ZONE_NONE,
  isAllocatedState,
  isFreeState,
  pfnToOnlinePage,
} from "./memmap.js";
import { initPagesAs } from "./mm_init.js";
import type { BuddyAllocator } from "./page_alloc.js";

/** The data-cache line the clean works in (64 bytes on both arches' cores the oracle runs). */
export const CACHE_LINE_SIZE = 64;
import { MEMORY_OFFLINE, REPORT_FAILURE } from "./page_isolation.js";

// include/linux/memory_hotplug.h: mhp_t flags.
export const MHP_NONE = 0;
export const MHP_MERGE_RESOURCE = 1 << 0;
export const MHP_MEMMAP_ON_MEMORY = 1 << 1;
export const MHP_NID_IS_MGID = 1 << 2;

// ---------------------------------------------------------------------------
// Zone and node spans: move_pfn_range_to_zone(), remove_pfn_range_from_zone()
// ---------------------------------------------------------------------------

/** States in which a page must not be when its memmap is poisoned (free, allocated, on a pcp list). */
const BUSY_STATES: readonly number[] = [
  PS_BUDDY,
  PS_FREE,
  PS_PCP,
  PS_KERNEL,
  PS_PGTABLE,
  PS_VMEMMAP,
  PS_RECLAIMABLE,
  PS_MOVABLE,
  PS_PINNED,
];

// mm/memory_hotplug.c: resize_zone_range()
function resizeZoneRange(zone: Zone, startPfn: number, nrPages: number): void {
  const oldEnd = zone.zoneEndPfn();
  if (zone.zoneIsEmpty() || startPfn < zone.zoneStartPfn) zone.zoneStartPfn = startPfn;
  zone.spannedPages = Math.max(startPfn + nrPages, oldEnd) - zone.zoneStartPfn;
}

// mm/memory_hotplug.c: resize_pgdat_range()
function resizePgdatRange(pgdat: PglistData, startPfn: number, nrPages: number): void {
  const oldEnd = pgdat.nodeEndPfn();
  if (!pgdat.nodeSpannedPages || startPfn < pgdat.nodeStartPfn) pgdat.nodeStartPfn = startPfn;
  pgdat.nodeSpannedPages = Math.max(startPfn + nrPages, oldEnd) - pgdat.nodeStartPfn;
}

/**
 * mm/memory_hotplug.c: move_pfn_range_to_zone(): grow the zone and node
 * spans to cover the range, initialise its memmap (memmap_init_range(),
 * MEMINIT_HOTPLUG: every page PS_RESERVED in this zone, every aligned
 * pageblock `migratetype`), and recompute zone->contiguous. The pages must be
 * PS_UNINIT. Counts memmapPagesInit, zoneSpanUpdates, pageblocksScanned.
 */
export function movePfnRangeToZone(
  alloc: BuddyAllocator,
  zoneIdx: number,
  startPfn: number,
  nrPages: number,
  migratetype: number,
): void {
  const zone = alloc.pgdat.zones[zoneIdx];
  alloc.work.withPhase("move_pfn_range_to_zone", () => {
    alloc.clearZoneContiguous(zoneIdx);
    if (zone.zoneIsEmpty()) {
      // init_currently_empty_zone()
      zone.zoneStartPfn = startPfn;
      zone.initialized = true;
    }
    resizeZoneRange(zone, startPfn, nrPages);
    resizePgdatRange(alloc.pgdat, startPfn, nrPages);
    alloc.work.add("zoneSpanUpdates");
    alloc.work.withPhase("memmap_init_range", () => {
      const counts = new Float64Array(NR_PAGE_STATES);
      alloc.memmap.countStates(startPfn, nrPages, counts);
      if (counts[PS_UNINIT] !== nrPages)
        throw new Error(
          `move_pfn_range_to_zone: [${startPfn.toString(16)}+${nrPages}) has initialised pages`,
        );
      initPagesAs(alloc, startPfn, nrPages, zoneIdx, PS_RESERVED, migratetype);
    });
    alloc.setZoneContiguous(zoneIdx);
  });
}

/**
 * mm/memory_hotplug.c: remove_pfn_range_from_zone(): poison the memmap of
 * the range (every page PS_UNINIT, no zone), shrink the zone span
 * (shrink_zone_span(): scans subsections for the new first/last online page
 * of the zone, counted as pageblocksScanned) and the node span
 * (update_pgdat_span()), and recompute zone->contiguous. Pages still free or
 * allocated here are a kernel BUG: this throws.
 */
export function removePfnRangeFromZone(
  alloc: BuddyAllocator,
  zoneIdx: number,
  startPfn: number,
  nrPages: number,
): void {
  const zone = alloc.pgdat.zones[zoneIdx];
  alloc.work.withPhase("remove_pfn_range_from_zone", () => {
    // page_init_poison()
    const m = alloc.memmap;
    const end = startPfn + nrPages;
    for (let pfn = startPfn; pfn < end; pfn++) {
      // memhp: a whole section in one zone is accounted from its state counts
      if (pfn % PAGES_PER_SECTION === 0 && pfn + PAGES_PER_SECTION <= end) {
        const nr = pfn / PAGES_PER_SECTION;
        const z = m.zoneUniform(nr);
        let busy = 0;
        for (const st of BUSY_STATES) busy += m.sectionStateCount(nr, st);
        if (z >= 0 && z !== ZONE_NONE && busy === 0) {
          const counts = alloc.pgdat.zones[z].nrPages;
          for (let st = PS_UNINIT + 1; st < NR_PAGE_STATES; st++) counts[st] -= m.sectionStateCount(nr, st);
          pfn += PAGES_PER_SECTION - 1;
          continue;
        }
      }
      const s = m.state(pfn);
      if (s === PS_UNINIT) continue;
      if (isFreeState(s) || isAllocatedState(s) || s === PS_PCP)
        throw new Error(`remove_pfn_range_from_zone: pfn ${pfn.toString(16)} is ${PAGE_STATE_NAMES[s]}`);
      alloc.pgdat.zones[m.zone(pfn)].nrPages[s]--;
    }
    m.fillState(startPfn, nrPages, PS_UNINIT);
    m.fillOrder(startPfn, nrPages, 0);
    m.fillZone(startPfn, nrPages, ZONE_NONE);
    alloc.clearZoneContiguous(zoneIdx);
    alloc.work.withPhase("shrink_zone_span", () => shrinkZoneSpan(alloc, zone, startPfn, startPfn + nrPages));
    updatePgdatSpan(alloc.pgdat);
    alloc.work.add("zoneSpanUpdates");
    alloc.setZoneContiguous(zoneIdx);
  });
}

// mm/memory_hotplug.c: find_smallest_section_pfn()
function findSmallestSectionPfn(alloc: BuddyAllocator, zone: Zone, startPfn: number, endPfn: number): number {
  for (; startPfn < endPfn; startPfn += PAGES_PER_SUBSECTION) {
    alloc.work.add("pageblocksScanned");
    if (!pfnToOnlinePage(alloc.sections, startPfn)) continue;
    if (alloc.memmap.zone(startPfn) !== zone.idx) continue;
    return startPfn;
  }
  return 0;
}

// mm/memory_hotplug.c: find_biggest_section_pfn()
function findBiggestSectionPfn(alloc: BuddyAllocator, zone: Zone, startPfn: number, endPfn: number): number {
  for (let pfn = endPfn - 1; pfn >= startPfn; pfn -= PAGES_PER_SUBSECTION) {
    alloc.work.add("pageblocksScanned");
    if (!pfnToOnlinePage(alloc.sections, pfn)) continue;
    if (alloc.memmap.zone(pfn) !== zone.idx) continue;
    return pfn;
  }
  return 0;
}

// mm/memory_hotplug.c: shrink_zone_span()
function shrinkZoneSpan(alloc: BuddyAllocator, zone: Zone, startPfn: number, endPfn: number): void {
  if (zone.zoneStartPfn === startPfn) {
    const pfn = findSmallestSectionPfn(alloc, zone, endPfn, zone.zoneEndPfn());
    if (pfn) {
      zone.spannedPages = zone.zoneEndPfn() - pfn;
      zone.zoneStartPfn = pfn;
    } else {
      zone.zoneStartPfn = 0;
      zone.spannedPages = 0;
    }
  } else if (zone.zoneEndPfn() === endPfn) {
    const pfn = findBiggestSectionPfn(alloc, zone, zone.zoneStartPfn, startPfn);
    if (pfn) zone.spannedPages = pfn - zone.zoneStartPfn + 1;
    else {
      zone.zoneStartPfn = 0;
      zone.spannedPages = 0;
    }
  }
}

// mm/memory_hotplug.c: update_pgdat_span()
function updatePgdatSpan(pgdat: PglistData): void {
  let nodeStart = 0;
  let nodeEnd = 0;
  for (const zone of pgdat.zones) {
    const end = zone.zoneEndPfn();
    if (!zone.spannedPages) continue;
    if (!nodeEnd) {
      nodeStart = zone.zoneStartPfn;
      nodeEnd = end;
      continue;
    }
    if (end > nodeEnd) nodeEnd = end;
    if (zone.zoneStartPfn < nodeStart) nodeStart = zone.zoneStartPfn;
  }
  pgdat.nodeStartPfn = nodeStart;
  pgdat.nodeSpannedPages = nodeEnd - nodeStart;
}

export class MemoryHotplug implements ArchHotplugCtx {
  /** mhp_default_online_type: memhp_default_state= / auto_online_blocks */
  mhpDefaultOnlineType: OnlineType = MMOP_OFFLINE;
  /** memory_hotplug.memmap_on_memory (read-only after boot) */
  readonly memmapOnMemory: boolean;

  constructor(private readonly k: Kernel) {
    this.memmapOnMemory = k.params.memmapOnMemory;
    this.mhpDefaultOnlineType = k.params.memhpDefaultOnlineType;
  }

  private blockSize(): number {
    return this.k.memory.blockSizeBytes;
  }

  // mm/memory_hotplug.c: check_hotplug_memory_range()
  checkHotplugMemoryRange(start: number, size: number): number {
    const bs = this.blockSize();
    if (!size || start % bs || size % bs)
      return this.k.printk.refuseErr(
        -EINVAL,
        `Block size [${hexAlt(bs)}] unaligned hotplug range: start ${hexAlt(start)}, size ${hexAlt(size)}`,
      );
    return 0;
  }

  /** mm/memory_hotplug.c (6.12): memory_block_memmap_on_memory_pages() */
  memoryBlockMemmapOnMemoryPages(): number {
    const nrPages = Math.ceil(((this.blockSize() / PAGE_SIZE) * STRUCT_PAGE_SIZE) / PAGE_SIZE);
    // "force": whole pageblocks, the rest of the last one wasted
    return this.k.params.memmapOnMemoryForce
      ? Math.ceil(nrPages / PAGEBLOCK_NR_PAGES) * PAGEBLOCK_NR_PAGES
      : nrPages;
  }

  // mm/memory_hotplug.c: mhp_supports_memmap_on_memory(). 6.1 asks of one
  // range (which must be exactly one memory block); 6.12 asks of a memory block
  // (each block of a range gets its own altmap), `size` unused.
  mhpSupportsMemmapOnMemory(size: number): boolean {
    if (this.k.atLeast("6.12")) {
      const bs = this.blockSize();
      const vmemmapSize = (bs / PAGE_SIZE) * STRUCT_PAGE_SIZE;
      const memmapPages = this.memoryBlockMemmapOnMemoryPages();
      return (
        this.memmapOnMemory &&
        vmemmapSize % PAGE_SIZE === 0 &&
        memmapPages % PAGEBLOCK_NR_PAGES === 0 &&
        memmapPages !== bs / PAGE_SIZE &&
        // arch_supports_memmap_on_memory(): the generic one (x86, arm64): whole PMDs
        vmemmapSize % SZ_2M === 0
      );
    }
    const vmemmapSize = (size / PAGE_SIZE) * STRUCT_PAGE_SIZE;
    const remaining = size - vmemmapSize;
    return (
      this.memmapOnMemory &&
      size === this.blockSize() &&
      vmemmapSize % SZ_2M === 0 &&
      remaining % (PAGEBLOCK_NR_PAGES * PAGE_SIZE) === 0
    );
  }

  // mm/memory_hotplug.c: mhp_range_allowed() with the arch's mappable range.
  mhpRangeAllowed(start: number, size: number): boolean {
    const end = start + size;
    return start < end && end <= this.k.maxPhysAddr;
  }

  // mm/memory_hotplug.c: register_memory_resource(). The resource, or -errno.
  registerMemoryResource(start: number, size: number, name: string): Resource | number {
    let flags = IORESOURCE_SYSTEM_RAM | IORESOURCE_BUSY;
    if (name !== "System RAM") flags |= IORESOURCE_SYSRAM_DRIVER_MANAGED;
    if (!this.mhpRangeAllowed(start, size))
      return this.k.printk.refuseWarn(
        -E2BIG,
        `Hotplug memory [${hexAlt(start)}-${hexAlt(start + size)}] exceeds maximum addressable range [0-${hexAlt(this.k.maxPhysAddr - 1)}]`,
      );
    // __request_region() returns NULL on a conflict and when alloc_resource() fails: -EEXIST both ways
    const res = this.k.faults.shouldFail("resource")
      ? null
      : this.k.resources.requestRegion(BigInt(start), BigInt(size), name, flags);
    if (!res)
      return this.k.printk.refuse(
        -EEXIST,
        `Unable to reserve System RAM region: ${hex016(start)}->${hex016(start + size - 1)}`,
      );
    return res;
  }

  // mm/memory_hotplug.c: release_memory_resource()
  releaseMemoryResource(res: Resource): void {
    this.k.resources.releaseResource(res);
  }

  // --- ArchHotplugCtx: __add_pages() / __remove_pages() ---

  // mm/memory_hotplug.c: check_pfn_span()
  private checkPfnSpan(pfn: number, nrPages: number): number {
    return pfn % PAGES_PER_SUBSECTION || nrPages % PAGES_PER_SUBSECTION ? -EINVAL : 0;
  }

  /** mm/memory_hotplug.c: __add_pages() */
  addPages(nid: number, pfn: number, nrPages: number, params: MhpParams): number {
    return this.k.work.withPhase("__add_pages", () => {
      const altmap = params.altmap;
      if (altmap) {
        if (altmap.basePfn !== pfn || altmap.reserve + altmap.free > nrPages) return -EINVAL;
        altmap.alloc = 0;
      }
      if (this.checkPfnSpan(pfn, nrPages)) return -EINVAL;
      const end = pfn + nrPages;
      let err = 0;
      for (let p = pfn; p < end;) {
        const cur = Math.min(end - p, (pfnToSectionNr(p) + 1) * PAGES_PER_SECTION - p);
        err = this.k.sparse.sparseAddSection(nid, p, cur, altmap);
        if (err) break;
        p += cur;
      }
      // Like the kernel, __add_pages() leaves earlier sections for the caller
      // (arch_add_memory() failure path → the caller's remove) to clean up.
      return err;
    });
  }

  /** mm/memory_hotplug.c: __remove_pages() */
  removePages(pfn: number, nrPages: number, altmap: VmemAltmap | undefined): void {
    this.k.work.withPhase("__remove_pages", () => {
      if (this.checkPfnSpan(pfn, nrPages)) return;
      const end = pfn + nrPages;
      for (let p = pfn; p < end;) {
        const cur = Math.min(end - p, (pfnToSectionNr(p) + 1) * PAGES_PER_SECTION - p);
        // only sections that still have a memmap; the others
        // WARN_ON_ONCE(!valid_section()): on 6.1 in __remove_section()
        // (inlined: the guest names __remove_pages), from 6.12 in
        // sparse_remove_section() (mm/sparse-vmemmap.c; the 7.2 build's
        // console names it)
        if (this.k.sparse.validSectionNr(pfnToSectionNr(p)))
          this.k.sparse.sparseRemoveSection(p, cur, altmap);
        else if (this.k.atLeast("6.12"))
          this.k.printk.warnOnce("mm/sparse-vmemmap.c", "sparse_remove_section");
        else this.k.printk.warnOnce("mm/memory_hotplug.c", "__remove_pages");
        p += cur;
      }
    });
  }

  // --- adding ---

  /** mm/memory_hotplug.c: add_memory_resource(). 0 or -errno; nothing left behind on failure. */
  addMemoryResource(nid: number, res: Resource, mhpFlags: number): number {
    const start = Number(res.start);
    const size = Number(res.end - res.start + 1n);
    let ret = this.checkHotplugMemoryRange(start, size);
    if (ret) return ret;
    let group: MemoryGroup | undefined;
    if (mhpFlags & MHP_NID_IS_MGID) {
      group = this.k.memory.groups.get(nid);
      if (!group) return -EINVAL;
      nid = group.nid;
    }
    if (nid !== 0) return -EINVAL; // node_possible(): the model has node 0 only

    const params: MhpParams = {};
    this.k.locks.memHotplugBegin("add_memory_resource");
    try {
      const perBlock = this.k.atLeast("6.12") && (mhpFlags & MHP_MEMMAP_ON_MEMORY) !== 0;
      if (perBlock && this.mhpSupportsMemmapOnMemory(size)) {
        ret = this.createAltmapsAndMemoryBlocks(nid, group, start, size);
        if (ret) return ret;
        this.addedBlocksDone(nid, start, size);
      } else {
        ret = this.addWithOneAltmap(nid, group, start, size, perBlock ? MHP_NONE : mhpFlags, params);
        if (ret) return ret;
      }
    } finally {
      this.k.locks.memHotplugDone();
    }
    if (mhpFlags & MHP_MERGE_RESOURCE) this.k.resources.mergeSystemRamResource(res);
    if (this.mhpDefaultOnlineType !== MMOP_OFFLINE) {
      this.walkMemoryBlocks(start, size, (mem) => {
        // online_memory_block()
        mem.onlineType = this.mhpDefaultOnlineType;
        this.k.memory.deviceOnline(mem);
        return 0;
      });
    }
    return 0;
  }

  /** What add_memory_resource() does once the range's blocks exist. */
  private addedBlocksDone(nid: number, start: number, size: number): void {
    this.k.memory.registerMemoryBlocksUnderNode(
      nid,
      start / PAGE_SIZE,
      (start + size - 1) / PAGE_SIZE,
      false,
    );
    this.noteAddFailureLeftovers(start, size, false);
    this.addedRanges.push([start, start + size]);
  }

  /**
   * mm/memory_hotplug.c (6.12): create_altmaps_and_memory_blocks(): each memory
   * block of the range added on its own, its memmap carved from its own start.
   * On a failure the blocks added before are removed again.
   */
  private createAltmapsAndMemoryBlocks(
    nid: number,
    group: MemoryGroup | undefined,
    start: number,
    size: number,
  ): number {
    const bs = this.blockSize();
    let cur = start;
    let ret = 0;
    for (; cur < start + size; cur += bs) {
      const altmap: VmemAltmap = {
        basePfn: cur / PAGE_SIZE,
        reserve: 0,
        free: this.memoryBlockMemmapOnMemoryPages(),
        alloc: 0,
        align: 0,
      };
      ret = this.k.work.withPhase("arch_add_memory", () =>
        this.k.arch.archAddMemory(this, nid, cur, bs, { altmap }),
      );
      if (ret < 0) {
        this.noteAddFailureLeftovers(cur, bs, true);
        break;
      }
      // memory_block_online() takes altmap->free pages for the memmap
      ret = this.k.work.withPhase("create_memory_block_devices", () =>
        this.k.memory.createMemoryBlockDevices(cur, bs, altmap.free, group),
      );
      if (ret) {
        this.k.work.withPhase("arch_remove_memory", () =>
          this.k.arch.archRemoveMemory(this, cur, bs, altmap),
        );
        break;
      }
    }
    if (ret && cur !== start) this.removeMemoryBlocksAndAltmaps(start, cur - start);
    return ret;
  }

  /** mm/memory_hotplug.c (6.12): remove_memory_blocks_and_altmaps() */
  private removeMemoryBlocksAndAltmaps(start: number, size: number): void {
    const bs = this.blockSize();
    for (let cur = start; cur < start + size; cur += bs) {
      const mem = this.k.memory.findMemoryBlockById(this.k.memory.pfnToBlockId(cur / PAGE_SIZE));
      if (!mem) {
        this.k.printk.warnOnce("mm/memory_hotplug.c", "remove_memory_blocks_and_altmaps"); // WARN_ON_ONCE(!mem)
        continue;
      }
      const n = mem.nrVmemmapPages;
      this.k.work.withPhase("remove_memory_block_devices", () =>
        this.k.memory.removeMemoryBlockDevices(cur, bs),
      );
      const altmap: VmemAltmap = { basePfn: cur / PAGE_SIZE, reserve: 0, free: n, alloc: n, align: 0 };
      this.k.work.withPhase("arch_remove_memory", () => this.k.arch.archRemoveMemory(this, cur, bs, altmap));
    }
  }

  /** add_memory_resource()'s path with one altmap for the whole range (6.1) or none. */
  private addWithOneAltmap(
    nid: number,
    group: MemoryGroup | undefined,
    start: number,
    size: number,
    mhpFlags: number,
    params: MhpParams,
  ): number {
    if (mhpFlags & MHP_MEMMAP_ON_MEMORY) {
      if (!this.mhpSupportsMemmapOnMemory(size)) return -EINVAL;
      params.altmap = {
        basePfn: start / PAGE_SIZE,
        reserve: 0,
        free: size / PAGE_SIZE,
        alloc: 0,
        align: 0,
      };
    }
    let ret = this.k.work.withPhase("arch_add_memory", () =>
      this.k.arch.archAddMemory(this, nid, start, size, params),
    );
    if (ret < 0) {
      // add_memory_resource(): `goto error` undoes nothing of arch_add_memory():
      // the sections __add_pages() added before failing stay present (both
      // arches), and x86 keeps the range's direct map. Recorded so that the
      // invariants accept exactly these leftovers (src/kernel/kernel.ts).
      this.noteAddFailureLeftovers(start, size, true);
      return ret;
    }
    const vmemmapPages = params.altmap ? params.altmap.alloc : 0;
    ret = this.k.work.withPhase("create_memory_block_devices", () =>
      this.k.memory.createMemoryBlockDevices(start, size, vmemmapPages, group),
    );
    if (ret) {
      this.k.work.withPhase("arch_remove_memory", () =>
        this.k.arch.archRemoveMemory(this, start, size, params.altmap),
      );
      return ret;
    }
    this.addedBlocksDone(nid, start, size);
    return 0;
  }

  /** mm/memory_hotplug.c: __add_memory() — expects device_hotplug_lock held. */
  __addMemory(nid: number, start: number, size: number, mhpFlags: number): number {
    this.k.locks.deviceHotplug.assertHeld("__add_memory");
    const res = this.registerMemoryResource(start, size, "System RAM");
    if (typeof res === "number") return res;
    const ret = this.addMemoryResource(nid, res, mhpFlags);
    if (ret < 0) this.releaseMemoryResource(res);
    return ret;
  }

  /** mm/memory_hotplug.c: add_memory() */
  addMemory(nid: number, start: number, size: number, mhpFlags: number): number {
    this.k.locks.lockDeviceHotplug("add_memory");
    try {
      return this.__addMemory(nid, start, size, mhpFlags);
    } finally {
      this.k.locks.unlockDeviceHotplug();
    }
  }

  /** mm/memory_hotplug.c: add_memory_driver_managed() */
  addMemoryDriverManaged(
    nid: number,
    start: number,
    size: number,
    resourceName: string,
    mhpFlags: number,
  ): number {
    if (!resourceName.startsWith("System RAM (") || !resourceName.endsWith(")")) return -EINVAL;
    this.k.locks.lockDeviceHotplug("add_memory_driver_managed");
    try {
      const res = this.registerMemoryResource(start, size, resourceName);
      if (typeof res === "number") return res;
      const rc = this.addMemoryResource(nid, res, mhpFlags);
      if (rc < 0) this.releaseMemoryResource(res);
      return rc;
    } finally {
      this.k.locks.unlockDeviceHotplug();
    }
  }

  // --- removing ---

  /** drivers/base/memory.c: walk_memory_blocks(): fn on each present block of the range, in order; stops at non-zero. */
  walkMemoryBlocks(start: number, size: number, fn: (mem: MemoryBlock) => number): number {
    if (!size) return 0;
    const first = this.k.memory.pfnToBlockId(start / PAGE_SIZE);
    const last = this.k.memory.pfnToBlockId((start + size - 1) / PAGE_SIZE);
    for (let id = first; id <= last; id++) {
      const mem = this.k.memory.findMemoryBlockById(id);
      if (!mem) continue;
      const ret = fn(mem);
      if (ret) return ret;
    }
    return 0;
  }

  /** mm/memory_hotplug.c: try_remove_memory() — expects device_hotplug_lock held. */
  tryRemoveMemory(start: number, size: number): number {
    this.k.locks.deviceHotplug.assertHeld("try_remove_memory");
    // BUG_ON(check_hotplug_memory_range()): callers pass whole memory blocks
    if (this.checkHotplugMemoryRange(start, size))
      throw new KernelBug(
        "try_remove_memory",
        `BUG_ON(check_hotplug_memory_range(${hexPa(start)}, ${hexPa(size)}))`,
      );
    // check_memblock_offlined_cb()
    const rc = this.walkMemoryBlocks(start, size, (mem) =>
      mem.state !== MEM_OFFLINE
        ? this.k.printk.refuseWarn(
            -EBUSY,
            `removing memory fails, because memory [${hexPa(this.k.memory.blockStartPfn(mem) * PAGE_SIZE)}-${hexPa((this.k.memory.blockStartPfn(mem) + this.k.memory.pagesPerBlock()) * PAGE_SIZE - 1)}] is onlined`,
          )
        : 0,
    );
    if (rc) return rc;
    let altmap: VmemAltmap | undefined;
    // 6.12: memory_blocks_have_altmaps(): every block has its own, or none has
    let perBlockAltmaps = false;
    if (this.k.atLeast("6.12") && this.memmapOnMemory) {
      let withAltmap = 0;
      this.walkMemoryBlocks(start, size, (mem) => {
        if (mem.nrVmemmapPages) withAltmap++;
        return 0;
      });
      if (withAltmap && withAltmap !== size / this.blockSize()) return -EINVAL; // WARN_ON_ONCE
      perBlockAltmaps = withAltmap > 0;
    } else if (this.memmapOnMemory) {
      const nrVmemmapPages = this.walkMemoryBlocks(start, size, (mem) => mem.nrVmemmapPages);
      if (nrVmemmapPages) {
        if (size !== this.blockSize()) return -EINVAL;
        altmap = { basePfn: start / PAGE_SIZE, reserve: 0, free: 0, alloc: nrVmemmapPages, align: 0 };
      }
    }
    // memhp RFC v2 (machine ... rfc=v2): refuse, before anything changes, a
    // range whose unmap would split a linear-map leaf (stock 6.1 goes on:
    // x86 remove_pud_table() walks a partly covered 1G leaf as a PMD table,
    // arm64 unmap_hotplug_range() clears a partly covered block whole).
    if (this.k.rfcV2 && this.k.arch.archLinearMappingSplitsLeaf(start, size))
      return this.refuse(-EINVAL, "removing the range would split a linear-map leaf");
    this.onRemove?.(start, size);
    // remove_memory_block_devices() (6.2+): num_poisoned_pages_sub() of each block's memblk_nr_poison()
    let blocksPoison = 0;
    this.walkMemoryBlocks(start, size, (mem) => {
      blocksPoison += mem.nrHwpoison;
      return 0;
    });
    if (!perBlockAltmaps)
      this.k.work.withPhase("remove_memory_block_devices", () =>
        this.k.memory.removeMemoryBlockDevices(start, size),
      );
    this.k.locks.memHotplugBegin("try_remove_memory");
    try {
      // Depopulated blocks need nothing special: the walkers skip what is not mapped.
      if (perBlockAltmaps) this.removeMemoryBlocksAndAltmaps(start, size);
      else
        this.k.work.withPhase("arch_remove_memory", () =>
          this.k.arch.archRemoveMemory(this, start, size, altmap),
        );
      this.k.resources.releaseMemRegionAdjustable(BigInt(start), BigInt(size));
      this.noteAddFailureLeftovers(start, size, false);
      this.k.memoryFailure.removed(start / PAGE_SIZE, (start + size) / PAGE_SIZE, blocksPoison);
      this.removeAddedRange(start, size);
      // try_offline_node(): node 0 always stays online (it has the CPU).
    } finally {
      this.k.locks.memHotplugDone();
    }
    return 0;
  }

  /** mm/memory_hotplug.c: __remove_memory() — the caller guarantees success (BUG() otherwise). */
  __removeMemory(start: number, size: number): void {
    const rc = this.tryRemoveMemory(start, size);
    if (rc)
      throw new KernelBug(
        "__remove_memory",
        `try_remove_memory(${start.toString(16)}, ${size.toString(16)}) failed: ${rc}`,
      );
  }

  /** mm/memory_hotplug.c: remove_memory() */
  removeMemory(start: number, size: number): number {
    this.k.locks.lockDeviceHotplug("remove_memory");
    try {
      return this.tryRemoveMemory(start, size);
    } finally {
      this.k.locks.unlockDeviceHotplug();
    }
  }

  /** mm/memory_hotplug.c: offline_and_remove_memory() */
  offlineAndRemoveMemory(start: number, size: number): number {
    const bs = this.blockSize();
    if (start % bs || size % bs || !size) return -EINVAL;
    const onlineTypes: OnlineType[] = [];
    this.k.locks.lockDeviceHotplug("offline_and_remove_memory");
    try {
      // try_offline_memory_block()
      let rc = this.walkMemoryBlocks(start, size, (mem) => {
        const zone = this.pfnToOnlineZone(this.k.memory.blockStartPfn(mem));
        const t: OnlineType = zone === ZONE_MOVABLE ? MMOP_ONLINE_MOVABLE : MMOP_ONLINE_KERNEL;
        const r = this.k.memory.deviceOffline(mem);
        onlineTypes.push(r === 0 ? t : MMOP_OFFLINE);
        return r < 0 ? r : 0;
      });
      if (!rc) rc = this.tryRemoveMemory(start, size);
      if (rc) {
        // try_reonline_memory_block()
        let i = 0;
        this.walkMemoryBlocks(start, size, (mem) => {
          const t = onlineTypes[i++];
          if (t !== undefined && t !== MMOP_OFFLINE) {
            mem.onlineType = t;
            this.k.memory.deviceOnline(mem);
          }
          return 0;
        });
      }
      return rc;
    } finally {
      this.k.locks.unlockDeviceHotplug();
    }
  }

  // --- zones (mm/memory_hotplug.c) ---

  /** include/linux/mmzone.h: zone_intersects() */
  private zoneIntersects(zoneIdx: number, startPfn: number, nrPages: number): boolean {
    const z = this.k.pgdat.zones[zoneIdx];
    if (z.spannedPages === 0) return false;
    return !(startPfn >= z.zoneEndPfn() || startPfn + nrPages <= z.zoneStartPfn);
  }

  /** default_kernel_zone_for_pfn() */
  defaultKernelZoneForPfn(startPfn: number, nrPages: number): number {
    for (let zid = 0; zid < ZONE_NORMAL; zid++) if (this.zoneIntersects(zid, startPfn, nrPages)) return zid;
    return ZONE_NORMAL;
  }

  /** default_zone_for_pfn() */
  private defaultZoneForPfn(startPfn: number, nrPages: number): number {
    const kernelZone = this.defaultKernelZoneForPfn(startPfn, nrPages);
    const inKernel = this.zoneIntersects(kernelZone, startPfn, nrPages);
    const inMovable = this.zoneIntersects(ZONE_MOVABLE, startPfn, nrPages);
    if (inKernel !== inMovable) return inKernel ? kernelZone : ZONE_MOVABLE;
    return this.k.params.movableNode ? ZONE_MOVABLE : kernelZone;
  }

  /** auto_movable_stats_account_zone() + auto_movable_can_online_movable() (one node: node-aware = global). */
  private autoMovableCanOnlineMovable(group: MemoryGroup | undefined, nrPages: number): boolean {
    const ratio = this.k.params.autoMovableRatio;
    let kernelEarlyPages = 0;
    let movablePages = 0;
    for (const z of this.k.pgdat.zones) {
      if (!z.populated()) continue;
      if (z.idx === ZONE_MOVABLE) movablePages += z.presentPages;
      else {
        kernelEarlyPages += z.presentEarlyPages - z.cmaPages;
        movablePages += z.cmaPages;
      }
    }
    // walk_dynamic_memory_groups() → auto_movable_stats_account_group()
    let reqKernelEarlyPages = 0;
    let groupMovablePages = 0;
    for (const g of this.k.memory.groups.values()) {
      if (!g.isDynamic || g === group || !ratio) continue;
      const pages = Math.floor((g.presentMovablePages * 100) / ratio) - g.presentKernelPages;
      if (pages > 0) reqKernelEarlyPages += pages;
      groupMovablePages += g.presentMovablePages;
    }
    if (kernelEarlyPages <= reqKernelEarlyPages) return false;
    kernelEarlyPages -= reqKernelEarlyPages;
    movablePages -= groupMovablePages;
    if (group && group.isDynamic) kernelEarlyPages += group.presentKernelPages;
    movablePages += nrPages;
    return movablePages <= Math.floor((ratio * kernelEarlyPages) / 100);
  }

  /** auto_movable_zone_for_pfn() */
  private autoMovableZoneForPfn(group: MemoryGroup | undefined, pfn: number, nrPages: number): number {
    const kernelZone = () => this.defaultKernelZoneForPfn(pfn, nrPages);
    if (!this.k.params.autoMovableRatio) return kernelZone();
    let onlinePages = 0;
    let maxPages: number;
    if (group && !group.isDynamic) {
      maxPages = group.maxPages;
      onlinePages = group.presentMovablePages;
      if (group.presentKernelPages) return kernelZone();
    } else if (!group || group.unitPages === nrPages) {
      maxPages = nrPages;
    } else {
      maxPages = group.unitPages;
      const first = pfn - (pfn % group.unitPages);
      for (let p = first; p < first + group.unitPages; p += PAGES_PER_SECTION) {
        const z = this.pfnToOnlineZone(p);
        if (z === undefined) continue;
        if (z !== ZONE_MOVABLE) return kernelZone();
        onlinePages += PAGES_PER_SECTION;
      }
    }
    if (!this.autoMovableCanOnlineMovable(group, maxPages - onlinePages)) return kernelZone();
    return ZONE_MOVABLE;
  }

  /** zone_for_pfn_range() */
  zoneForPfnRange(
    onlineType: OnlineType,
    _nid: number,
    group: MemoryGroup | undefined,
    startPfn: number,
    nrPages: number,
  ): number {
    if (onlineType === MMOP_ONLINE_KERNEL) return this.defaultKernelZoneForPfn(startPfn, nrPages);
    if (onlineType === MMOP_ONLINE_MOVABLE) return ZONE_MOVABLE;
    if (this.k.params.onlinePolicy === "auto-movable")
      return this.autoMovableZoneForPfn(group, startPfn, nrPages);
    return this.defaultZoneForPfn(startPfn, nrPages);
  }

  /** The zone of pfn_to_online_page(pfn), or undefined when the page is not online. */
  pfnToOnlineZone(pfn: number): number | undefined {
    if (!pfnToOnlinePage(this.k.sparse, pfn)) return undefined;
    const z = this.k.memmap.zone(pfn);
    return z === ZONE_NONE ? undefined : z;
  }

  /** drivers/base/memory.c: early_node_zone_for_memory_block(): the one populated zone a boot block intersects. */
  earlyNodeZoneForRange(startPfn: number, nrPages: number): number | undefined {
    let match: number | undefined;
    for (const z of this.k.pgdat.zones) {
      if (!z.populated() || !this.zoneIntersects(z.idx, startPfn, nrPages)) continue;
      if (match !== undefined) return undefined;
      match = z.idx;
    }
    return match;
  }

  /** adjust_present_page_count() */
  adjustPresentPageCount(pfn: number, group: MemoryGroup | undefined, nrPages: number): void {
    const zone = this.k.pgdat.zones[this.k.memmap.zone(pfn)];
    if (this.k.sparse.earlySectionNr(pfnToSectionNr(pfn))) zone.presentEarlyPages += nrPages;
    zone.presentPages += nrPages;
    this.k.pgdat.nodePresentPages += nrPages;
    if (group && zone.idx === ZONE_MOVABLE) group.presentMovablePages += nrPages;
    else if (group) group.presentKernelPages += nrPages;
  }

  /** mhp_init_memmap_on_memory(): the vmemmap pages at the start of the block join the zone, unmovable. */
  mhpInitMemmapOnMemory(pfn: number, nrPages: number, zone: number): number {
    // The pages stay PageReserved (memmap_init_range()): they hold the memmap,
    // are never given to the buddy, and count as present but not managed.
    movePfnRangeToZone(this.k.alloc, zone, pfn, nrPages, MIGRATE_UNMOVABLE);
    const end = pfn + nrPages;
    if (nrPages >= PAGES_PER_SECTION) this.k.sparse.onlineMemSections(pfn, end - (end % PAGES_PER_SECTION));
    return 0;
  }

  /** mhp_deinit_memmap_on_memory() */
  mhpDeinitMemmapOnMemory(pfn: number, nrPages: number): void {
    const end = pfn + nrPages;
    if (nrPages >= PAGES_PER_SECTION) this.k.sparse.offlineMemSections(pfn, end - (end % PAGES_PER_SECTION));
    removePfnRangeFromZone(this.k.alloc, this.k.memmap.zone(pfn), pfn, nrPages);
  }

  // --- onlining ---

  /**
   * online_page_callback, set by set_online_page_callback() (virtio-mem:
   * virtio_mem_online_page_cb()); undefined: generic_online_page(). `checked`:
   * the model already knows every page of the chunk is PageReserved.
   */
  onlinePageCallback: ((pfn: number, order: number, checked: boolean) => void) | undefined;

  /** online_pages_range(): hand the range to the buddy in MAX_ORDER-1 chunks, then mark the sections online. */
  private onlinePagesRange(startPfn: number, nrPages: number): void {
    const end = startPfn + nrPages;
    // model: every page must be PageReserved from memmap init (checked once for the range)
    const checked = this.k.memmap.rangeAllState(startPfn, nrPages, PS_RESERVED);
    for (let pfn = startPfn; pfn < end;) {
      const order = Math.min(MAX_ORDER - 1, lowestSetBit(pfn));
      // online_page_callback: generic_online_page() unless a driver set its own
      if (this.onlinePageCallback) this.onlinePageCallback(pfn, order, checked);
      else this.k.alloc.genericOnlinePage(pfn, order, checked);
      pfn += 1 << order;
    }
    this.k.sparse.onlineMemSections(startPfn, end);
  }

  /** online_pages() — expects mem_hotplug_lock held. 0 or -errno, rolled back. */
  onlinePages(pfn: number, nrPages: number, zoneIdx: number, group: MemoryGroup | undefined): number {
    this.k.locks.memHotplug.assertHeld("online_pages");
    return this.k.work.withPhase("online_pages", () => {
      if (!nrPages || pfn % PAGEBLOCK_NR_PAGES || (pfn + nrPages) % PAGES_PER_SECTION) return -EINVAL;
      const alloc = this.k.alloc;
      const zone = this.k.pgdat.zones[zoneIdx];
      movePfnRangeToZone(alloc, zoneIdx, pfn, nrPages, MIGRATE_ISOLATE);
      // 6.1: memmap_init_range() cleared the range's PageHWPoison (6.2 on
      // refuses to online such a block before this, drivers/base/memory.ts)
      this.k.memoryFailure.memmapReinitialised(pfn, pfn + nrPages);
      const arg = { startPfn: pfn, nrPages };
      const ret = this.k.memory.memoryNotify(MEM_GOING_ONLINE, arg);
      if (ret) {
        this.k.memory.memoryNotify(MEM_CANCEL_ONLINE, arg);
        removePfnRangeFromZone(alloc, zoneIdx, pfn, nrPages);
        return ret;
      }
      zone.nrIsolatePageblock += nrPages / PAGEBLOCK_NR_PAGES;
      const needZonelistsRebuild = !zone.populated();
      if (needZonelistsRebuild) alloc.setupZonePageset(zone);
      this.onlinePagesRange(pfn, nrPages);
      this.k.hw.cache.markDirty(pfn, nrPages); // its pages can be written from now on (src/hw/cache.ts)
      this.adjustPresentPageCount(pfn, group, nrPages);
      if (needZonelistsRebuild) alloc.buildAllZonelists();
      this.k.isolation.undoIsolatePageRange(pfn, pfn + nrPages, MIGRATE_MOVABLE);
      alloc.initPerZoneWmarkMin();
      this.k.memory.memoryNotify(MEM_ONLINE, arg);
      return 0;
    });
  }

  // --- offlining ---

  /** offline_pages() — expects mem_hotplug_lock held. 0 or -errno, rolled back. */
  offlinePages(startPfn: number, nrPages: number, zoneIdx: number, group: MemoryGroup | undefined): number {
    this.k.locks.memHotplug.assertHeld("offline_pages");
    return this.k.work.withPhase("offline_pages", () => {
      const endPfn = startPfn + nrPages;
      if (!nrPages || startPfn % PAGEBLOCK_NR_PAGES || endPfn % PAGES_PER_SECTION) return -EINVAL;
      const k = this.k;
      // walk_system_ram_range() → count_system_ram_pages_cb(): no memory holes.
      let systemRamPages = 0;
      k.resources.walkSystemRamRange(startPfn, nrPages, (_pfn, n) => {
        systemRamPages += n;
        return 0;
      });
      if (systemRamPages !== nrPages) return this.offlineFailed("memory holes", -EINVAL);
      if (k.memmap.zone(startPfn) !== zoneIdx || k.memmap.zone(endPfn - 1) !== zoneIdx)
        return this.offlineFailed("multizone range", -EINVAL);
      // zone_pcp_disable() + lru_cache_disable(): drain every CPU's lists
      // (mm/swap.c: lru_cache_disable() first waits for an expedited RCU grace period).
      const zone = k.pgdat.zones[zoneIdx];
      k.alloc.zonePcpDisable(zone);
      k.work.add("synchronizeRcuExpedited");
      k.work.add("lruAddDrainAll");
      k.work.add("cpusReached", k.nrCpus);
      let ret = k.isolation.startIsolatePageRange(
        startPfn,
        endPfn,
        MIGRATE_MOVABLE,
        MEMORY_OFFLINE | REPORT_FAILURE,
      );
      if (ret) {
        k.alloc.zonePcpEnable(zone); // failed_removal_pcplists_disabled
        return this.offlineFailed("failure to isolate range", ret);
      }
      const arg = { startPfn, nrPages };
      const failIsolated = (reason: string, err: number): number => {
        k.isolation.undoIsolatePageRange(startPfn, endPfn, MIGRATE_MOVABLE);
        k.memory.memoryNotify(MEM_CANCEL_OFFLINE, arg);
        k.alloc.zonePcpEnable(zone);
        return this.offlineFailed(reason, err);
      };
      ret = k.memory.memoryNotify(MEM_GOING_OFFLINE, arg);
      if (ret) return failIsolated("notifier failure", ret);
      // Migrate until nothing movable is left and every page is isolated. The
      // kernel retries until a signal arrives; the model gives up, as if the
      // user interrupted the write, after OFFLINE_MAX_PASSES passes that
      // migrated nothing (the oracle interrupts a stuck write the same way).
      let idle = 0;
      for (;;) {
        let pfn = startPfn;
        let migratedBefore = k.work.total.pagesMigrated;
        for (;;) {
          const found = k.migration.scanMovablePages(pfn, endPfn);
          if (found < 0) {
            ret = found;
            break;
          }
          k.migration.doMigrateRange(found, endPfn);
          pfn = found;
          if (k.work.total.pagesMigrated === migratedBefore) {
            if (++idle >= OFFLINE_MAX_PASSES) return failIsolated("signal backoff", -EINTR);
          } else idle = 0;
          migratedBefore = k.work.total.pagesMigrated;
        }
        if (ret !== -ENOENT) return failIsolated("unmovable page", ret);
        ret = k.isolation.testPagesIsolated(startPfn, endPfn, MEMORY_OFFLINE);
        if (!ret) break;
        if (++idle >= OFFLINE_MAX_PASSES) return failIsolated("signal backoff", -EINTR);
      }
      // __offline_isolated_pages() (+ offline_mem_sections())
      k.isolation.offlineIsolatedPages(startPfn, endPfn);
      k.sparse.offlineMemSections(startPfn, endPfn);
      zone.nrIsolatePageblock -= nrPages / PAGEBLOCK_NR_PAGES;
      k.alloc.zonePcpEnable(zone);
      k.alloc.adjustManagedPageCount(startPfn, -nrPages);
      this.adjustPresentPageCount(startPfn, group, -nrPages);
      k.alloc.initPerZoneWmarkMin();
      if (!zone.populated()) {
        k.alloc.zonePcpReset(zone);
        k.alloc.buildAllZonelists();
      }
      k.memory.memoryNotify(MEM_OFFLINE, arg);
      removePfnRangeFromZone(k.alloc, zoneIdx, startPfn, nrPages);
      return 0;
    });
  }

  /** The pr_debug() of offline_pages()'s failure path, kept for `memhp run --counts` readers. */
  private offlineFailed(reason: string, err: number): number {
    this.lastOfflineFailure = reason;
    return err;
  }

  /**
   * The physical ranges [start, end) of the add_memory*() calls that
   * succeeded, as far as they are not removed yet (the exposure auditor's
   * "a leaf crosses the range of an add"; no kernel state).
   */
  readonly addedRanges: Array<[number, number]> = [];

  /** Called by try_remove_memory() once its checks passed (the exposure auditor's hook). */
  onRemove: ((start: number, size: number) => void) | undefined;

  private removeAddedRange(start: number, size: number): void {
    const end = start + size;
    const out: Array<[number, number]> = [];
    for (const [s, e] of this.addedRanges) {
      if (e <= start || s >= end) out.push([s, e]);
      else {
        if (s < start) out.push([s, start]);
        if (e > end) out.push([end, e]);
      }
    }
    this.addedRanges.splice(0, this.addedRanges.length, ...out);
  }

  /** Why the last offline_pages() failed ("memory holes", "unmovable page", ...). */
  lastOfflineFailure: string | undefined;

  /**
   * Section numbers of ranges whose arch_add_memory() failed: what the kernel
   * leaves there (present sections without block devices, the x86 direct map)
   * is not a model bug. Cleared when the range is added or removed later.
   */
  readonly addFailureLeftovers = new Set<number>();

  private noteAddFailureLeftovers(start: number, size: number, failed: boolean): void {
    const first = pfnToSectionNr(start / PAGE_SIZE);
    const end = pfnToSectionNr((start + size) / PAGE_SIZE);
    for (let nr = first; nr < end; nr++) {
      if (failed) this.addFailureLeftovers.add(nr);
      else this.addFailureLeftovers.delete(nr);
    }
  }

  // ---------------------------------------------------------------------------
  // memhp, RFC v2 (docs/rfc-v2.md; not in Linux 6.1):
  //   offline_and_depopulate_memory(mgid, start, size)
  //   populate_and_online_memory(mgid, start, size, online_type)
  //
  // The owner is the memory group; one call each way under device_hotplug_lock
  // from the first check to the end, every check under mem_hotplug_lock too.
  // Depopulating a run of blocks cleans the data cache over it, marks its
  // pages PageOffline, removes its linear map, and (arm64) marks it nomap in
  // memblock / (x86) drops it from pfn_mapped; populate maps block by block,
  // never with a leaf across a block. The per-block state is
  // MemoryBlock.depopulated, written with both locks held; in the model it is
  // also what PageOffline, memblock nomap and pfn_mapped of those pages are
  // (the memmap of offline memory is poisoned and carries no page type here:
  // isPageOffline(), pfnIsMapMemory()).
  // ---------------------------------------------------------------------------

  /**
   * Is all of [start, start + size) System RAM, and all of it driver-managed
   * (IORESOURCE_SYSRAM_DRIVER_MANAGED: added with add_memory_driver_managed())?
   */
  rangeIsDriverManaged(start: number, size: number): boolean {
    let covered = 0n;
    let managed = true;
    this.k.resources.walkSystemRamRes(BigInt(start), BigInt(start + size - 1), (r) => {
      if (!(r.flags & IORESOURCE_SYSRAM_DRIVER_MANAGED)) {
        managed = false;
        return 1;
      }
      covered += r.end - r.start + 1n;
      return 0;
    });
    return managed && covered === BigInt(size);
  }

  /**
   * Checks 2 to 5 of both v2 calls, in this order (-EINVAL each): mgid names a
   * memory group; every memory block of the range exists; every one is in that
   * group; the range is all busy driver-managed System RAM. The blocks, or
   * -errno. Expects both locks held.
   */
  private rfcRangeBlocks(mgid: number, start: number, size: number): MemoryBlock[] | number {
    this.k.locks.memHotplug.assertHeld("offline_and_depopulate/populate_and_online_memory");
    const group = this.k.memory.groups.get(mgid);
    if (!group) return this.refuse(-EINVAL, `memory group ${mgid} does not exist`);
    const blocks: MemoryBlock[] = [];
    this.walkMemoryBlocks(start, size, (mem) => {
      blocks.push(mem);
      return 0;
    });
    if (blocks.length !== size / this.blockSize())
      return this.refuse(-EINVAL, "a memory block of the range does not exist");
    const foreign = blocks.find((mem) => mem.group !== group);
    if (foreign) return this.refuse(-EINVAL, `memory${foreign.id} is not in memory group ${mgid}`);
    if (!this.rangeIsDriverManaged(start, size))
      return this.refuse(-EINVAL, "the range is not all driver-managed System RAM");
    return blocks;
  }

  /** Why the last v2 call (or try_remove_memory()'s v2 check) refused; for front ends that annotate errnos. */
  lastRefusal: string | undefined;

  private refuse(err: number, why: string): number {
    this.lastRefusal = why;
    return this.k.printk.refuse(err, why);
  }

  /** Maximal runs [start, size] of consecutive blocks (bytes). */
  private blockRuns(blocks: readonly MemoryBlock[]): Array<[number, number]> {
    const bs = this.blockSize();
    const runs: Array<[number, number]> = [];
    for (const mem of blocks) {
      const s = this.k.memory.blockStartPfn(mem) * PAGE_SIZE;
      const last = runs[runs.length - 1];
      if (last && last[0] + last[1] === s) last[1] += bs;
      else runs.push([s, bs]);
    }
    return runs;
  }

  /** The online type that brings a block back into the zone it is in now (try_offline_memory_block()). */
  private currentOnlineType(mem: MemoryBlock): OnlineType {
    const zone = this.pfnToOnlineZone(this.k.memory.blockStartPfn(mem));
    return zone === ZONE_MOVABLE ? MMOP_ONLINE_MOVABLE : MMOP_ONLINE_KERNEL;
  }

  /** device_online() of each block with its type (rollback; failures are ignored, as try_reonline_memory_block() does). */
  private reonline(done: ReadonlyArray<readonly [MemoryBlock, OnlineType]>): void {
    for (const [mem, t] of done) {
      mem.onlineType = t;
      this.k.memory.deviceOnline(mem);
    }
  }

  /**
   * Step 9 of offline_and_depopulate_memory() for one run of offline blocks,
   * mem_hotplug_lock held: clean + invalidate the data cache over the run's
   * linear map, mark its pages PageOffline, unmap it, memblock nomap /
   * pfn_mapped, set mem->depopulated.
   */
  private depopulateRun(s: number, n: number, blocks: readonly MemoryBlock[]): void {
    this.k.locks.memHotplug.assertHeld("offline_and_depopulate_memory");
    const w = this.k.work;
    // arm64 dcache_clean_inval_poc() / x86 clflush_cache_range() over __va(s)..__va(s + n)
    w.add("cacheLinesCleaned", n / CACHE_LINE_SIZE);
    this.k.hw.cache.clean(s / PAGE_SIZE, n / PAGE_SIZE);
    // __SetPageOffline() of every page (kdump, /proc/kcore and hibernation skip them)
    w.add("pagesMarkedOffline", n / PAGE_SIZE);
    w.withPhase("arch_remove_linear_mapping", () => this.k.arch.archRemoveLinearMapping(s, n));
    // arm64 memblock_mark_nomap() / x86 pfn_mapped: the depopulated bit below (pfnIsMapMemory())
    for (const mem of blocks) mem.depopulated = true;
  }

  /**
   * Step 7 of populate_and_online_memory() for one block, mem_hotplug_lock
   * held: map the block alone, clear PageOffline, memblock_clear_nomap(),
   * invalidate the cache over it, clear mem->depopulated. 0 or -errno (the
   * arch hook undid its own partial mapping).
   */
  private populateBlock(mem: MemoryBlock, nid: number): number {
    const s = this.k.memory.blockStartPfn(mem) * PAGE_SIZE;
    const n = this.blockSize();
    const rc = this.k.work.withPhase("arch_create_linear_mapping", () =>
      this.k.arch.archCreateLinearMapping(nid, s, n, {}),
    );
    if (rc) return rc;
    this.k.work.add("pagesMarkedOffline", n / PAGE_SIZE); // __ClearPageOffline()
    this.k.work.add("cacheLinesCleaned", n / CACHE_LINE_SIZE); // invalidate: no stale line over it
    this.k.hw.cache.clean(s / PAGE_SIZE, n / PAGE_SIZE);
    mem.depopulated = false;
    return 0;
  }

  /**
   * memhp RFC v2: offline_and_depopulate_memory(mgid, start, size). Offline the
   * blocks of [start, start + size) and remove their linear mapping, in one
   * call under device_hotplug_lock. Checks in docs/rfc-v2.md's order: -EINVAL
   * (size/alignment; no such group; a block missing; a block of another
   * group; not driver-managed System RAM; unmapping a run would split a
   * leaf), -EOPNOTSUPP (a block's memmap lives in the range), then the
   * offline's errno (-EBUSY, a notifier's veto, ...) with every block this
   * call offlined onlined again. Blocks already depopulated are skipped. On
   * -errno nothing changed.
   */
  offlineAndDepopulateMemory(mgid: number, start: number, size: number): number {
    return this.offlineAndDepopulate(mgid, start, size, false);
  }

  /**
   * memhp issue 18 (docs/unmapped-alloc.md): offline_and_depopulate_memory_whole(mgid,
   * start, size). offlineAndDepopulateMemory() with one difference: the
   * online blocks are offlined with one offline_pages() per maximal run of
   * online blocks in one zone (one isolation, one migration pass, one
   * MEM_GOING_OFFLINE for the run) instead of device_offline() block by block,
   * so no page is migrated into a block that is offlined next. Same checks,
   * errnos and rollback.
   */
  offlineAndDepopulateMemoryWhole(mgid: number, start: number, size: number): number {
    return this.offlineAndDepopulate(mgid, start, size, true);
  }

  private offlineAndDepopulate(mgid: number, start: number, size: number, whole: boolean): number {
    const fn = whole ? "offline_and_depopulate_memory_whole" : "offline_and_depopulate_memory";
    this.lastRefusal = undefined;
    if (this.checkHotplugMemoryRange(start, size))
      return this.refuse(-EINVAL, "size 0 or not memory-block aligned");
    this.k.locks.lockDeviceHotplug(fn);
    try {
      return this.k.work.withPhase(fn, () => {
        let blocks: MemoryBlock[];
        let runs: Array<[number, number]>;
        this.k.locks.memHotplugBegin("offline_and_depopulate_memory");
        try {
          const b = this.rfcRangeBlocks(mgid, start, size);
          if (typeof b === "number") return b;
          blocks = b;
          if (blocks.some((mem) => mem.nrVmemmapPages !== 0))
            return this.refuse(-EOPNOTSUPP, "a block's memmap lives in the range (memmap_on_memory)");
          runs = this.blockRuns(blocks.filter((mem) => !mem.depopulated));
          // splits_leaf_cb(): arch_linear_mapping_split_leaves() first (the
          // 7.2 series splits live leaves on arm64 with BBML2_NOABORT), then
          // the check; a split stays when a later step fails.
          for (const [s, n] of runs) {
            if (this.k.arch.archLinearMappingSplitLeaves(s, n) < 0)
              return this.refuse(-ENOMEM, "no page for a page table to split a linear-map leaf");
            if (this.k.arch.archLinearMappingSplitsLeaf(s, n))
              return this.refuse(
                -EINVAL,
                `unmapping 0x${s.toString(16)}+0x${n.toString(16)} would split a linear-map leaf`,
              );
          }
        } finally {
          this.k.locks.memHotplugDone();
        }
        // 8. device_offline() each online block, device_hotplug_lock still held
        // (whole: offline_pages() of each run of online blocks in one zone).
        const offlined: Array<[MemoryBlock, OnlineType]> = [];
        if (whole) {
          const rc = this.offlineRunsWhole(blocks, offlined);
          if (rc < 0) {
            this.reonline(offlined);
            return this.refuse(
              rc,
              `offlining the range failed${this.lastOfflineFailure ? `: ${this.lastOfflineFailure}` : ""}`,
            );
          }
        }
        for (const mem of blocks) {
          if (mem.state === MEM_OFFLINE) continue;
          const t = this.currentOnlineType(mem);
          const rc = this.k.memory.deviceOffline(mem);
          if (rc < 0) {
            this.reonline(offlined);
            return this.refuse(
              rc,
              `offlining memory${mem.id} failed${this.lastOfflineFailure ? `: ${this.lastOfflineFailure}` : ""}`,
            );
          }
          offlined.push([mem, t]);
        }
        // 9. the runs of not-yet-depopulated blocks
        this.k.locks.memHotplugBegin("offline_and_depopulate_memory");
        try {
          const bs = this.blockSize();
          for (const [s, n] of runs)
            this.depopulateRun(
              s,
              n,
              blocks.filter((mem) => {
                const b = this.k.memory.blockStartPfn(mem) * PAGE_SIZE;
                return b >= s && b + bs <= s + n;
              }),
            );
        } finally {
          this.k.locks.memHotplugDone();
        }
        return 0;
      });
    } finally {
      this.k.locks.unlockDeviceHotplug();
    }
  }

  /**
   * memhp RFC v2: populate_and_online_memory(mgid, start, size, online_type).
   * Map each depopulated block of the range alone, then (unless MMOP_OFFLINE)
   * online every offline block with onlineType. -EINVAL as for
   * offlineAndDepopulateMemory() or for a bad online type, -EHWPOISON (a
   * depopulated block has poisoned pages), the mapping's -ENOMEM, or an
   * online's errno; on -errno every block this call mapped or onlined is back
   * as it was.
   */
  populateAndOnlineMemory(mgid: number, start: number, size: number, onlineType: number): number {
    this.lastRefusal = undefined;
    if (this.checkHotplugMemoryRange(start, size))
      return this.refuse(-EINVAL, "size 0 or not memory-block aligned");
    if (![MMOP_OFFLINE, MMOP_ONLINE, MMOP_ONLINE_KERNEL, MMOP_ONLINE_MOVABLE].includes(onlineType))
      return this.refuse(-EINVAL, `online type ${onlineType} is none of the four`);
    this.k.locks.lockDeviceHotplug("populate_and_online_memory");
    try {
      return this.k.work.withPhase("populate_and_online_memory", () => {
        let blocks: MemoryBlock[];
        const populated: MemoryBlock[] = [];
        this.k.locks.memHotplugBegin("populate_and_online_memory");
        try {
          const b = this.rfcRangeBlocks(mgid, start, size);
          if (typeof b === "number") return b;
          blocks = b;
          const poisoned = blocks.find((mem) => mem.depopulated && mem.nrHwpoison > 0);
          if (poisoned)
            return this.refuse(
              -EHWPOISON,
              `memory${poisoned.id} has ${poisoned.nrHwpoison} hwpoisoned page(s)`,
            );
          // 7. per block: never a leaf across a memory block
          for (const mem of blocks) {
            if (!mem.depopulated) continue;
            const rc = this.populateBlock(mem, Math.max(0, mem.nid));
            if (rc) {
              this.redepopulate(populated);
              return this.refuse(rc, `mapping memory${mem.id} failed`);
            }
            populated.push(mem);
          }
        } finally {
          this.k.locks.memHotplugDone();
        }
        if (onlineType === MMOP_OFFLINE) return 0;
        // 8. online each offline block of the range with the type
        const onlined: MemoryBlock[] = [];
        for (const mem of blocks) {
          if (mem.state !== MEM_OFFLINE) continue;
          mem.onlineType = onlineType as OnlineType;
          const rc = this.k.memory.deviceOnline(mem);
          if (rc < 0) {
            // A block onlined to a kernel zone that cannot be offlined again
            // (unmovable pages went into it) stays online and keeps its
            // mapping, with a warning: online memory is never unmapped
            // (linux-patches/patches 0007, undo_online_state()).
            const stuck = new Set<MemoryBlock>();
            for (const m of onlined) {
              const orc = this.k.memory.deviceOffline(m);
              if (orc < 0) {
                stuck.add(m);
                this.k.printk.prWarn(`undo_online_state: memory${m.id}: cannot restore its state: ${orc}`);
              }
            }
            this.k.locks.memHotplugBegin("populate_and_online_memory");
            try {
              this.redepopulate(populated.filter((m) => !stuck.has(m)));
            } finally {
              this.k.locks.memHotplugDone();
            }
            return this.refuse(rc, `onlining memory${mem.id} failed`);
          }
          onlined.push(mem);
        }
        return 0;
      });
    } finally {
      this.k.locks.unlockDeviceHotplug();
    }
  }

  /**
   * The whole-range variant's step 8: offline_pages() over each maximal run of
   * consecutive online blocks in one zone (mem_hotplug_lock taken around each,
   * as memory_block_offline() does), then each block of the run marked offline
   * as device_offline() would: mem->zone = NULL, state offline, dev.offline, a
   * KOBJ_OFFLINE uevent. The blocks offlined are appended to `offlined` (with
   * their online types, for the rollback); 0 or the failing run's errno (that
   * run is left online: offline_pages() undid its own isolation).
   */
  private offlineRunsWhole(
    blocks: readonly MemoryBlock[],
    offlined: Array<[MemoryBlock, OnlineType]>,
  ): number {
    const runs: MemoryBlock[][] = [];
    for (const mem of blocks) {
      if (mem.state === MEM_OFFLINE) continue;
      const last = runs[runs.length - 1];
      const prev = last?.[last.length - 1];
      if (prev && prev.id + 1 === mem.id && prev.zone === mem.zone) last.push(mem);
      else runs.push([mem]);
    }
    for (const run of runs) {
      const zone = run[0].zone;
      if (zone === undefined) return -EINVAL; // a boot block with no single zone (memory_block_offline())
      const types = run.map((mem) => this.currentOnlineType(mem));
      const startPfn = this.k.memory.blockStartPfn(run[0]);
      const nrPages = run.length * this.k.memory.pagesPerBlock();
      this.k.locks.memHotplugBegin("offline_and_depopulate_memory_whole");
      let rc: number;
      try {
        rc = this.offlinePages(startPfn, nrPages, zone, run[0].group);
      } finally {
        this.k.locks.memHotplugDone();
      }
      if (rc) return rc;
      run.forEach((mem, i) => {
        mem.zone = undefined;
        mem.state = MEM_OFFLINE;
        mem.devOffline = true;
        this.k.work.add("uevents"); // KOBJ_OFFLINE
        offlined.push([mem, types[i]]);
      });
    }
    return 0;
  }

  /** Rollback of populate_and_online_memory(): depopulate again the blocks it populated (mem_hotplug_lock held). */
  private redepopulate(blocks: readonly MemoryBlock[]): void {
    for (const [s, n] of this.blockRuns(blocks)) {
      const bs = this.blockSize();
      this.depopulateRun(
        s,
        n,
        blocks.filter((mem) => {
          const b = this.k.memory.blockStartPfn(mem) * PAGE_SIZE;
          return b >= s && b + bs <= s + n;
        }),
      );
    }
  }

  /** PageOffline(pfn): a driver's page (virtio-mem, balloon) or a page of a depopulated block. */
  isPageOffline(pfn: number): boolean {
    const st = this.k.memmap.hasPage(pfn) ? this.k.memmap.state(pfn) : PS_UNINIT;
    if (st === PS_OFFLINE || st === PS_OFFLINE_FREE) return true;
    if (this.k.unmapped.holds(pfn)) return true; // alloc_contig_range_unmapped()
    return this.k.memory.findMemoryBlockById(this.k.memory.pfnToBlockId(pfn))?.depopulated ?? false;
  }

  /** arm64 pfn_is_map_memory() / x86 pfn_range_is_mapped(): false in a depopulated block or an unmapped allocation (memblock nomap, pfn_mapped). */
  pfnIsMapMemory(pfn: number): boolean {
    if (this.k.unmapped.holds(pfn)) return false;
    return !(this.k.memory.findMemoryBlockById(this.k.memory.pfnToBlockId(pfn))?.depopulated ?? false);
  }

  /**
   * May present memory at pfn be missing from the linear map? Only in a
   * depopulated block, or in a range a driver holds through
   * alloc_contig_range() (and may unmap, as powernv memtrace does).
   */
  linearMapMayLack(pfn: number): boolean {
    const mem = this.k.memory.findMemoryBlockById(this.k.memory.pfnToBlockId(pfn));
    return (mem?.depopulated ?? false) || this.k.contig.holds(pfn);
  }

  /** /sys/kernel/debug/memhp/depopulated (memhp's own file): one line per depopulated block. */
  depopulatedShow(): string {
    const bs = this.blockSize();
    const ids = [...this.k.memory.blocks.values()]
      .filter((mem) => mem.depopulated)
      .map((mem) => mem.id)
      .sort((a, b) => a - b);
    return ids
      .map((id) => {
        const s = id * bs;
        return `memory${id} 0x${s.toString(16)}-0x${(s + bs - 1).toString(16)}\n`;
      })
      .join("");
  }

  /** The RFC's invariants: a depopulated block is offline driver-managed memory with its memmap elsewhere and no linear map. */
  checkDepopulateInvariants(): string[] {
    const out: string[] = [];
    const bs = this.blockSize();
    const pt = this.k.arch.pgtable;
    for (const mem of this.k.memory.blocks.values()) {
      if (!mem.depopulated) continue;
      const s = this.k.memory.blockStartPfn(mem) * PAGE_SIZE;
      if (mem.state !== MEM_OFFLINE) out.push(`memory${mem.id}: depopulated but not offline`);
      if (mem.nrVmemmapPages) out.push(`memory${mem.id}: depopulated with its memmap inside`);
      if (!this.rangeIsDriverManaged(s, bs)) out.push(`memory${mem.id}: depopulated but not driver-managed`);
      let leaves = 0;
      pt.forEachLeaf(this.k.arch.physToVirt(s), this.k.arch.physToVirt(s + bs), () => leaves++);
      if (leaves) out.push(`memory${mem.id}: depopulated but ${leaves} linear-map leaves cover it`);
    }
    return out;
  }
}

/** offline_pages() gives up after this many passes without progress (see above). */
export const OFFLINE_MAX_PASSES = 64;

/** __ffs() for a PFN; MAX_ORDER for pfn 0. */
function lowestSetBit(x: number): number {
  if (x === 0) return MAX_ORDER;
  let i = 0;
  while (x % 2 === 0) {
    x /= 2;
    i++;
  }
  return i;
}
