// A fingerprint of everything a hotplug operation may allocate or change, to
// prove that a failed operation left nothing behind: page counts per zone and
// page state (so every page and every table page is accounted), free pages,
// page-table pages and the leaves they hold, /proc/iomem, the memory block
// devices and groups, the section table, and the sysfs nodes.

import type { Kernel } from "../kernel/kernel.js";
import { PS_PCP } from "../mm/memmap.js";

export interface Fingerprint {
  /** Pages in the buddy allocator or on per-cpu lists. */
  freeOrPcp: number;
  totalram: number;
  zones: string[];
  tablePages: number;
  /** Number of page-table leaves and a checksum of (va, level, pfn) over all of them. */
  leaves: string;
  iomem: string;
  blocks: string[];
  groups: string;
  sections: string;
  sysfsNodes: number;
  locks: string;
}

export function fingerprint(k: Kernel): Fingerprint {
  // Free pages are on the buddy lists (NR_FREE_PAGES) or on the per-cpu lists
  // (PS_PCP): where a freed page went is not a leak, so they count as one.
  const { totalram, freeram } = k.alloc.siMeminfo();
  let free = freeram;
  const zones = k.pgdat.zones.map((z) => {
    const pages = Array.from(z.nrPages);
    free += pages[PS_PCP] ?? 0;
    pages[PS_PCP] = 0;
    return (
      `${z.name} start=${z.zoneStartPfn} spanned=${z.spannedPages} present=${z.presentPages} ` +
      `managed=${z.managedPages} pages=[${pages.join(",")}]`
    );
  });
  let n = 0;
  let sum = 0;
  k.arch.pgtable.forEachLeaf(0, 2 ** 48, (va, level, pfn) => {
    n++;
    sum = (sum * 31 + ((va / 4096) % 1e9) + level * 7 + pfn) % 2147483647;
  });
  const sections: string[] = [];
  for (let nr = 0; nr < k.sparse.nrSections; nr++) {
    const f = k.sparse.sectionFlags(nr);
    if (f) sections.push(`${nr}:${f}:${k.sparse.subsectionCount(nr)}`);
  }
  return {
    freeOrPcp: free,
    totalram,
    zones,
    tablePages: k.arch.pgtable.tablePages(),
    leaves: `${n}/${sum}`,
    iomem: k.resources.procIomem(),
    blocks: [...k.memory.blocks.values()]
      .sort((a, b) => a.id - b.id)
      .map((b) => `memory${b.id}:${b.state}:${b.zone}:${b.nrVmemmapPages}:${b.group?.id ?? "-"}`),
    groups: [...k.memory.groups.values()].map((g) => `${g.id}:${g.blocks.size}`).join(","),
    sections: sections.join(" "),
    sysfsNodes: k.kernfs.nodesCreated - k.kernfs.nodesRemoved,
    locks: `${k.locks.deviceHotplug.held}/${k.locks.memHotplug.held}`,
  };
}

/** The fields that differ, as "field: before → after" lines (empty when equal). */
export function fingerprintDiff(a: Fingerprint, b: Fingerprint): string[] {
  const out: string[] = [];
  for (const key of Object.keys(a) as (keyof Fingerprint)[]) {
    const x = JSON.stringify(a[key]);
    const y = JSON.stringify(b[key]);
    if (x !== y) out.push(`${key}: ${x.slice(0, 300)} → ${y.slice(0, 300)}`);
  }
  return out;
}
