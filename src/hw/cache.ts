// The CPU's data caches, as far as powering memory down cares: which physical
// ranges may hold dirty lines. A write through any mapping (the linear map of
// online memory, page tables, user pages) may leave dirty lines that the cache
// writes back whenever it evicts them; writing back to memory that is powered
// off is the fault (a bus error, an SError on arm64, or data silently lost)
// the RFC's v2 clean avoids (docs/rfc-v2.md: dcache_clean_inval_poc() /
// clflush_cache_range() before the unmap).
//
// Per-range and conservative: memory "may be dirty" from the moment it can be
// written (boot RAM, a block onlined) until a clean-and-invalidate of the whole
// range. Offlining, unmapping or removing memory cleans nothing. Not kernel
// state: the exposure auditor (src/mm/exposure_audit.ts) reads it when memory
// is powered off. PFN ranges, sorted and disjoint.

import { intersectPfnSpan, mergePfnSpans, subtractPfnSpan, type PfnSpan } from "../mm/pfn_span.js";

export class CacheModel {
  private spans: PfnSpan[] = [];

  /** [startPfn, startPfn + nrPages) may be written from now on (its lines may become dirty). */
  markDirty(startPfn: number, nrPages: number): void {
    if (nrPages <= 0) return;
    this.spans = mergePfnSpans([...this.spans, { startPfn, endPfn: startPfn + nrPages }]);
  }

  /** Clean and invalidate to the point of coherency: no dirty line of the range is left. */
  clean(startPfn: number, nrPages: number): void {
    if (nrPages <= 0) return;
    this.spans = subtractPfnSpan(this.spans, startPfn, startPfn + nrPages);
  }

  /** The parts of [startPfn, startPfn + nrPages) that may hold dirty lines. */
  dirtyIn(startPfn: number, nrPages: number): PfnSpan[] {
    return intersectPfnSpan(this.spans, startPfn, startPfn + nrPages);
  }
}
