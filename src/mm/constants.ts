// Geometry of the modelled kernels: 4 KiB pages, SPARSEMEM_VMEMMAP with 128 MiB
// sections and 2 MiB subsections, as on x86_64 and arm64 (4K granule, 48-bit VA)
// in Linux 6.1.

/** include/asm-generic/page.h: PAGE_SHIFT */
export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 1 << PAGE_SHIFT;

/** arch/{x86,arm64}/include/asm/sparsemem.h: SECTION_SIZE_BITS (27 on both). */
export const SECTION_SIZE_BITS = 27;
export const PFN_SECTION_SHIFT = SECTION_SIZE_BITS - PAGE_SHIFT;
export const PAGES_PER_SECTION = 1 << PFN_SECTION_SHIFT;
export const SECTION_SIZE = PAGES_PER_SECTION * PAGE_SIZE;

/** include/linux/mmzone.h: SUBSECTION_SHIFT */
export const SUBSECTION_SHIFT = 21;
export const PFN_SUBSECTION_SHIFT = SUBSECTION_SHIFT - PAGE_SHIFT;
export const PAGES_PER_SUBSECTION = 1 << PFN_SUBSECTION_SHIFT;
export const SUBSECTIONS_PER_SECTION = 1 << (SECTION_SIZE_BITS - SUBSECTION_SHIFT);

/** sizeof(struct page) with the distro configs (STRUCT_PAGE_MAX_SHIFT 6). */
export const STRUCT_PAGE_SIZE = 64;

/** include/linux/mmzone.h: MAX_ORDER in 6.1 is 11, i.e. orders 0..10. */
export const MAX_ORDER = 11;
/** pageblock_order = HUGETLB_PAGE_ORDER = 9 on both arches (2 MiB pageblocks). */
export const PAGEBLOCK_ORDER = 9;
export const PAGEBLOCK_NR_PAGES = 1 << PAGEBLOCK_ORDER;

/** drivers/base/memory.c: MIN_MEMORY_BLOCK_SIZE */
export const MIN_MEMORY_BLOCK_SIZE = SECTION_SIZE;

export const SZ_1M = 1 << 20;
export const SZ_2M = 2 << 20;
export const SZ_128M = 128 << 20;
export const SZ_1G = 1 << 30;

export const pfnToSectionNr = (pfn: number): number => Math.floor(pfn / PAGES_PER_SECTION);
export const sectionNrToPfn = (nr: number): number => nr * PAGES_PER_SECTION;
export const physToPfn = (pa: number): number => Math.floor(pa / PAGE_SIZE);
export const pfnToPhys = (pfn: number): number => pfn * PAGE_SIZE;
