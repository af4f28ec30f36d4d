// The hardware side of powering memory down: which physical ranges the CPU may
// access right now. A driver declares a range inaccessible when it powers the
// memory down (DRAM self-refresh off, a rank or segment switched off) or hands it
// to another agent (a modem, a secure world, another VM), and accessible again
// when it gets it back. Not kernel code: in Linux this knowledge lives in the
// driver and the firmware; any access the kernel makes to such memory, even a
// speculative one through a live mapping, is the fault the RFC wants to avoid.
//
// The exposure auditor (src/mm/exposure_audit.ts) reads this to find mappings of,
// and accesses to, inaccessible memory. PFN ranges, kept sorted and disjoint.

import { intersectPfnSpan, mergePfnSpans, subtractPfnSpan, type PfnSpan } from "../mm/pfn_span.js";
import { CacheModel } from "./cache.js";

export type { PfnSpan };

/** What changed: [startPfn, startPfn + nrPages) was powered off (off) or on (!off). */
export interface AccessChange {
  startPfn: number;
  nrPages: number;
  off: boolean;
}

export class HardwareAccess {
  private spans: PfnSpan[] = [];
  private readonly listeners: Array<(change: AccessChange) => void> = [];
  /** Which memory may hold dirty cache lines (src/hw/cache.ts). */
  readonly cache = new CacheModel();

  /** Called after every change (the auditor arms or disarms its access checks). */
  onChange(fn: (change: AccessChange) => void): void {
    this.listeners.push(fn);
  }

  /** The memory of [startPfn, startPfn + nrPages) is powered down or handed away. */
  setInaccessible(startPfn: number, nrPages: number): void {
    if (nrPages <= 0) return;
    this.spans = mergePfnSpans([...this.spans, { startPfn, endPfn: startPfn + nrPages }]);
    this.changed({ startPfn, nrPages, off: true });
  }

  /** The memory of [startPfn, startPfn + nrPages) can be accessed again. */
  setAccessible(startPfn: number, nrPages: number): void {
    if (nrPages <= 0) return;
    this.spans = subtractPfnSpan(this.spans, startPfn, startPfn + nrPages);
    this.changed({ startPfn, nrPages, off: false });
  }

  /** The inaccessible ranges, sorted and disjoint. */
  inaccessible(): readonly PfnSpan[] {
    return this.spans;
  }

  get anyInaccessible(): boolean {
    return this.spans.length > 0;
  }

  /** Is pfn inaccessible? (binary search) */
  pfnInaccessible(pfn: number): boolean {
    let lo = 0;
    let hi = this.spans.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = this.spans[mid];
      if (pfn < s.startPfn) hi = mid - 1;
      else if (pfn >= s.endPfn) lo = mid + 1;
      else return true;
    }
    return false;
  }

  /** Pages of [startPfn, startPfn + nrPages) that are inaccessible. */
  inaccessiblePages(startPfn: number, nrPages: number): number {
    let n = 0;
    for (const s of intersectPfnSpan(this.spans, startPfn, startPfn + nrPages)) n += s.endPfn - s.startPfn;
    return n;
  }

  private changed(change: AccessChange): void {
    for (const fn of this.listeners) fn(change);
  }
}
