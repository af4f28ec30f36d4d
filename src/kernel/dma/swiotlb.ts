// The default swiotlb pool that boot sets up (kernel/dma/swiotlb.c:
// swiotlb_init_remap()): its bounce buffer and its slot array, both taken from
// memblock, in pages. Its size is IO_TLB_DEFAULT_SIZE unless the arch adjusted
// it first (swiotlb_adjust_size()); the number of slabs is then rounded up to
// a power of two for the areas (round_up_default_nslabs(), with
// swiotlb_adjust_nareas(num_possible_cpus()): one area on the oracle's
// one-CPU guests).

/** IO_TLB_SHIFT: one slab is 2 KiB. */
const IO_TLB_SIZE = 1 << 11;
/** IO_TLB_SEGSIZE: slabs are counted in segments of 128. */
const IO_TLB_SEGSIZE = 128;
/** IO_TLB_DEFAULT_SIZE: 64 MiB. */
export const IO_TLB_DEFAULT_SIZE = 64 << 20;
/** sizeof(struct io_tlb_slot) on 64-bit. */
const IO_TLB_SLOT_BYTES = 24;

const PAGE = 4096;

const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;

function roundupPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/**
 * The slabs of the default pool: swiotlb_adjust_size(`adjustedBytes`) when the
 * arch asked for a size, then round_up_default_nslabs() for `nareas` areas.
 */
export function swiotlbNslabs(adjustedBytes: number | undefined, nareas = 1): number {
  let nslabs =
    adjustedBytes === undefined
      ? IO_TLB_DEFAULT_SIZE / IO_TLB_SIZE
      : alignUp(alignUp(adjustedBytes, IO_TLB_SIZE) / IO_TLB_SIZE, IO_TLB_SEGSIZE);
  const areas = roundupPowerOfTwo(Math.max(1, nareas));
  if (nslabs < IO_TLB_SEGSIZE * areas) nslabs = IO_TLB_SEGSIZE * areas;
  return roundupPowerOfTwo(nslabs);
}

/** The pages the pool takes from memblock: the buffer and the slot array. */
export function swiotlbPoolPages(nslabs: number): number {
  return (nslabs * IO_TLB_SIZE) / PAGE + Math.ceil((nslabs * IO_TLB_SLOT_BYTES) / PAGE);
}
