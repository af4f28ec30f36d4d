// drivers/base/memory.c: memory block devices (/sys/devices/system/memory/memoryN),
// their sysfs attributes, memory groups and the memory notifier chain.
//
// In Linux: struct memory_block (one device per memory_block_size_bytes() of
// present memory), kept in the memory_blocks xarray. In memhp: MemoryBlock objects
// in a Map keyed by block id — there are at most a few thousand, one per 128 MiB or
// more, never one per page.

import { EBUSY, EEXIST, EHWPOISON, EINVAL, ENOMEM, EOPNOTSUPP } from "../../errno.js";
import type { Kernel } from "../../kernel/kernel.js";
import { PAGE_SIZE, PAGES_PER_SECTION, pfnToSectionNr, sectionNrToPfn } from "../../mm/constants.js";
import { hex010 } from "../../kernel/printk.js";
import { kobjectSynthUevent, kstrtobool, kstrtoull, sysfsStreq } from "../../fs/kernfs.js";
import { ZONE_NAMES } from "../../mm/mmzone.js";

// include/linux/memory.h: block states and notifier actions.
export const MEM_ONLINE = 1 << 0;
export const MEM_GOING_OFFLINE = 1 << 1;
export const MEM_OFFLINE = 1 << 2;
export const MEM_GOING_ONLINE = 1 << 3;
export const MEM_CANCEL_ONLINE = 1 << 4;
export const MEM_CANCEL_OFFLINE = 1 << 5;

// include/linux/memory_hotplug.h: online types.
export const MMOP_OFFLINE = 0;
export const MMOP_ONLINE = 1;
export const MMOP_ONLINE_KERNEL = 2;
export const MMOP_ONLINE_MOVABLE = 3;
export type OnlineType = 0 | 1 | 2 | 3;

const ONLINE_TYPE_TO_STR = ["offline", "online", "online_kernel", "online_movable"] as const;

export function onlineTypeToStr(t: OnlineType): string {
  return ONLINE_TYPE_TO_STR[t];
}

/** drivers/base/memory.c: mhp_online_type_from_str() */
export function mhpOnlineTypeFromStr(str: string): OnlineType | number {
  for (let i = 0; i < ONLINE_TYPE_TO_STR.length; i++)
    if (sysfsStreq(str, ONLINE_TYPE_TO_STR[i])) return i as OnlineType;
  return -EINVAL;
}

/** include/linux/memory.h: struct memory_group */
export interface MemoryGroup {
  id: number;
  nid: number;
  blocks: Set<number>;
  presentKernelPages: number;
  presentMovablePages: number;
  isDynamic: boolean;
  /** static: s.max_pages; dynamic: d.unit_pages */
  maxPages: number;
  unitPages: number;
}

/** include/linux/memory.h: struct memory_notify */
export interface MemoryNotify {
  startPfn: number;
  nrPages: number;
}

/** A memory notifier: returns 0 (NOTIFY_OK) or a negative errno to veto (notifier_from_errno). */
export type MemoryNotifier = (action: number, arg: MemoryNotify) => number;

/** include/linux/memory.h: struct memory_block */
export interface MemoryBlock {
  id: number;
  startSectionNr: number;
  state: number;
  onlineType: OnlineType;
  nid: number;
  /** The single zone of the block (zone index), or undefined (several zones / offline). */
  zone: number | undefined;
  nrVmemmapPages: number;
  group: MemoryGroup | undefined;
  /** struct device.offline */
  devOffline: boolean;
  /**
   * memhp (the RFC, docs/rfc.md): the block's linear mapping was removed by
   * depopulate_range_driver_managed(); written with device_hotplug_lock and
   * mem_hotplug_lock held, so either one is enough to read it.
   */
  depopulated: boolean;
  /**
   * Hardware-poisoned pages of the block (memblk_nr_poison(): upstream's
   * per-block counter, bumped by memory_failure(); src/mm/memory_failure.ts).
   */
  nrHwpoison: number;
}

export const MEMORY_SYSFS = "/sys/devices/system/memory";

