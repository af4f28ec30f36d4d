// drivers/virtio/virtio_mem.c: the virtio-mem driver, the in-tree user of
// add_memory_driver_managed(). Modelled in its sub-block mode (SBM: device block
// size 2 MiB < memory block size), at whole-memory-block granularity:
//
// - init (virtio_mem_init_hotplug()): the parent resource "virtioN" over the whole
//   device region (IORESOURCE_SYSTEM_RAM | IORESOURCE_EXCLUSIVE, then not busy), a
//   dynamic memory group, a memory notifier; the offline threshold (1 GiB, at least
//   two blocks): no more memory is added while that much added memory is offline.
// - plug (virtio_mem_sbm_plug_request()): new memory blocks in increasing order from
//   the first whole block of the region, each added with
//   add_memory_driver_managed("System RAM (virtio_mem)", MHP_MERGE_RESOURCE |
//   MHP_NID_IS_MGID); onlining is left to auto-onlining or to user space.
// - unplug (virtio_mem_sbm_unplug_request()): blocks in reverse order, offline ones
//   first (removed), then online ZONE_MOVABLE ones, then kernel ones
//   (offline_and_remove_memory()); what cannot be offlined stays plugged.
//
// Not modelled (listed in docs/divergences.md): plugging or unplugging parts of a
// memory block (sub-blocks, with the fake-offline of online sub-blocks through
// alloc_contig_range() and the online_page_callback that keeps unplugged sub-blocks
// out of the buddy), big-block mode, and the retry timer.

import { EBUSY, ENOSPC } from "../../errno.js";
import type { Kernel } from "../../kernel/kernel.js";
import type { Resource } from "../../kernel/resource.js";
import { IORESOURCE_BUSY, IORESOURCE_EXCLUSIVE, IORESOURCE_SYSTEM_RAM } from "../../kernel/resource.js";
import { MHP_MERGE_RESOURCE, MHP_NID_IS_MGID } from "../../mm/memory_hotplug.js";
import { PAGE_SIZE } from "../../mm/constants.js";
import { ZONE_MOVABLE } from "../../mm/mmzone.js";
import { MEM_OFFLINE, MEM_ONLINE, type MemoryNotify } from "../base/memory.js";
import type { VirtioMemDevice } from "../../hw/virtio_mem.js";

const VIRTIO_MEM_DEFAULT_OFFLINE_THRESHOLD = 1 << 30;

/** The per-block state the SBM keeps (enum virtio_mem_sbm_mb_state, whole blocks only). */
const enum MbState {
  Unused = 0,
  Offline = 1,
  Kernel = 2,
  Movable = 3,
}

export class VirtioMem {
  /** The device's region (QEMU: the memory-device address, the memdev size). */
  readonly addr: number;
  readonly regionSize: number;
  requestedSize = 0;
  plugged = 0;
  offlineSize = 0;
  readonly offlineThreshold: number;
  readonly mgid: number;
  readonly parentResource: Resource;
  private readonly firstMbId: number;
  private readonly lastUsableMbId: number;
  private nextMbId: number;
  /** SBM per-block state, indexed by mb_id - firstMbId. */
  private readonly mbState: Uint8Array;
  /** The last request's result (0, -ENOSPC, -EBUSY ...), for the trace. */
  lastResult = 0;

  readonly id: string;

  /**
   * virtio_mem_probe() → virtio_mem_init() → virtio_mem_init_hotplug(): bind to
   * the device, named devName ("virtioN") by the virtio bus.
   */
  constructor(
    private readonly k: Kernel,
    dev: VirtioMemDevice,
    readonly devName: string,
  ) {
    const { addr, regionSize } = dev;
    this.id = dev.id;
    this.addr = addr;
    this.regionSize = regionSize;
    const bs = k.memory.blockSizeBytes;
    this.offlineThreshold = Math.max(2 * bs, VIRTIO_MEM_DEFAULT_OFFLINE_THRESHOLD);
    this.firstMbId = Math.floor((addr + bs - 1) / bs);
    // virtio_mem_sbm_prepare_next_mb(): usable while the whole block lies in the region.
    this.lastUsableMbId = Math.floor((addr + regionSize) / bs) - 1;
    this.nextMbId = this.firstMbId;
    this.mbState = new Uint8Array(Math.max(0, this.lastUsableMbId - this.firstMbId + 1));
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
    this.mgid = k.memory.memoryGroupRegisterDynamic(0, bs / PAGE_SIZE);
    k.memory.registerMemoryNotifier(`virtio_mem:${this.id}`, (action, arg) =>
      this.memoryNotifierCb(action, arg),
    );
    // virtio_mem_config_changed(): the device's new requested size, then the work queue
    dev.bindDriver(() => this.setRequestedSize(dev.requestedSize));
  }

