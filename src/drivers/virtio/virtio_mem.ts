// drivers/virtio/virtio_mem.c: the virtio-mem driver, the in-tree user of
// add_memory_driver_managed(), in both of its modes (chosen by
// virtio_mem_init_hotplug() from the device block size):
//
// - Sub-block mode (SBM; the sub-block, max(device block size, pageblock), is
//   smaller than a memory block: 2 MiB sub-blocks in 128 MiB blocks with QEMU's
//   default block size). Memory is added and removed a memory block at a time,
//   plugged and unplugged a sub-block at a time. Per memory block a state
//   (enum virtio_mem_sbm_mb_state, mbStates) and per sub-block a bit (the
//   sb_states bitmap, sbStates). Unplugged sub-blocks of an added block are kept
//   out of the buddy when it is onlined (virtio_mem_online_page_cb()); plugged
//   sub-blocks of an online block are unplugged by fake-offlining them
//   (virtio_mem_fake_offline(): alloc_contig_range(), PageOffline, not managed).
// - Big-block mode (BBM; device block size >= memory block size). Memory is
//   plugged, added, removed and unplugged a big block (1..X memory blocks) at a
//   time; with bbm_safe_unplug (the default) its online memory is fake-offlined
//   first, section by section.
//
// Common: the parent resource "virtioN" over the whole device region
// (IORESOURCE_SYSTEM_RAM | IORESOURCE_EXCLUSIVE, then not busy), a dynamic memory
// group, a memory notifier, the offline threshold (1 GiB, at least two blocks):
// no more memory is added while that much added memory is offline. The work
// (virtio_mem_run_wq()) runs on every config change and whenever the driver
// queues it again (virtio_mem_retry(): after it removed memory, or once memory
// was onlined); when it cannot free what it must unplug (-EBUSY), the host is
// busy (-ETXTBSY) or memory is short (-ENOMEM) it arms the retry timer (50 s,
// doubling up to 5 min); the next run, whatever queued it, cancels the timer.
//
// model: the state arrays are allocated for the whole region at probe (the
// driver grows them a page at a time; their vzalloc() failing is not modelled),
// the work runs synchronously (a config change runs it before the host event
// settles; a run queued from a memory notifier runs after the statement,
// flushWork()), and time does not pass: the retry timer stays armed until the
// next run cancels it, or until retryTimerExpired() is called. The module
// parameters keep their defaults (unplug_online, bbm_safe_unplug on; force_bbm
// and bbm_block_size off). Not modelled: kdump mode, unplug-all at probe (nothing
// is plugged when the driver probes here), device removal.

import { EAGAIN, EBUSY, EINVAL, ENOMEM, ENOSPC, ETXTBSY } from "../../errno.js";
import type { Kernel } from "../../kernel/kernel.js";
import type { Resource } from "../../kernel/resource.js";
import { IORESOURCE_BUSY, IORESOURCE_EXCLUSIVE, IORESOURCE_SYSTEM_RAM } from "../../kernel/resource.js";
import { MHP_MERGE_RESOURCE, MHP_NID_IS_MGID } from "../../mm/memory_hotplug.js";
import { MAX_ORDER, PAGE_SIZE, PAGEBLOCK_NR_PAGES, PAGES_PER_SECTION } from "../../mm/constants.js";
import { PS_KERNEL, PS_OFFLINE, PS_OFFLINE_FREE, PS_RESERVED, pfnToOnlinePage } from "../../mm/memmap.js";
import { MIGRATE_MOVABLE, ZONE_MOVABLE } from "../../mm/mmzone.js";
import {
  MEM_CANCEL_OFFLINE,
  MEM_CANCEL_ONLINE,
  MEM_GOING_OFFLINE,
  MEM_GOING_ONLINE,
  MEM_OFFLINE,
  MEM_ONLINE,
  type MemoryNotify,
} from "../base/memory.js";
import {
  VIRTIO_MEM_RESP_ACK,
  VIRTIO_MEM_RESP_BUSY,
  VIRTIO_MEM_RESP_NACK,
  type VirtioMemDevice,
} from "../../hw/virtio_mem.js";

const VIRTIO_MEM_DEFAULT_OFFLINE_THRESHOLD = 1 << 30;
export const VIRTIO_MEM_RETRY_TIMER_MIN_MS = 50000;
export const VIRTIO_MEM_RETRY_TIMER_MAX_MS = 300000;

// Module parameters, at their defaults.
const unplugOnline = true;
const bbmSafeUnplug = true;

/** enum virtio_mem_sbm_mb_state */
export const VIRTIO_MEM_SBM_MB_UNUSED = 0;
export const VIRTIO_MEM_SBM_MB_PLUGGED = 1;
export const VIRTIO_MEM_SBM_MB_OFFLINE = 2;
export const VIRTIO_MEM_SBM_MB_OFFLINE_PARTIAL = 3;
export const VIRTIO_MEM_SBM_MB_KERNEL = 4;
export const VIRTIO_MEM_SBM_MB_KERNEL_PARTIAL = 5;
export const VIRTIO_MEM_SBM_MB_MOVABLE = 6;
export const VIRTIO_MEM_SBM_MB_MOVABLE_PARTIAL = 7;
const VIRTIO_MEM_SBM_MB_COUNT = 8;

/** enum virtio_mem_bbm_bb_state */
export const VIRTIO_MEM_BBM_BB_UNUSED = 0;
export const VIRTIO_MEM_BBM_BB_PLUGGED = 1;
export const VIRTIO_MEM_BBM_BB_ADDED = 2;
export const VIRTIO_MEM_BBM_BB_FAKE_OFFLINE = 3;
const VIRTIO_MEM_BBM_BB_COUNT = 4;

export const SBM_MB_STATE_NAMES: readonly string[] = [
  "unused",
  "plugged",
  "offline",
  "offline-partial",
  "kernel",
  "kernel-partial",
  "movable",
  "movable-partial",
];

const NOTIFY_BAD = -1; // notifier_to_errno(NOTIFY_BAD): -EPERM

/** vm->sbm: the sub-block mode's geometry and state. */
interface Sbm {
  firstMbId: number;
  lastUsableMbId: number;
  nextMbId: number;
  sbSize: number;
  sbsPerMb: number;
  /** Summary of all memory block states (mb_count). */
  mbCount: Uint32Array;
  /** One byte state per memory block from firstMbId (mb_states). */
  mbStates: Uint8Array;
  /** One bit per sub-block, set when plugged (sb_states). */
  sbStates: Uint32Array;
}

/** vm->bbm: the big-block mode's geometry and state. */
interface Bbm {
  firstBbId: number;
  lastUsableBbId: number;
  nextBbId: number;
  bbSize: number;
  bbCount: Uint32Array;
  bbStates: Uint8Array;
}