export class MemorySubsys {
  readonly blocks = new Map<number, MemoryBlock>();
  readonly groups = new Map<number, MemoryGroup>();
  private nextGroupId = 0;
  private readonly notifiers: { name: string; fn: MemoryNotifier; priority: number }[] = [];
  sectionsPerBlock = 1;
  blockSizeBytes = 0;
  /** The kernel message of the last refused online (pr_warn_ratelimited() in the RFC v2 kernel). */
  lastRefusal: string | undefined;

  constructor(private readonly k: Kernel) {}

  // --- geometry ---

  memoryBlockId(sectionNr: number): number {
    return Math.floor(sectionNr / this.sectionsPerBlock);
  }
  pfnToBlockId(pfn: number): number {
    return this.memoryBlockId(pfnToSectionNr(pfn));
  }
  pagesPerBlock(): number {
    return PAGES_PER_SECTION * this.sectionsPerBlock;
  }
  blockStartPfn(mem: MemoryBlock): number {
    return sectionNrToPfn(mem.startSectionNr);
  }

  // --- notifiers ---

  /** register_memory_notifier(); higher priority runs first, like notifier chains. */
  registerMemoryNotifier(name: string, fn: MemoryNotifier, priority = 0): void {
    this.notifiers.push({ name, fn, priority });
    this.notifiers.sort((a, b) => b.priority - a.priority);
  }
  unregisterMemoryNotifier(name: string): void {
    const i = this.notifiers.findIndex((n) => n.name === name);
    if (i >= 0) this.notifiers.splice(i, 1);
  }

  /** memory_notify(): blocking_notifier_call_chain(); stops at the first veto. 0 or -errno. */
  memoryNotify(action: number, arg: MemoryNotify): number {
    for (const n of this.notifiers) {
      this.k.work.add("notifierCalls");
      const ret = n.fn(action, arg);
      if (ret < 0) return ret;
    }
    return 0;
  }

  // --- memory groups ---

  /** memory_group_register_static() */
  memoryGroupRegisterStatic(nid: number, maxPages: number): number {
    if (!maxPages) return -EINVAL;
    return this.memoryGroupRegister({ nid, isDynamic: false, maxPages, unitPages: 0 });
  }

  /** memory_group_register_dynamic() */
  memoryGroupRegisterDynamic(nid: number, unitPages: number): number {
    if (!unitPages || (unitPages & (unitPages - 1)) !== 0 || unitPages < this.pagesPerBlock()) return -EINVAL;
    return this.memoryGroupRegister({ nid, isDynamic: true, maxPages: 0, unitPages });
  }

  private memoryGroupRegister(
    g: Omit<MemoryGroup, "id" | "blocks" | "presentKernelPages" | "presentMovablePages">,
  ): number {
    const id = this.nextGroupId++;
    this.groups.set(id, { ...g, id, blocks: new Set(), presentKernelPages: 0, presentMovablePages: 0 });
    return id;
  }

  /** memory_group_unregister(): -EBUSY while blocks remain. */
  memoryGroupUnregister(mgid: number): number {
    const g = this.groups.get(mgid);
    if (!g) return -EINVAL;
    if (g.blocks.size) return -EBUSY;
    this.groups.delete(mgid);
    return 0;
  }

  // --- devices ---

  findMemoryBlockById(id: number): MemoryBlock | undefined {
    return this.blocks.get(id);
  }

  /** add_memory_block() + __add_memory_block(): register the device and its sysfs files. */
  private addMemoryBlock(
    blockId: number,
    state: number,
    nrVmemmapPages: number,
    group: MemoryGroup | undefined,
  ): number {
    if (this.blocks.has(blockId)) return -EEXIST;
    if (this.k.faults.shouldFail("memory_block")) return -ENOMEM;
    const mem: MemoryBlock = {
      id: blockId,
      startSectionNr: blockId * this.sectionsPerBlock,
      state,
      onlineType: MMOP_OFFLINE,
      nid: -1,
      zone: undefined,
      nrVmemmapPages,
      group,
      devOffline: state === MEM_OFFLINE,
      depopulated: false,
      nrHwpoison: 0,
    };
    this.blocks.set(blockId, mem);
    this.registerSysfs(mem);
    this.k.work.add("memoryBlocksRegistered");
    this.k.work.add("kobjects");
    this.k.work.add("uevents");
    if (group) group.blocks.add(blockId);
    return 0;
  }

