// arch/arm64/kernel/setup.c: setup_arch() on arm64 as the model needs it — the
// kernel image in iomem (request_standard_resources()), rodata=full
// (arch/arm64/mm/mmu.c: parse_rodata()), and the zone limits of
// arch/arm64/mm/init.c (zoneSizesInitArm64() in init.ts).

import type { ArchSetup, NamedRange } from "../arch.js";
import { zoneSizesInitArm64 } from "./init.js";
import { IO_TLB_DEFAULT_SIZE } from "../../kernel/dma/swiotlb.js";
import { ARM64_CPU_MIDR, cpuSupportsBbml2Noabort } from "./cpufeature.js";
import { forcePteMapping } from "./mmu.js";
import { kernelAtLeast } from "../../kernel/linux_version.js";

/**
 * The kernel image of the Debian 6.1 cloud kernel. The EFI stub places it near
 * the top of RAM; these are the oracle's addresses for a 1 GiB guest.
 */
const KERNEL_IMAGE: readonly NamedRange[] = [
  { name: "Kernel code", start: 0x77410000, end: 0x7878ffff },
  { name: "Kernel data", start: 0x78c10000, end: 0x78eaffff },
];

export const arm64Setup: ArchSetup = {
  arch: "arm64",
  // CONFIG_RODATA_FULL_DEFAULT_ENABLED=y
  rodataFullDefault: true,
  // init/main.c: set_debug_rodata() → arch_parse_debug_rodata()
  parseDebugRodata(val, rodataFull) {
    if (val === "full") return true;
    if (val === "off" || val === "on") return false;
    return rodataFull;
  },
  zoneSizesInit: (minPfn, maxPfn) => zoneSizesInitArm64(minPfn, maxPfn),
  kernelImage: KERNEL_IMAGE,
  firmwareResources: [],
  reserveLowMemory: () => [],
  // the 1 GiB guest's distance from the end of RAM (0x80000000), at every size
  placeKernelImage: (ramEnd) =>
    KERNEL_IMAGE.map((p) => ({
      ...p,
      start: p.start + ramEnd - 0x80000000,
      end: p.end + ramEnd - 0x80000000,
    })),
  bootPgtBufPages: 0,
  dmaReserve: false,
  // arch/arm64/mm/init.c: mem_init(): when RAM reaches above ZONE_DMA (4 GiB)
  bootSwiotlb: (m) => m.ramEnd > 2 ** 32,
  // mem_init() (6.5+, 65033574ade9 in 6.7): no bouncing needed for ZONE_DMA,
  // but kmalloc() bouncing still wants a pool: 1 MiB per GiB of memory, at
  // most the default 64 MiB
  kmallocBounceSwiotlbBytes: (phys, bounce) =>
    bounce ? Math.min(IO_TLB_DEFAULT_SIZE, Math.ceil(phys / 1024)) : undefined,
  dmaPoolsFromBuddy: false,
  cpuModels: Object.keys(ARM64_CPU_MIDR),
  bbml2Noabort: cpuSupportsBbml2Noabort,
  linearBlockMappings: (linearMap) => !forcePteMapping(linearMap),
  // A linear map with block mappings reserves more than the model builds;
  // which allocation it is was not found. 6.1 (rodata=off/on): 10 pages on 1
  // GiB and 2 GiB guests (memhp fuzz --oracle --seed 1617). 7.2 (block
  // mappings under rodata=full on a BBML2_NOABORT CPU, `cpu=neoverse-v3`):
  // 3 on 512 MiB and 1 GiB guests, 5 on a 2 GiB one (arm64-v72-bbml2 and
  // guests of that machine at those sizes, 7 December 2026); the 2 GiB
  // guest's 2 pages more are those of docs/divergences.md
  // `fuzz-arm64-v72-2g-boot-pages` (on `max` too). 6.12's and 7.2's rodata=off keep
  // the map page granular (KFENCE, force_pte_mapping()) and reserve none more
  // (memhp fuzz --oracle --release 7.2 --seed 7201); 6.12 has no BBML2.
  extraBootReservedPages: (linearBlockMappings, version) =>
    linearBlockMappings ? (kernelAtLeast(version, "7.2") ? 3 : 10) : 0,
};
