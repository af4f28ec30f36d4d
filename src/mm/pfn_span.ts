// A PFN range [startPfn, endPfn), and the set operations on sorted, disjoint
// lists of them (union, minus a range, the parts in a range): the shape the
// boot ranges (src/mm/mm_init.ts), the hardware-access and cache models
// (src/hw/) and the alloc_contig_range() bookkeeping share (src/arch/arch.ts
// PfnRange is the same).

export interface PfnSpan {
  startPfn: number;
  endPfn: number;
}

/** The union of spans as sorted, disjoint, non-adjacent spans (empty ones dropped). */
export function mergePfnSpans(spans: readonly PfnSpan[]): PfnSpan[] {
  const sorted = spans.filter((s) => s.endPfn > s.startPfn).sort((a, b) => a.startPfn - b.startPfn);
  const out: PfnSpan[] = [];
  for (const s of sorted) {
    const last = out[out.length - 1];
    if (last && s.startPfn <= last.endPfn) last.endPfn = Math.max(last.endPfn, s.endPfn);
    else out.push({ ...s });
  }
  return out;
}

/** Sorted, disjoint spans minus [startPfn, endPfn): what is left, still sorted and disjoint. */
export function subtractPfnSpan(spans: readonly PfnSpan[], startPfn: number, endPfn: number): PfnSpan[] {
  const out: PfnSpan[] = [];
  for (const s of spans) {
    if (s.endPfn <= startPfn || s.startPfn >= endPfn) out.push(s);
    else {
      if (s.startPfn < startPfn) out.push({ startPfn: s.startPfn, endPfn: startPfn });
      if (s.endPfn > endPfn) out.push({ startPfn: endPfn, endPfn: s.endPfn });
    }
  }
  return out;
}

/** The parts of sorted, disjoint spans that lie in [startPfn, endPfn). */
export function intersectPfnSpan(spans: readonly PfnSpan[], startPfn: number, endPfn: number): PfnSpan[] {
  const out: PfnSpan[] = [];
  for (const s of spans) {
    const a = Math.max(s.startPfn, startPfn);
    const b = Math.min(s.endPfn, endPfn);
    if (b > a) out.push({ startPfn: a, endPfn: b });
  }
  return out;
}