  /** remove_memory_block() */
  private removeMemoryBlock(mem: MemoryBlock): void {
    this.blocks.delete(mem.id);
    if (mem.group) mem.group.blocks.delete(mem.id);
    mem.group = undefined;
    const removed = this.k.kernfs.nodesRemoved;
    this.k.kernfs.remove(`${MEMORY_SYSFS}/memory${mem.id}`);
    this.k.work.add("sysfsFiles", this.k.kernfs.nodesRemoved - removed);
    this.k.work.add("memoryBlocksUnregistered");
    this.k.work.add("kobjects"); // device_unregister(): kobject_del()
    this.k.work.add("uevents"); // KOBJ_REMOVE
  }

  /** create_memory_block_devices(): one offline block per memory block of [start, start+size). */
  createMemoryBlockDevices(
    start: number,
    size: number,
    vmemmapPages: number,
    group: MemoryGroup | undefined,
  ): number {
    if (start % this.blockSizeBytes || size % this.blockSizeBytes) return -EINVAL;
    const first = this.pfnToBlockId(start / 4096);
    const end = this.pfnToBlockId((start + size) / 4096);
    let ret = 0;
    let id = first;
    for (; id !== end; id++) {
      ret = this.addMemoryBlock(id, MEM_OFFLINE, vmemmapPages, group);
      if (ret) break;
    }
    if (ret) {
      for (let j = first; j !== id; j++) {
        const mem = this.blocks.get(j);
        if (mem) {
          this.unregisterMemoryBlockUnderNodes(mem);
          this.removeMemoryBlock(mem);
        }
      }
    }
    return ret;
  }

  /** remove_memory_block_devices() */
  removeMemoryBlockDevices(start: number, size: number): void {
    const first = this.pfnToBlockId(start / 4096);
    const end = this.pfnToBlockId((start + size) / 4096);
    for (let id = first; id !== end; id++) {
      const mem = this.blocks.get(id);
      if (!mem) {
        // WARN_ON_ONCE(!mem): remove_memory() of a range that was never added
        this.k.printk.warnOnce("drivers/base/memory.c", "remove_memory_block_devices");
        continue;
      }
      this.unregisterMemoryBlockUnderNodes(mem);
      this.removeMemoryBlock(mem);
    }
  }

  /**
   * drivers/base/node.c: register_memory_blocks_under_node(): the nid of each block
   * and its /sys/devices/system/node/nodeN/memoryM link; at boot also the block's
   * single zone (memory_block_add_nid() → early_node_zone_for_memory_block()).
   */
  registerMemoryBlocksUnderNode(nid: number, startPfn: number, endPfn: number, early: boolean): void {
    const first = this.pfnToBlockId(startPfn);
    const last = this.pfnToBlockId(endPfn);
    for (let id = first; id <= last; id++) {
      const mem = this.blocks.get(id);
      if (!mem) continue;
      if (early && mem.nid !== nid) {
        mem.zone =
          mem.nid === -1
            ? this.k.hotplug.earlyNodeZoneForRange(this.blockStartPfn(mem), this.pagesPerBlock())
            : undefined;
      }
      mem.nid = nid;
      const nodeDir = `/sys/devices/system/node/node${nid}`;
      this.k.kernfs.addLink(nodeDir, `memory${id}`, `../../memory/memory${id}`);
      this.k.kernfs.addLink(`${MEMORY_SYSFS}/memory${id}`, `node${nid}`, `../../node/node${nid}`);
      this.k.work.add("sysfsFiles", 2);
    }
  }