export class VirtioMem {
  /** The device's region (QEMU: the memory-device address, the memdev size). */
  readonly addr: number;
  readonly regionSize: number;
  readonly deviceBlockSize: number;
  requestedSize = 0;
  /** What the driver has plugged (vm->plugged_size; the device's `size`). */
  plugged = 0;
  offlineSize = 0;
  readonly offlineThreshold: number;
  readonly mgid: number;
  readonly parentResource: Resource;
  /** vm->in_sbm */
  readonly inSbm: boolean;
  readonly sbm: Sbm | undefined;
  readonly bbm: Bbm | undefined;
  /**
   * PageDirty of fake-offline pages (set: kept fake-offline when their block
   * was onlined, never given to the buddy), one byte per pageblock of the
   * region: the driver handles pages a pageblock or more at a time, all alike.
   */
  private readonly pageDirty: Uint8Array;
  /** vm->config_changed */
  private configChanged = false;
  /** vm->wq_active */
  private wqActive = false;
  /** The work is queued (queue_work() of vm->wq) and has not run yet. */
  private wqQueued = false;
  /** vm->hotplug_active */
  private hotplugActive = false;
  /** vm->broken */
  broken = false;
  /** vm->retry_timer is armed; it would fire after retryTimerMs. */
  retryTimerArmed = false;
  /** vm->retry_timer_ms */
  retryTimerMs = VIRTIO_MEM_RETRY_TIMER_MIN_MS;
  /** The last run's result (0, -ENOSPC, -EBUSY ...). */
  lastResult = 0;

  readonly id: string;

  /**
   * virtio_mem_probe() → virtio_mem_init() → virtio_mem_init_hotplug(): bind to
   * the device, named devName ("virtioN") by the virtio bus.
   */
  constructor(
    private readonly k: Kernel,
    private readonly dev: VirtioMemDevice,
    readonly devName: string,
  ) {
    const { addr, regionSize } = dev;
    this.id = dev.id;
    this.addr = addr;
    this.regionSize = regionSize;
    this.deviceBlockSize = dev.blockSize;
    const mbSize = k.memory.blockSizeBytes;
    let offlineThreshold = Math.max(2 * mbSize, VIRTIO_MEM_DEFAULT_OFFLINE_THRESHOLD);
    // alloc_contig_range() works with pageblock granularity on ZONE_NORMAL.
    const sbSize = Math.max(PAGE_SIZE * PAGEBLOCK_NR_PAGES, this.deviceBlockSize);
    const end = addr + regionSize;
    if (sbSize < mbSize) {
      // SBM: at least two sub-blocks per memory block; from the first whole block.
      const firstMbId = Math.floor((addr + mbSize - 1) / mbSize);
      // virtio_mem_refresh_config(): usable while the whole block lies in the region.
      const lastUsableMbId = Math.floor(end / mbSize) - 1;
      const nrMbs = Math.max(0, lastUsableMbId - firstMbId + 1);
      const sbsPerMb = mbSize / sbSize;
      this.inSbm = true;
      this.sbm = {
        firstMbId,
        lastUsableMbId,
        nextMbId: firstMbId,
        sbSize,
        sbsPerMb,
        mbCount: new Uint32Array(VIRTIO_MEM_SBM_MB_COUNT),
        mbStates: new Uint8Array(nrMbs),
        sbStates: new Uint32Array(Math.ceil((nrMbs * sbsPerMb) / 32)),
      };
    } else {
      // BBM: at least one memory block per big block.
      const bbSize = Math.max(this.deviceBlockSize, mbSize);
      const firstBbId = Math.floor((addr + bbSize - 1) / bbSize);
      const lastUsableBbId = Math.floor(end / bbSize) - 1;
      this.inSbm = false;
      this.bbm = {
        firstBbId,
        lastUsableBbId,
        nextBbId: firstBbId,
        bbSize,
        bbCount: new Uint32Array(VIRTIO_MEM_BBM_BB_COUNT),
        bbStates: new Uint8Array(Math.max(0, lastUsableBbId - firstBbId + 1)),
      };
      // Make sure we can add two big blocks.
      offlineThreshold = Math.max(2 * bbSize, offlineThreshold);
    }
    this.offlineThreshold = offlineThreshold;
    this.pageDirty = new Uint8Array(Math.ceil(regionSize / PAGE_SIZE / PAGEBLOCK_NR_PAGES));
    // virtio_mem_create_resource()
    const res = k.resources.requestRegion(
      BigInt(addr),
      BigInt(regionSize),
      devName,
      IORESOURCE_SYSTEM_RAM | IORESOURCE_EXCLUSIVE,
    );
    if (!res) throw new Error(`virtio-mem ${this.id}: could not reserve device region`);
    res.flags &= ~IORESOURCE_BUSY;
    this.parentResource = res;
    const unitPages = (this.sbm ? mbSize : this.bbm!.bbSize) / PAGE_SIZE;
    this.mgid = k.memory.memoryGroupRegisterDynamic(0, unitPages);
    k.memory.registerMemoryNotifier(`virtio_mem:${this.id}`, (action, arg) =>
      this.memoryNotifierCb(action, arg),
    );
    // register_virtio_mem_device(): the first device sets the online_page callback.
    if (![...k.virtioMem.values()].length) {
      k.hotplug.onlinePageCallback = (pfn, order, checked) => virtioMemOnlinePageCb(k, pfn, order, checked);
    }
    // virtio_mem_config_changed(): the device's new requested size, then the work queue
    dev.bindDriver(() => this.configChangedCb());
  }

  // --- geometry (virtio_mem_phys_to_mb_id() ...) ---

  private mbSize(): number {
    return this.k.memory.blockSizeBytes;
  }
  private mbIdToPhys(mbId: number): number {
    return mbId * this.mbSize();
  }
  private physToMbId(addr: number): number {
    return Math.floor(addr / this.mbSize());
  }
  private physToSbId(addr: number): number {
    return Math.floor((addr - this.mbIdToPhys(this.physToMbId(addr))) / this.sbm!.sbSize);
  }
  private bbIdToPhys(bbId: number): number {
    return bbId * this.bbm!.bbSize;
  }
  private physToBbId(addr: number): number {
    return Math.floor(addr / this.bbm!.bbSize);
  }

  /** virtio_mem_overlaps_range() */
  private overlapsRange(start: number, size: number): boolean {
    return start < this.addr + this.regionSize && this.addr < start + size;
  }

  /** virtio_mem_contains_range() */
  containsRange(start: number, size: number): boolean {
    return start >= this.addr && start + size <= this.addr + this.regionSize;
  }

  // --- SBM state (virtio_mem_sbm_set_mb_state() ...) ---

  /** virtio_mem_sbm_get_mb_state() */
  sbmGetMbState(mbId: number): number {
    const s = this.sbm!;
    return s.mbStates[mbId - s.firstMbId];
  }

  /** virtio_mem_sbm_set_mb_state(): the state and the per-state count. */
  private sbmSetMbState(mbId: number, state: number): void {
    const s = this.sbm!;
    const idx = mbId - s.firstMbId;
    const old = s.mbStates[idx];
    s.mbStates[idx] = state;
    if (s.mbCount[old] === 0) throw new Error(`virtio_mem_sbm_set_mb_state: BUG_ON(mb_count[${old}] == 0)`);
    s.mbCount[old]--;
    s.mbCount[state]++;
  }

