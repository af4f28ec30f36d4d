// drivers/acpi/acpi_memhotplug.c (+ the eject path of drivers/acpi/scan.c): the
// ACPI memory device driver that hot-adds and hot-removes pc-dimm memory.
//
// A DIMM plug is an ACPI device-check notification: acpi_memory_device_add() →
// acpi_memory_enable_device() registers a static memory group and calls
// __add_memory() under device_hotplug_lock. An unplug request (QEMU device_del) is an
// eject notification: acpi_scan_hot_remove() first tries to offline every memory block
// of the device (acpi_scan_try_to_offline(), two passes); if one cannot be offlined,
// the blocks it did offline are onlined again and the eject fails with -EBUSY (QEMU
// keeps the DIMM). Otherwise acpi_memory_remove_memory() → __remove_memory() and _EJ0.
//
// A device whose add failed stays enumerated without a driver: acpi_bus_attach()
// goes on when the handler's attach fails, and the device keeps the hotplug_notify
// flag acpi_scan_init_hotplug() gave it when it was enumerated. Its eject then
// finds no memory block to offline and nothing to trim, evaluates _EJ0 and
// succeeds, and QEMU unplugs the DIMM.

import { EBUSY, EINVAL, ENODEV, EEXIST } from "../../errno.js";
import type { Kernel } from "../../kernel/kernel.js";
import { MHP_MEMMAP_ON_MEMORY, MHP_NID_IS_MGID } from "../../mm/memory_hotplug.js";
import { PAGE_SIZE } from "../../mm/constants.js";
import type { MemoryBlock } from "../base/memory.js";

/** struct acpi_memory_device with its single struct acpi_memory_info (QEMU DIMMs have one range). */
export interface AcpiMemoryDevice {
  id: string;
  startAddr: number;
  length: number;
  mgid: number;
  enabled: boolean;
}

export class AcpiMemhotplug {
  readonly devices = new Map<string, AcpiMemoryDevice>();
  /** Devices enumerated whose attach failed (acpi_memory_device_add() < 0): no driver, no memory. */
  readonly unbound = new Set<string>();

  constructor(private readonly k: Kernel) {}

  /** acpi_memory_device_add() → acpi_memory_enable_device(). 0 or -errno. */
  acpiMemoryDeviceAdd(id: string, startAddr: number, length: number): number {
    if (!length) return -EINVAL;
    const mem = this.k.memory;
    const mgid = mem.memoryGroupRegisterStatic(0, Math.ceil(length / PAGE_SIZE));
    if (mgid < 0) return mgid;
    const dev: AcpiMemoryDevice = { id, startAddr, length, mgid, enabled: false };
    let flags = MHP_NID_IS_MGID;
    // 6.1 asks mhp_supports_memmap_on_memory(length); 6.12 always asks for it and
    // add_memory_resource() falls back without it (commit e3c2bfdd33a3)
    if (this.k.atLeast("6.12") || this.k.hotplug.mhpSupportsMemmapOnMemory(length))
      flags |= MHP_MEMMAP_ON_MEMORY;
    // acpi_device_hotplug() holds device_hotplug_lock around the handler.
    this.k.locks.lockDeviceHotplug("acpi_device_hotplug");
    let result: number;
    try {
      result = this.k.hotplug.__addMemory(mgid, startAddr, length, flags);
    } finally {
      this.k.locks.unlockDeviceHotplug();
    }
    if (result && result !== -EEXIST) {
      mem.memoryGroupUnregister(mgid);
      // acpi_memory_enable_device(): no range enabled; then acpi_memory_device_add()
      const name = `acpi PNP0C80:${this.devices.size.toString(16).padStart(2, "0")}`;
      const err = this.k.printk.refuseErr(-EINVAL, `${name}: add_memory failed`);
      this.k.printk.prErr(`${name}: acpi_memory_enable_device() error`);
      this.unbound.add(id);
      return err;
    }
    dev.enabled = true;
    this.devices.set(id, dev);
    this.acpiBindMemoryBlocks(dev);
    return 0;
  }

  /** The ACPI device's sysfs name: QEMU's DIMMs are PNP0C80 devices, numbered by slot. */
  private acpiDeviceName(dev: AcpiMemoryDevice): string {
    const idx = [...this.devices.keys()].indexOf(dev.id);
    return `PNP0C80:${idx.toString(16).padStart(2, "0")}`;
  }

  /** acpi_bind_memory_blocks(): each block gets a firmware_node link to the ACPI device. */
  private acpiBindMemoryBlocks(dev: AcpiMemoryDevice): void {
    const target = `../../../LNXSYSTM:00/LNXSYBUS:00/PNP0A03:00/${this.acpiDeviceName(dev)}`;
    for (const b of this.blocksOf(dev)) {
      this.k.kernfs.addLink(`/sys/devices/system/memory/memory${b.id}`, "firmware_node", target);
      this.k.work.add("sysfsFiles");
    }
  }

  private blocksOf(dev: AcpiMemoryDevice): MemoryBlock[] {
    const out: MemoryBlock[] = [];
    this.k.hotplug.walkMemoryBlocks(dev.startAddr, dev.length, (m) => {
      out.push(m);
      return 0;
    });
    return out;
  }

  /**
   * drivers/acpi/scan.c: acpi_scan_try_to_offline(): offline every block, ignoring
   * errors in the first pass; a second pass for what failed; if a block still cannot
   * be offlined, put back online what this function offlined and return -EBUSY.
   */
  private acpiScanTryToOffline(dev: AcpiMemoryDevice): number {
    const mem = this.k.memory;
    const putOnline = new Set<MemoryBlock>();
    const pass = (): boolean => {
      let failed = false;
      for (const b of this.blocksOf(dev)) {
        const ret = mem.deviceOffline(b);
        if (ret === 0) putOnline.add(b);
        else if (ret < 0) failed = true;
      }
      return failed;
    };
    if (pass() && pass()) {
      for (const b of putOnline) mem.deviceOnline(b); // acpi_bus_online(): only what we offlined
      return this.k.printk.refuse(
        -EBUSY,
        "a memory block of the DIMM could not be offlined: the eject is refused and the DIMM stays",
      );
    }
    return 0;
  }

  /** acpi_scan_hot_remove() for an eject request. 0 (ejected) or -errno (the DIMM stays). */
  acpiScanHotRemove(id: string): number {
    // No driver: nothing to offline or trim; _EJ0 ejects it.
    if (this.unbound.delete(id)) return 0;
    const dev = this.devices.get(id);
    if (!dev) return -ENODEV;
    this.k.locks.lockDeviceHotplug("acpi_device_hotplug");
    try {
      const err = this.acpiScanTryToOffline(dev);
      if (err) return err;
      // acpi_bus_trim() → acpi_memory_device_remove() → acpi_memory_remove_memory()
      if (dev.enabled) this.k.hotplug.__removeMemory(dev.startAddr, dev.length);
      this.k.memory.memoryGroupUnregister(dev.mgid);
      this.devices.delete(id);
      return 0;
    } finally {
      this.k.locks.unlockDeviceHotplug();
    }
  }
}
