// arch/x86/kernel/setup.c: setup_arch() on x86_64 as the model needs it — the
// kernel image and the firmware's non-RAM ranges in iomem, the first 1 MiB
// reserved, rodata (no rodata=full on x86), and the zone limits of
// arch/x86/mm/init.c (zoneSizesInitX86() in init.ts).

import type { ArchSetup, NamedRange } from "../arch.js";
import type { FirmwareRange } from "../../hw/board.js";
import type { PfnSpan } from "../../mm/pfn_span.js";
import { PAGE_SIZE } from "../../mm/constants.js";
import { zoneSizesInitX86 } from "./init.js";

/**
 * The kernel image of the Debian 6.1 cloud kernel with nokaslr, as the oracle's
 * /proc/iomem shows it ("Kernel code" at 0x1000000 ... "Kernel bss" up to 0x37fffff).
 */
const KERNEL_IMAGE: readonly NamedRange[] = [
  { name: "Kernel code", start: 0x01000000, end: 0x01e01ef1 },
  { name: "Kernel rodata", start: 0x02000000, end: 0x02826fff },
  { name: "Kernel data", start: 0x02a00000, end: 0x02c45dff },
  { name: "Kernel bss", start: 0x032b1000, end: 0x037fffff },
];

/** Firmware ranges that are not RAM, named as the kernel names them. */
const FIRMWARE_RESOURCES: readonly NamedRange[] = [
  { name: "PCI Bus 0000:00", start: 0x000a0000, end: 0x000bffff },
  { name: "Video ROM", start: 0x000c0000, end: 0x000c9bff },
  { name: "Adapter ROM", start: 0x000ca000, end: 0x000ca5ff },
  { name: "IOAPIC 0", start: 0xfec00000, end: 0xfec003ff },
  { name: "HPET 0", start: 0xfed00000, end: 0xfed003ff },
  { name: "Local APIC", start: 0xfee00000, end: 0xfee00fff },
];

const SZ_1M = 0x100000;

export const x86Setup: ArchSetup = {
  arch: "x86_64",
  rodataFullDefault: false,
  parseDebugRodata: (_val, rodataFull) => rodataFull,
  zoneSizesInit: (_minPfn, maxPfn) => zoneSizesInitX86(maxPfn),
  kernelImage: KERNEL_IMAGE,
  firmwareResources: FIRMWARE_RESOURCES,
  // setup_arch(): 6.1 always reserves the first 1 MiB ("reserve the first 1M").
  reserveLowMemory(ram: readonly FirmwareRange[]): PfnSpan[] {
    const low = ram.find((r) => r.start < SZ_1M);
    if (!low) return [];
    return [
      {
        startPfn: Math.ceil(low.start / PAGE_SIZE),
        endPfn: Math.floor(Math.min(low.end, SZ_1M) / PAGE_SIZE),
      },
    ];
  },
  placeKernelImage: () => [...KERNEL_IMAGE],
  // arch/x86/mm/init.c: INIT_PGT_BUF_SIZE, 4 * INIT_PGD_PAGE_TABLES with CONFIG_RANDOMIZE_MEMORY
  bootPgtBufPages: 12,
  dmaReserve: true,
  // arch/x86/kernel/pci-dma.c: pci_swiotlb_detect(): max_possible_pfn above 4 GiB,
  // which counts the SRAT's hotpluggable range QEMU describes when maxmem exceeds mem
  bootSwiotlb: (m) => m.ramEnd > 2 ** 32 || m.maxmemBytes > m.memBytes,
  // x86_64 does not select ARCH_WANT_KMALLOC_DMA_BOUNCE
  kmallocBounceSwiotlbBytes: () => undefined,
  dmaPoolsFromBuddy: true,
  // the oracle's QEMU -cpu max
  cpuModels: ["max"],
  bbml2Noabort: () => false,
  // kernel_physical_mapping_init(): 2 MiB and 1 GiB pages where they fit
  linearBlockMappings: () => true,
  extraBootReservedPages: () => 0,
};