  /** virtio_mem_sbm_sb_state_bit_nr() */
  private sbBit(mbId: number, sbId: number): number {
    const s = this.sbm!;
    return (mbId - s.firstMbId) * s.sbsPerMb + sbId;
  }
  private testBit(bit: number): boolean {
    return (this.sbm!.sbStates[bit >>> 5] & (1 << (bit & 31))) !== 0;
  }
  private assignBits(mbId: number, sbId: number, count: number, plugged: boolean): void {
    const map = this.sbm!.sbStates;
    const first = this.sbBit(mbId, sbId);
    for (let b = first; b < first + count; b++) {
      if (plugged) map[b >>> 5] |= 1 << (b & 31);
      else map[b >>> 5] &= ~(1 << (b & 31));
    }
  }

  /** virtio_mem_sbm_set_sb_plugged() */
  private sbmSetSbPlugged(mbId: number, sbId: number, count: number): void {
    this.assignBits(mbId, sbId, count, true);
  }
  /** virtio_mem_sbm_set_sb_unplugged() */
  private sbmSetSbUnplugged(mbId: number, sbId: number, count: number): void {
    this.assignBits(mbId, sbId, count, false);
  }
  /** virtio_mem_sbm_test_sb_plugged(): all of them plugged */
  sbmTestSbPlugged(mbId: number, sbId: number, count: number): boolean {
    const first = this.sbBit(mbId, sbId);
    for (let b = first; b < first + count; b++) if (!this.testBit(b)) return false;
    return true;
  }
  /** virtio_mem_sbm_test_sb_unplugged(): all of them unplugged */
  private sbmTestSbUnplugged(mbId: number, sbId: number, count: number): boolean {
    const first = this.sbBit(mbId, sbId);
    for (let b = first; b < first + count; b++) if (this.testBit(b)) return false;
    return true;
  }
  /** virtio_mem_sbm_first_unplugged_sb(): sbs_per_mb when there is none */
  private sbmFirstUnpluggedSb(mbId: number): number {
    const n = this.sbm!.sbsPerMb;
    for (let sb = 0; sb < n; sb++) if (!this.testBit(this.sbBit(mbId, sb))) return sb;
    return n;
  }

  // --- BBM state ---

  /** virtio_mem_bbm_get_bb_state() */
  bbmGetBbState(bbId: number): number {
    const b = this.bbm!;
    return b.bbStates[bbId - b.firstBbId];
  }

  /** virtio_mem_bbm_set_bb_state() */
  private bbmSetBbState(bbId: number, state: number): void {
    const b = this.bbm!;
    const idx = bbId - b.firstBbId;
    const old = b.bbStates[idx];
    b.bbStates[idx] = state;
    if (b.bbCount[old] === 0) throw new Error(`virtio_mem_bbm_set_bb_state: BUG_ON(bb_count[${old}] == 0)`);
    b.bbCount[old]--;
    b.bbCount[state]++;
  }

  // --- requests to the device ---

  /** virtio_mem_send_plug_request() */
  private sendPlugRequest(addr: number, size: number): number {
    if (this.configChanged) return -EAGAIN;
    switch (this.dev.stateChangeRequest(addr, size / this.deviceBlockSize, true)) {
      case VIRTIO_MEM_RESP_ACK:
        this.plugged += size;
        return 0;
      case VIRTIO_MEM_RESP_NACK:
        return -EAGAIN;
      case VIRTIO_MEM_RESP_BUSY:
        return -ETXTBSY;
      default:
        return -EINVAL;
    }
  }

  /** virtio_mem_send_unplug_request() */
  private sendUnplugRequest(addr: number, size: number): number {
    if (this.configChanged) return -EAGAIN;
    switch (this.dev.stateChangeRequest(addr, size / this.deviceBlockSize, false)) {
      case VIRTIO_MEM_RESP_ACK:
        this.plugged -= size;
        return 0;
      case VIRTIO_MEM_RESP_BUSY:
        return -ETXTBSY;
      default:
        return -EINVAL;
    }
  }

  /** virtio_mem_sbm_plug_sb(): the plugged bits, not the block's state. */
  private sbmPlugSb(mbId: number, sbId: number, count: number): number {
    const s = this.sbm!;
    const rc = this.sendPlugRequest(this.mbIdToPhys(mbId) + sbId * s.sbSize, count * s.sbSize);
    if (!rc) this.sbmSetSbPlugged(mbId, sbId, count);
    return rc;
  }

  /** virtio_mem_sbm_unplug_sb(): the plugged bits, not the block's state. */
  private sbmUnplugSb(mbId: number, sbId: number, count: number): number {
    const s = this.sbm!;
    const rc = this.sendUnplugRequest(this.mbIdToPhys(mbId) + sbId * s.sbSize, count * s.sbSize);
    if (!rc) this.sbmSetSbUnplugged(mbId, sbId, count);
    return rc;
  }

  /** virtio_mem_bbm_plug_bb() */
  private bbmPlugBb(bbId: number): number {
    return this.sendPlugRequest(this.bbIdToPhys(bbId), this.bbm!.bbSize);
  }

  /** virtio_mem_bbm_unplug_bb() */
  private bbmUnplugBb(bbId: number): number {
    return this.sendUnplugRequest(this.bbIdToPhys(bbId), this.bbm!.bbSize);
  }

  // --- adding and removing memory ---

  /** virtio_mem_could_add_memory() */
  private couldAddMemory(size: number): boolean {
    if (size > this.offlineThreshold) return false; // WARN_ON_ONCE
    return this.offlineSize + size <= this.offlineThreshold;
  }

  /** virtio_mem_add_memory(): add_memory_driver_managed(); offline_size counts it first (it may get onlined at once). */
  private addMemory(addr: number, size: number): number {
    this.offlineSize += size;
    const rc = this.k.hotplug.addMemoryDriverManaged(
      this.mgid,
      addr,
      size,
      "System RAM (virtio_mem)",
      MHP_MERGE_RESOURCE | MHP_NID_IS_MGID,
    );
    if (rc) {
      this.offlineSize -= size;
      this.k.printk.prWarn(`${this.devName}: adding memory failed: ${rc}`);
    }
    return rc;
  }

  /** virtio_mem_remove_memory(): remove_memory() of offline memory. */
  private removeMemory(addr: number, size: number): number {
    const rc = this.k.hotplug.removeMemory(addr, size);
    if (!rc) {
      this.offlineSize -= size;
      // We might have freed up memory we can now unplug: retry at once.
      this.retry();
    }
    return rc;
  }

  /** virtio_mem_offline_and_remove_memory() */
  private offlineAndRemoveMemory(addr: number, size: number): number {
    const rc = this.k.hotplug.offlineAndRemoveMemory(addr, size);
    if (!rc) {
      this.offlineSize -= size;
      this.retry();
    }
    return rc;
  }

  // --- fake-offline (PageOffline pages the driver holds) ---

  private pageblockIndex(pfn: number): number {
    return Math.floor((pfn - this.addr / PAGE_SIZE) / PAGEBLOCK_NR_PAGES);
  }

  private setDirty(pfn: number, nrPages: number, dirty: boolean): void {
    const first = this.pageblockIndex(pfn);
    const end = first + Math.max(1, nrPages / PAGEBLOCK_NR_PAGES);
    this.pageDirty.fill(dirty ? 1 : 0, Math.max(0, first), Math.max(0, Math.min(end, this.pageDirty.length)));
  }

  private isDirty(pfn: number): boolean {
    return this.pageDirty[this.pageblockIndex(pfn)] === 1;
  }

