// The host side of a scenario: what QEMU does for `dimm-add`, `dimm-del` and
// `vmem-resize` (hw/mem/pc-dimm.c, hw/acpi/memory_hotplug.c, hw/virtio/virtio-mem.c),
// and the guest reaction that follows each event before it settles. The host
// holds devices only; the guest's drivers bind to them (virtio-mem: at boot,
// src/drivers/virtio/virtio_mem.ts) and answer their events.

import { EBUSY, EINVAL, ENODEV, ENOSPC } from "../errno.js";
import type { Kernel } from "../kernel/kernel.js";
import { DeviceMemoryRegion } from "./memory_device.js";
import { VIRTIO_MEM_DEFAULT_BLOCK_SIZE, VirtioMemDevice } from "./virtio_mem.js";

/** QEMU's alignment for memory devices on these hosts (QEMU_VMALLOC_ALIGN, THP size). */
const DEVICE_ALIGN = 2 << 20;

export interface HostEventResult {
  /** 0, or -errno: the guest refused (eject failed), or QEMU refused (no slot, no space). */
  err: number;
  /** QEMU's own refusal text, when QEMU refused the command. */
  qmpError?: string;
  /**
   * -errno of the guest's driver when QEMU took the command (err 0) but the
   * guest refused the device: a DIMM whose acpi_memory_device_add() failed is
   * plugged on the host, with no memory in the guest, until it is deleted.
   */
  guestErr?: number;
}

export class Host {
  readonly region: DeviceMemoryRegion;
  private readonly dimms = new Map<string, { addr: number; size: number }>();
  /** The virtio-mem devices, by id (their guest drivers: Kernel.virtioMem). */
  readonly vmemDevices = new Map<string, VirtioMemDevice>();

  constructor(private readonly k: Kernel) {
    this.region = new DeviceMemoryRegion(k.board.deviceMemoryBase, k.board.deviceMemorySize);
  }

  /** A virtio-mem device present from boot (-device virtio-mem-pci; the guest's driver probes it during boot). */
  addBootVmem(id: string, size: number, blockSize = VIRTIO_MEM_DEFAULT_BLOCK_SIZE): VirtioMemDevice {
    // virtio_mem_get_min_alignment(): the device's region is aligned to its block size.
    const placed = this.region.plug(id, size, Math.max(DEVICE_ALIGN, blockSize));
    if (!placed) throw new Error(`vmem ${id}: no room in the device memory region`);
    const dev = new VirtioMemDevice(id, placed.addr, size, blockSize);
    this.vmemDevices.set(id, dev);
    return dev;
  }

  /** object-add memory-backend-ram + device_add pc-dimm, then the guest's ACPI hot-add. */
  dimmAdd(id: string, size: number): HostEventResult {
    if (this.dimms.has(id) || this.vmemDevices.has(id))
      return { err: -EINVAL, qmpError: `Duplicate ID '${id}'` };
    const used = [...this.dimms.values()].length;
    if (used >= this.k.board.config.slots) return { err: -ENOSPC, qmpError: "no free slots left" };
    const total = this.k.board.config.memBytes + this.pluggedBytes() + size;
    if (total > this.k.board.config.maxmemBytes)
      return { err: -ENOSPC, qmpError: "not enough space, currently 0x... in use" };
    const placed = this.region.plug(id, size, DEVICE_ALIGN);
    if (!placed) return { err: -ENOSPC, qmpError: "could not find position in guest address space" };
    this.dimms.set(id, { addr: placed.addr, size });
    // QEMU's device_add has succeeded whatever the guest makes of the device:
    // the insertion's notification gets no failure back (acpi_bus_scan() ignores
    // the handler's), so a refusal shows only as no memory added.
    const rc = this.k.acpi.acpiMemoryDeviceAdd(id, placed.addr, size);
    return rc ? { err: 0, guestErr: rc } : { err: 0 };
  }

  /** device_del: an ACPI eject request; the guest may refuse, and then the DIMM stays. */
  dimmDel(id: string): HostEventResult {
    const d = this.dimms.get(id);
    if (!d) return { err: -ENODEV, qmpError: `Device '${id}' not found` };
    const rc = this.k.acpi.acpiScanHotRemove(id);
    if (rc === 0) {
      this.dimms.delete(id);
      this.region.unplug(id);
    }
    return { err: rc === -EBUSY ? -EBUSY : rc };
  }

  /** qom-set requested-size. The result is 0: the driver works toward it, as far as it can. */
  vmemResize(id: string, size: number): HostEventResult {
    const dev = this.vmemDevices.get(id);
    if (!dev) return { err: -ENODEV, qmpError: `Device '${id}' not found` };
    if (size > dev.regionSize) return { err: -EINVAL, qmpError: "requested-size exceeds the device size" };
    if (size % dev.blockSize)
      return { err: -EINVAL, qmpError: "requested-size has to be multiples of block-size" };
    dev.setRequestedSize(size);
    return { err: 0 };
  }

  private pluggedBytes(): number {
    let n = 0;
    for (const d of this.dimms.values()) n += d.size;
    for (const v of this.vmemDevices.values()) n += v.regionSize;
    return n;
  }
}
