// The emulated hardware the model boots on: what QEMU's board code (hw/i386/pc*.c,
// hw/arm/virt.c) and the firmware tell the kernel. Not kernel code: this is the
// model of the machine the oracle's QEMU command line describes.

import type { Arch } from "../arch/arch.js";

/** A firmware memory-map entry (e820 on x86, the UEFI memory map on arm64). */
export interface FirmwareRange {
  start: number;
  /** exclusive */
  end: number;
  /**
   * ram: System RAM. nomap: memory the firmware keeps for itself (UEFI runtime
   * services, the flash it reports as memory): in memblock.memory, so its sections
   * are present and its struct pages exist (PageReserved), but MEMBLOCK_NOMAP keeps
   * it out of the linear map and /proc/iomem calls it "reserved". reserved: not
   * memory at all (an e820 hole the BIOS keeps).
   */
  kind: "ram" | "nomap" | "reserved";
}

export interface BoardConfig {
  arch: Arch;
  memBytes: number;
  maxmemBytes: number;
  slots: number;
  /** QEMU's CPU model (`machine ... cpu=`; archSetup().cpuModels); absent: the arch's default, `max` */
  cpu?: string;
}

export interface Board {
  readonly config: BoardConfig;
  /** The firmware memory map handed to the kernel at boot. */
  readonly firmwareMap: readonly FirmwareRange[];
  /** Base and size of the device-memory region where DIMMs and virtio-mem devices are placed. */
  readonly deviceMemoryBase: number;
  readonly deviceMemorySize: number;
}

const GiB = 1 << 30;
const roundUp = (x: number, a: number): number => Math.ceil(x / a) * a;

/**
 * QEMU 7.2 `pc` (i440fx) with SeaBIOS: RAM below 4 GiB up to the low-memory split,
 * the rest at 4 GiB; SeaBIOS keeps the top 128 KiB of low RAM and the legacy holes.
 * hw/i386/pc_piix.c: pc_init1() (the split), hw/i386/pc.c: pc_memory_init()
 * (device memory at ROUND_UP(4 GiB + above_4g, 1 GiB), 1 GiB per slot of alignment slack).
 */
export function pcBoard(config: BoardConfig): Board {
  const lowmemLimit = config.memBytes >= 0xe0000000 ? 0xc0000000 : 0xe0000000;
  const below4g = Math.min(config.memBytes, lowmemLimit);
  const above4g = config.memBytes - below4g;
  const map: FirmwareRange[] = [
    { start: 0, end: 0x1000, kind: "reserved" },
    { start: 0x1000, end: 0x9fc00, kind: "ram" },
    { start: 0x9fc00, end: 0xa0000, kind: "reserved" },
    { start: 0xf0000, end: 0x100000, kind: "reserved" },
    { start: 0x100000, end: below4g - 0x20000, kind: "ram" },
    { start: below4g - 0x20000, end: below4g, kind: "reserved" },
  ];
  if (above4g > 0) map.push({ start: 4 * GiB, end: 4 * GiB + above4g, kind: "ram" });
  const deviceMemoryBase = roundUp(4 * GiB + above4g, GiB);
  const deviceMemorySize = config.maxmemBytes - config.memBytes + GiB * config.slots;
  return { config, firmwareMap: map, deviceMemoryBase, deviceMemorySize };
}

/**
 * QEMU 7.2 `virt` with UEFI (hw/arm/virt.c): RAM at 1 GiB; device memory from
 * ROUND_UP(1 GiB + ram, 1 GiB). The firmware also reports the second flash bank
 * 0x04000000-0x07ffffff as RAM, which is why a real guest has a memory0
 * (docs/oracle-notes.md).
 */
export function virtBoard(config: BoardConfig): Board {
  const ramBase = GiB;
  const end = ramBase + config.memBytes;
  // EDK2 (ArmVirtQemu) keeps two runtime regions near the top of RAM; the oracle's
  // 1 GiB guest shows them at 0x7c440000-0x7c72ffff and 0x7fc00000-0x7ffdffff,
  // i.e. at fixed distances below the end of RAM.
  const map: FirmwareRange[] = [
    { start: 0x04000000, end: 0x08000000, kind: "nomap" },
    { start: ramBase, end: end - 0x3bc0000, kind: "ram" },
    { start: end - 0x3bc0000, end: end - 0x38d0000, kind: "nomap" },
    { start: end - 0x38d0000, end: end - 0x400000, kind: "ram" },
    { start: end - 0x400000, end: end - 0x20000, kind: "nomap" },
    { start: end - 0x20000, end, kind: "ram" },
  ];
  const deviceMemoryBase = roundUp(ramBase + config.memBytes, GiB);
  const deviceMemorySize = config.maxmemBytes - config.memBytes + GiB * config.slots;
  return { config, firmwareMap: map, deviceMemoryBase, deviceMemorySize };
}

export function createBoard(config: BoardConfig): Board {
  switch (config.arch) {
    case "x86_64":
      return pcBoard(config);
    case "arm64":
      return virtBoard(config);
    default: {
      const never: never = config.arch;
      throw new Error(`unknown arch ${String(never)}`);
    }
  }
}