  /**
   * virtio_mem_set_fake_offline(): PageOffline; pages never onlined (given by
   * the online_page callback) PageDirty and no longer PageReserved.
   */
  private setFakeOffline(pfn: number, nrPages: number, onlined: boolean): void {
    this.k.alloc.setPageState(pfn, nrPages, PS_OFFLINE);
    this.setDirty(pfn, nrPages, !onlined);
  }

  /**
   * virtio_mem_clear_fake_offline(): PageOffline cleared. model: the pages
   * become what the next step expects: PageReserved pages for
   * generic_online_page() (never onlined), the alloc_contig_range() caller's
   * order-0 pages for free_contig_range() (onlined).
   */
  private clearFakeOffline(pfn: number, nrPages: number, onlined: boolean): void {
    this.k.alloc.setPageState(pfn, nrPages, onlined ? PS_KERNEL : PS_RESERVED);
    if (!onlined) this.setDirty(pfn, nrPages, false);
  }

  /** virtio_mem_fake_online(): release fake-offline pages to the buddy. */
  private fakeOnline(pfn: number, nrPages: number): void {
    let order = MAX_ORDER - 1;
    // Ranges need not be MAX_ORDER - 1 aligned: the largest order that fits.
    while ((pfn | nrPages) % (1 << order) !== 0) order--;
    for (let i = 0; i < nrPages; i += 1 << order) {
      const p = pfn + i;
      // PageDirty: kept fake-offline at onlining; else allocated by alloc_contig_range().
      if (this.isDirty(p)) {
        this.clearFakeOffline(p, 1 << order, false);
        this.k.alloc.genericOnlinePage(p, order);
      } else {
        this.clearFakeOffline(p, 1 << order, true);
        const rc = this.k.contig.freeContigRange(p, 1 << order);
        if (rc) throw new Error(`virtio_mem_fake_online: free_contig_range(${p.toString(16)}) failed: ${rc}`);
        this.k.alloc.adjustManagedPageCount(p, 1 << order);
      }
    }
  }

  /**
   * virtio_mem_fake_offline(): alloc_contig_range() the range and keep it
   * PageOffline, out of the managed pages. ZONE_MOVABLE is tried 5 times,
   * other zones once. 0, -ENOMEM, or -EBUSY.
   */
  private fakeOffline(pfn: number, nrPages: number): number {
    const isMovable = this.k.memmap.zone(pfn) === ZONE_MOVABLE;
    for (let retryCount = 0; retryCount < 5; retryCount++) {
      const rc = this.k.contig.allocContigRange(pfn, pfn + nrPages, MIGRATE_MOVABLE);
      if (rc === -ENOMEM) return rc;
      else if (rc && !isMovable) break;
      else if (rc) continue;
      this.setFakeOffline(pfn, nrPages, true);
      this.k.alloc.adjustManagedPageCount(pfn, -nrPages);
      return 0;
    }
    return -EBUSY;
  }

  /**
   * virtio_mem_fake_offline_going_offline(): count the pages managed again (so
   * that offlining can take them away) and drop the driver's reference.
   */
  private fakeOfflineGoingOffline(pfn: number, nrPages: number): void {
    this.k.alloc.adjustManagedPageCount(pfn, nrPages);
    this.k.alloc.setPageState(pfn, nrPages, PS_OFFLINE_FREE);
    // model: pages from alloc_contig_range() are no longer the driver's to free
    for (let p = pfn; p < pfn + nrPages; p += PAGEBLOCK_NR_PAGES)
      if (!this.isDirty(p)) this.k.contig.release(p, Math.min(PAGEBLOCK_NR_PAGES, pfn + nrPages - p));
  }

  /** virtio_mem_fake_offline_cancel_offline(): undo the above. */
  private fakeOfflineCancelOffline(pfn: number, nrPages: number): void {
    this.k.alloc.adjustManagedPageCount(pfn, -nrPages);
    this.k.alloc.setPageState(pfn, nrPages, PS_OFFLINE);
    for (let p = pfn; p < pfn + nrPages; p += PAGEBLOCK_NR_PAGES)
      if (!this.isDirty(p)) this.k.contig.adopt(p, Math.min(PAGEBLOCK_NR_PAGES, pfn + nrPages - p));
  }

  /** virtio_mem_online_page(): online the plugged parts of a chunk, keep the rest fake-offline. */
  onlinePage(pfn: number, order: number, checked: boolean): void {
    const start = pfn * PAGE_SIZE;
    const end = start + (1 << order) * PAGE_SIZE;
    for (let addr = start; addr < end;) {
      const next = addr + (1 << order) * PAGE_SIZE;
      let doOnline: boolean;
      if (this.inSbm) {
        const id = this.physToMbId(addr);
        const sbId = this.physToSbId(addr);
        const count = this.physToSbId(next - 1) - sbId + 1;
        if (this.sbmTestSbPlugged(id, sbId, count)) doOnline = true;
        else if (count === 1 || this.sbmTestSbUnplugged(id, sbId, count)) doOnline = false;
        else {
          // A mixture: sub-block by sub-block from here on (at least a pageblock).
          order = Math.log2(this.sbm!.sbSize / PAGE_SIZE);
          continue;
        }
      } else {
        // A big block marked fake-offline keeps everything fake-offline.
        doOnline = this.bbmGetBbState(this.physToBbId(addr)) !== VIRTIO_MEM_BBM_BB_FAKE_OFFLINE;
      }
      if (doOnline) this.k.alloc.genericOnlinePage(addr / PAGE_SIZE, order, checked);
      else this.setFakeOffline(addr / PAGE_SIZE, 1 << order, false);
      addr = next;
    }
  }

  // --- the memory notifier ---

  /** virtio_mem_sbm_notify_going_online(): only offline blocks of ours may go online. */
  private sbmNotifyGoingOnline(mbId: number): number {
    const st = this.sbmGetMbState(mbId);
    if (st === VIRTIO_MEM_SBM_MB_OFFLINE_PARTIAL || st === VIRTIO_MEM_SBM_MB_OFFLINE) return 0;
    this.k.printk.prWarn(`${this.devName}: memory block onlining denied`);
    return NOTIFY_BAD;
  }

  /** virtio_mem_sbm_notify_offline() */
  private sbmNotifyOffline(mbId: number): void {
    switch (this.sbmGetMbState(mbId)) {
      case VIRTIO_MEM_SBM_MB_KERNEL_PARTIAL:
      case VIRTIO_MEM_SBM_MB_MOVABLE_PARTIAL:
        this.sbmSetMbState(mbId, VIRTIO_MEM_SBM_MB_OFFLINE_PARTIAL);
        break;
      case VIRTIO_MEM_SBM_MB_KERNEL:
      case VIRTIO_MEM_SBM_MB_MOVABLE:
        this.sbmSetMbState(mbId, VIRTIO_MEM_SBM_MB_OFFLINE);
        break;
      default:
        throw new Error(`virtio_mem_sbm_notify_offline: BUG() in state ${this.sbmGetMbState(mbId)}`);
    }
  }