  private blockSize(): number {
    return this.k.memory.blockSizeBytes;
  }

  private mbAddr(mbId: number): number {
    return mbId * this.blockSize();
  }

  // virtio_mem_memory_notifier_cb(): only the accounting and state the model keeps.
  private memoryNotifierCb(action: number, arg: MemoryNotify): number {
    const start = arg.startPfn * PAGE_SIZE;
    const size = arg.nrPages * PAGE_SIZE;
    if (start + size <= this.addr || start >= this.addr + this.regionSize) return 0;
    const idx = Math.floor(start / this.blockSize()) - this.firstMbId;
    if (action === MEM_ONLINE) {
      this.offlineSize -= this.blockSize();
      const zone = this.k.hotplug.pfnToOnlineZone(arg.startPfn);
      this.mbState[idx] = zone === ZONE_MOVABLE ? MbState.Movable : MbState.Kernel;
    } else if (action === MEM_OFFLINE) {
      this.offlineSize += this.blockSize();
      this.mbState[idx] = MbState.Offline;
    }
    return 0;
  }

  // virtio_mem_could_add_memory()
  private couldAddMemory(size: number): boolean {
    return this.offlineSize + size <= this.offlineThreshold;
  }

  /** The host changed requested-size (config change → virtio_mem_run_wq()). */
  setRequestedSize(size: number): number {
    this.requestedSize = size;
    return this.runWq();
  }

  /** virtio_mem_run_wq(): plug or unplug toward the requested size; repeats while it makes progress. */
  runWq(): number {
    let rc: number;
    for (;;) {
      const before = this.plugged;
      const diff = this.requestedSize - this.plugged;
      if (diff > 0) rc = this.plugRequest(diff);
      else if (diff < 0) rc = this.unplugRequest(-diff);
      else rc = 0;
      if (this.plugged === before) break;
    }
    this.lastResult = rc;
    return rc;
  }

  // virtio_mem_sbm_plug_request(), whole blocks.
  private plugRequest(diff: number): number {
    const bs = this.blockSize();
    let nb = Math.floor(diff / bs);
    while (nb > 0) {
      if (!this.couldAddMemory(bs))
        return this.k.printk.refuse(
          -ENOSPC,
          `${this.devName}: offline memory would exceed the driver's offline threshold`,
        );
      // First the blocks that were used and are unused again, lowest first;
      // then virtio_mem_sbm_prepare_next_mb().
      let mbId = this.firstMbId;
      while (mbId < this.nextMbId && this.mbState[mbId - this.firstMbId] !== MbState.Unused) mbId++;
      if (mbId === this.nextMbId) {
        if (this.nextMbId > this.lastUsableMbId)
          return this.k.printk.refuse(
            -ENOSPC,
            `${this.devName}: no memory block left in the device's region`,
          );
        this.nextMbId++;
      }
      // virtio_mem_sbm_plug_and_add_mb() → virtio_mem_add_memory()
      this.offlineSize += bs;
      this.mbState[mbId - this.firstMbId] = MbState.Offline;
      const rc = this.k.hotplug.addMemoryDriverManaged(
        this.mgid,
        this.mbAddr(mbId),
        bs,
        "System RAM (virtio_mem)",
        MHP_MERGE_RESOURCE | MHP_NID_IS_MGID,
      );
      if (rc) {
        this.offlineSize -= bs;
        this.mbState[mbId - this.firstMbId] = MbState.Unused;
        return rc;
      }
      this.plugged += bs;
      nb--;
    }
    return 0;
  }

  // virtio_mem_sbm_unplug_request(), whole blocks.
  private unplugRequest(diff: number): number {
    const bs = this.blockSize();
    let nb = Math.floor(diff / bs);
    for (const state of [MbState.Offline, MbState.Movable, MbState.Kernel]) {
      for (let mbId = this.nextMbId - 1; mbId >= this.firstMbId && nb > 0; mbId--) {
        if (this.mbState[mbId - this.firstMbId] !== state) continue;
        const addr = this.mbAddr(mbId);
        let rc: number;
        if (state === MbState.Offline) {
          // virtio_mem_sbm_remove_mb() → remove_memory()
          rc = this.k.hotplug.removeMemory(addr, bs);
          if (!rc) this.offlineSize -= bs;
        } else {
          // virtio_mem_sbm_offline_and_remove_mb() → offline_and_remove_memory()
          rc = this.k.hotplug.offlineAndRemoveMemory(addr, bs);
          if (!rc) this.offlineSize -= bs; // MEM_OFFLINE added it, the removal takes it away
        }
        if (rc === -EBUSY) continue;
        if (rc) return rc;
        this.mbState[mbId - this.firstMbId] = MbState.Unused;
        this.plugged -= bs;
        nb--;
      }
    }
    return nb ? -EBUSY : 0;
  }
}
