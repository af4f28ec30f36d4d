// arch/x86/mm/init.c: the zone limits x86_64 hands to free_area_init().

import { PAGE_SHIFT } from "../../mm/constants.js";

/**
 * arch/x86/mm/init.c: zone_sizes_init() on x86_64: ZONE_DMA below 16 MiB
 * (MAX_DMA_PFN), ZONE_DMA32 below 4 GiB (MAX_DMA32_PFN), ZONE_NORMAL up to
 * max_low_pfn, which init_mem_mapping() sets to max_pfn on 64-bit.
 */
export function zoneSizesInitX86(maxPfn: number): number[] {
  const MAX_DMA_PFN = (16 * 1024 * 1024) >> PAGE_SHIFT;
  const MAX_DMA32_PFN = 2 ** (32 - PAGE_SHIFT);
  return [Math.min(MAX_DMA_PFN, maxPfn), Math.min(MAX_DMA32_PFN, maxPfn), maxPfn, 0];
}