  /** virtio_mem_sbm_notify_online() */
  private sbmNotifyOnline(mbId: number, startPfn: number): void {
    const isMovable = this.k.memmap.zone(startPfn) === ZONE_MOVABLE;
    let state: number;
    switch (this.sbmGetMbState(mbId)) {
      case VIRTIO_MEM_SBM_MB_OFFLINE_PARTIAL:
        state = isMovable ? VIRTIO_MEM_SBM_MB_MOVABLE_PARTIAL : VIRTIO_MEM_SBM_MB_KERNEL_PARTIAL;
        break;
      case VIRTIO_MEM_SBM_MB_OFFLINE:
        state = isMovable ? VIRTIO_MEM_SBM_MB_MOVABLE : VIRTIO_MEM_SBM_MB_KERNEL;
        break;
      default:
        throw new Error(`virtio_mem_sbm_notify_online: BUG() in state ${this.sbmGetMbState(mbId)}`);
    }
    this.sbmSetMbState(mbId, state);
  }

  /** virtio_mem_sbm_notify_going_offline() / _cancel_offline(): each unplugged sub-block. */
  private sbmNotifyUnplugged(mbId: number, cancel: boolean): void {
    const s = this.sbm!;
    const nrPages = s.sbSize / PAGE_SIZE;
    for (let sbId = 0; sbId < s.sbsPerMb; sbId++) {
      if (this.sbmTestSbPlugged(mbId, sbId, 1)) continue;
      const pfn = (this.mbIdToPhys(mbId) + sbId * s.sbSize) / PAGE_SIZE;
      if (cancel) this.fakeOfflineCancelOffline(pfn, nrPages);
      else this.fakeOfflineGoingOffline(pfn, nrPages);
    }
  }

  /** virtio_mem_bbm_notify_going_offline() / _cancel_offline(): all online memory is ours when fake-offline. */
  private bbmNotifyFakeOffline(bbId: number, pfn: number, nrPages: number, cancel: boolean): void {
    if (this.bbmGetBbState(bbId) !== VIRTIO_MEM_BBM_BB_FAKE_OFFLINE) return;
    if (cancel) this.fakeOfflineCancelOffline(pfn, nrPages);
    else this.fakeOfflineGoingOffline(pfn, nrPages);
  }

  /** virtio_mem_memory_notifier_cb(): 0 or -errno (NOTIFY_BAD: -EPERM). */
  private memoryNotifierCb(action: number, arg: MemoryNotify): number {
    const start = arg.startPfn * PAGE_SIZE;
    const size = arg.nrPages * PAGE_SIZE;
    if (!this.overlapsRange(start, size)) return 0;
    let id: number;
    if (this.inSbm) {
      id = this.physToMbId(start);
      // SBM adds memory a block at a time and expects it onlined/offlined so (WARN_ON_ONCE).
      if (size !== this.mbSize() || start % this.mbSize()) return NOTIFY_BAD;
    } else {
      id = this.physToBbId(start);
      if (id !== this.physToBbId(start + size - 1)) return NOTIFY_BAD;
    }
    let rc = 0;
    switch (action) {
      case MEM_GOING_OFFLINE:
        this.hotplugActive = true;
        if (this.inSbm) this.sbmNotifyUnplugged(id, false);
        else this.bbmNotifyFakeOffline(id, arg.startPfn, arg.nrPages, false);
        break;
      case MEM_GOING_ONLINE:
        this.hotplugActive = true;
        if (this.inSbm) rc = this.sbmNotifyGoingOnline(id);
        break;
      case MEM_OFFLINE:
        if (this.inSbm) this.sbmNotifyOffline(id);
        // model: the memmap goes (poisoned), and PageDirty with it
        this.setDirty(arg.startPfn, arg.nrPages, false);
        this.offlineSize += size;
        // Offline memory now: maybe pending unplug requests can go on.
        if (!unplugOnline) this.retry();
        this.hotplugActive = false;
        break;
      case MEM_ONLINE:
        if (this.inSbm) this.sbmNotifyOnline(id, arg.startPfn);
        this.offlineSize -= size;
        // Add more memory once half the threshold is online again (not when
        // our own adding onlined it).
        if (!this.wqActive && this.couldAddMemory(this.offlineThreshold / 2)) this.retry();
        this.hotplugActive = false;
        break;
      case MEM_CANCEL_OFFLINE:
        if (!this.hotplugActive) break;
        if (this.inSbm) this.sbmNotifyUnplugged(id, true);
        else this.bbmNotifyFakeOffline(id, arg.startPfn, arg.nrPages, true);
        this.hotplugActive = false;
        break;
      case MEM_CANCEL_ONLINE:
        this.hotplugActive = false;
        break;
    }
    return rc;
  }

  // --- the work ---

  /** virtio_mem_config_changed(): note the change and queue the work; the host event waits for it. */
  private configChangedCb(): void {
    this.configChanged = true;
    this.retry();
    this.flushWork();
  }

  /** virtio_mem_retry(): queue the work (it runs once more if it is running). */
  private retry(): void {
    this.wqQueued = true;
  }

  /** Run the queued work until it is no longer queued (the guest settles). */
  flushWork(): void {
    while (this.wqQueued) {
      this.wqQueued = false;
      this.runWq();
    }
  }

  /** virtio_mem_timer_expired(): queue the work, double the next period (model: time passing is the caller's). */
  retryTimerExpired(): void {
    if (!this.retryTimerArmed) return;
    this.retryTimerArmed = false;
    this.retry();
    this.retryTimerMs = Math.min(this.retryTimerMs * 2, VIRTIO_MEM_RETRY_TIMER_MAX_MS);
    this.flushWork();
  }

  /** Is the device at its requested size (what the oracle's settling waits for)? */
  settled(): boolean {
    return this.dev.size === this.dev.requestedSize;
  }

  /** virtio_mem_refresh_config(): plugged size, usable blocks, requested size. */
  private refreshConfig(): void {
    if (this.dev.size !== this.plugged) this.plugged = this.dev.size; // WARN_ON_ONCE
    this.requestedSize = this.dev.requestedSize;
  }

  /** virtio_mem_run_wq(): plug or unplug toward the requested size. */
  private runWq(): void {
    this.retryTimerArmed = false; // hrtimer_cancel()
    if (this.broken) return;
    this.wqActive = true;
    let rc: number;
    for (;;) {
      if (this.configChanged) {
        this.configChanged = false;
        this.refreshConfig();
      }
      // Unplug leftovers of earlier runs.
      rc = this.unplugPendingMb();
      if (!rc && this.requestedSize !== this.plugged) {
        if (this.requestedSize > this.plugged) rc = this.plugRequest(this.requestedSize - this.plugged);
        else rc = this.unplugRequest(this.plugged - this.requestedSize);
      }
      if (rc !== -EAGAIN) break; // -EAGAIN: retry at once (the config changed)
    }
    switch (rc) {
      case 0:
        this.retryTimerMs = VIRTIO_MEM_RETRY_TIMER_MIN_MS;
        break;
      case -ENOSPC:
        // No more memory can be added (alignment, the region's end, the offline threshold).
        break;
      case -ETXTBSY:
      case -EBUSY:
      case -ENOMEM:
        // Try again later.
        this.retryTimerArmed = true;
        break;
      default:
        this.k.printk.prErr(`${this.devName}: unknown error, marking device broken: ${rc}`);
        this.broken = true;
    }
    this.wqActive = false;
    this.lastResult = rc;
  }

