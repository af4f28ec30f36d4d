// hw/virtio/virtio-mem.c: the device side of virtio-mem, as QEMU holds it — the
// device's region in the memory-device area and the requested size the host
// sets (qom-set requested-size). The guest's driver (src/drivers/virtio/
// virtio_mem.ts) binds to it at probe and is told of each config change, as
// the virtio config-change interrupt tells virtio_mem_config_changed().

export class VirtioMemDevice {
  /** The size the host asks the guest to plug (QEMU's requested-size). */
  requestedSize = 0;
  /** The bound driver's config-change handler (set by its probe). */
  private configChangedHandler: (() => void) | undefined;

  constructor(
    readonly id: string,
    /** The device's region: its memory-device address and its memdev's size. */
    readonly addr: number,
    readonly regionSize: number,
  ) {}

  /** virtio_mem_probe(): the driver binds and hears of config changes from now on. */
  bindDriver(configChanged: () => void): void {
    this.configChangedHandler = configChanged;
  }

  /** qom-set requested-size: the device raises a config-change interrupt. */
  setRequestedSize(size: number): void {
    this.requestedSize = size;
    this.configChangedHandler?.();
  }
}
