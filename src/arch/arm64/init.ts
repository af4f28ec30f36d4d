// arch/arm64/mm/init.c: the zone limits arm64 hands to free_area_init().

import { PAGE_SHIFT } from "../../mm/constants.js";

/**
 * arch/arm64/mm/init.c: zone_sizes_init() with max_zone_phys(). zone_dma_bits =
 * min3(32, fls64(DT dma-ranges limit), fls64(IORT limit)); on QEMU virt (UEFI +
 * ACPI, no DT dma-ranges, IORT root complex memory_address_limit 64) both limits
 * are PHYS_ADDR_MAX, so zone_dma_bits = 32. max_zone_phys(bits) is the end of
 * DRAM capped at 2^bits, except that when DRAM starts above that mask the cap is
 * 4 GiB (and none when DRAM starts above 4 GiB). With RAM at 0x40000000 the DMA
 * and DMA32 limits are therefore both min(4 GiB, end of boot DRAM): ZONE_DMA
 * holds all boot RAM below 4 GiB and ZONE_DMA32 is empty.
 *
 * @param dramStartPfn memblock_start_of_DRAM() as a PFN
 * @param dramEndPfn memblock_end_of_DRAM() as a PFN (also max_pfn)
 */
export function zoneSizesInitArm64(dramStartPfn: number, dramEndPfn: number, zoneDmaBits = 32): number[] {
  const maxZonePhysPfn = (bits: number): number => {
    const maskPfnEnd = 2 ** (bits - PAGE_SHIFT); // (DMA_BIT_MASK(bits) + 1) >> PAGE_SHIFT
    const u32EndPfn = 2 ** (32 - PAGE_SHIFT);
    let capEnd: number;
    if (dramStartPfn >= u32EndPfn) capEnd = Infinity;
    else if (dramStartPfn >= maskPfnEnd) capEnd = u32EndPfn;
    else capEnd = maskPfnEnd;
    return Math.min(capEnd, dramEndPfn);
  };
  return [maxZonePhysPfn(zoneDmaBits), maxZonePhysPfn(32), dramEndPfn, 0];
}
