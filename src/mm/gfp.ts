// The allocation interface the rest of the model uses to take pages from the
// model's own memory: alloc_pages() / __free_pages() (include/linux/gfp.h).
// Page-table pages, vmemmap blocks and kernel allocations all come through it,
// so every page the kernel uses is accounted.

/** What an allocation is for; decides its migratetype and how it is accounted. */
export type AllocPurpose =
  | "pgtable" // __get_free_page(GFP_PGTABLE_KERNEL): unmovable
  | "vmemmap" // vmemmap_alloc_block(): unmovable
  | "kernel" // GFP_KERNEL: unmovable
  | "reclaimable" // __GFP_RECLAIMABLE: slab caches that can be shrunk
  | "user"; // GFP_HIGHUSER_MOVABLE: movable

export interface PageAllocator {
  /** alloc_pages(): first PFN of 2^order naturally aligned pages, or -ENOMEM. */
  allocPages(order: number, purpose: AllocPurpose, nid?: number): number;
  /** __free_pages() */
  freePages(pfn: number, order: number): void;
}
