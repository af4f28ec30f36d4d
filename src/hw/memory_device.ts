// hw/mem/memory-device.c: memory_device_get_free_addr(): QEMU places each DIMM and
// virtio-mem device at the lowest free, suitably aligned address of the device-memory
// region, in the order the devices are plugged.

export interface PlacedDevice {
  id: string;
  addr: number;
  size: number;
}

export class DeviceMemoryRegion {
  private readonly devices: PlacedDevice[] = [];

  constructor(
    readonly base: number,
    readonly size: number,
  ) {}

  /** The address for a new device, or undefined when it does not fit. */
  findFreeAddr(size: number, align: number): number | undefined {
    let addr = Math.ceil(this.base / align) * align;
    const sorted = [...this.devices].sort((a, b) => a.addr - b.addr);
    for (const d of sorted) {
      if (addr + size <= d.addr) break;
      addr = Math.max(addr, Math.ceil((d.addr + d.size) / align) * align);
    }
    return addr + size <= this.base + this.size ? addr : undefined;
  }

  plug(id: string, size: number, align: number): PlacedDevice | undefined {
    const addr = this.findFreeAddr(size, align);
    if (addr === undefined) return undefined;
    const dev = { id, addr, size };
    this.devices.push(dev);
    return dev;
  }

  unplug(id: string): void {
    const i = this.devices.findIndex((d) => d.id === id);
    if (i >= 0) this.devices.splice(i, 1);
  }

  get(id: string): PlacedDevice | undefined {
    return this.devices.find((d) => d.id === id);
  }
}
