// A PFN range [startPfn, endPfn), and the union of a list of them: the shape the
// page allocator's boot ranges, the hardware-access model and the
// alloc_contig_range() bookkeeping share (src/arch/arch.ts PfnRange is the same).

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
