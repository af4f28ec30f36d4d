// hw/virtio/virtio-mem.c: the device side of virtio-mem, as QEMU holds it — the
// device's region in the memory-device area, its block size (the `block-size`
// property; 2 MiB, the THP size, by default), the requested size the host sets
// (qom-set requested-size), and which device blocks the guest has plugged (the
// device's bitmap; its `size` property is their sum). The guest's driver
// (src/drivers/virtio/virtio_mem.ts) binds to it at probe, is told of each config
// change, as the virtio config-change interrupt tells virtio_mem_config_changed(),
// and sends plug and unplug requests over its virtqueue.
//
// Not modelled: the usable region (QEMU grows it with the requested size; the
// model lets the whole region be used), unplug-all requests (the driver never
// needs one here: nothing is plugged when it probes), NUMA node ids.

/** QEMU's default block-size on these hosts (virtio_mem_default_block_size(): the THP size). */
export const VIRTIO_MEM_DEFAULT_BLOCK_SIZE = 2 << 20;

// include/uapi/linux/virtio_mem.h: the device's responses
export const VIRTIO_MEM_RESP_ACK = 0;
export const VIRTIO_MEM_RESP_NACK = 1;
export const VIRTIO_MEM_RESP_BUSY = 2;
export const VIRTIO_MEM_RESP_ERROR = 3;

export class VirtioMemDevice {
  /** The size the host asks the guest to plug (QEMU's requested-size). */
  requestedSize = 0;
  /** The plugged size (QEMU's `size` property, the config's plugged_size). */
  size = 0;
  /** One byte per device block: 1 when plugged (QEMU's vmem->bitmap). */
  private readonly bitmap: Uint8Array;
  /** The bound driver's config-change handler (set by its probe). */
  private configChangedHandler: (() => void) | undefined;

  constructor(
    readonly id: string,
    /** The device's region: its memory-device address and its memdev's size. */
    readonly addr: number,
    readonly regionSize: number,
    /** QEMU's block-size property: the device's plug granularity. */
    readonly blockSize = VIRTIO_MEM_DEFAULT_BLOCK_SIZE,
  ) {
    this.bitmap = new Uint8Array(Math.floor(regionSize / blockSize));
  }

  /** virtio_mem_probe(): the driver binds and hears of config changes from now on. */
  bindDriver(configChanged: () => void): void {
    this.configChangedHandler = configChanged;
  }

  /** qom-set requested-size: the device raises a config-change interrupt. */
  setRequestedSize(size: number): void {
    this.requestedSize = size;
    this.configChangedHandler?.();
  }

  /** Is the device block at gpa plugged? */
  isPlugged(gpa: number): boolean {
    return this.bitmap[Math.floor((gpa - this.addr) / this.blockSize)] === 1;
  }

  /**
   * virtio_mem_state_change_request(): plug or unplug nbBlocks device blocks
   * from gpa. ERROR for a range that is not whole blocks of the region or not
   * all in the opposite state; NACK for a plug past the requested size.
   */
  stateChangeRequest(gpa: number, nbBlocks: number, plug: boolean): number {
    const size = nbBlocks * this.blockSize;
    // virtio_mem_valid_range()
    if (
      nbBlocks <= 0 ||
      (gpa - this.addr) % this.blockSize !== 0 ||
      gpa < this.addr ||
      gpa + size > this.addr + this.regionSize
    )
      return VIRTIO_MEM_RESP_ERROR;
    if (plug && this.size + size > this.requestedSize) return VIRTIO_MEM_RESP_NACK;
    const first = (gpa - this.addr) / this.blockSize;
    // virtio_mem_is_range_plugged() / virtio_mem_is_range_unplugged()
    for (let i = first; i < first + nbBlocks; i++)
      if (this.bitmap[i] !== (plug ? 0 : 1)) return VIRTIO_MEM_RESP_ERROR;
    this.bitmap.fill(plug ? 1 : 0, first, first + nbBlocks);
    this.size += plug ? size : -size;
    return VIRTIO_MEM_RESP_ACK;
  }
}