  /** drivers/base/node.c: unregister_memory_block_under_nodes() */
  private unregisterMemoryBlockUnderNodes(mem: MemoryBlock): void {
    if (mem.nid < 0) return;
    const removed = this.k.kernfs.nodesRemoved;
    this.k.kernfs.remove(`/sys/devices/system/node/node${mem.nid}/memory${mem.id}`);
    this.k.kernfs.remove(`${MEMORY_SYSFS}/memory${mem.id}/node${mem.nid}`);
    this.k.work.add("sysfsFiles", this.k.kernfs.nodesRemoved - removed);
  }

  /** memory_dev_init(): the subsystem, its root attributes and the boot blocks. */
  memoryDevInit(): void {
    this.blockSizeBytes = this.k.arch.memoryBlockSizeBytes();
    this.sectionsPerBlock = this.blockSizeBytes / (PAGES_PER_SECTION * 4096);
    const fs = this.k.kernfs;
    fs.addFile(MEMORY_SYSFS, "block_size_bytes", 0o444, {
      show: () => `${this.blockSizeBytes.toString(16)}\n`,
    });
    fs.addFile(MEMORY_SYSFS, "auto_online_blocks", 0o644, {
      show: () => `${onlineTypeToStr(this.k.hotplug.mhpDefaultOnlineType)}\n`,
      store: (buf) => {
        const t = mhpOnlineTypeFromStr(buf);
        if (t < 0) return t;
        this.k.hotplug.mhpDefaultOnlineType = t as OnlineType;
        return buf.length;
      },
    });
    // CONFIG_MEMORY_FAILURE is set in Debian's arm64 cloud config, not in the
    // amd64 one (oracle: ls /sys/devices/system/memory); neither has
    // CONFIG_ARCH_MEMORY_PROBE. Debian 13's 6.12 amd64 config sets
    // CONFIG_MEMORY_FAILURE too.
    if (this.k.kconfig.memoryFailure) {
      // hard_offline_page_store(): a physical address, base 0; its page goes
      // to memory_failure(pfn, MF_SW_SIMULATED) (src/mm/memory_failure.ts)
      fs.addFile(MEMORY_SYSFS, "hard_offline_page", 0o200, {
        store: (buf) => {
          const v = kstrtoull(buf);
          if (typeof v === "number") return -EINVAL;
          const rc = this.k.memoryFailure.memoryFailure(Number(v >> 12n));
          return rc === -EOPNOTSUPP ? buf.length : rc || buf.length;
        },
      });
      // soft_offline_page_store(): the same address; soft_offline_page(pfn, 0)
      fs.addFile(MEMORY_SYSFS, "soft_offline_page", 0o200, {
        store: (buf) => {
          const v = kstrtoull(buf);
          if (typeof v === "number") return -EINVAL;
          return this.k.memoryFailure.softOfflinePage(Number(v >> 12n)) || buf.length;
        },
      });
    }
    // crash_hotplug (6.6, CONFIG_CRASH_HOTPLUG: x86 only in Debian 13's configs):
    // crash_check_hotplug_support(), 0 with no crash kernel loaded
    if (this.k.kconfig.crashHotplug) fs.addFile(MEMORY_SYSFS, "crash_hotplug", 0o444, { show: () => "0\n" });
    // drivers/base/core.c: uevent_show()/uevent_store() of the subsystem's root device
    // (oracle x86-bad-writes: reads as "", refuses unknown actions with EINVAL)
    fs.addFile(MEMORY_SYSFS, "uevent", 0o644, {
      show: () => "",
      store: (b) => kobjectSynthUevent(b) || b.length,
    });
    // bus_register() (subsys_system_register()): /sys/bus/memory, where each block's `subsystem` link points
    fs.mkdirs("/sys/bus/memory/devices");
    fs.mkdirs(`${MEMORY_SYSFS}/power`);
    const highest = this.k.sparse.highestPresentSectionNr();
    for (let nr = 0; nr <= highest; nr += this.sectionsPerBlock) {
      // add_boot_memory_block()
      let present = 0;
      for (let s = nr; s < nr + this.sectionsPerBlock; s++) if (this.k.sparse.presentSectionNr(s)) present++;
      if (present) this.addMemoryBlock(this.memoryBlockId(nr), MEM_ONLINE, 0, undefined);
    }
  }