  /** virtio_mem_plug_request() */
  private plugRequest(diff: number): number {
    return this.inSbm ? this.sbmPlugRequest(diff) : this.bbmPlugRequest(diff);
  }

  /** virtio_mem_unplug_request() */
  private unplugRequest(diff: number): number {
    return this.inSbm ? this.sbmUnplugRequest(diff) : this.bbmUnplugRequest(diff);
  }

  /** virtio_mem_unplug_pending_mb(): blocks left plugged but not added by a failed add. */
  private unplugPendingMb(): number {
    if (!this.inSbm) {
      const b = this.bbm!;
      for (let id = b.firstBbId; id < b.nextBbId && b.bbCount[VIRTIO_MEM_BBM_BB_PLUGGED]; id++) {
        if (this.bbmGetBbState(id) !== VIRTIO_MEM_BBM_BB_PLUGGED) continue;
        const rc = this.bbmUnplugBb(id);
        if (rc) return rc;
        this.bbmSetBbState(id, VIRTIO_MEM_BBM_BB_UNUSED);
      }
      return 0;
    }
    const s = this.sbm!;
    for (let id = s.firstMbId; id < s.nextMbId && s.mbCount[VIRTIO_MEM_SBM_MB_PLUGGED]; id++) {
      if (this.sbmGetMbState(id) !== VIRTIO_MEM_SBM_MB_PLUGGED) continue;
      const rc = this.sbmUnplugMb(id);
      if (rc) return rc;
      this.sbmSetMbState(id, VIRTIO_MEM_SBM_MB_UNUSED);
    }
    return 0;
  }

  // --- SBM: plugging ---

  /** virtio_mem_sbm_prepare_next_mb(): -ENOSPC past the last usable block. */
  private sbmPrepareNextMb(): number {
    const s = this.sbm!;
    if (s.nextMbId > s.lastUsableMbId) return -ENOSPC;
    s.mbCount[VIRTIO_MEM_SBM_MB_UNUSED]++;
    return s.nextMbId++;
  }

  /** virtio_mem_sbm_plug_and_add_mb(): plug the first sub-blocks of an unused block and add it. */
  private sbmPlugAndAddMb(mbId: number, nbSb: { n: number }): number {
    const s = this.sbm!;
    const count = Math.min(nbSb.n, s.sbsPerMb);
    if (!count) return -EINVAL; // WARN_ON_ONCE
    // Plugged before adding, so that onlining onlines them at once.
    let rc = this.sbmPlugSb(mbId, 0, count);
    if (rc) return rc;
    // In its offline state before adding, so that the notifier finds it so.
    this.sbmSetMbState(
      mbId,
      count === s.sbsPerMb ? VIRTIO_MEM_SBM_MB_OFFLINE : VIRTIO_MEM_SBM_MB_OFFLINE_PARTIAL,
    );
    rc = this.addMemory(this.mbIdToPhys(mbId), this.mbSize());
    if (rc) {
      let state = VIRTIO_MEM_SBM_MB_UNUSED;
      if (this.sbmUnplugSb(mbId, 0, count)) state = VIRTIO_MEM_SBM_MB_PLUGGED;
      this.sbmSetMbState(mbId, state);
      return rc;
    }
    nbSb.n -= count;
    return 0;
  }

  /** virtio_mem_sbm_plug_any_sb(): plug unplugged sub-blocks of an added block, fake-onlining them if it is online. */
  private sbmPlugAnySb(mbId: number, nbSb: { n: number }): number {
    const s = this.sbm!;
    const oldState = this.sbmGetMbState(mbId);
    if (!nbSb.n) return -EINVAL; // WARN_ON_ONCE
    while (nbSb.n) {
      const sbId = this.sbmFirstUnpluggedSb(mbId);
      if (sbId >= s.sbsPerMb) break;
      let count = 1;
      while (count < nbSb.n && sbId + count < s.sbsPerMb && !this.sbmTestSbPlugged(mbId, sbId + count, 1))
        count++;
      const rc = this.sbmPlugSb(mbId, sbId, count);
      if (rc) return rc;
      nbSb.n -= count;
      if (oldState === VIRTIO_MEM_SBM_MB_OFFLINE_PARTIAL) continue;
      // The block is online: fake-online the pages.
      this.fakeOnline((this.mbIdToPhys(mbId) + sbId * s.sbSize) / PAGE_SIZE, (count * s.sbSize) / PAGE_SIZE);
    }
    // Fully plugged: the *_PARTIAL state's full counterpart.
    if (this.sbmTestSbPlugged(mbId, 0, s.sbsPerMb)) this.sbmSetMbState(mbId, oldState - 1);
    return 0;
  }

  /** virtio_mem_sbm_plug_request(): partial blocks first (kernel, movable, offline), then unused and new blocks. */
  private sbmPlugRequest(diff: number): number {
    const s = this.sbm!;
    const nbSb = { n: Math.floor(diff / s.sbSize) };
    if (!nbSb.n) return 0;
    for (const state of [
      VIRTIO_MEM_SBM_MB_KERNEL_PARTIAL,
      VIRTIO_MEM_SBM_MB_MOVABLE_PARTIAL,
      VIRTIO_MEM_SBM_MB_OFFLINE_PARTIAL,
    ]) {
      for (let mbId = s.firstMbId; mbId < s.nextMbId && s.mbCount[state]; mbId++) {
        if (this.sbmGetMbState(mbId) !== state) continue;
        const rc = this.sbmPlugAnySb(mbId, nbSb);
        if (rc || !nbSb.n) return rc;
      }
    }
    // Plug and add unused blocks.
    for (let mbId = s.firstMbId; mbId < s.nextMbId && s.mbCount[VIRTIO_MEM_SBM_MB_UNUSED]; mbId++) {
      if (this.sbmGetMbState(mbId) !== VIRTIO_MEM_SBM_MB_UNUSED) continue;
      if (!this.couldAddMemory(this.mbSize())) return this.thresholdReached();
      const rc = this.sbmPlugAndAddMb(mbId, nbSb);
      if (rc || !nbSb.n) return rc;
    }
    // Prepare, plug and add new blocks.
    while (nbSb.n) {
      if (!this.couldAddMemory(this.mbSize())) return this.thresholdReached();
      const mbId = this.sbmPrepareNextMb();
      if (mbId < 0)
        return this.k.printk.refuse(mbId, `${this.devName}: no memory block left in the device's region`);
      const rc = this.sbmPlugAndAddMb(mbId, nbSb);
      if (rc) return rc;
    }
    return 0;
  }

  private thresholdReached(): number {
    return this.k.printk.refuse(
      -ENOSPC,
      `${this.devName}: offline memory would exceed the driver's offline threshold`,
    );
  }

  // --- SBM: unplugging ---

  /**
   * virtio_mem_sbm_unplug_any_sb_raw(): unplug plugged sub-blocks of an offline
   * or not-added block, from the top, several at a time; fails at the first
   * that cannot be unplugged.
   */
  private sbmUnplugAnySbRaw(mbId: number, nbSb: { n: number }): number {
    let sbId = this.sbm!.sbsPerMb - 1;
    while (nbSb.n) {
      while (sbId >= 0 && this.sbmTestSbUnplugged(mbId, sbId, 1)) sbId--;
      if (sbId < 0) break;
      let count = 1;
      while (count < nbSb.n && sbId > 0 && this.sbmTestSbPlugged(mbId, sbId - 1, 1)) {
        count++;
        sbId--;
      }
      const rc = this.sbmUnplugSb(mbId, sbId, count);
      if (rc) return rc;
      nbSb.n -= count;
      sbId--;
    }
    return 0;
  }

