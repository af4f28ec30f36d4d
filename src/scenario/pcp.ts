// Pages on the per-cpu free lists (struct per_cpu_pages, mm/page_alloc.c): free
// pages that /proc/meminfo's MemFree and /proc/zoneinfo's `pages free` leave out
// (NR_FREE_PAGES counts the buddy lists only). When the kernel spills a list to the
// buddy (free_pcppages_bulk(), e.g. free_unref_page_commit()'s free_high after a
// high-order free) those readings jump by what the list held, at a moment the
// model cannot predict. A trace therefore carries, beside each MemFree reading,
// the pages on every per-cpu list at that moment: the annotation `_pcpPages`,
// taken from /proc/zoneinfo read right before and right after it (the oracle's
// pcpBracketedRead(), src/oracle/run.ts; docs/scenario-format.md).

import { counterNumbers } from "./diff.js";

/** The annotation on a /proc/meminfo read record: pages on the per-cpu lists of every zone. */
export const PCP_PAGES_KEY = "_pcpPages";

/** Does a read of `path` for `fields` get the `_pcpPages` annotation? */
export function wantsPcpPages(path: string, fields: readonly string[]): boolean {
  return path === "/proc/meminfo" && fields.includes("MemFree");
}

/**
 * The pages on the per-cpu lists in a /proc/zoneinfo text (zoneinfo_show_print():
 * each pageset's `count:`), of one zone ("Node 0, zone DMA32") or of all.
 */
export function pcpPagesIn(zoneinfo: string, zone?: string): number {
  let n = 0;
  for (const [key, v] of counterNumbers("/proc/zoneinfo", zoneinfo)) {
    const m = /^(Node \d+, zone \S+): cpu \d+ count$/.exec(key);
    if (m && (zone === undefined || m[1] === zone)) n += v;
  }
  return n;
}