  // --- online / offline (drivers/base/memory.c) ---

  /** memory_block_online() */
  private memoryBlockOnline(mem: MemoryBlock): number {
    const hp = this.k.hotplug;
    const startPfn = this.blockStartPfn(mem);
    const nrPages = this.pagesPerBlock();
    const nrVmemmap = mem.nrVmemmapPages;
    // From 6.2 (5033091de814, "mm/hwpoison: introduce per-memory_block
    // hwpoison counter"): a block with hwpoisoned pages is refused first, before
    // the zone is chosen or any lock taken; silently. 6.1 refuses nothing for
    // poison (the RFC series' 6.1 backport of the counter leaves sysfs onlining
    // as it was, docs/rfc-v2.md).
    if (mem.nrHwpoison > 0 && this.k.atLeast("6.12"))
      return this.k.printk.refuse(
        -EHWPOISON,
        `memory${mem.id} has ${mem.nrHwpoison} hwpoisoned page(s): memory_block_online() refuses it (memblk_nr_poison())`,
      );
    const zone = hp.zoneForPfnRange(mem.onlineType, mem.nid, mem.group, startPfn, nrPages);
    this.k.locks.memHotplugBegin("memory_block_online");
    try {
      // memhp RFC v2 (docs/rfc-v2.md): no linear map to online; refused after
      // mem_hotplug_begin(), before anything changes, with a ratelimited message.
      if (mem.depopulated) {
        this.lastRefusal = `memory${mem.id}: cannot online: linear map removed by offline_and_depopulate_memory()`;
        return this.k.printk.refuseWarn(-EBUSY, this.lastRefusal);
      }
      if (nrVmemmap) {
        const ret = hp.mhpInitMemmapOnMemory(startPfn, nrVmemmap, zone);
        if (ret) return ret;
      }
      const ret = hp.onlinePages(startPfn + nrVmemmap, nrPages - nrVmemmap, zone, mem.group);
      if (ret) {
        if (nrVmemmap) hp.mhpDeinitMemmapOnMemory(startPfn, nrVmemmap);
        // online_pages()'s pr_debug()
        const s = (startPfn + nrVmemmap) * PAGE_SIZE;
        return this.k.printk.refuse(
          ret,
          `online_pages [mem ${hex010(s)}-${hex010(s + (nrPages - nrVmemmap) * PAGE_SIZE - 1)}] failed`,
        );
      }
      if (nrVmemmap) hp.adjustPresentPageCount(startPfn, mem.group, nrVmemmap);
      mem.zone = zone;
      return 0;
    } finally {
      this.k.locks.memHotplugDone();
    }
  }

  /** memory_block_offline() */
  private memoryBlockOffline(mem: MemoryBlock): number {
    const hp = this.k.hotplug;
    const startPfn = this.blockStartPfn(mem);
    const nrPages = this.pagesPerBlock();
    const nrVmemmap = mem.nrVmemmapPages;
    if (mem.zone === undefined)
      return this.k.printk.refuse(
        -EINVAL,
        `memory${mem.id} spans more than one zone (a boot block with no single zone): memory_block_offline() refuses it`,
      );
    this.k.locks.memHotplugBegin("memory_block_offline");
    try {
      if (nrVmemmap) hp.adjustPresentPageCount(startPfn, mem.group, -nrVmemmap);
      const ret = hp.offlinePages(startPfn + nrVmemmap, nrPages - nrVmemmap, mem.zone, mem.group);
      if (ret) {
        if (nrVmemmap) hp.adjustPresentPageCount(startPfn, mem.group, nrVmemmap);
        // offline_pages()'s pr_debug() (shown with dynamic debug on)
        const s = (startPfn + nrVmemmap) * PAGE_SIZE;
        const why = hp.lastOfflineFailure ?? "an error";
        return this.k.printk.refuse(
          ret,
          `memory offlining [mem ${hex010(s)}-${hex010(s + (nrPages - nrVmemmap) * PAGE_SIZE - 1)}] failed due to ${why}`,
        );
      }
      if (nrVmemmap) hp.mhpDeinitMemmapOnMemory(startPfn, nrVmemmap);
      mem.zone = undefined;
      return 0;
    } finally {
      this.k.locks.memHotplugDone();
    }
  }