  /** virtio_mem_sbm_unplug_mb(): all plugged sub-blocks of an offline or not-added block. */
  private sbmUnplugMb(mbId: number): number {
    return this.sbmUnplugAnySbRaw(mbId, { n: this.sbm!.sbsPerMb });
  }

  /** virtio_mem_sbm_unplug_any_sb_offline(): unplug from an offline block; removed once nothing is plugged. */
  private sbmUnplugAnySbOffline(mbId: number, nbSb: { n: number }): number {
    const s = this.sbm!;
    const rc = this.sbmUnplugAnySbRaw(mbId, nbSb);
    // Some may have been unplugged even on failure.
    if (!this.sbmTestSbPlugged(mbId, 0, s.sbsPerMb))
      this.sbmSetMbState(mbId, VIRTIO_MEM_SBM_MB_OFFLINE_PARTIAL);
    if (rc) return rc;
    if (this.sbmTestSbUnplugged(mbId, 0, s.sbsPerMb)) {
      // Marked unused first so that it cannot be onlined; removing never fails here (BUG_ON).
      this.sbmSetMbState(mbId, VIRTIO_MEM_SBM_MB_UNUSED);
      const r = this.removeMemory(this.mbIdToPhys(mbId), this.mbSize());
      if (r) throw new Error(`virtio_mem_sbm_unplug_any_sb_offline: BUG_ON(remove_memory() = ${r})`);
    }
    return 0;
  }

  /** virtio_mem_sbm_unplug_sb_online(): fake-offline the sub-blocks, then unplug them. */
  private sbmUnplugSbOnline(mbId: number, sbId: number, count: number): number {
    const s = this.sbm!;
    const nrPages = (s.sbSize / PAGE_SIZE) * count;
    const oldState = this.sbmGetMbState(mbId);
    const startPfn = (this.mbIdToPhys(mbId) + sbId * s.sbSize) / PAGE_SIZE;
    let rc = this.fakeOffline(startPfn, nrPages);
    if (rc) return rc;
    rc = this.sbmUnplugSb(mbId, sbId, count);
    if (rc) {
      this.fakeOnline(startPfn, nrPages); // back to the buddy
      return rc;
    }
    if (oldState === VIRTIO_MEM_SBM_MB_KERNEL) this.sbmSetMbState(mbId, VIRTIO_MEM_SBM_MB_KERNEL_PARTIAL);
    else if (oldState === VIRTIO_MEM_SBM_MB_MOVABLE)
      this.sbmSetMbState(mbId, VIRTIO_MEM_SBM_MB_MOVABLE_PARTIAL);
    return 0;
  }

  /**
   * virtio_mem_sbm_unplug_any_sb_online(): the whole block in one go when
   * asked for that much, else sub-block by sub-block from the top, skipping
   * busy ones; a block left with nothing plugged is offlined and removed.
   */
  private sbmUnplugAnySbOnline(mbId: number, nbSb: { n: number }): number {
    const s = this.sbm!;
    let rc: number;
    let whole = false;
    if (nbSb.n >= s.sbsPerMb && this.sbmTestSbPlugged(mbId, 0, s.sbsPerMb)) {
      rc = this.sbmUnplugSbOnline(mbId, 0, s.sbsPerMb);
      if (!rc) {
        nbSb.n -= s.sbsPerMb;
        whole = true;
      } else if (rc !== -EBUSY) return rc;
    }
    if (!whole) {
      // Fall back to single sub-blocks.
      for (let sbId = s.sbsPerMb - 1; sbId >= 0 && nbSb.n; sbId--) {
        while (sbId >= 0 && !this.sbmTestSbPlugged(mbId, sbId, 1)) sbId--;
        if (sbId < 0) break;
        rc = this.sbmUnplugSbOnline(mbId, sbId, 1);
        if (rc === -EBUSY) continue;
        else if (rc) return rc;
        nbSb.n -= 1;
      }
    }
    // unplugged: nothing plugged is left, offline and remove it (other notifiers may refuse).
    if (this.sbmTestSbUnplugged(mbId, 0, s.sbsPerMb)) {
      rc = this.offlineAndRemoveMemory(this.mbIdToPhys(mbId), this.mbSize());
      if (!rc) this.sbmSetMbState(mbId, VIRTIO_MEM_SBM_MB_UNUSED);
    }
    return 0;
  }

  /** virtio_mem_sbm_unplug_any_sb() */
  private sbmUnplugAnySb(mbId: number, nbSb: { n: number }): number {
    switch (this.sbmGetMbState(mbId)) {
      case VIRTIO_MEM_SBM_MB_KERNEL_PARTIAL:
      case VIRTIO_MEM_SBM_MB_KERNEL:
      case VIRTIO_MEM_SBM_MB_MOVABLE_PARTIAL:
      case VIRTIO_MEM_SBM_MB_MOVABLE:
        return this.sbmUnplugAnySbOnline(mbId, nbSb);
      case VIRTIO_MEM_SBM_MB_OFFLINE_PARTIAL:
      case VIRTIO_MEM_SBM_MB_OFFLINE:
        return this.sbmUnplugAnySbOffline(mbId, nbSb);
    }
    return -EINVAL;
  }

  /**
   * virtio_mem_sbm_unplug_request(): partially plugged blocks first (whole
   * blocks and their metadata can go), ZONE_MOVABLE before kernel zones, each
   * state from the highest block down. -EBUSY when some of it stays plugged.
   */
  private sbmUnplugRequest(diff: number): number {
    const s = this.sbm!;
    const nbSb = { n: Math.floor(diff / s.sbSize) };
    if (!nbSb.n) return 0;
    const states = [
      VIRTIO_MEM_SBM_MB_OFFLINE_PARTIAL,
      VIRTIO_MEM_SBM_MB_OFFLINE,
      VIRTIO_MEM_SBM_MB_MOVABLE_PARTIAL,
      VIRTIO_MEM_SBM_MB_KERNEL_PARTIAL,
      VIRTIO_MEM_SBM_MB_MOVABLE,
      VIRTIO_MEM_SBM_MB_KERNEL,
    ];
    for (let i = 0; i < states.length; i++) {
      for (let mbId = s.nextMbId - 1; mbId >= s.firstMbId && s.mbCount[states[i]]; mbId--) {
        if (this.sbmGetMbState(mbId) !== states[i]) continue;
        const rc = this.sbmUnplugAnySb(mbId, nbSb);
        if (rc || !nbSb.n) return rc;
      }
      if (!unplugOnline && i === 1) return 0;
    }
    return nbSb.n ? this.k.printk.refuse(-EBUSY, `${this.devName}: plugged memory is busy`) : 0;
  }

  // --- BBM ---