  /** memory_block_change_state() */
  private memoryBlockChangeState(mem: MemoryBlock, toState: number, fromStateReq: number): number {
    if (mem.state !== fromStateReq)
      return this.k.printk.refuse(
        -EINVAL,
        `memory${mem.id} is ${this.stateShow(mem).trim()}, not ${fromStateReq === MEM_ONLINE ? "online" : "offline"}`,
      );
    if (toState === MEM_OFFLINE) mem.state = MEM_GOING_OFFLINE;
    const ret = toState === MEM_ONLINE ? this.memoryBlockOnline(mem) : this.memoryBlockOffline(mem);
    mem.state = ret ? fromStateReq : toState;
    return ret;
  }

  /** memory_subsys_online() */
  private memorySubsysOnline(mem: MemoryBlock): number {
    if (mem.state === MEM_ONLINE) return 0;
    if (mem.onlineType === MMOP_OFFLINE) mem.onlineType = MMOP_ONLINE;
    const ret = this.memoryBlockChangeState(mem, MEM_ONLINE, MEM_OFFLINE);
    mem.onlineType = MMOP_OFFLINE;
    return ret;
  }

  /** memory_subsys_offline() */
  private memorySubsysOffline(mem: MemoryBlock): number {
    if (mem.state === MEM_OFFLINE) return 0;
    return this.memoryBlockChangeState(mem, MEM_OFFLINE, MEM_ONLINE);
  }

  /** drivers/base/core.c: device_online(): 1 when already online. */
  deviceOnline(mem: MemoryBlock): number {
    if (!mem.devOffline) return 1;
    return this.k.work.withPhase("device_online", () => {
      const ret = this.memorySubsysOnline(mem);
      if (!ret) {
        this.k.work.add("uevents"); // KOBJ_ONLINE
        mem.devOffline = false;
      }
      return ret;
    });
  }

  /** drivers/base/core.c: device_offline(): 1 when already offline. */
  deviceOffline(mem: MemoryBlock): number {
    if (mem.devOffline) return 1;
    return this.k.work.withPhase("device_offline", () => {
      const ret = this.memorySubsysOffline(mem);
      if (!ret) {
        this.k.work.add("uevents"); // KOBJ_OFFLINE
        mem.devOffline = true;
      }
      return ret;
    });
  }

  /** state_store() for `echo TYPE > memoryN/state`. Bytes consumed or -errno. */
  stateStore(mem: MemoryBlock, buf: string): number {
    const onlineType = mhpOnlineTypeFromStr(buf);
    if (onlineType < 0)
      return this.k.printk.refuse(
        onlineType,
        `"${buf.trim()}" is not a state: write online, online_kernel, online_movable or offline`,
      );
    this.k.locks.lockDeviceHotplug("state_store");
    let ret: number;
    try {
      if (onlineType === MMOP_OFFLINE) ret = this.deviceOffline(mem);
      else {
        mem.onlineType = onlineType as OnlineType;
        ret = this.deviceOnline(mem);
      }
    } finally {
      this.k.locks.unlockDeviceHotplug();
    }
    if (ret < 0) return ret;
    if (ret)
      return this.k.printk.refuse(
        -EINVAL,
        `memory${mem.id} is already ${onlineType === MMOP_OFFLINE ? "offline" : "online"}`,
      );
    return buf.length;
  }

  /** drivers/base/core.c: online_store() */
  onlineStore(mem: MemoryBlock, buf: string): number {
    const val = kstrtobool(buf);
    if (typeof val === "number")
      return this.k.printk.refuse(val, `"${buf.trim()}" is not a boolean: write 1 or 0`);
    this.k.locks.lockDeviceHotplug("online_store");
    let ret: number;
    try {
      ret = val ? this.deviceOnline(mem) : this.deviceOffline(mem);
    } finally {
      this.k.locks.unlockDeviceHotplug();
    }
    return ret < 0 ? ret : buf.length;
  }

  // --- sysfs ---

  /** state_show() */
  stateShow(mem: MemoryBlock): string {
    switch (mem.state) {
      case MEM_ONLINE:
        return "online\n";
      case MEM_OFFLINE:
        return "offline\n";
      case MEM_GOING_OFFLINE:
        return "going-offline\n";
      default:
        return `ERROR-UNKNOWN-${mem.state}\n`;
    }
  }

  /** valid_zones_show() */
  validZonesShow(mem: MemoryBlock): string {
    if (mem.state === MEM_ONLINE) {
      if (mem.zone === undefined) return "none\n";
      return `${ZONE_NAMES[mem.zone]}\n`;
    }
    if (mem.depopulated) return "none\n"; // memhp RFC v2: it can be onlined to no zone
    const hp = this.k.hotplug;
    const startPfn = this.blockStartPfn(mem);
    const nrPages = this.pagesPerBlock();
    const def = hp.zoneForPfnRange(MMOP_ONLINE, mem.nid, mem.group, startPfn, nrPages);
    let out = ZONE_NAMES[def];
    for (const t of [MMOP_ONLINE_KERNEL, MMOP_ONLINE_MOVABLE] as const) {
      const z = hp.zoneForPfnRange(t, mem.nid, mem.group, startPfn, nrPages);
      if (z !== def) out += ` ${ZONE_NAMES[z]}`;
    }
    return out + "\n";
  }

  private registerSysfs(mem: MemoryBlock): void {
    const fs = this.k.kernfs;
    const dir = `${MEMORY_SYSFS}/memory${mem.id}`;
    const before = fs.nodesCreated;
    fs.mkdirs(dir);
    fs.addFile(dir, "phys_index", 0o444, {
      show: () =>
        `${Math.floor(mem.startSectionNr / this.sectionsPerBlock)
          .toString(16)
          .padStart(8, "0")}\n`,
    });
    fs.addFile(dir, "state", 0o644, {
      show: () => this.stateShow(mem),
      store: (b) => this.stateStore(mem, b),
    });
    fs.addFile(dir, "phys_device", 0o444, { show: () => "0\n" });
    fs.addFile(dir, "removable", 0o444, { show: () => "1\n" });
    fs.addFile(dir, "valid_zones", 0o444, { show: () => this.validZonesShow(mem) });
    fs.addFile(dir, "online", 0o644, {
      show: () => `${mem.devOffline ? 0 : 1}\n`,
      store: (b) => this.onlineStore(mem, b),
    });
    fs.addFile(dir, "uevent", 0o644, { show: () => "", store: (b) => kobjectSynthUevent(b) || b.length });
    fs.addLink(dir, "subsystem", "../../../../bus/memory");
    fs.mkdirs(`${dir}/power`);
    this.k.work.add("sysfsFiles", fs.nodesCreated - before);
  }

  checkInvariants(): string[] {
    const out: string[] = [];
    const sparse = this.k.sparse;
    for (const mem of this.blocks.values()) {
      let present = 0;
      for (let s = mem.startSectionNr; s < mem.startSectionNr + this.sectionsPerBlock; s++)
        if (sparse.presentSectionNr(s)) present++;
      if (!present) out.push(`memory${mem.id}: block device without a present section`);
      if ((mem.state === MEM_OFFLINE) !== mem.devOffline)
        out.push(`memory${mem.id}: state and dev.offline disagree`);
      if (mem.state === MEM_GOING_OFFLINE) out.push(`memory${mem.id}: stuck in going-offline`);
      if (mem.state === MEM_OFFLINE && mem.zone !== undefined)
        out.push(`memory${mem.id}: offline with a zone`);
    }
    for (let nr = 0; nr < sparse.nrSections; nr++) {
      if (
        sparse.presentSectionNr(nr) &&
        !this.blocks.has(this.memoryBlockId(nr)) &&
        !this.k.hotplug.addFailureLeftovers.has(nr) // the kernel's own leftover (memory_hotplug.ts)
      )
        out.push(`section ${nr}: present without a memory block device`);
    }
    return out;
  }
}