  /** virtio_mem_bbm_prepare_next_bb() */
  private bbmPrepareNextBb(): number {
    const b = this.bbm!;
    if (b.nextBbId > b.lastUsableBbId) return -ENOSPC;
    b.bbCount[VIRTIO_MEM_BBM_BB_UNUSED]++;
    return b.nextBbId++;
  }

  /** virtio_mem_bbm_plug_and_add_bb() */
  private bbmPlugAndAddBb(bbId: number): number {
    if (this.bbmGetBbState(bbId) !== VIRTIO_MEM_BBM_BB_UNUSED) return -EINVAL; // WARN_ON_ONCE
    let rc = this.bbmPlugBb(bbId);
    if (rc) return rc;
    this.bbmSetBbState(bbId, VIRTIO_MEM_BBM_BB_ADDED);
    rc = this.addMemory(this.bbIdToPhys(bbId), this.bbm!.bbSize);
    if (rc) {
      // Unplugged again, or left for the main loop to retry.
      this.bbmSetBbState(bbId, this.bbmUnplugBb(bbId) ? VIRTIO_MEM_BBM_BB_PLUGGED : VIRTIO_MEM_BBM_BB_UNUSED);
      return rc;
    }
    return 0;
  }

  /** virtio_mem_bbm_plug_request(): unused big blocks first, then new ones. */
  private bbmPlugRequest(diff: number): number {
    const b = this.bbm!;
    let nbBb = Math.floor(diff / b.bbSize);
    if (!nbBb) return 0;
    for (let bbId = b.firstBbId; bbId < b.nextBbId && b.bbCount[VIRTIO_MEM_BBM_BB_UNUSED]; bbId++) {
      if (this.bbmGetBbState(bbId) !== VIRTIO_MEM_BBM_BB_UNUSED) continue;
      if (!this.couldAddMemory(b.bbSize)) return this.thresholdReached();
      const rc = this.bbmPlugAndAddBb(bbId);
      if (!rc) nbBb--;
      if (rc || !nbBb) return rc;
    }
    while (nbBb) {
      if (!this.couldAddMemory(b.bbSize)) return this.thresholdReached();
      const bbId = this.bbmPrepareNextBb();
      if (bbId < 0)
        return this.k.printk.refuse(bbId, `${this.devName}: no big block left in the device's region`);
      const rc = this.bbmPlugAndAddBb(bbId);
      if (rc) return rc;
      nbBb--;
    }
    return 0;
  }

  /**
   * virtio_mem_bbm_offline_remove_and_unplug_bb(): with bbm_safe_unplug,
   * fake-offline every online section first (rolled back on failure), then
   * offline and remove the big block and unplug it.
   */
  private bbmOfflineRemoveAndUnplugBb(bbId: number): number {
    const b = this.bbm!;
    const startPfn = this.bbIdToPhys(bbId) / PAGE_SIZE;
    let endPfn = startPfn + b.bbSize / PAGE_SIZE;
    if (this.bbmGetBbState(bbId) !== VIRTIO_MEM_BBM_BB_ADDED) return -EINVAL; // WARN_ON_ONCE
    const rollback = (rc: number): number => {
      for (let pfn = startPfn; pfn < endPfn; pfn += PAGES_PER_SECTION)
        if (pfnToOnlinePage(this.k.sparse, pfn)) this.fakeOnline(pfn, PAGES_PER_SECTION);
      this.bbmSetBbState(bbId, VIRTIO_MEM_BBM_BB_ADDED);
      return rc;
    };
    if (bbmSafeUnplug) {
      // From now on newly onlined memory of the big block stays fake-offline too.
      this.bbmSetBbState(bbId, VIRTIO_MEM_BBM_BB_FAKE_OFFLINE);
      for (let pfn = startPfn; pfn < endPfn; pfn += PAGES_PER_SECTION) {
        if (!pfnToOnlinePage(this.k.sparse, pfn)) continue;
        const rc = this.fakeOffline(pfn, PAGES_PER_SECTION);
        if (rc) {
          endPfn = pfn;
          return rollback(rc);
        }
      }
    }
    let rc = this.offlineAndRemoveMemory(this.bbIdToPhys(bbId), b.bbSize);
    if (rc) return bbmSafeUnplug ? rollback(rc) : rc;
    rc = this.bbmUnplugBb(bbId);
    this.bbmSetBbState(bbId, rc ? VIRTIO_MEM_BBM_BB_PLUGGED : VIRTIO_MEM_BBM_BB_UNUSED);
    return rc;
  }

  /** virtio_mem_bbm_bb_is_offline() */
  private bbmBbIsOffline(bbId: number): boolean {
    const startPfn = this.bbIdToPhys(bbId) / PAGE_SIZE;
    const end = startPfn + this.bbm!.bbSize / PAGE_SIZE;
    for (let pfn = startPfn; pfn < end; pfn += PAGES_PER_SECTION)
      if (pfnToOnlinePage(this.k.sparse, pfn)) return false;
    return true;
  }

  /** virtio_mem_bbm_bb_is_movable(): online parts all in ZONE_MOVABLE. */
  private bbmBbIsMovable(bbId: number): boolean {
    const startPfn = this.bbIdToPhys(bbId) / PAGE_SIZE;
    const end = startPfn + this.bbm!.bbSize / PAGE_SIZE;
    for (let pfn = startPfn; pfn < end; pfn += PAGES_PER_SECTION) {
      if (!pfnToOnlinePage(this.k.sparse, pfn)) continue;
      if (this.k.memmap.zone(pfn) !== ZONE_MOVABLE) return false;
    }
    return true;
  }

  /** virtio_mem_bbm_unplug_request(): offline big blocks, then movable ones, then any, from the top. */
  private bbmUnplugRequest(diff: number): number {
    const b = this.bbm!;
    let nbBb = Math.floor(diff / b.bbSize);
    if (!nbBb) return 0;
    for (let i = 0; i < 3; i++) {
      for (let bbId = b.nextBbId - 1; bbId >= b.firstBbId && b.bbCount[VIRTIO_MEM_BBM_BB_ADDED]; bbId--) {
        if (this.bbmGetBbState(bbId) !== VIRTIO_MEM_BBM_BB_ADDED) continue;
        if (i === 0 && !this.bbmBbIsOffline(bbId)) continue;
        if (i === 1 && !this.bbmBbIsMovable(bbId)) continue;
        const rc = this.bbmOfflineRemoveAndUnplugBb(bbId);
        if (rc === -EBUSY) continue;
        if (!rc) nbBb--;
        if (rc || !nbBb) return rc;
      }
      if (i === 0 && !unplugOnline) return 0;
    }
    return nbBb ? this.k.printk.refuse(-EBUSY, `${this.devName}: plugged memory is busy`) : 0;
  }
}

/**
 * virtio_mem_online_page_cb(): the online_page callback of all virtio-mem
 * devices; memory of none of them (a DIMM) is onlined as usual.
 */
function virtioMemOnlinePageCb(k: Kernel, pfn: number, order: number, checked: boolean): void {
  const addr = pfn * PAGE_SIZE;
  for (const vm of k.virtioMem.values()) {
    if (!vm.containsRange(addr, (1 << order) * PAGE_SIZE)) continue;
    vm.onlinePage(pfn, order, checked);
    return;
  }
  k.alloc.genericOnlinePage(pfn, order, checked);
}
